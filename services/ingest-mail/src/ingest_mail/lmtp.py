"""LMTP edge (RFC 2033) on aiosmtpd, so Postfix or any MTA can deliver to Switchboard.

RCPT TO: only our recipients (`OurRecipients`: SWITCHBOARD_OWN_DOMAINS and their subdomains,
INGEST_MAIL_OWN_ADDRESSES, the IMAP mailboxes' addresses), 550 5.1.1 otherwise; at most
`max_recipients` per transaction, 452 4.5.3 past it (the client sends the rest in another).

The body is read in bulk (`lmtp_data.py`), not a line at a time. One reply per recipient after
DATA: 250 only once that recipient's event is acknowledged by the
broker, 451 (try again later) when it is not; 552 over the size limit. A message that breaks a
cap or exhausts the parser is kept (on `ingest.rejected.v1`) and answered with a permanent
failure naming the reason, so the sender learns it was not delivered and does not retry.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from ingest_mail.domain.limits import LIMIT_REASONS
from ingest_mail.domain.recipients import OurRecipients
from ingest_mail.intake import Accepted, MailIntake, mailbox_address
from ingest_mail.lmtp_data import BulkDataLMTP
from ingest_mail.metrics import LMTP_RECIPIENTS, MESSAGES
from switchboard_shared.budget import ByteBudget
from switchboard_shared.kafka import BrokerUnavailable

log = logging.getLogger(__name__)

_SIZE_REASONS = frozenset({"header_too_large", "header_line_too_long", "decoded_too_large"})


def refusal(recipient: str, accepted: Accepted) -> str:
    """The permanent failure for a message kept as rejected because it breaks a cap."""
    reason = accepted.reason or "refused"
    if reason in _SIZE_REASONS or reason == "too_large":
        return f"552 5.3.4 <{recipient}> message refused ({reason}); kept for review"
    if reason in LIMIT_REASONS:
        return f"554 5.6.0 <{recipient}> message refused ({reason}); kept for review"
    return f"554 5.6.0 <{recipient}> message could not be processed ({reason}); kept for review"


class DeliveryHandler:
    def __init__(
        self, intake: MailIntake, recipients: OurRecipients, *, max_recipients: int = 100
    ) -> None:
        self.intake = intake
        self.recipients = recipients
        self.max_recipients = max_recipients

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if mailbox_address(address) is None:
            LMTP_RECIPIENTS.labels("bad_address").inc()
            return "550 5.1.3 Bad recipient address syntax"
        if address not in self.recipients:
            LMTP_RECIPIENTS.labels("not_ours").inc()
            return f"550 5.1.1 <{address}> is not a mailbox here"
        if len(envelope.rcpt_tos) >= self.max_recipients:
            LMTP_RECIPIENTS.labels("over_limit").inc()
            return f"452 4.5.3 Too many recipients (at most {self.max_recipients} per message)"
        envelope.rcpt_tos.append(address)
        LMTP_RECIPIENTS.labels("accepted").inc()
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        replies = []
        refused: Accepted | None = None  # one message: a refusal holds for every recipient
        for recipient in envelope.rcpt_tos:
            if refused is not None:
                replies.append(refusal(recipient, refused))
                continue
            mailbox = mailbox_address(recipient) or recipient.lower()
            try:
                accepted = await self.intake.accept(
                    raw, mailbox=mailbox, folder=None, intake="lmtp"
                )
            except BrokerUnavailable:
                MESSAGES.labels("lmtp", "unavailable").inc()
                replies.append(f"451 4.3.0 <{recipient}> cannot store the message now, try later")
                continue
            if accepted.refused:
                refused = accepted
                replies.append(refusal(recipient, accepted))
                continue
            replies.append(f"250 2.0.0 <{recipient}> delivered")
        return "\r\n".join(replies)


async def start_lmtp(
    intake: MailIntake,
    host: str,
    port: int,
    *,
    max_bytes: int,
    recipients: OurRecipients,
    max_recipients: int = 100,
    budget: ByteBudget | None = None,
) -> asyncio.Server:
    handler = DeliveryHandler(intake, recipients, max_recipients=max_recipients)
    if recipients.empty:
        log.warning(
            "LMTP refuses every recipient: set SWITCHBOARD_OWN_DOMAINS or "
            "INGEST_MAIL_OWN_ADDRESSES to receive mail"
        )

    def protocol() -> Any:
        return BulkDataLMTP(
            handler,
            data_size_limit=max_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname="switchboard",
            ident="Switchboard LMTP",
            budget=budget,
        )

    server = await asyncio.get_running_loop().create_server(protocol, host, port)
    log.info("LMTP listening", extra={"host": host, "port": port})
    return server
