"""Kafka edges: calls.recorded.v1 and mail.received.v1 → classifier → interactions.classified.v1.

Imported history (`calls.recorded.history.v1`, `mail.received.history.v1`) is read by consumers
of its own, which give way to the live ones (`priority.LiveFirst`); it is judged by the same
classifier, with the same state (legs, knowledge), and its verdicts go to
`interactions.classified.history.v1` (`publisher.topic_of`).

Each topic has a batch consumer (aiokafka, one consumer group per topic) that takes what the
broker has, up to a batch size that grows while a full batch comes back (a backlog) and shrinks
when the topic is quiet, and never waits on a timer when records are there:

* decode, judge (`service.Classifier`), then publish every verdict of the batch at once
  (`Bus.publish_batch`: one produce request per partition, all acknowledged before going on);
* an unanswered leg of a ring group is held for its siblings, in memory, with the offset it was
  read at; the loop publishes it once due (or at once when a sibling was answered);
* offsets are committed once per batch, after every send was acknowledged, and a partition's
  never past its oldest held leg. Nothing acknowledged lives only in the process: a process that
  dies (or loses a partition in a rebalance) leaves the held legs uncommitted, and the
  partition's next owner reads them again and holds them again. What was published after the
  oldest held leg is published again then, with the same ids (`deterministic_id`), which
  downstream stores once;
* the broker being away is waited out without limit; an undecodable record goes to the DLQ at
  once, and a record that keeps failing after `max_attempts` tries with backoff goes there
  alone (`switchboard_shared.consumer.dead_letter`) while the others go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from classifier.legs import HeldLeg, Source
from classifier.metrics import HELD_LEGS, TAGS, VERDICTS
from classifier.publisher import record_of
from classifier.service import Classifier
from switchboard_shared.background import Background
from switchboard_shared.cloudevents import CloudEventError, KafkaRecord, decode
from switchboard_shared.consumer import backoff, dead_letter
from switchboard_shared.events import CallRecorded, InteractionClassified, MailReceived
from switchboard_shared.kafka import BrokerUnavailable, Bus, RecordTooLarge
from switchboard_shared.priority import LiveFirst
from switchboard_shared.topics import CALLS_RECORDED, MAIL_RECEIVED, Topic, history_of

log = logging.getLogger(__name__)

MIN_BATCH = 16
MAX_BATCH = 2000
# History gives way to live traffic before each batch: a live record waits for one at most.
HISTORY_MAX_BATCH = 200
LIVE_QUIET_S = 0.25
IDLE_WAIT_S = 0.5  # the longest a poll waits when nothing is there and nothing is due


@dataclass
class _Out:
    """A verdict to publish, and what it came from: the record, or a held leg released."""

    record: KafkaRecord
    event: InteractionClassified
    raw: Any  # aiokafka's record, for the DLQ
    leg: HeldLeg | None = None


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: BatchConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self.owner.forget(set(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.owner.forget(set(assigned))  # read again from the committed offsets


class BatchConsumer(Background):
    """One topic's consumer group member: consume in batches, judge, publish, commit."""

    def __init__(
        self,
        bus: Bus,
        classifier: Classifier,
        topic: Topic,
        knowledge_loaded: asyncio.Event,
        *,
        group_id: str,
        max_attempts: int,
        live_first: LiveFirst,
        history: bool = False,
        min_batch: int = MIN_BATCH,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self.bus = bus
        self.classifier = classifier
        self.topic = topic
        self.knowledge_loaded = knowledge_loaded
        self.group_id = group_id
        self.max_attempts = max_attempts
        self.first = live_first
        self.history = history
        self.min_batch = min_batch
        self.max_batch = max_batch
        self.task_name = f"consume-{topic.name}"
        self._next: dict[TopicPartition, int] = {}  # handled up to (the next offset)
        self._committed: dict[TopicPartition, int] = {}
        self._raw: dict[str, Any] = {}  # held leg's interaction id -> its record (for the DLQ)
        self._assignment: set[TopicPartition] = set()
        self.consumer: AIOKafkaConsumer | None = None  # while one runs (for the lag gauge)
        self.batches = 0

    def current(self) -> AIOKafkaConsumer | None:
        return self.consumer

    def forget(self, partitions: set[TopicPartition]) -> None:
        """These partitions were revoked or (re)assigned: their held legs and positions are
        dropped; whoever owns them now reads on from the committed offset."""
        by_topic: dict[str, set[int]] = {}
        for tp in partitions:
            by_topic.setdefault(tp.topic, set()).add(tp.partition)
            self._next.pop(tp, None)
            self._committed.pop(tp, None)
        self._raw = {
            leg_id: raw
            for leg_id, raw in self._raw.items()
            if TopicPartition(raw.topic, raw.partition) not in partitions
        }
        for topic, numbers in by_topic.items():
            dropped = self.classifier.held.drop(topic, numbers)
            if dropped:
                log.info(
                    "held legs left to the partitions' next owner",
                    extra={"topic": topic, "partitions": sorted(numbers), "legs": dropped},
                )
        HELD_LEGS.set(self.classifier.held.count())

    async def _run(self) -> None:
        await self.knowledge_loaded.wait()
        delay = 0.5
        while True:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bus.bootstrap,
                client_id=f"classifier-{self.group_id}",
                group_id=self.group_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
            )
            try:
                await consumer.start()
                consumer.subscribe([self.topic.name], listener=_Listener(self))
                self.consumer = consumer
                delay = 0.5
                await self._consume(consumer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the client raises several unrelated types
                log.warning(
                    "consumer interrupted, restarting",
                    extra={"topic": self.topic.name, "error": repr(exc)},
                )
            finally:
                self.consumer = None
                self.forget(set(self._next) | self._assignment)
                with contextlib.suppress(Exception):
                    await consumer.stop()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 15.0)

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        """Judge batch N+1 while batch N's verdicts are on their way: its sends are awaited,
        then its offsets committed, before batch N+1's are sent (in order, per partition)."""
        size = self.min_batch
        sending: asyncio.Task[dict[TopicPartition, int]] | None = None
        try:
            while True:
                wait = 0 if sending is not None else self._wait_ms()
                batch = await consumer.getmany(timeout_ms=wait, max_records=size)
                records = [r for part in batch.values() for r in part]
                # A full batch says a backlog: take more next time; a partial one, less.
                size = max(self.min_batch, min(self.max_batch, len(records) * 2))
                self._assignment = set(consumer.assignment())
                if records and self.history:
                    await self.first.turn()
                with contextlib.nullcontext() if self.history else self.first.live():
                    out = await self._handle(consumer, records)
                    # What this batch may commit, fixed now: a leg released by a later batch
                    # is no longer held then, though its verdict is not yet acknowledged.
                    targets = self._targets()
                    if sending is not None:
                        await self._commit(consumer, await sending)
                        sending = None
                    if out and self.history:
                        await self.first.turn()  # live may have come while this one waited
                    if out or targets:
                        sending = asyncio.create_task(self._send(out, targets))
        finally:
            if sending is not None:
                sending.cancel()
                with contextlib.suppress(BaseException):
                    await sending

    async def _send(
        self, out: list[_Out], targets: dict[TopicPartition, int]
    ) -> dict[TopicPartition, int]:
        if out:
            await self._publish(out)
        return targets

    def _wait_ms(self) -> int:
        due = self.classifier.held.next_due(self.topic.name)
        wait = IDLE_WAIT_S if due is None else min(IDLE_WAIT_S, max(0.0, due - time.time()))
        return int(wait * 1000)

    async def _handle(self, consumer: AIOKafkaConsumer, records: list[Any]) -> list[_Out]:
        """Judge the records and release the held legs that are due: the verdicts to send."""
        metrics = self.bus.metrics
        start = time.perf_counter()
        now = time.time()
        out: list[_Out] = []
        for raw in records:
            tp = TopicPartition(raw.topic, raw.partition)
            event = await self._judge(raw, now)
            if event is not None:
                out.append(_Out(record_of(event), event, raw))
            self._next[tp] = raw.offset + 1
        for leg, event in self.classifier.release_due(now, self.topic.name):
            # No longer held; its offset stays uncommitted until the batch carrying its
            # verdict was acknowledged (`_targets` was fixed before).
            self.classifier.done(leg)
            source = leg.source
            raw = self._raw.pop(leg.interaction_id, None)
            if source is None or TopicPartition(source.topic, source.partition) not in (
                self._assignment
            ):
                continue  # no longer ours: its partition's owner judges it
            out.append(_Out(record_of(event), event, raw, leg))
        if records:
            self.batches += 1
            last = records[-1]
            highwater = consumer.highwater(TopicPartition(last.topic, last.partition))
            if highwater is not None:
                metrics.consumer_lag.labels(self.topic.name).set(
                    max(0, int(highwater) - int(last.offset) - 1)
                )
            metrics.messages.labels(self.topic.name, "processed").inc(len(records))
            per_record = (time.perf_counter() - start) / len(records)
            for _ in records:
                metrics.processing.labels(self.topic.name).observe(per_record)
        HELD_LEGS.set(self.classifier.held.count())
        return out

    async def _judge(self, raw: Any, now: float) -> InteractionClassified | None:
        """The verdict to publish; None when the record is held or went to the DLQ."""
        try:
            envelope, data = decode(raw.headers or (), raw.value)
            if not isinstance(data, self.topic.model):
                raise CloudEventError(f"{self.topic.name} expects {self.topic.model.__name__}")
        except CloudEventError as exc:
            await self._dead_letter(raw, f"undecodable: {exc}", 0)
            return None
        failures = 0
        while True:
            try:
                if isinstance(data, CallRecorded):
                    source = Source(raw.topic, raw.partition, raw.offset)
                    outcome = self.classifier.call(envelope.id, data, now, source)
                    if not isinstance(outcome, InteractionClassified):
                        self._raw[envelope.id] = raw
                        return None
                    return outcome
                assert isinstance(data, MailReceived)
                return self.classifier.mail(envelope.id, data, envelope.time)
            except Exception as exc:
                failures += 1
                log.exception(
                    "handler failed",
                    extra={"topic": self.topic.name, "ce_id": envelope.id, "attempt": failures},
                )
                if failures >= self.max_attempts:
                    await self._dead_letter(raw, repr(exc), failures)
                    return None
                await asyncio.sleep(backoff(failures, cap=5.0))

    async def _publish(self, out: list[_Out]) -> None:
        """Every verdict acknowledged before returning; the broker away is waited out."""
        records = [item.record for item in out]
        done = 0
        outage = 0
        while done < len(records):
            try:
                done += await self.bus.publish_batch(records[done:])
            except BrokerUnavailable:
                pass
            except RecordTooLarge:
                await self._one_by_one(out[done:])
                break
            if done < len(records):
                outage += 1
                self.bus.metrics.messages.labels(self.topic.name, "retried").inc()
                log.warning(
                    "verdicts not acknowledged, retrying",
                    extra={"topic": self.topic.name, "left": len(records) - done},
                )
                await asyncio.sleep(backoff(outage))
        published = self.bus.metrics.published
        for record in records[:done]:  # `_one_by_one` counts its own through `Bus.publish`
            published.labels(record.topic).inc()
        for item in out:
            VERDICTS.labels(item.event.kind.value, item.event.disposition.value).inc()
            for tag in item.event.tags:
                TAGS.labels(tag.value).inc()

    async def _one_by_one(self, out: list[_Out]) -> None:
        """A verdict the broker refuses (too large) is tried `max_attempts` times, then its
        record goes to the DLQ; the others are published."""
        for item in out:
            failures = outage = 0
            while True:
                try:
                    await self.bus.publish(item.record)
                    break
                except BrokerUnavailable:
                    outage += 1
                    await asyncio.sleep(backoff(outage))
                except Exception as exc:
                    failures += 1
                    log.exception(
                        "handler failed",
                        extra={
                            "topic": self.topic.name,
                            "ce_id": item.event.interaction_id,
                            "attempt": failures,
                        },
                    )
                    if failures >= self.max_attempts:
                        if item.raw is not None:
                            await self._dead_letter(item.raw, repr(exc), failures)
                        break
                    await asyncio.sleep(backoff(failures, cap=5.0))

    async def _dead_letter(self, raw: Any, error: str, attempts: int) -> None:
        await dead_letter(self.bus, self.topic, self.group_id, raw, error, attempts)

    def _targets(self) -> dict[TopicPartition, int]:
        """Offsets to commit once the verdicts judged so far are acknowledged: what was handled,
        never past a partition's oldest held leg."""
        offsets: dict[TopicPartition, int] = {}
        for tp, handled in self._next.items():
            held = self.classifier.held.oldest(tp.topic, tp.partition)
            target = handled if held is None else min(handled, held)
            if target > self._committed.get(tp, -1):
                offsets[tp] = target
        return offsets

    async def _commit(self, consumer: AIOKafkaConsumer, targets: dict[TopicPartition, int]) -> None:
        offsets = {
            tp: offset
            for tp, offset in targets.items()
            if tp in self._assignment and offset > self._committed.get(tp, -1)
        }
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except (KafkaError, AssertionError) as exc:  # partitions moved meanwhile
            log.warning(
                "offsets not committed; their partitions' owner reads on from the last commit",
                extra={"topic": self.topic.name, "error": repr(exc)},
            )
            return
        self._committed.update(offsets)


def build_consumers(
    bus: Bus,
    classifier: Classifier,
    knowledge_loaded: asyncio.Event,
    *,
    group_id: str,
    max_attempts: int,
    live_first: LiveFirst | None = None,
    max_batch: int = MAX_BATCH,
) -> list[BatchConsumer]:
    """The live consumers and the history ones; one consumer group per topic."""
    # Live records arrive in fetches with gaps between them; history waits for a quarter of a
    # second without any, so that a burst of live records is not cut by history batches.
    first = live_first or LiveFirst(quiet_s=LIVE_QUIET_S)
    return [
        BatchConsumer(
            bus,
            classifier,
            topic,
            knowledge_loaded,
            group_id=group,
            max_attempts=max_attempts,
            live_first=first,
            history=history,
            max_batch=min(max_batch, HISTORY_MAX_BATCH) if history else max_batch,
        )
        for topic, group, history in (
            (CALLS_RECORDED, group_id, False),
            (MAIL_RECEIVED, f"{group_id}-mail", False),
            (history_of(CALLS_RECORDED), f"{group_id}-history", True),
            (history_of(MAIL_RECEIVED), f"{group_id}-mail-history", True),
        )
    ]
