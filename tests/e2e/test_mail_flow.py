"""A client's e-mail asks for a reply; our answer in the thread closes it by itself. Machine mail
(an out-of-office reply) opens nothing. Through the real services, broker and database."""

from __future__ import annotations

import asyncio
import time
import uuid
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from support.stack import ADMIN_TOKEN, MAILBOX, Stack, post_mail

pytestmark = pytest.mark.e2e
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
OURS = MAILBOX


def mail(
    sender: str,
    to: str,
    subject: str,
    *,
    message_id: str,
    in_reply_to: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    msg["Date"] = "Wed, 25 Nov 2026 10:00:00 +0000"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content("Could you send us a quote for 20 seats?\n\nRegards, Ann")
    return msg.as_bytes()


async def activities_for(stack: Stack, address: str, kind: str = "reply") -> list[dict[str, Any]]:
    """The address's activities of one kind (an unknown sender also gets `identify_contact`)."""
    async with httpx.AsyncClient(base_url=stack.url("crm_store"), headers=ADMIN) as client:
        response = await client.get("/api/v1/activities", params={"limit": "200"})
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    return [a for a in items if a.get("counterpart") == address and a["kind"] == kind]


async def wait_for(stack: Stack, address: str, predicate: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        items = await activities_for(stack, address)
        if predicate(items):
            return items
        if time.monotonic() > deadline:
            raise AssertionError(f"activities for {address}: {items}")
        await asyncio.sleep(0.2)


async def test_client_mail_opens_a_reply_and_our_answer_closes_it(stack: Stack) -> None:
    client = f"ann.{uuid.uuid4().hex[:6]}@client-company.com"
    question_id = f"<{uuid.uuid4().hex}@client-company.com>"
    posted = await post_mail(
        stack, mail(f"Ann <{client}>", OURS, "Quote for 20 seats", message_id=question_id)
    )
    assert posted["direction"] == "inbound"

    [reply] = await wait_for(stack, client, lambda items: len(items) == 1)
    assert reply["kind"] == "reply"
    assert reply["state"] == "open"

    answer = mail(
        OURS,
        client,
        "Re: Quote for 20 seats",
        message_id=f"<{uuid.uuid4().hex}@acme-corp.com>",
        in_reply_to=question_id,
    )
    assert (await post_mail(stack, answer, folder="Sent"))["direction"] == "outbound"
    [closed] = await wait_for(stack, client, lambda items: items and items[0]["state"] != "open")
    assert closed["id"] == reply["id"]
    assert closed["state"] == "done"
    assert closed["closed_by"] == "auto"


async def test_an_out_of_office_reply_opens_nothing(stack: Stack) -> None:
    client = f"bob.{uuid.uuid4().hex[:6]}@client-company.com"
    await post_mail(
        stack,
        mail(
            f"Bob <{client}>",
            OURS,
            "Automatic reply: Out of office until Monday",
            message_id=f"<{uuid.uuid4().hex}@client-company.com>",
            headers={"Auto-Submitted": "auto-replied", "X-Autoreply": "yes"},
        ),
    )
    # A real message from the same sender afterwards travels the same partition (same key):
    # once it has opened its reply, the out-of-office has been processed too.
    await post_mail(
        stack,
        mail(
            f"Bob <{client}>",
            OURS,
            "Back now",
            message_id=f"<{uuid.uuid4().hex}@client-company.com>",
        ),
    )
    items = await wait_for(stack, client, lambda items: len(items) >= 1)
    assert len(items) == 1, "the out-of-office must not open a reply"


async def stored_interaction(stack: Stack, interaction_id: str, timeout: float = 30) -> Any:
    """The interaction once crm-store stored it, which it does with the decisions it made."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=stack.url("crm_store"), headers=ADMIN) as client:
        while True:
            response = await client.get(f"/api/v1/interactions/{interaction_id}")
            if response.status_code == 200:
                return response.json()
            assert response.status_code == 404, response.text
            if time.monotonic() > deadline:
                raise AssertionError(f"interaction {interaction_id} was never stored")
            await asyncio.sleep(0.2)


async def test_a_forged_from_us_closes_nothing_and_our_real_reply_does(stack: Stack) -> None:
    """From: is a claim: a message from outside that says it is our answer (SPF and DMARC
    failing) leaves the client's reply open; the answer from our Sent folder closes it."""
    client = f"cy.{uuid.uuid4().hex[:6]}@client-company.com"
    question_id = f"<{uuid.uuid4().hex}@client-company.com>"
    await post_mail(
        stack, mail(f"Cy <{client}>", OURS, "Quote for 5 seats", message_id=question_id)
    )
    [reply] = await wait_for(stack, client, lambda items: len(items) == 1)
    assert reply["state"] == "open"

    forged = mail(
        f"Sales <{OURS}>",
        client,
        "Re: Quote for 5 seats",
        message_id=f"<{uuid.uuid4().hex}@forger.example>",
        in_reply_to=question_id,
        headers={
            "Authentication-Results": "mx.forger.example; spf=fail smtp.mailfrom=acme-corp.com;"
            " dmarc=fail (p=none) header.from=acme-corp.com"
        },
    )
    posted = await post_mail(stack, forged)  # delivered to the INBOX, from outside
    assert posted["direction"] == "inbound"
    seen = await stored_interaction(stack, posted["event_id"])
    assert "spoofed_sender" in seen["tags"]
    assert seen["disposition"] == "auto_closed"
    assert seen["reasons"][0]["rule"] == "mail.spoofed_sender"
    [still_open] = await activities_for(stack, client)
    assert (still_open["id"], still_open["state"]) == (reply["id"], "open")
    assert await activities_for(stack, OURS) == [], "a forged message opens nothing either"

    answer = mail(
        OURS,
        client,
        "Re: Quote for 5 seats",
        message_id=f"<{uuid.uuid4().hex}@acme-corp.com>",
        in_reply_to=question_id,
    )
    assert (await post_mail(stack, answer, folder="Sent"))["direction"] == "outbound"
    [closed] = await wait_for(stack, client, lambda items: items and items[0]["state"] != "open")
    assert (closed["id"], closed["state"], closed["closed_by"]) == (reply["id"], "done", "auto")
