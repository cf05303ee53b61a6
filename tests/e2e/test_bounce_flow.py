"""A manager's mail to a client bounces: the client's address shows as undeliverable through the
API and on the page, the bounce is on the client's timeline, and `crm.contact-points.v1` says
so; the client writing again from that address clears it. Through the real services (ingest-mail
reads the delivery status notification, the classifier tags it, crm-store acts), broker and
database. The notification is built as Postfix writes one (see the sisimai corpus)."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from support.conditions import eventually
from support.records import read_to_end
from support.stack import ADMIN_TOKEN, MAILBOX, Stack, post_mail
from switchboard_shared.cloudevents import decode
from switchboard_shared.events import ContactPoint

pytestmark = pytest.mark.e2e
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
OURS = MAILBOX
DATE = "Wed, 25 Nov 2026 10:00:00 +0000"


def quote(client: str, message_id: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Sales <{OURS}>"
    msg["To"] = f"Ann <{client}>"
    msg["Subject"] = "Your quote for 20 seats"
    msg["Message-ID"] = message_id
    msg["Date"] = DATE
    msg.set_content("Hello Ann,\n\nplease find our quote for 20 seats below.\n\nSales")
    return msg.as_bytes()


def postfix_bounce(client: str, original_id: str, dsn_id: str) -> bytes:
    """Postfix's "Undelivered Mail Returned to Sender": a multipart/report with the notice, the
    RFC 3464 delivery status and the returned message's headers."""
    host = client.split("@", 1)[1]
    boundary = f"{uuid.uuid4().hex}/mx.{host}"
    diagnostic = f"smtp; 550 5.1.1 <{client}>: Recipient address rejected: User unknown"
    return (
        "Return-Path: <>\r\n"
        f"Date: Wed, 25 Nov 2026 10:00:05 +0000\r\n"
        f"From: MAILER-DAEMON@mx.{host} (Mail Delivery System)\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"To: {OURS}\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status;\r\n"
        f'\tboundary="{boundary}"\r\n'
        f"Message-Id: {dsn_id}\r\n"
        "\r\n"
        "This is a MIME-encapsulated message.\r\n"
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Description: Notification\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        f"This is the mail system at host mx.{host}.\r\n"
        "\r\n"
        "I'm sorry to have to inform you that your message could not\r\n"
        "be delivered to one or more recipients. It's attached below.\r\n"
        "\r\n"
        f"<{client}>: host mx.{host}[192.0.2.25] said: 550 5.1.1\r\n"
        f"    <{client}>: Recipient address rejected: User unknown\r\n"
        "    (in reply to RCPT TO command)\r\n"
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Description: Delivery report\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        f"Reporting-MTA: dns; mx.{host}\r\n"
        f"X-Postfix-Sender: rfc822; {OURS}\r\n"
        f"Arrival-Date: {DATE}\r\n"
        "\r\n"
        f"Final-Recipient: rfc822; {client}\r\n"
        f"Original-Recipient: rfc822;{client}\r\n"
        "Action: failed\r\n"
        "Status: 5.1.1\r\n"
        f"Remote-MTA: dns; mx.{host}\r\n"
        f"Diagnostic-Code: {diagnostic}\r\n"
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Description: Undelivered Message Headers\r\n"
        "Content-Type: text/rfc822-headers\r\n"
        "\r\n"
        f"From: Sales <{OURS}>\r\n"
        f"To: Ann <{client}>\r\n"
        "Subject: Your quote for 20 seats\r\n"
        f"Message-ID: {original_id}\r\n"
        f"Date: {DATE}\r\n"
        "\r\n"
        f"--{boundary}--\r\n"
    ).encode()


