"""One path for every message, whichever door it came in by: parse, publish, or keep the reject.

IMAP, LMTP and HTTP all call `MailIntake.accept`; it returns only after the broker acknowledged
(or raises `BrokerUnavailable`), which is what lets each door give its own guarantee: IMAP
advances its checkpoint, LMTP answers 250, HTTP answers 2xx.

Parsing runs in the `ParserPool`'s worker processes, never on the event loop. A message that
breaks a cap, runs out of time or memory, or is not a message at all is still kept: published on
`ingest.rejected.v1` with its raw bytes (gzip-compressed when large), counted by reason in
`ingest_mail_rejected_total`, and reported to the door as `rejected` with that reason.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

from ingest_mail.domain.limits import LIMIT_REASONS
from ingest_mail.domain.parse import MailboxIdentity, UnparseableMessage, parse_message
from ingest_mail.metrics import (
    BYTES,
    DEFECTS,
    MESSAGES,
    METRICS,
    PARSE_SECONDS,
    PARSE_WORKER_RESTARTS,
)
from ingest_mail.parsing import ParserPool
from ingest_mail.publisher import MailPublisher
from switchboard_shared.email_address import parse_address
from switchboard_shared.events import MailReceived
from switchboard_shared.kafka import BrokerUnavailable

log = logging.getLogger(__name__)

# Rejects the sender should hear about (a 422, a permanent LMTP failure): the message is hostile
# or beyond what the service takes, not merely malformed.
REFUSED_REASONS = LIMIT_REASONS | {"parse_timeout", "parse_resources", "too_large"}
_WORKER_REASONS = frozenset({"parse_timeout", "parse_resources"})


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

    @property
    def refused(self) -> bool:
        """Kept as rejected because it breaks a cap or exhausted the parser."""
        return self.outcome == "rejected" and self.reason in REFUSED_REASONS


class MailIntake:
    def __init__(
        self,
        publisher: MailPublisher,
        *,
        own_domains: frozenset[str],
        own_addresses: frozenset[str],
        max_bytes: int,
        parser: ParserPool | None = None,
        trusted_authserv_ids: frozenset[str] = frozenset(),
    ) -> None:
        self.publisher = publisher
        self.own_domains = own_domains
        self.own_addresses = own_addresses
        self.max_bytes = max_bytes
        self.trusted_authserv_ids = trusted_authserv_ids
        self.parser = parser  # None parses on the calling thread (benchmarks, tests)

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
            if self.parser is not None:
                event = await self.parser.parse(
                    raw,
                    mailbox=self.identity(mailbox),
                    folder=folder,
                    max_bytes=self.max_bytes,
                    sent_folder=sent_folder,
                )
            else:
                event = parse_message(
                    raw,
                    mailbox=self.identity(mailbox),
                    folder=folder,
                    max_bytes=self.max_bytes,
                    sent_folder=sent_folder,
                )
        except UnparseableMessage as exc:
            if exc.reason in _WORKER_REASONS:
                PARSE_WORKER_RESTARTS.labels(exc.reason).inc()
            return await self._reject(raw, intake, exc.reason, exc.detail)
        except BrokerUnavailable:  # the parser is stopping: not confirmed, try again later
            raise
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

    async def keep_rejected(
        self,
        raw: bytes,
        *,
        intake: str,
        reason: str,
        detail: str,
        total_bytes: int | None = None,
    ) -> Accepted:
        """Keep a message a door gave up on (e.g. an IMAP message that failed every try)."""
        return await self._reject(raw, intake, reason, detail, total_bytes)

    async def _reject(
        self, raw: bytes, intake: str, reason: str, detail: str, total_bytes: int | None = None
    ) -> Accepted:
        event_id = await self.publisher.reject(intake, reason, detail, raw, total_bytes)
        MESSAGES.labels(intake, "rejected").inc()
        METRICS.rejected.labels(reason).inc()
        log.warning(
            "message kept as rejected",
            extra={"intake": intake, "reason": reason, "ce_id": event_id},
        )
        return Accepted(intake, event_id, "rejected", reason=reason)
