"""The CEL assembler: `calls.cel.v1` in, one `calls.recorded.v1` per call out.

Stateless apart from what it rebuilds from the topic. It reads in consumer group
`ingest-calls-cel`, holds the events of every call still in progress in memory
(`domain/cel_assembly.py`) and commits, per partition, only up to the oldest event of a call
still held: a restart (or a rebalance) re-reads from there and rebuilds those calls. A call
emitted before the restart and read again is published again with the same ce_id, which every
consumer deduplicates.

A call is published before anything past it is committed, and a broker that does not
acknowledge stops the assembler (retried with backoff) rather than losing the call.

The events of one call can sit on several partitions (a transfer joins two linkedids, and the
key is the linkedid), so one process must read them all. Every replica may run the assembler:
the group's assignor gives every partition to one member, and the others wait as stand-bys
until it leaves the group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.cluster import ClusterMetadata
from aiokafka.coordinator.assignors.abstract import AbstractPartitionAssignor
from aiokafka.coordinator.protocol import (
    ConsumerProtocolMemberAssignment,
    ConsumerProtocolMemberMetadata,
)
from aiokafka.structs import OffsetAndMetadata

from ingest_calls.config import Settings
from ingest_calls.domain import asterisk
from ingest_calls.domain.cel_assembly import Added, Assembly, Ready, Why
from ingest_calls.domain.cel_calls import build_call
from ingest_calls.metrics import CALL_EVENTS, CEL_ASSEMBLED, CEL_ASSEMBLY_EVENTS, CEL_HELD, METRICS
from ingest_calls.publisher import CallPublisher
from switchboard_shared.background import Background
from switchboard_shared.cloudevents import CloudEventError, decode
from switchboard_shared.events import CelEvent
from switchboard_shared.kafka import BrokerUnavailable, RecordTooLarge
from switchboard_shared.topics import CALLS_CEL

log = logging.getLogger(__name__)
GROUP_ID = "ingest-calls-cel"
POLL_MS = 500
MAX_RECORDS = 500


class OneMemberAssignor(AbstractPartitionAssignor):  # type: ignore[misc]
    """Every partition to one member (the first by member id); the others stand by."""

    name = "switchboard-one-member"
    version = 0

    @classmethod
    def assign(
        cls, cluster: ClusterMetadata, members: Mapping[str, ConsumerProtocolMemberMetadata]
    ) -> dict[str, ConsumerProtocolMemberAssignment]:
        topics = sorted({topic for meta in members.values() for topic in meta.subscription})
        active = min(members)
        owned = [
            (topic, sorted(cluster.partitions_for_topic(topic) or ()))
            for topic in topics
            if topic in members[active].subscription
        ]
        return {
            member: ConsumerProtocolMemberAssignment(
                cls.version, owned if member == active else [], b""
            )
            for member in members
        }

    @classmethod
    def metadata(cls, topics: Iterable[str]) -> ConsumerProtocolMemberMetadata:
        return ConsumerProtocolMemberMetadata(cls.version, list(topics), b"")

    @classmethod
    def on_assignment(cls, assignment: ConsumerProtocolMemberAssignment) -> None:
        return None


class _Rebuild(ConsumerRebalanceListener):  # type: ignore[misc]
    """A changed assignment: forget what is held and re-read from the committed offsets."""

    def __init__(self, assembler: CelAssembler) -> None:
        self.assembler = assembler

    async def on_partitions_revoked(self, revoked: Any) -> None:
        return None

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self.assembler.rebuild(list(assigned))


class CelAssembler(Background):
    task_name = "cel-assembler"

    def __init__(self, settings: Settings, publisher: CallPublisher) -> None:
        self.settings = settings
        self.publisher = publisher
        self.rules = asterisk.rules_from(settings.options_for("asterisk"))
        self.region = settings.region_for("asterisk")
        self.assembly = self._new_assembly()
        self.consumer: AIOKafkaConsumer | None = None
        self._committed: dict[TopicPartition, int] = {}

    def _new_assembly(self) -> Assembly:
        s = self.settings
        return Assembly(
            settle_s=s.cel_settle_s,
            lost_end_s=s.cel_lost_end_s,
            timeout_s=s.cel_timeout_s,
            max_calls=s.cel_max_held_calls,
            max_events_held=s.cel_max_held_events,
        )

    async def rebuild(self, assigned: list[TopicPartition]) -> None:
        consumer = self.consumer
        if consumer is None:
            return
        self.assembly = self._new_assembly()
        self._committed = {}
        for tp in assigned:
            committed = await consumer.committed(tp)
            if committed is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, committed)
                self._committed[tp] = committed
        CEL_HELD.set(0)

    async def _run(self) -> None:
        """Consume until cancelled; a lost broker connection is retried with backoff."""
        delay = 0.5
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the client's assorted connection errors
                log.warning("CEL assembler stopped, restarting", extra={"error": repr(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _consume(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.common.kafka_bootstrap,
            group_id=GROUP_ID,
            client_id="ingest-calls-cel",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            partition_assignment_strategy=(OneMemberAssignor,),
        )
        await consumer.start()
        self.consumer = consumer
        try:
            consumer.subscribe([CALLS_CEL.name], listener=_Rebuild(self))
            while True:
                batch = await consumer.getmany(timeout_ms=POLL_MS, max_records=MAX_RECORDS)
                now = time.monotonic()
                for tp, records in batch.items():
                    for record in records:
                        self._add(record, tp.partition, now)
                await self._emit(self.assembly.ready(time.monotonic()))
                await self._commit(consumer)
                CEL_HELD.set(self.assembly.held)
        finally:
            self.consumer = None
            with contextlib.suppress(Exception):
                await consumer.stop()

    def _add(self, record: Any, partition: int, now: float) -> None:
        try:
            envelope, event = decode(record.headers or (), record.value)
            if not isinstance(event, CelEvent):
                raise CloudEventError(f"{CALLS_CEL.name} carries CelEvent")
        except CloudEventError as exc:
            CEL_ASSEMBLY_EVENTS.labels("undecodable").inc()
            log.warning("undecodable CEL record skipped", extra={"error": str(exc)[:300]})
            return
        added: Added = self.assembly.add(event, envelope.id, (partition, record.offset), now)
        CEL_ASSEMBLY_EVENTS.labels(added.value).inc()

    async def _emit(self, ready: list[Ready]) -> None:
        for group in ready:
            call = build_call(
                group.events,
                self.rules,
                self.settings.phone_policy,
                self.region,
                complete=group.why is Why.COMPLETE,
            )
            CEL_ASSEMBLED.labels(group.why.value).inc()
            if call is None:
                continue
            attempt = 0
            while True:  # nothing past this call is committed until it is published
                try:
                    outcome = await self.publisher.publish(call)
                    break
                except RecordTooLarge:
                    log.error("assembled call too large to publish", extra={"call": call.call_id})
                    METRICS.rejected.labels("too_large").inc()
                    outcome = None
                    break
                except BrokerUnavailable:
                    attempt += 1
                    await asyncio.sleep(min(30.0, 0.2 * 2**attempt))
            if outcome is not None:
                CALL_EVENTS.labels("asterisk", "final", outcome.kind).inc()

    async def _commit(self, consumer: AIOKafkaConsumer) -> None:
        held = self.assembly.oldest_held()
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for tp in consumer.assignment():
            position = await consumer.position(tp)
            upto = min(position, held.get(tp.partition, position))
            if self._committed.get(tp) != upto:
                offsets[tp] = OffsetAndMetadata(upto, "")
        if offsets:
            await consumer.commit(offsets)
            for tp, meta in offsets.items():
                self._committed[tp] = meta.offset
