"""Kafka edge for the knowledge topics: `crm.contact-points.v1`, `crm.feedback.v1` and
`classifier.knowledge.v1`.

Every classifier instance needs all of the knowledge, so this reader is not part of a consumer
group: it assigns itself every partition of the three topics and reads them from the beginning
at every start (nothing is kept on local disk). `loaded` is set once it has read up to the end
offsets it saw at start-up; until then the service is not ready and classifies nothing, so no
call from a known contact is judged as a stranger's.

`crm.feedback.v1` expires; the reputation learned from it must not. So once loaded, the feed
writes the reputation of every point whose feedback it read to the compacted
`classifier.knowledge.v1` whenever what it knows differs from the latest value that topic holds
for the point. Values merge as unions (`knowledge.py`), so several replicas writing the same
point converge: a replica that reads a value missing something it knows writes the union.

A contact-point record with no value is the tombstone of its key. A record that cannot be
decoded is logged and skipped: knowledge is advisory, and the next record of the same key
corrects it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from classifier.knowledge import (
    Knowledge,
    is_removal,
    reports_from_feedback,
    retracted_report_ids,
)
from classifier.metrics import (
    KNOWLEDGE_LOADED,
    KNOWLEDGE_POINTS,
    KNOWLEDGE_REPORTS,
    KNOWLEDGE_WRITES,
    METRICS,
    OVERTURNED,
)
from classifier.rules import RuleSet
from switchboard_shared.background import Background
from switchboard_shared.cloudevents import CloudEventError, KafkaRecord, decode, deterministic_id
from switchboard_shared.cloudevents import encode as encode_event
from switchboard_shared.events import ContactPoint, Feedback, Reputation
from switchboard_shared.kafka import BrokerUnavailable, RecordTooLarge
from switchboard_shared.masking import mask_text
from switchboard_shared.topics import CLASSIFIER_KNOWLEDGE, CRM_CONTACT_POINTS, CRM_FEEDBACK

log = logging.getLogger(__name__)

TOPICS = (CRM_CONTACT_POINTS.name, CRM_FEEDBACK.name, CLASSIFIER_KNOWLEDGE.name)
SOURCE = "switchboard/classifier"
_COUNTERPART_RE = re.compile(r"^(\+[1-9][0-9]{1,14}|[^@\s]+@[^@\s]+)$")

PublishBatch = Callable[[Sequence[KafkaRecord]], Awaitable[int]]
# A point's reputation as a hash of its id sets (reports, withdrawn): equal when two views
# agree; 8 bytes a point instead of the sets.
NOTHING = hash((frozenset(), frozenset()))


class KnowledgeFeed(Background):
    task_name = "knowledge-feed"

    def __init__(
        self,
        bootstrap: str,
        knowledge: Knowledge,
        rules: Callable[[], RuleSet],
        publish_batch: PublishBatch | None = None,
        *,
        client_id: str = "classifier-knowledge",
    ) -> None:
        self.bootstrap = bootstrap
        self.knowledge = knowledge
        self.rules = rules
        self.publish_batch = publish_batch
        self.client_id = client_id
        self.loaded = asyncio.Event()
        self._on_topic: dict[str, int] = {}  # point -> the latest value read back
        self._written: dict[str, int] = {}  # point -> what this replica wrote last
        self._dirty: set[str] = set()  # points whose reputation may differ from the topic's
        self._positions: dict[TopicPartition, int] = {}  # read so far, for a reconnect
        self._gauges()

    async def ready(self) -> bool:
        return self.loaded.is_set()

    async def _run(self) -> None:
        delay = 0.5
        while True:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap,
                client_id=self.client_id,
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
            )
            try:
                await consumer.start()
                await self._follow(consumer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the client raises several unrelated types
                log.warning("knowledge feed interrupted, retrying", extra={"error": repr(exc)})
            finally:
                with contextlib.suppress(Exception):
                    await consumer.stop()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 15.0)

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        partitions = await self._partitions(consumer)
        consumer.assign(partitions)
        positions = self._positions
        for tp in partitions:
            offset = positions.get(tp)
            if offset is None:
                await consumer.seek_to_beginning(tp)
            else:  # a reconnect: go on where the last connection stopped
                consumer.seek(tp, offset)
        targets: dict[Any, int] = await consumer.end_offsets(partitions)
        while True:
            if not self.loaded.is_set() and await _caught_up(consumer, targets):
                self.loaded.set()
                KNOWLEDGE_LOADED.set(1)
                log.info(
                    "knowledge loaded",
                    extra={"points": self.knowledge.points, "reports": self.knowledge.reports},
                )
            batch = await consumer.getmany(timeout_ms=500, max_records=2000)
            records = [r for records in batch.values() for r in records]
            if records:
                self.apply_records(records)
                for r in records:
                    positions[TopicPartition(r.topic, r.partition)] = r.offset + 1
            if self.loaded.is_set() and self._dirty:
                await self.write_back()

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        while True:
            await consumer.topics()  # refreshes the metadata
            found = {t: consumer.partitions_for_topic(t) for t in TOPICS}
            missing = [t for t, p in found.items() if not p]
            if not missing:
                return [TopicPartition(t, p) for t, parts in found.items() for p in sorted(parts)]
            log.warning("knowledge topics missing, waiting", extra={"topics": missing})
            await asyncio.sleep(2.0)

    def apply_records(self, records: list[Any]) -> None:
        """Apply one fetched batch, in memory (the topics are the durable copy)."""
        rules = self.rules()
        for record in records:
            key = record.key.decode("utf-8", "replace") if record.key else None
            if record.topic == CRM_CONTACT_POINTS.name:
                self._contact_point(record, key)
            elif record.topic == CRM_FEEDBACK.name:
                self._feedback(record, key, rules)
            else:
                self._reputation(record, key)
        self._gauges()

    def _contact_point(self, record: Any, key: str | None) -> None:
        if record.value is None:
            if key:
                self.knowledge.put_point(key, False)
            return
        data = _decoded(record)
        if not isinstance(data, ContactPoint):
            return
        self.knowledge.put_point(data.point, not is_removal(data))

    def _feedback(self, record: Any, key: str | None, rules: RuleSet) -> None:
        data = _decoded(record)
        if not isinstance(data, Feedback):
            return
        feedback_id = _ce_id(record) or f"{record.topic}:{record.partition}:{record.offset}"
        if data.overturns_classifier and self.loaded.is_set():
            # Counted as it happens; what a start reads again was counted before.
            for tag in [t.value for t in data.classifier_tags] or ["none"]:
                OVERTURNED.labels(tag).inc()
        if not (key and _COUNTERPART_RE.match(key)):
            return
        point = key.lower()
        for report in reports_from_feedback(feedback_id, point, data, rules):
            self.knowledge.add_report(report)
        for report_id in retracted_report_ids(data):
            self.knowledge.remove_report(point, report_id)
        self._dirty.add(point)

    def _reputation(self, record: Any, key: str | None) -> None:
        if not key:
            return
        point = key.lower()
        self._written.pop(point, None)  # the topic's latest value is this one, not ours
        if record.value is None:
            self._on_topic.pop(point, None)
            self._dirty.add(point)
            return
        data = _decoded(record)
        if not isinstance(data, Reputation) or data.point.lower() != point:
            return
        self.knowledge.merge(data)
        self._on_topic[point] = hash(
            (frozenset(r.id for r in data.reports), frozenset(data.retracted))
        )
        self._dirty.add(point)

    def pending_writes(self) -> list[KafkaRecord]:
        """The values to write: points whose reputation differs from the topic's latest."""
        out = []
        for point in sorted(self._dirty):
            ids = self.knowledge.signature(point)
            mine = hash(ids)
            if mine == self._on_topic.get(point, NOTHING) or mine == self._written.get(point):
                continue
            value = self.knowledge.reputation(point)
            digest = "|".join(sorted(ids[0])) + "/" + "|".join(sorted(ids[1]))
            out.append(
                encode_event(
                    CLASSIFIER_KNOWLEDGE,
                    value,
                    id=deterministic_id(CLASSIFIER_KNOWLEDGE.name, point, digest),
                    source=SOURCE,
                    key=point,
                    time=value.last_seen,
                )
            )
        return out

    async def write_back(self) -> int:
        """Write what the knowledge topic lacks; what fails stays to write on the next round."""
        if self.publish_batch is None:
            self._dirty.clear()
            return 0
        records = self.pending_writes()
        acked = 0
        if records:
            try:
                acked = await self.publish_batch(records)
            except (BrokerUnavailable, RecordTooLarge) as exc:
                log.warning("reputation not written, retrying", extra={"error": repr(exc)})
        for record in records[:acked]:
            point = (record.key or b"").decode()
            self._written[point] = hash(self.knowledge.signature(point))
        KNOWLEDGE_WRITES.inc(acked)
        unwritten = {(r.key or b"").decode() for r in records[acked:]}
        self._dirty = unwritten
        if unwritten:
            await asyncio.sleep(1.0)  # the broker is away or slow: not in a tight loop
        return acked

    def _gauges(self) -> None:
        KNOWLEDGE_POINTS.set(self.knowledge.points)
        KNOWLEDGE_REPORTS.set(self.knowledge.reports)


async def _caught_up(consumer: AIOKafkaConsumer, targets: dict[Any, int]) -> bool:
    for tp, end in targets.items():
        if await consumer.position(tp) < end:
            return False
    return True


def _ce_id(record: Any) -> str | None:
    for name, value in record.headers or ():
        if name.lower() == "ce_id":
            return str(value.decode() if isinstance(value, bytes | bytearray) else value)
    return None


def _decoded(record: Any) -> Any:
    try:
        _, data = decode(record.headers or (), record.value)
    except CloudEventError as exc:
        METRICS.rejected.labels("knowledge_undecodable").inc()
        log.warning(
            "knowledge record skipped",
            extra={"topic": record.topic, "offset": record.offset, "error": mask_text(str(exc))},
        )
        return None
    return data
