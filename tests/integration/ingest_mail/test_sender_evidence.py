"""Our mail counts as ours only on evidence, through the real doors: IMAP against a real Dovecot
(a folder the server flags \\Sent), POST /messages with folder=Sent, a trusted relay's
Authentication-Results; a forged From: one of ours is published inbound with `spoofed_sender`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from ingest_mail.app import create_app
from ingest_mail.config import Settings
from integration.ingest_mail.mailboxes import mailbox_entry
from support.dovecot import MailAccount
from support.records import read_to_end
from switchboard_shared.cloudevents import decode
from switchboard_shared.events import MailDirection, MailReceived, SenderEvidence
from switchboard_shared.kafka import Bus
from switchboard_shared.settings import CommonSettings
from switchboard_shared.topics import MAIL_RECEIVED

pytestmark = pytest.mark.integration

TOKEN = "mail-http-token-evidence-0123456789"
RELAY = "mx.acme-corp.com"
OURS = "acme-corp.com"  # a public-looking domain: addresses under .test do not validate


def message(sender: str, *headers: str, to: str = "ann@client.example") -> tuple[str, bytes]:
    message_id = f"<{uuid.uuid4().hex}@{OURS}>"
    lines = [
        *headers,
        f"From: {sender}",
        f"To: {to}",
        "Subject: Re: Quote for 20 seats",
        "Date: Wed, 25 Nov 2026 10:00:00 +0000",
        f"Message-ID: {message_id}",
    ]
    return message_id, ("\r\n".join(lines) + "\r\n\r\nThe quote is attached.\r\n").encode()


@contextlib.asynccontextmanager
async def mail_app(
    bootstrap: str, tmp_path: Path, account: MailAccount | None = None
) -> AsyncIterator[FastAPI]:
    mailboxes = None
    if account is not None:
        mailboxes = json.dumps([mailbox_entry(account, folders=["INBOX", "Sent Items"])])
    app = create_app(
        Settings(
            http_token=TOKEN,
            lmtp_port=0,
            trusted_authserv_ids=f"{RELAY.upper()}, other-relay.example",
            mailboxes=mailboxes,
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'checkpoints.db'}",
            common=CommonSettings(
                kafka_bootstrap=bootstrap, own_domains=[OURS, "acme.test"], publish_timeout_s=2.0
            ),
        )
    )
    async with app.router.lifespan_context(app):
        bus: Bus = app.state.bus
        assert await bus.wait_connected(20)
        yield app


async def published(
    bootstrap: str, wanted: set[str], timeout: float = 30
) -> dict[str, MailReceived]:
    """The mail.received.v1 event of each of these message ids, each there exactly once: the
    topic is read to its end until every one is there, and a second copy fails the test."""
    deadline = time.monotonic() + timeout
    while True:
        copies: dict[str, list[MailReceived]] = {key: [] for key in wanted}
        for record in await read_to_end(bootstrap, MAIL_RECEIVED.name):
            _, event = decode(record.headers, record.value)
            if isinstance(event, MailReceived) and event.message_id in wanted:
                copies[event.message_id].append(event)
        missing = {key for key, found in copies.items() if not found}
        if not missing:
            break
        assert time.monotonic() < deadline, f"missing: {missing}"
        await asyncio.sleep(0.2)
    assert {key: len(found) for key, found in copies.items()} == dict.fromkeys(wanted, 1)
    return {key: found[0] for key, found in copies.items()}


async def post(app: FastAPI, raw: bytes, folder: str) -> dict[str, str]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mail") as client:
        response = await client.post(
            "/messages",
            params={"mailbox": f"sales@{OURS}", "folder": folder},
            content=raw,
            headers={"Content-Type": "message/rfc822", "Authorization": f"Bearer {TOKEN}"},
        )
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


async def test_http_our_mail_needs_the_sent_folder_or_a_trusted_relay(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    forged_id, forged = message(
        f"Mia <mia@{OURS}>",
        f"Authentication-Results: {RELAY}; spf=fail smtp.mailfrom={OURS};"
        f" dmarc=fail (p=none) header.from={OURS}",
        # written by the sender below the relay's own header: never read
        f"Authentication-Results: {RELAY}; dmarc=pass header.from={OURS}",
    )
    vouched_id, vouched = message(
        f"Mia <mia@{OURS}>",
        f"Authentication-Results: {RELAY}; dkim=pass header.d={OURS};"
        f" dmarc=pass header.from={OURS}",
    )
    sent_id, sent = message(f"Mia <mia@{OURS}>")
    client_id, from_client = message("Ann <ann@client.example>", to=f"sales@{OURS}")

    async with mail_app(kafka_bootstrap, tmp_path) as app:
        assert (await post(app, forged, "INBOX"))["direction"] == "inbound"
        assert (await post(app, vouched, "INBOX"))["direction"] == "outbound"
        assert (await post(app, sent, "Sent"))["direction"] == "outbound"
        assert (await post(app, from_client, "INBOX"))["direction"] == "inbound"

    events = await published(kafka_bootstrap, {forged_id, vouched_id, sent_id, client_id})
    forged_event = events[forged_id]
    assert forged_event.direction is MailDirection.INBOUND
    assert forged_event.spoofed_sender is True
    assert forged_event.sender_evidence is SenderEvidence.NONE
    assert (events[vouched_id].direction, events[vouched_id].sender_evidence) == (
        MailDirection.OUTBOUND,
        SenderEvidence.AUTHENTICATION_RESULTS,
    )
    assert (events[sent_id].direction, events[sent_id].sender_evidence) == (
        MailDirection.OUTBOUND,
        SenderEvidence.SENT_FOLDER,
    )
    assert events[client_id].spoofed_sender is False
    assert events[client_id].counterpart == "ann@client.example"


async def test_imap_a_folder_the_server_flags_sent_is_evidence(
    kafka_bootstrap: str, tmp_path: Path, account: MailAccount
) -> None:
    sent_id, sent = message(f"Mia <mia@{OURS}>")
    forged_id, forged = message(f"Mia <mia@{OURS}>")
    account.append("Sent Items", sent)  # flagged \Sent by the server, not named "Sent"
    account.append("INBOX", forged)

    async with mail_app(kafka_bootstrap, tmp_path, account):
        events = await published(kafka_bootstrap, {sent_id, forged_id})

    assert events[sent_id].folder == "Sent Items"
    assert events[sent_id].direction is MailDirection.OUTBOUND
    assert events[sent_id].sender_evidence is SenderEvidence.SENT_FOLDER
    assert events[sent_id].counterpart == "ann@client.example"
    assert events[forged_id].folder == "INBOX"
    assert events[forged_id].direction is MailDirection.INBOUND
    assert events[forged_id].spoofed_sender is True
