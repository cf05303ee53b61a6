"""HTTP and LMTP intake against the real broker: 2xx/250 only after the broker acknowledged."""

from __future__ import annotations

import asyncio
import contextlib
import email
import uuid
from collections.abc import AsyncIterator
from email.message import EmailMessage

import httpx
import pytest
from fastapi import FastAPI

from ingest_mail.app import create_app
from ingest_mail.config import Settings
from support.broker import BrokerProcess
from support.ports import free_port
from support.postfix import PostfixServer
from support.records import read_to_end
from switchboard_shared.admin import create_topics
from switchboard_shared.cloudevents import decode
from switchboard_shared.events import IngestRejected, MailReceived
from switchboard_shared.intake import kept_body
from switchboard_shared.kafka import Bus
from switchboard_shared.settings import CommonSettings
from switchboard_shared.topics import INGEST_REJECTED, MAIL_RECEIVED

pytestmark = pytest.mark.integration

TOKEN = "mail-http-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def message(subject: str, sender: str = "ann@client.example") -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Ann Client <{sender}>"
    msg["To"] = "sales@acme.test"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@client.example>"
    msg["Date"] = "Wed, 25 Nov 2026 10:00:00 +0000"
    msg.set_content("Hello, could you send me a quote?\n\nAnn")
    return msg.as_bytes()


@contextlib.asynccontextmanager
async def mail_app(
    bootstrap: str,
    lmtp_port: int | None = None,
    own_domains: tuple[str, ...] = ("acme.test",),
    **settings: object,
) -> AsyncIterator[tuple[FastAPI, int]]:
    lmtp_port = lmtp_port or free_port()
    settings.setdefault("http_token", TOKEN)
    app = create_app(
        Settings(
            lmtp_port=lmtp_port,
            common=CommonSettings(
                kafka_bootstrap=bootstrap, own_domains=list(own_domains), publish_timeout_s=2.0
            ),
            **settings,  # type: ignore[arg-type]
        )
    )
    async with app.router.lifespan_context(app):
        bus: Bus = app.state.bus
        assert await bus.wait_connected(20)
        yield app, lmtp_port


async def copies_on(bootstrap: str, topic: str, wanted: set[str]) -> dict[str, list[object]]:
    """Every copy on `topic` of the events whose message_id (mail) or ce_id (rejected) is in
    `wanted`: the whole topic up to its end, so a second copy would be counted."""
    found: dict[str, list[object]] = {key: [] for key in wanted}
    for record in await read_to_end(bootstrap, topic, max_partition_fetch_bytes=8_000_000):
        _, event = decode(record.headers, record.value)
        key = dict(record.headers).get("ce_id", b"").decode()
        if isinstance(event, MailReceived) and event.message_id in wanted:
            found[event.message_id].append(event)
        elif isinstance(event, IngestRejected) and key in wanted:
            found[key].append(event)
    return found


async def test_http_message_is_published_once(kafka_bootstrap: str) -> None:
    raw = message("Quote please")
    async with mail_app(kafka_bootstrap) as (app, _):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://mail", headers=AUTH
        ) as client:
            headers = {"Content-Type": "message/rfc822"}
            first = await client.post(
                "/messages?mailbox=sales@acme.test", content=raw, headers=headers
            )
            again = await client.post(
                "/messages?mailbox=sales@acme.test", content=raw, headers=headers
            )
            no_box = await client.post("/messages", content=raw, headers=headers)
            wrong_type = await client.post(
                "/messages?mailbox=sales@acme.test",
                content=raw,
                headers={"Content-Type": "text/html"},
            )
            garbage = await client.post(
                "/messages?mailbox=sales@acme.test", content=b"\x00\x01 not mail", headers=headers
            )
    assert first.status_code == 200, first.text
    assert first.json()["outcome"] == "published"
    assert first.json()["direction"] == "inbound"
    assert again.json()["outcome"] == "duplicate"
    assert no_box.status_code == 422
    assert no_box.json()["field"] == "mailbox"
    assert wrong_type.status_code == 415
    assert garbage.status_code == 422
    rejected_id = garbage.json()["rejected_event_id"]

    message_id = first.json()["message_id"]
    # answered after the broker acknowledged: everything is on the topics now, and the
    # message exactly once although it was posted twice
    events = await copies_on(kafka_bootstrap, MAIL_RECEIVED.name, {message_id})
    [event] = events[message_id]
    assert isinstance(event, MailReceived)
    assert event.subject == "Quote please"
    assert event.counterpart == "ann@client.example"
    kept = await copies_on(kafka_bootstrap, INGEST_REJECTED.name, {rejected_id})
    [rejected] = kept[rejected_id]
    assert isinstance(rejected, IngestRejected)
    assert kept_body(rejected) == b"\x00\x01 not mail"
    assert rejected.source == "ingest-mail/http"
    assert rejected.content_type == "message/rfc822"


