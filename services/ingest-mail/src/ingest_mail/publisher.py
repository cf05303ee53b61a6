"""The only way mail events leave ingest-mail."""

from __future__ import annotations

import asyncio

from switchboard_shared.cloudevents import deterministic_id, encode
from switchboard_shared.events import MailReceived
from switchboard_shared.intake import RecentIds, rejected_record
from switchboard_shared.kafka import Bus
from switchboard_shared.topics import MAIL_RECEIVED

SOURCE = "switchboard/ingest-mail"


def mail_event_id(event: MailReceived) -> str:
    """One event per message and mailbox: IMAP resyncs, LMTP retries and copies in two folders
    of the same mailbox all dedupe; the same message in two mailboxes is two events."""
    return deterministic_id(MAIL_RECEIVED.name, event.mailbox.lower(), event.message_id)


class MailPublisher:
    def __init__(self, bus: Bus, dedupe_window: int) -> None:
        self.bus = bus
        self.recent = RecentIds(dedupe_window)

    async def publish(self, event: MailReceived) -> tuple[str, bool]:
        """Publish one message event; returns (ce_id, duplicate)."""
        event_id = mail_event_id(event)
        if event_id in self.recent:
            return event_id, True
        record = encode(
            MAIL_RECEIVED,
            event,
            id=event_id,
            source=SOURCE,
            key=event.counterpart or event.message_id,
            time=event.sent_at,
            subject=event.message_id,
        )
        await self.bus.publish(record)
        self.recent.add(event_id)
        return event_id, False

    async def reject(
        self, intake: str, reason: str, detail: str, raw: bytes, total_bytes: int | None = None
    ) -> str:
        """Keep a message that could not be used on `ingest.rejected.v1`, raw bytes too.

        A large message is kept whole, gzip-compressed, when that fits a record; else its first
        bytes (`truncated`). `total_bytes`: `raw` is only the first bytes of a message that
        large. Compressing 25 MB takes a moment: it runs on a thread, not the event loop.
        """
        record = await asyncio.to_thread(
            rejected_record,
            service="ingest-mail",
            source=f"ingest-mail/{intake}",
            reason=reason,
            detail=detail,
            content_type="message/rfc822",
            body=raw,
            compress=True,
            total_bytes=total_bytes,
        )
        await self.bus.publish(record)
        return record.headers["ce_id"]
