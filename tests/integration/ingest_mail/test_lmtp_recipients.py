"""The LMTP door against a real LMTP client (smtplib) and the real broker: only our recipients,
at most `INGEST_MAIL_LMTP_MAX_RECIPIENTS` per transaction, and a MIME bomb answered with a
permanent failure per recipient after it was kept."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import smtplib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from prometheus_client import REGISTRY

from ingest_mail.app import create_app
from ingest_mail.config import Settings
from support.ports import free_port
from support.records import read_to_end
from switchboard_shared.cloudevents import decode
from switchboard_shared.events import IngestRejected
from switchboard_shared.intake import kept_body
from switchboard_shared.kafka import Bus
from switchboard_shared.settings import CommonSettings
from switchboard_shared.topics import INGEST_REJECTED

pytestmark = pytest.mark.integration

TOKEN = "mail-http-token-0123456789abcdef"


def message(subject: str) -> bytes:
    return (
        b"From: Ann Client <ann@client.example>\r\nTo: sales@acme.test\r\n"
        b"Subject: " + subject.encode() + b"\r\n"
        b"Message-ID: <" + uuid.uuid4().hex.encode() + b"@client.example>\r\n\r\nHello\r\n"
    )


def part_bomb(parts: int) -> bytes:
    return (
        b"From: Mallory <m@evil.example>\r\nTo: sales@acme.test\r\nSubject: bomb\r\n"
        b"Message-ID: <" + uuid.uuid4().hex.encode() + b"@evil.example>\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        + b"--b\r\n\r\n" * parts
        + b"--b--\r\n"
    )


@contextlib.asynccontextmanager
async def lmtp_door(
    bootstrap: str, own_domains: tuple[str, ...] = ("acme.test",), **settings: object
) -> AsyncIterator[int]:
    port = free_port()
    app = create_app(
        Settings(
            lmtp_port=port,
            http_token=TOKEN,
            common=CommonSettings(
                kafka_bootstrap=bootstrap, own_domains=list(own_domains), publish_timeout_s=2.0
            ),
            **settings,  # type: ignore[arg-type]
        )
    )
    async with app.router.lifespan_context(app):
        bus: Bus = app.state.bus
        assert await bus.wait_connected(20)
        yield port


@dataclass
class Transaction:
    rcpt: dict[str, tuple[int, str]]
    data: list[tuple[int, str]]


def deliver(port: int, recipients: list[str], raw: bytes) -> Transaction:
    """One LMTP transaction with the stdlib client: every RCPT's reply, then one reply per
    accepted recipient after DATA (smtplib reads the first; the rest are read here)."""
    with smtplib.LMTP("127.0.0.1", port) as client:
        client.ehlo_or_helo_if_needed()
        assert client.mail("ann@client.example")[0] == 250
        rcpt = {}
        for recipient in recipients:
            code, text = client.rcpt(recipient)
            rcpt[recipient] = (code, text.decode())
        accepted = [r for r, (code, _) in rcpt.items() if code == 250]
        data: list[tuple[int, str]] = []
        if accepted:
            code, text = client.data(raw)
            data.append((code, text.decode()))
            for _ in accepted[1:]:
                code, text = client.getreply()
                data.append((code, text.decode()))
        else:
            client.rset()
    return Transaction(rcpt, data)


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_only_our_recipients_are_accepted(kafka_bootstrap: str) -> None:
    before = counter("ingest_mail_lmtp_recipients_total", outcome="not_ours")
    async with lmtp_door(kafka_bootstrap, own_addresses="boss@gmail.example") as port:
        done = await asyncio.to_thread(
            deliver,
            port,
            [
                "ceo@gmail.com",
                "sales@acme.test",
                "info@eu.acme.test",
                "boss@gmail.example",
                "sales@acme.test.evil.example",
            ],
            message("to us"),
        )
    code, text = done.rcpt["ceo@gmail.com"]
    assert code == 550, text
    assert "5.1.1" in text
    assert done.rcpt["sales@acme.test.evil.example"][0] == 550
    for ours in ("sales@acme.test", "info@eu.acme.test", "boss@gmail.example"):
        assert done.rcpt[ours][0] == 250, done.rcpt[ours]
    assert [code for code, _ in done.data] == [250, 250, 250]
    assert counter("ingest_mail_lmtp_recipients_total", outcome="not_ours") == before + 2


async def test_recipients_per_transaction_are_capped(kafka_bootstrap: str) -> None:
    recipients = [f"user{n}@acme.test" for n in range(4)]
    async with lmtp_door(kafka_bootstrap, lmtp_max_recipients=2) as port:
        done = await asyncio.to_thread(deliver, port, recipients, message("capped"))
        again = await asyncio.to_thread(deliver, port, recipients[2:], message("the rest"))
    assert [done.rcpt[r][0] for r in recipients] == [250, 250, 452, 452]
    assert "4.5.3" in done.rcpt[recipients[2]][1]
    assert [code for code, _ in done.data] == [250, 250]
    assert [code for code, _ in again.data] == [250, 250]  # the client sends the rest later


async def test_with_no_own_domain_every_recipient_is_refused(
    kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="ingest_mail.lmtp"):
        async with lmtp_door(kafka_bootstrap, own_domains=()) as port:
            done = await asyncio.to_thread(deliver, port, ["sales@acme.test"], message("x"))
    assert done.rcpt["sales@acme.test"][0] == 550
    assert any("SWITCHBOARD_OWN_DOMAINS" in r.getMessage() for r in caplog.records)


async def rejected_from(bootstrap: str, source: str, sha256: str) -> list[IngestRejected]:
    """Every kept copy of this body on ingest.rejected.v1 (the whole topic, to its end: the
    intake answers after the broker acknowledged)."""
    found: list[IngestRejected] = []
    records = await read_to_end(
        bootstrap,
        INGEST_REJECTED.name,
        fetch_max_bytes=8_000_000,
        max_partition_fetch_bytes=8_000_000,
    )
    for record in records:
        _, event = decode(record.headers, record.value)
        if (
            isinstance(event, IngestRejected)
            and event.source == source
            and event.body_sha256 == sha256
        ):
            found.append(event)
    return found


async def test_a_mime_bomb_is_kept_then_refused_for_every_recipient(
    kafka_bootstrap: str,
) -> None:
    bomb = part_bomb(200_000)
    before = counter("ingest_mail_rejected_total", reason="too_many_parts")
    async with lmtp_door(kafka_bootstrap) as port:
        done = await asyncio.to_thread(
            deliver, port, ["sales@acme.test", "support@acme.test"], bomb
        )
        after = await asyncio.to_thread(deliver, port, ["sales@acme.test"], message("next"))
    assert [code for code, _ in done.data] == [554, 554], done.data
    assert all("5.6.0" in text and "too_many_parts" in text for _, text in done.data)
    assert [code for code, _ in after.data] == [250]
    # parsed and kept once, whatever the number of recipients
    assert counter("ingest_mail_rejected_total", reason="too_many_parts") == before + 1
    kept = await rejected_from(
        kafka_bootstrap, "ingest-mail/lmtp", hashlib.sha256(bomb).hexdigest()
    )
    assert len(kept) == 1
    assert kept[0].reason == "too_many_parts"
    assert kept_body(kept[0]) == bomb
