"""IMAP → Kafka through the real ingest-mail app: `create_app(Settings(...))` served by uvicorn
reads a real Dovecot mailbox and publishes to the real broker.

What is proven here and nowhere else: each message of each folder is on `mail.received.v1`
exactly once (records are counted, across a restart of the app), in UID order per folder, with
its folder and direction; `GET /mailboxes` answers the format documented in
`ingest_mail/mailboxes.py`; and a server without IDLE is polled.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from integration.ingest_mail.imap_app import (
    MailTopic,
    app_settings,
    at_least,
    mailbox_entry,
    serving,
)
from integration.ingest_mail.mailboxes import metric, subjects
from support.dovecot import DovecotServer, MailAccount, make_message, start_dovecot
from support.ports import free_port
from switchboard_shared.events import MailDirection

pytestmark = pytest.mark.integration

STATE_KEYS = {
    "mailbox",
    "polling",
    "connected",
    "last_success",
    "lag",
    "last_error",
    "missing_folders",
}


def sent_message(n: int, tag: str) -> bytes:
    """What we sent the client (so the same counterpart as the inbox), from one of our domains
    (email-validator refuses the special-use `.test` of the test accounts as an address)."""
    return (
        "From: Sales <sales@acme.example>\r\n"
        "To: Ann Client <ann@client.example>\r\n"
        f"Subject: message {n}\r\n"
        f"Date: Tue, 25 Nov 2025 11:{n % 60:02d}:00 +0000\r\n"
        f"Message-ID: <{n}.{tag}@acme.example>\r\n"
        "\r\n"
        f"Reply number {n}.\r\n"
    ).encode()


@pytest.fixture(scope="module")
def dovecot_without_idle() -> Iterator[DovecotServer]:
    """A server that does not announce IDLE after login (the session's server does)."""
    server = start_dovecot(idle=False)
    try:
        yield server
    finally:
        server.remove()


async def test_imap_mail_is_published_once_each_in_uid_order_and_mailboxes_tells_the_state(
    kafka_bootstrap: str, account: MailAccount, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    account.append("INBOX", *(make_message(n, tag) for n in range(1, 6)))
    account.append("Sent", sent_message(20, tag), sent_message(21, tag))
    alive = mailbox_entry(account, folders=["INBOX", "Sent", "Archive"])
    dead = mailbox_entry(account, name=f"dead-{tag}", port=free_port())  # nothing listens there
    settings = app_settings(kafka_bootstrap, tmp_path, [alive, dead])
    started = datetime.now(UTC)

    async with MailTopic(kafka_bootstrap, account.username) as topic:
        async with serving(settings) as served:
            await topic.until("the 7 messages there at start", lambda r: len(r) >= 7)
            await asyncio.to_thread(
                account.append, "INBOX", make_message(6, tag)
            )  # arrives while the app runs
            await topic.until("message 6", lambda r: len(r) >= 8)

            def settled(state: list[dict[str, object]]) -> bool:
                first, second = state
                return (
                    first["connected"] is True
                    and first["lag"] == 0
                    and first["last_success"] is not None
                    and second["last_error"] is not None
                )

            state = await served.wait_for_state("a whole round and a refused connection", settled)

        # A restart resumes from the checkpoints: what is new is published, nothing again.
        async with serving(settings):
            await asyncio.to_thread(account.append, "INBOX", make_message(7, tag))
            await asyncio.to_thread(account.append, "Sent", sent_message(22, tag))
            await topic.until(
                "the mail that arrived after the restart",
                lambda r: {"message 7", "message 22"} <= {p.event.subject for p in r},
            )
        records = await topic.to_the_end()

    # Exactly once each, counted (a second copy would make the lists longer), in UID order.
    assert topic.subjects("INBOX") == subjects(1, 2, 3, 4, 5, 6, 7)
    assert topic.subjects("Sent") == subjects(20, 21, 22)
    assert len(records) == 10
    # All share the key (the counterpart), so one partition: its offsets are the publish order.
    assert len({r.partition for r in records}) == 1
    directions: dict[str | None, set[MailDirection]] = {}
    for r in records:
        directions.setdefault(r.event.folder, set()).add(r.event.direction)
    assert directions == {"INBOX": {MailDirection.INBOUND}, "Sent": {MailDirection.OUTBOUND}}

    first, second = state
    assert set(first) == STATE_KEYS
    assert set(second) == STATE_KEYS
    assert first["mailbox"] == alive["name"]
    assert first["polling"] is True  # the only replica polls both
    assert second["polling"] is True
    assert first["connected"] is True
    assert first["lag"] == 0
    assert first["last_error"] is None
    assert first["missing_folders"] == ["Archive"]
    assert isinstance(first["last_success"], str)
    last_success = datetime.fromisoformat(first["last_success"])
    assert started <= last_success <= datetime.now(UTC)
    assert second["mailbox"] == dead["name"]
    assert second["connected"] is False
    assert second["last_success"] is None
    assert "Connection refused" in str(second["last_error"])
    assert second["missing_folders"] == []
    assert account.password not in str(state)


async def test_a_server_without_idle_is_polled(
    kafka_bootstrap: str, dovecot_without_idle: DovecotServer, tmp_path: Path
) -> None:
    """New mail is found by polling every `poll_interval_s`, on the same session: no IDLE is
    tried (that would fail and reconnect) and no reconnect is what finds it."""
    username = f"sales-{uuid.uuid4().hex[:10]}@acme.test"
    dovecot_without_idle.add_user(username, "test-secret-0123")
    account = MailAccount(dovecot_without_idle, username, "test-secret-0123")
    with account.client() as client:
        assert not client.has_capability("IDLE")
    tag = uuid.uuid4().hex[:8]
    account.append("INBOX", make_message(1, tag))
    # A long IDLE window: were IDLE used, the timing would not tell; reconnects would.
    entry = mailbox_entry(account, poll_interval_s=0.5, idle_timeout_s=600)
    settings = app_settings(kafka_bootstrap, tmp_path, [entry])

    async with MailTopic(kafka_bootstrap, account.username) as topic:
        async with serving(settings) as served:
            await topic.until("message 1", lambda r: len(r) >= 1)
            for n in (2, 3):
                await asyncio.to_thread(account.append, "INBOX", make_message(n, tag))
                await topic.until(f"message {n}", at_least(n), timeout=20)
            [state] = await served.mailboxes()
            reconnects = metric("ingest_mail_imap_reconnects_total", mailbox=entry["name"])
        await topic.to_the_end()

    assert topic.subjects() == subjects(1, 2, 3)
    assert state["connected"] is True
    assert state["last_error"] is None
    assert reconnects == 0