def from_client(client: str, message_id: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Ann <{client}>"
    msg["To"] = OURS
    msg["Subject"] = "Our mailbox is back"
    msg["Message-ID"] = message_id
    msg["Date"] = "Thu, 26 Nov 2026 09:00:00 +0000"
    msg.set_content("Sorry, our mail server was misconfigured. Could you send the quote again?")
    return msg.as_bytes()


async def until(stack: Stack, path: str, done: Callable[[Any], bool], timeout: float = 30) -> Any:
    """GET a crm-store resource until it says what the test waits for."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=stack.url("crm_store"), headers=ADMIN) as client:
        while True:
            response = await client.get(path)
            body = response.json() if response.status_code == 200 else None
            if body is not None and done(body):
                return body
            if time.monotonic() > deadline:
                raise AssertionError(f"{path}: {response.status_code} {response.text[:2000]}")
            await asyncio.sleep(0.2)


async def published(stack: Stack, point: str) -> list[ContactPoint | None]:
    records = await read_to_end(stack.env["SWITCHBOARD_KAFKA_BOOTSTRAP"], "crm.contact-points.v1")
    out: list[ContactPoint | None] = []
    for record in records:
        if record.key != point.encode():
            continue
        if record.value is None:
            out.append(None)
            continue
        _, data = decode(list(record.headers), record.value)
        assert isinstance(data, ContactPoint)
        out.append(data)
    return out


async def published_when(
    stack: Stack, point: str, wanted: Callable[[ContactPoint], bool]
) -> ContactPoint:
    """The point's latest record on the topic, once it is what the test waits for (the outbox
    relay publishes a moment after the change is stored)."""

    async def latest() -> list[ContactPoint]:
        records = await published(stack, point)
        last = records[-1] if records else None
        return [last] if last is not None and wanted(last) else []

    [last] = await eventually(latest, what=f"crm.contact-points.v1 record of {point}")
    assert isinstance(last, ContactPoint)
    return last


@asynccontextmanager
async def signed_in(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """The managers' page as a browser gets it, signed in through the login form."""
    async with httpx.AsyncClient(base_url=stack.url("crm_store")) as browser:
        form = await browser.get("/login")
        match = re.search(r'name="csrf" value="([^"]*)"', form.text)
        assert match, form.text[:500]
        signed = await browser.post("/login", data={"csrf": match.group(1), "token": ADMIN_TOKEN})
        assert signed.status_code == 303, signed.text
        yield browser


async def test_a_bounced_quote_marks_the_address_until_the_client_writes_again(
    stack: Stack,
) -> None:
    client = f"ann.{uuid.uuid4().hex[:6]}@client-company.com"
    async with httpx.AsyncClient(base_url=stack.url("crm_store"), headers=ADMIN) as api:
        created = await api.post(
            "/api/v1/contacts", json={"first_name": "Ann", "last_name": "Lee", "emails": [client]}
        )
    assert created.status_code == 201, created.text
    ann = created.json()["id"]

    quote_id = f"<{uuid.uuid4().hex}@acme-corp.com>"
    sent = await post_mail(stack, quote(client, quote_id), folder="Sent")
    assert sent["direction"] == "outbound"
    await until(stack, f"/api/v1/interactions/{sent['event_id']}", lambda body: True)

    dsn = await post_mail(
        stack, postfix_bounce(client, quote_id, f"<{uuid.uuid4().hex}@mx.client-company.com>")
    )

    # The contact's address is undeliverable: the status, the reason and the bounce.
    body = await until(stack, f"/api/v1/contacts/{ann}", lambda c: bool(c["undeliverable"]))
    [mark] = body["undeliverable"]
    assert (mark["email"], mark["status"], mark["interaction_id"]) == (
        client,
        "5.1.1",
        dsn["event_id"],
    )
    assert "User unknown" in mark["diagnostic"]
    assert body["preferred_email"] is None

    # The bounce is on Ann's timeline, tagged, in the quote's thread, and opened nothing.
    timeline = await until(stack, f"/api/v1/contacts/{ann}/timeline", lambda t: True)
    by_id = {i["id"]: i for i in timeline["interactions"]}
    assert set(by_id) == {sent["event_id"], dsn["event_id"]}
    bounce = by_id[dsn["event_id"]]
    assert "bounce" in bounce["tags"]
    assert bounce["disposition"] == "auto_closed"
    assert bounce["thread_id"] == by_id[sent["event_id"]]["thread_id"]
    assert timeline["activities"] == []

    # The page says it in the user's words.
    async with signed_in(stack) as browser:
        screen = await browser.get(f"/contacts/{ann}")
    assert screen.status_code == 200
    assert f"Your e-mail to {client} bounced" in screen.text
    assert "Undeliverable" in screen.text
    assert "Bounces" in screen.text
    assert "No working address or number" in screen.text

    # crm.contact-points.v1 says so.
    last = await published_when(stack, client, lambda p: p.undeliverable is not None)
    assert last.contact_id == ann
    assert last.undeliverable is not None
    assert (last.undeliverable.status, last.undeliverable.interaction_id) == (
        "5.1.1",
        dsn["event_id"],
    )

    # Ann writes from that address: the mark goes, and that is published too.
    await post_mail(stack, from_client(client, f"<{uuid.uuid4().hex}@client-company.com>"))
    body = await until(stack, f"/api/v1/contacts/{ann}", lambda c: not c["undeliverable"])
    assert body["preferred_email"] == client
    last = await published_when(stack, client, lambda p: p.undeliverable is None)
    assert last.contact_id == ann
    async with signed_in(stack) as browser:
        screen = await browser.get(f"/contacts/{ann}")
    assert "Bounces" not in screen.text
    assert "No working address" not in screen.text
