"""A forged `From:` closes nothing.

A client asks us something (a `reply` activity opens). Then someone outside sends a message
that claims to be our answer: `From:` our mailbox, in the thread, with an
`Authentication-Results` header of their own saying DKIM and DMARC passed and one of our trusted
relay's name saying the same further down (only the topmost one of a trusted relay counts, and
it says fail). Delivered inbound (LMTP, and HTTP without `folder=Sent`), it is inbound, tagged
`spoofed_sender`, and the client's `reply` stays open. Our real answer, from the Sent folder,
then closes it: the forgery was not ignored by accident.
"""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from functools import partial
from typing import Any

import httpx
import pytest

from security.conftest import OUR_DOMAIN, TRUSTED_RELAY
from security.harness import Lmtp, read_topic
from security.page import post_mail
from support.conditions import blocking_until
from support.stack import ADMIN_TOKEN, Stack
from switchboard_shared.cloudevents import decode
from switchboard_shared.events import MailReceived
from switchboard_shared.topics import MAIL_RECEIVED

pytestmark = pytest.mark.security

OURS = f"sales@{OUR_DOMAIN}"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def mail(
    sender: str,
    to: str,
    subject: str,
    message_id: str,
    in_reply_to: str | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> bytes:
    msg = EmailMessage()
    for name, value in headers or []:
        msg[name] = value
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    msg["Date"] = "Tue, 01 Dec 2026 10:00:00 +0000"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg.set_content("Here is the quote you asked for.\n")
    return msg.as_bytes()


def replies_for(stack: Stack, address: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{stack.url('crm_store')}/api/v1/activities",
        params={"kind": "reply", "limit": "200"},
        headers=ADMIN,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return [a for a in response.json()["items"] if a.get("counterpart") == address]


def interaction(stack: Stack, interaction_id: str) -> dict[str, Any] | None:
    response = httpx.get(
        f"{stack.url('crm_store')}/api/v1/interactions/{interaction_id}", headers=ADMIN, timeout=10
    )
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def received(stack: Stack, message_ids: set[str]) -> dict[str, tuple[str, MailReceived]]:
    """The mail.received.v1 events (and their ce_id) of these messages."""
    found: dict[str, tuple[str, MailReceived]] = {}

    def collect(records: list[Any]) -> bool:
        for record in records:
            envelope, event = decode(record.headers, record.value)
            if isinstance(event, MailReceived) and event.message_id in message_ids:
                found[event.message_id] = (envelope.id, event)
        return set(found) == message_ids

    read_topic(stack.env["SWITCHBOARD_KAFKA_BOOTSTRAP"], MAIL_RECEIVED.name, collect)
    assert set(found) == message_ids, f"not on {MAIL_RECEIVED.name}: {message_ids - set(found)}"
    return found


def forged_headers() -> list[tuple[str, str]]:
    """Topmost: our trusted relay's verdict (fail). Below: claims of passing, one of them
    wearing our relay's name."""
    passed = f"dkim=pass header.d={OUR_DOMAIN}; dmarc=pass header.from={OUR_DOMAIN}"
    failed = f"spf=fail smtp.mailfrom={OUR_DOMAIN}; dkim=none; dmarc=fail header.from={OUR_DOMAIN}"
    return [
        ("Authentication-Results", f"{TRUSTED_RELAY}; {failed}"),
        ("Authentication-Results", f"{TRUSTED_RELAY}; {passed}"),
        ("Authentication-Results", f"mx.evil.example; {passed}"),
    ]


def test_a_forged_answer_is_inbound_tagged_and_closes_nothing(stack: Stack) -> None:
    client = f"ann.{uuid.uuid4().hex[:6]}@client-company.example"
    question_id = f"<{uuid.uuid4().hex}@client-company.example>"
    asked = post_mail(stack, mail(f"Ann <{client}>", OURS, "Quote for 20 seats?", question_id))
    assert asked["direction"] == "inbound"
    [reply] = blocking_until(lambda: replies_for(stack, client), "the client's reply activity")
    assert reply["state"] == "open"

    forged_ids = {f"<{uuid.uuid4().hex}@{OUR_DOMAIN}>" for _ in range(2)}
    over_lmtp, over_http = sorted(forged_ids)
    with Lmtp(int(stack.env["INGEST_MAIL_LMTP_PORT"])) as lmtp:
        raw = mail(f"Sales <{OURS}>", client, "Re: Quote", over_lmtp, question_id, forged_headers())
        [(code, text)] = lmtp.deliver(OURS, [OURS], raw)
        assert code == 250, text
    raw = mail(f"Sales <{OURS}>", client, "Re: Quote", over_http, question_id, forged_headers())
    assert post_mail(stack, raw)["direction"] == "inbound"

    events = received(stack, forged_ids)
    for message_id, (ce_id, event) in events.items():
        assert event.direction.value == "inbound", message_id
        assert event.spoofed_sender, message_id
        assert event.sender_evidence is None or event.sender_evidence.value == "none"
        stored = blocking_until(partial(interaction, stack, ce_id), "crm-store has it")
        assert "spoofed_sender" in stored["tags"], stored
        assert stored["disposition"] == "auto_closed", stored

    [still] = replies_for(stack, client)
    assert still["id"] == reply["id"]
    assert still["state"] == "open", f"a forged From: closed the activity: {still}"

    answer = mail(OURS, client, "Re: Quote", f"<{uuid.uuid4().hex}@{OUR_DOMAIN}>", question_id)
    assert post_mail(stack, answer, folder="Sent")["direction"] == "outbound"
    [closed] = blocking_until(
        lambda: [a for a in replies_for(stack, client) if a["state"] != "open"],
        "our real answer closes the reply",
    )
    assert closed["id"] == reply["id"]
    assert closed["closed_by"] == "auto"
