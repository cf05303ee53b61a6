"""The only way call events leave ingest-calls."""

from __future__ import annotations

import base64
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

from ingest_calls.domain.calls import CallEvent, event_id
from switchboard_shared.cloudevents import deterministic_id, encode
from switchboard_shared.events import CallRecorded, IngestRejected
from switchboard_shared.kafka import Bus
from switchboard_shared.topics import CALLS_PROGRESS, CALLS_RECORDED, INGEST_REJECTED

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


@dataclass(frozen=True)
class Outcome:
    event_id: str
    kind: str  # published, duplicate, late (a progress state after the final one)
    topic_kind: str  # final, progress


class CallPublisher:
    def __init__(self, bus: Bus, dedupe_window: int) -> None:
        self.bus = bus
        self.recent = RecentIds(dedupe_window)
        self.finished = RecentIds(dedupe_window)  # call ids whose final event was published

    async def publish(self, event: CallEvent) -> Outcome:
        """Publish one call event, unless it is a retry or a state that arrived too late."""
        final = isinstance(event, CallRecorded)
        topic, topic_kind = (CALLS_RECORDED, "final") if final else (CALLS_PROGRESS, "progress")
        ce_id = event_id(event)
        if ce_id in self.recent:
            return Outcome(ce_id, "duplicate", topic_kind)
        if not final and event.call_id in self.finished:
            return Outcome(ce_id, "late", topic_kind)
        when = (event.ended_at or event.started_at) if isinstance(event, CallRecorded) else event.at
        record = encode(
            topic,
            event,
            id=ce_id,
            source=f"{SOURCE}/{event.provider}",
            key=event.counterpart or event.call_id,
            time=when,
            subject=event.call_id,
        )
        await self.bus.publish(record)
        self.recent.add(ce_id)
        if final:
            self.finished.add(event.call_id)
        return Outcome(ce_id, "published", topic_kind)

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