async def test_http_token_is_required(kafka_bootstrap: str) -> None:
    token = "another-mail-token-0123456789abcdef"
    async with mail_app(kafka_bootstrap, http_token=token) as (app, _):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mail") as client:
            url = "/messages?mailbox=sales@acme.test"
            headers = {"Content-Type": "message/rfc822"}
            missing = await client.post(url, content=message("x"), headers=headers)
            good = await client.post(
                url, content=message("y"), headers={**headers, "Authorization": f"Bearer {token}"}
            )
    assert missing.status_code == 401
    assert good.status_code == 200


async def lmtp_send(port: int, raw: bytes, recipients: list[str]) -> list[tuple[int, str]]:
    """A plain RFC 2033 client: after DATA it reads one reply per accepted recipient (the
    stdlib's smtplib.LMTP reads only one, so it cannot check per-recipient replies)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def reply() -> tuple[int, str]:
        lines = []
        while True:
            line = (await reader.readline()).decode()
            lines.append(line[4:].strip())
            if line[3:4] != "-":
                return int(line[:3]), " ".join(lines)

    async def command(text: str) -> tuple[int, str]:
        writer.write(text.encode() + b"\r\n")
        await writer.drain()
        return await reply()

    try:
        assert (await reply())[0] == 220
        assert (await command("LHLO test.example"))[0] == 250
        assert (await command("MAIL FROM:<ann@client.example>"))[0] == 250
        accepted = [r for r in recipients if (await command(f"RCPT TO:<{r}>"))[0] == 250]
        code, text = await command("DATA")
        assert code == 354, text
        body = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        body = b"\r\n".join(
            b"." + line if line.startswith(b".") else line for line in body.split(b"\r\n")
        )
        writer.write(body + b"\r\n.\r\n")
        await writer.drain()
        first = await reply()
        if first[0] == 552:  # the size limit applies to the whole message
            return [first]
        return [first, *[await reply() for _ in accepted[1:]]]
    finally:
        writer.close()


async def test_lmtp_delivers_per_recipient_after_the_broker_acknowledged(
    kafka_bootstrap: str,
) -> None:
    raw = message("Via LMTP")
    async with mail_app(kafka_bootstrap) as (_, port):
        replies = await lmtp_send(port, raw, ["sales@acme.test", "support@acme.test"])
        assert [code for code, _ in replies] == [250, 250]
        assert "sales@acme.test" in replies[0][1]
        assert "support@acme.test" in replies[1][1]
        too_big = await lmtp_send(
            port, b"Subject: x\r\n\r\n" + (b"y" * 70 + b"\r\n") * 370_000, ["sales@acme.test"]
        )
        assert too_big[0][0] == 552


async def test_lmtp_answers_451_while_the_broker_is_frozen(broker: BrokerProcess) -> None:
    await create_topics(CommonSettings(kafka_bootstrap=broker.bootstrap))
    async with mail_app(broker.bootstrap) as (_, port):
        broker.freeze()
        try:
            replies = await lmtp_send(port, message("frozen"), ["sales@acme.test"])
        finally:
            broker.thaw()
    assert [code for code, _ in replies] == [451]


async def count_on(bootstrap: str, topic: str, message_id: str) -> int:
    """How many records on `topic` carry this message (the whole topic, to its end)."""
    return len((await copies_on(bootstrap, topic, {message_id}))[message_id])


def message_id_of(raw: bytes) -> str:
    return email.message_from_bytes(raw)["Message-ID"]


async def test_postfix_delivers_by_lmtp(kafka_bootstrap: str, postfix: PostfixServer) -> None:
    """The README's setup: Postfix relays a domain's mail to ingest-mail over LMTP."""
    raw = message("Relayed by Postfix")
    message_id = message_id_of(raw)
    async with mail_app(kafka_bootstrap, lmtp_port=postfix.lmtp_port):
        mark = postfix.log_size()
        await asyncio.to_thread(postfix.send, raw, "ann@client.example", ["sales@acme.test"])
        # 250 only after the broker acknowledged: once Postfix logs it, the event is there
        await asyncio.to_thread(postfix.wait_for_log, "status=sent (250", after=mark)
    events = await copies_on(kafka_bootstrap, MAIL_RECEIVED.name, {message_id})
    [event] = events[message_id]
    assert isinstance(event, MailReceived)
    assert event.mailbox == "sales@acme.test"
    assert event.subject == "Relayed by Postfix"


async def test_postfix_keeps_the_message_while_the_broker_is_away(
    broker: BrokerProcess, postfix: PostfixServer
) -> None:
    """451 from the intake: Postfix queues the message and delivers it once Kafka is back,
    and it is published once."""
    await create_topics(CommonSettings(kafka_bootstrap=broker.bootstrap))
    raw = message("Queued by Postfix")
    message_id = message_id_of(raw)
    async with mail_app(broker.bootstrap, lmtp_port=postfix.lmtp_port):
        mark = postfix.log_size()
        broker.freeze()
        try:
            await asyncio.to_thread(postfix.send, raw, "ann@client.example", ["sales@acme.test"])
            await asyncio.to_thread(postfix.wait_for_log, "status=deferred", after=mark)
        finally:
            broker.thaw()
        await asyncio.to_thread(postfix.wait_for_log, "status=sent (250", after=mark)
    log = postfix.log()
    assert "451" in log
    assert await count_on(broker.bootstrap, MAIL_RECEIVED.name, message_id) == 1
