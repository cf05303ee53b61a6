"""The parser pool with real worker processes: a stopping pool blames no message."""

from __future__ import annotations

import asyncio
import os
import time
from email.message import EmailMessage

import pytest

from ingest_mail.domain.parse import MailboxIdentity
from ingest_mail.intake import MailIntake
from ingest_mail.parsing import ParseOptions, ParserPool, ParserUnavailable
from ingest_mail.publisher import MailPublisher
from switchboard_shared.kafka import BrokerUnavailable

pytestmark = pytest.mark.integration

MAILBOX = MailboxIdentity("sales@acme.test", frozenset({"acme.test"}))


def message(attachment: int = 0) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Ann <ann@client.example>"
    msg["To"] = "sales@acme.test"
    msg["Subject"] = "Quote"
    msg.set_content("Hello")
    if attachment:
        msg.add_attachment(
            os.urandom(attachment), maintype="application", subtype="pdf", filename="q.pdf"
        )
    return msg.as_bytes()


async def test_closing_the_pool_under_a_parse_is_not_the_messages_fault() -> None:
    pool = ParserPool(ParseOptions(workers=1, timeout_s=60))
    await pool.start()
    assert (
        await pool.parse(message(), mailbox=MAILBOX, folder=None, max_bytes=30_000_000)
    ).subject == "Quote"
    slow = asyncio.create_task(
        pool.parse(message(15_000_000), mailbox=MAILBOX, folder=None, max_bytes=30_000_000)
    )
    deadline = time.monotonic() + 10
    while pool._slots is not None and pool._slots.qsize() > 0:  # the worker took it
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    await pool.close()
    with pytest.raises(ParserUnavailable) as caught:
        await slow
    assert isinstance(caught.value, BrokerUnavailable)  # every door: try again later
    with pytest.raises(ParserUnavailable):
        await pool.parse(message(), mailbox=MAILBOX, folder=None, max_bytes=30_000_000)
    await pool.start()  # and it can start again
    try:
        parsed = await pool.parse(message(), mailbox=MAILBOX, folder=None, max_bytes=30_000_000)
        assert parsed.subject == "Quote"
    finally:
        await pool.close()


class KeepsNothing(MailPublisher):
    def __init__(self) -> None:
        self.rejected: list[str] = []

    async def reject(
        self, intake: str, reason: str, detail: str, raw: bytes, total_bytes: int | None = None
    ) -> str:
        self.rejected.append(reason)
        return "kept"


async def test_a_stopping_parser_is_no_reason_to_reject_a_message() -> None:
    pool = ParserPool(ParseOptions(workers=1))
    await pool.start()
    await pool.close()
    publisher = KeepsNothing()
    intake = MailIntake(
        publisher,
        own_domains=frozenset({"acme.test"}),
        own_addresses=frozenset(),
        max_bytes=25_000_000,
        parser=pool,
    )
    with pytest.raises(BrokerUnavailable):  # the doors answer "try again later"
        await intake.accept(message(), mailbox="sales@acme.test", folder=None, intake="lmtp")
    assert publisher.rejected == []
