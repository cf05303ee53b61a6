"""One path for every message, whichever door it came in by: parse, publish, or keep the reject.

IMAP, LMTP and HTTP all call `MailIntake.accept`; it returns only after the broker acknowledged
(or raises `BrokerUnavailable`), which is what lets each door give its own guarantee: IMAP
advances its checkpoint, LMTP answers 250, HTTP answers 2xx.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

from ingest_mail.domain.parse import MailboxIdentity, UnparseableMessage, parse_message
from ingest_mail.metrics import BYTES, DEFECTS, MESSAGES, PARSE_SECONDS
from ingest_mail.publisher import MailPublisher
from switchboard_shared.email_address import parse_address
from switchboard_shared.events import MailReceived

log = logging.getLogger(__name__)


_MAILBOX_RE = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


def mailbox_address(value: str) -> str | None:
    """Our own mailbox as given (RCPT TO, ?mailbox=): normalised when it is a public address,
    kept as written for internal domains (corp.local) that public-address rules refuse."""
    parsed = parse_address(value)
    if parsed is not None and parsed.valid and parsed.address:
        return parsed.address
    plain = value.strip().strip("<>").strip().lower()
    return plain if _MAILBOX_RE.match(plain) else None


@dataclass(frozen=True)
class Accepted:
    intake: str
    event_id: str
    outcome: str  # published, duplicate, rejected
    event: MailReceived | None = None
    reason: str | None = None


class MailIntake:
    def __init__(
        self,
        publisher: MailPublisher,
        *,
        own_domains: frozenset[str],
        own_addresses: frozenset[str],
        max_bytes: int,
        trusted_authserv_ids: frozenset[str] = frozenset(),
    ) -> None:
        self.publisher = publisher
        self.own_domains = own_domains
        self.own_addresses = own_addresses
        self.max_bytes = max_bytes
        self.trusted_authserv_ids = trusted_authserv_ids

    def identity(self, mailbox: str) -> MailboxIdentity:
        return MailboxIdentity(
            mailbox.lower(), self.own_domains, self.own_addresses, self.trusted_authserv_ids
        )

    async def accept(
        self,
        raw: bytes,
        *,
        mailbox: str,
        folder: str | None,
        intake: str,
        sent_folder: bool | None = None,
    ) -> Accepted:
        """`sent_folder`: the door knows the folder is the mailbox's Sent folder (IMAP \\Sent);
        None lets the folder's name decide (`Sent`)."""
        BYTES.labels(intake).inc(len(raw))
        start = time.perf_counter()
        try:
            event = parse_message(
                raw,
                mailbox=self.identity(mailbox),
                folder=folder,
                max_bytes=self.max_bytes,
                sent_folder=sent_folder,
            )
        except UnparseableMessage as exc:
            return await self._reject(raw, intake, exc.reason, exc.detail)
        except Exception as exc:  # a parser bug must not block a mailbox or lose the message
            log.exception("parser failed; message kept as rejected", extra={"intake": intake})
            return await self._reject(raw, intake, "parser_error", repr(exc))
        PARSE_SECONDS.labels(intake).observe(time.perf_counter() - start)
        if event.defects:
            DEFECTS.labels(intake).inc(len(event.defects))
        event_id, duplicate = await self.publisher.publish(event)
        outcome = "duplicate" if duplicate else "published"
        MESSAGES.labels(intake, outcome).inc()
        return Accepted(intake, event_id, outcome, event=event)

    async def _reject(self, raw: bytes, intake: str, reason: str, detail: str) -> Accepted:
        event_id = await self.publisher.reject(intake, reason, detail, raw)
        MESSAGES.labels(intake, "rejected").inc()
        log.warning(
            "message kept as rejected",
            extra={"intake": intake, "reason": reason, "ce_id": event_id},
        )
        return Accepted(intake, event_id, "rejected", reason=reason)
