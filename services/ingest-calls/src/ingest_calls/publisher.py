"""The only way call events leave ingest-calls."""

from __future__ import annotations

import base64
from collections import OrderedDict
from datetime import UTC, datetime

from ingest_calls.domain.calls import recorded_event_id
from switchboard_shared.cloudevents import deterministic_id, encode
from switchboard_shared.events import CallRecorded, IngestRejected
from switchboard_shared.kafka import Bus
from switchboard_shared.topics import CALLS_RECORDED, INGEST_REJECTED

SOURCE = "switchboard/ingest-calls"


class RecentIds:
    """Event ids published lately, so a provider's retry is not published twice.

    Consumers dedupe on ce_id anyway; this keeps the topic clean of the common case.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def add(self, event_id: str) -> None:
        if self.size <= 0:
            return
        self._ids[event_id] = None
        self._ids.move_to_end(event_id)
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)


class CallPublisher:
    def __init__(self, bus: Bus, dedupe_window: int) -> None:
        self.bus = bus
        self.recent = RecentIds(dedupe_window)

    async def publish_recorded(self, call: CallRecorded) -> tuple[str, bool]:
        """Publish one final call event; returns (ce_id, duplicate)."""
        event_id = recorded_event_id(call.call_id)
        if event_id in self.recent:
            return event_id, True
        record = encode(
            CALLS_RECORDED,
            call,
            id=event_id,
            source=f"{SOURCE}/{call.provider}",
            key=call.counterpart or call.call_id,
            time=call.ended_at or call.started_at,
            subject=call.call_id,
        )
        await self.bus.publish(record)
        self.recent.add(event_id)
        return event_id, False

    async def reject(
        self, provider: str, reason: str, detail: str, content_type: str | None, body: bytes
    ) -> str:
        """Keep an authenticated but unusable request on `ingest.rejected.v1` for replay."""
        try:
            text, encoding = body.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(body).decode(), "base64"
        source = f"ingest-calls/{provider}"
        event = IngestRejected(
            source=source,
            reason=reason,
            detail=detail,
            content_type=content_type,
            body=text,
            body_encoding=encoding,
            received_at=datetime.now(UTC),
        )
        event_id = deterministic_id("ingest.rejected.v1", source, text)
        await self.bus.publish(
            encode(INGEST_REJECTED, event, id=event_id, source=SOURCE, key=source)
        )
        return event_id
