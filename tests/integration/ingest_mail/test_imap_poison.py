"""One bad message must not stop a mailbox, against the real Dovecot: a message that fails every
try is kept as rejected and the checkpoint moves past it, tries are counted across restarts (a
crash loop ends), an unavailable broker is not the message's fault, a message over the size
limit is never fetched whole, and a MIME bomb read over IMAP is kept on ingest.rejected.v1."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from ingest_mail.app import create_app
from ingest_mail.checkpoints import CheckpointStore
from ingest_mail.config import Settings
from ingest_mail.imap import ImapIntake, KeptMessage, PollerOptions
from ingest_mail.mailboxes import MailboxConfig
from integration.ingest_mail.conftest import open_store
from integration.ingest_mail.mailboxes import key_of, mailbox, metric, subject_of
from support.conditions import until
from support.dovecot import MailAccount, make_message
from switchboard_shared.cloudevents import decode
from switchboard_shared.events import IngestRejected, MailReceived
from switchboard_shared.intake import kept_body
from switchboard_shared.kafka import BrokerUnavailable, Bus
from switchboard_shared.settings import CommonSettings
from switchboard_shared.topics import INGEST_REJECTED, MAIL_RECEIVED

pytestmark = pytest.mark.integration

FAST = PollerOptions(backoff_initial_s=0.05, backoff_max_s=0.2, batch_size=3, max_attempts=3)


@dataclass
class Sink:
    """Delivers, except `message 2`, which it handles as `poison` says: raise, or hang (the
    process dies in the middle of it)."""

    poison: str = "raise"
    broker_down_for: int = 0
    delivered: list[str] = field(default_factory=list)
    tries: dict[str, int] = field(default_factory=dict)
    kept: list[KeptMessage] = field(default_factory=list)

    async def __call__(self, raw: bytes, mailbox: MailboxConfig, folder: str) -> None:
        subject = subject_of(raw)
        self.tries[subject] = self.tries.get(subject, 0) + 1
        if self.broker_down_for > 0:
            self.broker_down_for -= 1
            raise BrokerUnavailable("test: broker is down")
        if subject == "message 2" and self.poison == "raise":
            raise RuntimeError("test: the parser fell over")
        if subject == "message 2" and self.poison == "hang":
            await asyncio.Event().wait()
        self.delivered.append(subject)

    async def keep(self, kept: KeptMessage) -> None:
        self.kept.append(kept)


@asynccontextmanager
async def running(
    config: MailboxConfig, store: CheckpointStore, sink: Sink, options: PollerOptions = FAST
) -> AsyncIterator[ImapIntake]:
    intake = ImapIntake([config], store, sink, key_of=key_of, options=options, keep=sink.keep)
    async with intake.running():
        yield intake


async def test_a_message_that_fails_every_try_is_kept_and_the_mailbox_moves_on(
    account: MailAccount, store: CheckpointStore
) -> None:
    uids = account.append("INBOX", *(make_message(n) for n in (1, 2, 3)))
    config = mailbox(account)
    sink = Sink()
    async with running(config, store, sink):
        await until(lambda: "message 3" in sink.delivered, "the message after the bad one", 20)
    assert sink.delivered == ["message 1", "message 3"]
    assert sink.tries["message 2"] == FAST.max_attempts
    [kept] = sink.kept
    assert (kept.uid, kept.reason, kept.folder) == (uids[1], "delivery_failed", "INBOX")
    assert "the parser fell over" in kept.detail
    assert subject_of(kept.raw) == "message 2"
    checkpoint = await store.get(config.name, "INBOX")
    assert checkpoint is not None
    assert checkpoint.last_uid == uids[2]
    assert metric("ingest_mail_imap_messages_total", mailbox=config.name, outcome="gave_up") == 1


async def test_tries_are_counted_across_restarts_so_a_crash_loop_ends(
    account: MailAccount, store_url: str
) -> None:
    """The message hangs its try each time, and the process is stopped mid-try (as when it
    crashes on it): after `max_attempts` such runs the next one keeps it without trying."""
    uids = account.append("INBOX", *(make_message(n) for n in (1, 2, 3)))
    config = mailbox(account)
    sink = Sink(poison="hang")
    for run in range(1, FAST.max_attempts + 1):
        store = await open_store(store_url)  # reopened, as after a restart

        def tried(run: int = run) -> bool:
            return sink.tries.get("message 2", 0) == run

        try:
            async with running(config, store, sink):
                await until(tried, f"try {run}", 20)
        finally:
            await store.close()
    store = await open_store(store_url)
    try:
        async with running(config, store, sink):
            await until(lambda: "message 3" in sink.delivered, "the mailbox moving on", 20)
        checkpoint = await store.get(config.name, "INBOX")
    finally:
        await store.close()
    assert sink.tries["message 2"] == FAST.max_attempts  # not tried a fourth time
    assert [k.uid for k in sink.kept] == [uids[1]]
    assert "a crash" in sink.kept[0].detail
    assert sink.delivered == ["message 1", "message 3"]
    assert checkpoint is not None
    assert checkpoint.last_uid == uids[2]


async def test_an_unavailable_broker_is_not_the_messages_fault(
    account: MailAccount, store: CheckpointStore
) -> None:
    account.append("INBOX", make_message(1))
    config = mailbox(account)
    sink = Sink(broker_down_for=FAST.max_attempts * 3)
    async with running(config, store, sink):
        await until(lambda: sink.delivered == ["message 1"], "delivery once the broker is up", 20)
    assert sink.tries["message 1"] == FAST.max_attempts * 3 + 1
    assert sink.kept == []


async def test_a_message_over_the_size_limit_is_not_fetched_whole(
    account: MailAccount, store: CheckpointStore
) -> None:
    big = make_message(2) + (b"y" * 76 + b"\r\n") * 2000  # about 160 KB
    uids = account.append("INBOX", make_message(1), big, make_message(3))
    config = mailbox(account)
    sink = Sink()
    options = PollerOptions(
        backoff_initial_s=0.05, max_message_bytes=50_000, kept_prefix_bytes=1_000
    )
    async with running(config, store, sink, options):
        await until(lambda: "message 3" in sink.delivered, "the message after the big one", 20)
    assert sink.delivered == ["message 1", "message 3"]
    assert "message 2" not in sink.tries
    [kept] = sink.kept
    assert (kept.uid, kept.reason) == (uids[1], "too_large")
    assert kept.raw == big[:1000]  # its first bytes only: the rest stayed on the server
    assert kept.total_bytes is not None
    assert kept.total_bytes >= len(big)
    assert metric("ingest_mail_imap_messages_total", mailbox=config.name, outcome="too_large") == 1


async def first_on(bootstrap: str, topic: str, match: Callable[[Any], bool]) -> Any:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
        fetch_max_bytes=8_000_000,
        max_partition_fetch_bytes=8_000_000,
    )
    await consumer.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    _, event = decode(record.headers, record.value)
                    if match(event):
                        return event
    finally:
        await consumer.stop()
    raise AssertionError(f"nothing matching on {topic}")


async def test_a_mime_bomb_read_over_imap_is_kept_and_the_next_message_published(
    kafka_bootstrap: str, account: MailAccount, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    bomb = (
        b"From: Mallory <m@evil.example>\r\nTo: sales@acme.test\r\nSubject: bomb\r\n"
        b"Message-ID: <bomb." + tag.encode() + b"@evil.example>\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        + b"--b\r\n\r\n" * 300_000
        + b"--b--\r\n"
    )
    after = make_message(2, tag)
    account.append("INBOX", bomb, after)
    config = mailbox(account).model_dump(mode="json")
    config["password"] = account.password
    app = create_app(
        Settings(
            lmtp_port=0,
            http_token="mail-http-token-0123456789abcdef",
            mailboxes=json.dumps([config]),
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'ingest-mail.db'}",
            common=CommonSettings(kafka_bootstrap=kafka_bootstrap, own_domains=["acme.test"]),
        )
    )
    async with app.router.lifespan_context(app):
        bus: Bus = app.state.bus
        assert await bus.wait_connected(20)
        kept = await first_on(
            kafka_bootstrap,
            INGEST_REJECTED.name,
            lambda e: (
                isinstance(e, IngestRejected)
                and e.source == "ingest-mail/imap"
                and e.body_sha256 == hashlib.sha256(bomb).hexdigest()
            ),
        )
        published = await first_on(
            kafka_bootstrap,
            MAIL_RECEIVED.name,
            lambda e: isinstance(e, MailReceived) and e.message_id == f"<2.{tag}@client.example>",
        )
    assert kept.reason == "too_many_parts"
    assert kept_body(kept) == bomb
    assert published.subject == "message 2"
