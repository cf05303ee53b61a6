"""IMAP over TLS and STARTTLS through the real ingest-mail app, against a real Dovecot serving a
certificate for 127.0.0.1 signed by a CA made for the test.

A mailbox trusts that CA only through its `ca_file`: with it, mail flows over an encrypted
session (Dovecot logs the login with `TLS`); without it, or under a host name the certificate
does not carry, the connection is refused before any credential is sent (Dovecot never sees the
user) and `GET /mailboxes` says why.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest_mail.mailboxes import MailboxConfigError, load_mailboxes
from integration.ingest_mail.imap_app import (
    MailTopic,
    app_settings,
    at_least,
    mailbox_entry,
    serving,
)
from integration.ingest_mail.mailboxes import metric
from support.conditions import until
from support.dovecot import DovecotServer, MailAccount, make_message, start_dovecot

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tls_dovecot() -> Iterator[DovecotServer]:
    server = start_dovecot(tls=True)
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def tls_account(tls_dovecot: DovecotServer) -> MailAccount:
    username = f"sales-{uuid.uuid4().hex[:10]}@acme.test"
    tls_dovecot.add_user(username, "test-secret-0123")
    return MailAccount(tls_dovecot, username, "test-secret-0123")


async def log_mark(server: DovecotServer, username: str, sessions: int = 1) -> int:
    """Where the log ends once the user's `sessions` so far are logged, login and logout
    (Dovecot's log process writes a moment after the fact): what follows is new."""

    def settled() -> bool:
        log = server.log_path.read_text(errors="replace")
        opened = len(logins(log, username))
        closed = sum(
            1 for line in log.splitlines() if f"imap({username})" in line and "Disconnected" in line
        )
        return opened == closed == sessions

    await until(settled, "Dovecot to log the test's own sessions", 10)
    return server.log_path.stat().st_size


def log_since(server: DovecotServer, offset: int) -> str:
    with server.log_path.open("rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


def logins(log: str, username: str) -> list[str]:
    """Dovecot's log lines of the user's successful logins."""
    return [line for line in log.splitlines() if "Login: " in line and f"user=<{username}>" in line]


def secure_entry(account: MailAccount, security: str, **overrides: Any) -> dict[str, Any]:
    server = account.server
    port = server.tls_port if security == "tls" else server.port
    return mailbox_entry(account, security=security, port=port, **overrides)


@pytest.mark.parametrize("security", ["tls", "starttls"])
async def test_mail_is_read_over_tls_with_the_ca_of_the_mailboxs_ca_file(
    kafka_bootstrap: str, tls_account: MailAccount, tmp_path: Path, security: str
) -> None:
    server = tls_account.server
    assert server.ca_path is not None
    tag = uuid.uuid4().hex[:8]
    tls_account.append("INBOX", make_message(1, tag), make_message(2, tag))
    entry = secure_entry(tls_account, security, ca_file=str(server.ca_path))
    settings = app_settings(kafka_bootstrap, tmp_path, [entry])

    mark = await log_mark(server, tls_account.username, sessions=1)
    async with MailTopic(kafka_bootstrap, tls_account.username) as topic:
        async with serving(settings) as served:
            await topic.until("both messages", at_least(2))
            # a plain login of the test's own, while the app's encrypted session runs
            await asyncio.to_thread(tls_account.append, "INBOX", make_message(3, tag))
            await topic.until("the message that arrived while connected", at_least(3))
            [state] = await served.mailboxes()
        await topic.to_the_end()

    assert topic.subjects() == ["message 1", "message 2", "message 3"]
    assert state["connected"] is True
    assert state["last_error"] is None
    # The app's one session was encrypted; the only other login is the test's own append,
    # over plain IMAP on loopback (Dovecot calls that `secured`). Dovecot's log process may
    # write a moment after the login: wait for both lines, then count.
    await until(
        lambda: len(logins(log_since(server, mark), tls_account.username)) >= 2,
        "Dovecot to log both logins",
        10,
    )
    sessions = logins(log_since(server, mark), tls_account.username)
    encrypted = [line for line in sessions if re.search(r"\bTLS\b", line)]
    assert len(encrypted) == 1, sessions
    assert len(sessions) == 2, sessions
    assert metric("ingest_mail_imap_reconnects_total", mailbox=entry["name"]) == 0


@pytest.mark.parametrize(
    ("security", "host", "why"),
    [
        ("tls", "127.0.0.1", "CERTIFICATE_VERIFY_FAILED"),  # a CA the system does not trust
        ("starttls", "127.0.0.1", "CERTIFICATE_VERIFY_FAILED"),
        ("tls", "localhost", "IP address mismatch|Hostname mismatch|doesn't match"),
        ("starttls", "localhost", "IP address mismatch|Hostname mismatch|doesn't match"),
    ],
)
async def test_a_certificate_that_is_not_trusted_for_the_host_is_refused_before_login(
    kafka_bootstrap: str,
    tls_account: MailAccount,
    tmp_path: Path,
    security: str,
    host: str,
    why: str,
) -> None:
    """Not trusted by default (no `ca_file`: the system's CAs), and not for another name even
    with the right CA (the certificate names 127.0.0.1 only)."""
    server = tls_account.server
    assert server.ca_path is not None
    tls_account.append("INBOX", make_message(1, uuid.uuid4().hex[:8]))
    overrides: dict[str, Any] = {"host": host}
    if host != "127.0.0.1":
        overrides["ca_file"] = str(server.ca_path)
    entry = secure_entry(tls_account, security, **overrides)
    settings = app_settings(kafka_bootstrap, tmp_path, [entry])
    name = str(entry["name"])

    mark = await log_mark(server, tls_account.username, sessions=1)
    async with MailTopic(kafka_bootstrap, tls_account.username) as topic:
        async with serving(settings) as served:
            state = await served.wait_for_state(
                "two refused connections",
                lambda s: (
                    metric("ingest_mail_imap_reconnects_total", mailbox=name) >= 2
                    and s[0]["last_error"] is not None
                ),
            )
        await topic.to_the_end()

    [status] = state
    assert status["connected"] is False
    assert status["last_success"] is None
    assert re.search(why, str(status["last_error"])), status["last_error"]
    assert topic.records == []
    # The server never saw the user: no LOGIN (nor AUTHENTICATE) went over the wire.
    assert tls_account.username not in log_since(server, mark)


def test_ca_file_must_exist_and_needs_tls(tmp_path: Path) -> None:
    base = {"name": "office", "host": "imap.example.com", "username": "u", "password": "p"}
    missing = json.dumps([{**base, "ca_file": str(tmp_path / "nowhere.pem")}])
    with pytest.raises(MailboxConfigError, match=r"mailboxes\[0\]\.ca_file"):
        load_mailboxes(None, missing)

    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    plain = json.dumps([{**base, "security": "none", "ca_file": str(ca)}])
    with pytest.raises(MailboxConfigError, match="ca_file needs security: tls or starttls"):
        load_mailboxes(None, plain)

    [config] = load_mailboxes(
        None, json.dumps([{**base, "security": "starttls", "ca_file": str(ca)}])
    )
    assert config.ca_file == ca
    assert config.port == 143
