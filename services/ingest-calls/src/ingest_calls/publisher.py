"""The only way call events leave ingest-calls."""

from __future__ import annotations

from dataclasses import dataclass

from ingest_calls.domain import cel
from ingest_calls.domain.calls import CallEvent, event_id
from switchboard_shared.cloudevents import KafkaRecord, encode
from switchboard_shared.events import CallRecorded, CelEvent
from switchboard_shared.intake import RecentIds, rejected_record
from switchboard_shared.kafka import BrokerUnavailable, Bus
from switchboard_shared.topics import CALLS_CEL, CALLS_PROGRESS, CALLS_RECORDED, Topic

SOURCE = "switchboard/ingest-calls"
MAX_RECORD_BYTES = 900_000  # aiokafka refuses records over max_request_size (1 MiB)


def call_record(topic: Topic, event: CallEvent, ce_id: str) -> KafkaRecord:
    when = (event.ended_at or event.started_at) if isinstance(event, CallRecorded) else event.at
    return encode(
        topic,
        event,
        id=ce_id,
        source=f"{SOURCE}/{event.provider}",
        key=event.counterpart or event.call_id,
        time=when,
        subject=event.call_id,
    )


def cel_record(event: CelEvent, source: str) -> KafkaRecord:
    return encode(
        CALLS_CEL,
        event,
        id=cel.event_id(event),
        source=f"{SOURCE}/{source}",
        key=event.linked_id,
        time=event.event_time,
        subject=event.unique_id,
    )


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
        record = call_record(topic, event, ce_id)
        if len(record.value or b"") + sum(map(len, record.headers.values())) > MAX_RECORD_BYTES:
            trimmed = event.model_copy(update={"raw": {"omitted": "too large for a Kafka record"}})
            record = call_record(topic, trimmed, ce_id)
        await self.bus.publish(record)
        self.recent.add(ce_id)
        if final:
            self.finished.add(event.call_id)
        return Outcome(ce_id, "published", topic_kind)

    async def publish_cel(self, events: list[CelEvent], source: str) -> tuple[int, int]:
        """Publish raw CEL events to `calls.cel.v1`, in order, all acknowledged or
        `BrokerUnavailable`; returns (published, duplicates). A retried event carries the same
        ce_id: it is skipped here when remembered, and the assembler drops any repeat."""
        records = [cel_record(event, source) for event in events]
        fresh = [r for r in records if r.headers["ce_id"] not in self.recent]
        failed = self.bus.metrics.publish_failures.labels(CALLS_CEL.name)
        try:
            acked = await self.bus.publish_batch(fresh)
        except BrokerUnavailable:
            failed.inc()
            raise
        for record in fresh[:acked]:
            self.recent.add(record.headers["ce_id"])
        if acked < len(fresh):
            failed.inc()
            raise BrokerUnavailable(f"{acked} of {len(fresh)} CEL events acknowledged")
        self.bus.metrics.published.labels(CALLS_CEL.name).inc(acked)
        return len(fresh), len(records) - len(fresh)

    async def reject(
        self, provider: str, reason: str, detail: str, content_type: str | None, body: bytes
    ) -> str:
        """Keep an authenticated but unusable request on `ingest.rejected.v1` for replay."""
        record = rejected_record(
            service="ingest-calls",
            source=f"ingest-calls/{provider}",
            reason=reason,
            detail=detail,
            content_type=content_type,
            body=body,
        )
        await self.bus.publish(record)
        return record.headers["ce_id"]
