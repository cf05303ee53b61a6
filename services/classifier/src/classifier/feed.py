"""Kafka edge for the knowledge topics: `crm.contact-points.v1` and `crm.feedback.v1`.

Every classifier instance needs all of the knowledge, so this reader is not part of a consumer
group: it assigns itself every partition and resumes from the offsets kept in the state file
(from the beginning when there are none). `loaded` is set once it has read up to the end
offsets it saw at start-up; until then the service is not ready and classifies nothing, so no
call from a known contact is judged as a stranger's.

A contact-point record with no value is the tombstone of its key. A record that cannot be
decoded is logged and skipped: knowledge is advisory, and the next record of the same key
corrects it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
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
    METRICS,
    OVERTURNED,
)
from classifier.repository import Changes, Repository
from classifier.rules import RuleSet
from switchboard_shared.background import Background
from switchboard_shared.cloudevents import CloudEventError, decode
from switchboard_shared.events import ContactPoint, Feedback
from switchboard_shared.masking import mask_text
from switchboard_shared.topics import CRM_CONTACT_POINTS, CRM_FEEDBACK

log = logging.getLogger(__name__)

TOPICS = (CRM_CONTACT_POINTS.name, CRM_FEEDBACK.name)
_COUNTERPART_RE = re.compile(r"^(\+[1-9][0-9]{1,14}|[^@\s]+@[^@\s]+)$")


class KnowledgeFeed(Background):
    task_name = "knowledge-feed"

    def __init__(
        self,
        bootstrap: str,
        repository: Repository,
        knowledge: Knowledge,
        rules: Callable[[], RuleSet],
        *,
        client_id: str = "classifier-knowledge",
    ) -> None:
        self.bootstrap = bootstrap
        self.repository = repository
        self.knowledge = knowledge
        self.rules = rules
        self.client_id = client_id
        self.loaded = asyncio.Event()
        self._restore()

    def _restore(self) -> None:
        if self.repository.bind_cluster(self.bootstrap):
            log.warning("kafka bootstrap changed: knowledge dropped, reading it again")
        for point in self.repository.points():
            self.knowledge.put_point(point, True)
        for report in self.repository.reports():
            self.knowledge.add_report(report)
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
        stored = self.repository.offsets()
        for tp in partitions:
            offset = stored.get((tp.topic, tp.partition))
            if offset is None:
                await consumer.seek_to_beginning(tp)
            else:
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
            if batch:
                self.apply_records([r for records in batch.values() for r in records])

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
        """Apply one fetched batch: durable first (state file), then in memory."""
        rules = self.rules()
        changes = Changes()
        overturned: dict[str, list[str]] = {}
        for record in records:
            changes.offsets[(record.topic, record.partition)] = record.offset + 1
            key = record.key.decode("utf-8", "replace") if record.key else None
            if record.topic == CRM_CONTACT_POINTS.name:
                self._contact_point(record, key, changes)
            else:
                self._feedback(record, key, rules, changes, overturned)
        new = self.repository.apply(changes)
        for point, known in changes.points.items():
            self.knowledge.put_point(point, known)
        for report in changes.reports:
            self.knowledge.add_report(report)
        for point, report_id in changes.retracted:
            self.knowledge.remove_report(point, report_id)
        for feedback_id in new:
            for tag in overturned.get(feedback_id, ()):
                OVERTURNED.labels(tag).inc()
        self._gauges()

    def _contact_point(self, record: Any, key: str | None, changes: Changes) -> None:
        if record.value is None:
            if key:
                changes.points[key.lower()] = False
            return
        data = _decoded(record)
        if not isinstance(data, ContactPoint):
            return
        changes.points[data.point.lower()] = not is_removal(data)

    def _feedback(
        self,
        record: Any,
        key: str | None,
        rules: RuleSet,
        changes: Changes,
        overturned: dict[str, list[str]],
    ) -> None:
        data = _decoded(record)
        if not isinstance(data, Feedback):
            return
        feedback_id = _ce_id(record) or f"{record.topic}:{record.partition}:{record.offset}"
        changes.feedback_ids.append(feedback_id)
        if data.overturns_classifier:
            overturned[feedback_id] = [t.value for t in data.classifier_tags] or ["none"]
        if key and _COUNTERPART_RE.match(key):
            changes.reports.extend(reports_from_feedback(feedback_id, key.lower(), data, rules))
            changes.retracted.extend((key.lower(), r) for r in retracted_report_ids(data))

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
