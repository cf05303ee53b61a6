"""Kafka edge: interactions.classified.v1 → store (one transaction per batch) → outbox; and
interactions.classified.history.v1 (imported history) the same way, in a consumer group of its
own that gives way to live traffic (`switchboard_shared.priority.LiveFirst`) and stores each
batch in the order it happened.

The consumer takes what the broker has (up to `batch_size` records) and stores it in one
transaction, then commits the offsets. The guarantees are those of `switchboard_shared.consumer`
(which handles one record at a time), kept for batches:

* offsets are committed only after the transaction committed;
* the database being away is retried without limit: consumption pauses, nothing is dropped;
* an undecodable record goes to the DLQ at once; when a batch fails for another reason, its
  records are retried one by one, and the one that keeps failing goes to the DLQ alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from faststream import AckPolicy
from faststream.kafka import KafkaMessage, KafkaRouter
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_store.config import DEFAULT_POLICY, StorePolicy
from crm_store.interactions.service import RecordResult, record_interactions
from crm_store.metrics import ACTIVITY_CHANGES, DB_LATENCY, INTERACTIONS, LINKS
from crm_store.publisher import OutboxRelay
from switchboard_shared.cloudevents import CloudEventError, decode
from switchboard_shared.consumer import RetryableError, backoff, dead_letter
from switchboard_shared.events import InteractionClassified
from switchboard_shared.kafka import Bus
from switchboard_shared.priority import LiveFirst
from switchboard_shared.topics import INTERACTIONS_CLASSIFIED, Topic, history_of

log = logging.getLogger(__name__)
TOPIC = INTERACTIONS_CLASSIFIED
HISTORY_TOPIC = history_of(INTERACTIONS_CLASSIFIED)

# The database being away is not the message's fault: retry until it is back.
DATABASE_DOWN = (OperationalError, InterfaceError, ConnectionError, OSError, TimeoutError)


def is_outage(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, DATABASE_DOWN)


PolicySource = StorePolicy | Callable[[], StorePolicy]
Store = Callable[[Sequence[InteractionClassified]], Awaitable[list[RecordResult]]]


def make_store(
    sessionmaker: async_sessionmaker[AsyncSession], policy: PolicySource = DEFAULT_POLICY
) -> Store:
    """One transaction per call; an outage surfaces as RetryableError. A callable `policy` is
    asked for every batch (the administrator's settings change without a restart)."""

    async def store(events: Sequence[InteractionClassified]) -> list[RecordResult]:
        start = time.perf_counter()
        current = policy() if callable(policy) else policy
        try:
            async with sessionmaker() as session:
                results = await record_interactions(session, events, policy=current)
                await session.commit()
        except Exception as exc:
            if is_outage(exc):
                raise RetryableError(f"database unavailable: {exc!r}") from exc
            raise
        DB_LATENCY.labels("record_batch").observe(time.perf_counter() - start)
        for event, result in zip(events, results, strict=True):
            INTERACTIONS.labels(
                event.kind.value, "duplicate" if result.duplicate else "stored"
            ).inc()
            if not result.duplicate:
                LINKS.labels(event.kind.value, result.link.value).inc()
            for kind, change, by in result.changes:
                ACTIVITY_CHANGES.labels(kind, change, by).inc()
        return results

    return store


def build_router(
    bus: Bus,
    sessionmaker: async_sessionmaker[AsyncSession],
    relay: OutboxRelay,
    *,
    group_id: str,
    max_attempts: int,
    policy: PolicySource = DEFAULT_POLICY,
    batch_size: int = 1000,
    batch_timeout_ms: int = 50,
    fetch_wait_ms: int = 50,
    history_group_id: str | None = None,
    history_batch_size: int = 200,
    live_first: LiveFirst | None = None,
) -> KafkaRouter:
    """The live consumer; with `history_group_id`, the history consumer beside it."""
    router = KafkaRouter()
    store = make_store(sessionmaker, policy)
    first = live_first or LiveFirst()
    consumers = [(TOPIC, group_id, batch_size, False)]
    if history_group_id is not None:
        consumers.append((HISTORY_TOPIC, history_group_id, history_batch_size, True))
    for topic, group, size, history in consumers:
        on_batch = _consumer(bus, store, relay, topic, group, max_attempts, first, history=history)
        router.subscriber(
            topic.name,
            group_id=group,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.ACK,
            batch=True,
            max_records=size,
            batch_timeout_ms=batch_timeout_ms,
            fetch_max_wait_ms=fetch_wait_ms,
            decoder=_undecoded,
            description=topic.description,
        )(on_batch)
    return router


def _consumer(
    bus: Bus,
    store: Store,
    relay: OutboxRelay,
    topic: Topic,
    group_id: str,
    max_attempts: int,
    first: LiveFirst,
    *,
    history: bool,
) -> Callable[[KafkaMessage], Awaitable[None]]:
    """One topic's batch handler. History waits for its turn (`LiveFirst`) before each batch
    and is stored in the order it happened; live batches hold history back while handled."""
    metrics = bus.metrics

    async def until_stored(events: Sequence[InteractionClassified]) -> None:
        """Store, waiting out database outages; other errors propagate."""
        outage = 0
        while True:
            try:
                await store(events)
                return
            except RetryableError as exc:
                outage += 1
                metrics.messages.labels(topic.name, "retried").inc(len(events))
                log.warning(
                    "database unavailable, consumption paused",
                    extra={"topic": topic.name, "records": len(events), "error": str(exc)},
                )
                await asyncio.sleep(backoff(outage))

    async def one_by_one(decoded: list[tuple[Any, InteractionClassified]]) -> None:
        for record, event in decoded:
            failures = 0
            while True:
                try:
                    await until_stored([event])
                    metrics.messages.labels(topic.name, "processed").inc()
                    break
                except Exception as exc:
                    failures += 1
                    log.exception(
                        "handler failed",
                        extra={"topic": topic.name, "ce_id": event.interaction_id},
                    )
                    if failures >= max_attempts:
                        await dead_letter(bus, topic, group_id, record, repr(exc), failures)
                        break
                    metrics.messages.labels(topic.name, "retried").inc()
                    await asyncio.sleep(backoff(failures, cap=5.0))

    async def handle(message: KafkaMessage) -> None:
        raw: Any = message.raw_message
        records = list(raw) if isinstance(raw, tuple | list) else [raw]
        _observe_lag(topic, message, records, metrics.consumer_lag)
        decoded: list[tuple[Any, InteractionClassified]] = []
        for record in records:
            try:
                _, data = decode(record.headers or [], record.value)
                if not isinstance(data, InteractionClassified):
                    raise CloudEventError(f"{topic.name} expects InteractionClassified")
            except CloudEventError as exc:
                await dead_letter(bus, topic, group_id, record, f"undecodable: {exc}", 0)
                continue
            decoded.append((record, data))
        if not decoded:
            return
        if history:
            # Replayed in time order: a missed call and its callback in one batch end closed.
            decoded.sort(key=lambda pair: pair[1].occurred_at)
            await first.turn()
        start = time.perf_counter()
        try:
            await until_stored([event for _, event in decoded])
            metrics.messages.labels(topic.name, "processed").inc(len(decoded))
        except Exception:
            log.warning(
                "batch failed; storing its records one by one",
                extra={"topic": topic.name, "records": len(decoded)},
                exc_info=True,
            )
            await one_by_one(decoded)
        per_record = (time.perf_counter() - start) / len(decoded)
        for _ in decoded:
            metrics.processing.labels(topic.name).observe(per_record)
        relay.notify()

    async def on_live(message: KafkaMessage) -> None:
        with first.live():
            await handle(message)

    return handle if history else on_live


async def _undecoded(message: Any) -> None:
    """The handler decodes the records itself (CloudEvents binding, into the event model);
    FastStream's default would first parse each value as plain JSON, for nothing."""
    return None


def _observe_lag(topic: Topic, message: KafkaMessage, records: list[Any], gauge: Any) -> None:
    consumer: Any = getattr(message, "consumer", None)
    if consumer is None or not records:
        return
    try:
        from aiokafka import TopicPartition

        last = records[-1]
        highwater = consumer.highwater(TopicPartition(last.topic, last.partition))
    except Exception:
        return
    if highwater is not None:
        gauge.labels(topic.name).set(max(0, int(highwater) - int(last.offset) - 1))
