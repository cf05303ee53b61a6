"""LMTP edge (RFC 2033) on aiosmtpd, so Postfix or any MTA can deliver to Switchboard.

One reply per recipient after DATA: 250 only once that recipient's event is acknowledged by the
broker, 451 (try again later) when it is not; 552 over the size limit.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session

from ingest_mail.intake import MailIntake, mailbox_address
from ingest_mail.metrics import MESSAGES
from switchboard_shared.kafka import BrokerUnavailable

log = logging.getLogger(__name__)


class DeliveryHandler:
    def __init__(self, intake: MailIntake) -> None:
        self.intake = intake

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if mailbox_address(address) is None:
            return "550 5.1.3 Bad recipient address syntax"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        replies = []
        for recipient in envelope.rcpt_tos:
            mailbox = mailbox_address(recipient) or recipient.lower()
            try:
                await self.intake.accept(raw, mailbox=mailbox, folder=None, intake="lmtp")
            except BrokerUnavailable:
                MESSAGES.labels("lmtp", "unavailable").inc()
                replies.append(f"451 4.3.0 <{recipient}> cannot store the message now, try later")
                continue
            replies.append(f"250 2.0.0 <{recipient}> delivered")
        return "\r\n".join(replies)


async def start_lmtp(intake: MailIntake, host: str, port: int, *, max_bytes: int) -> asyncio.Server:
    handler = DeliveryHandler(intake)

    def protocol() -> Any:
        return LMTP(
            handler,
            data_size_limit=max_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname="switchboard",
            ident="Switchboard LMTP",
        )

    server = await asyncio.get_running_loop().create_server(protocol, host, port)
    log.info("LMTP listening", extra={"host": host, "port": port})
    return server
