"""The Kafka connection of a service: connect in the background, publish CloudEvents acks=all.

A service starts even when the broker is away: `ready()` says so, publishes fail fast with
`BrokerUnavailable` (webhooks answer 503 and the provider retries), and the connection is retried
with backoff until it succeeds.

Once connected, the broker is probed in the background (`SWITCHBOARD_BROKER_PROBE_INTERVAL_S`):
the probe sets `<prefix>_broker_up`, which `/readyz` reads, and drives a breaker (see
`breaker.py`): while the broker is known down, publishes are refused at once instead of each
waiting out its deadline. A refused or timed-out publish means "not confirmed", not "not
stored": a send that timed out may still be written once the broker answers again, which is why
its sender's retry, carrying the same ce_id, waits for that send instead of making another.

The same background task reads the lag of the consumer groups that read this service's topics
(`SWITCHBOARD_DOWNSTREAM_GROUPS`) as `<prefix>_downstream_lag`, so a stopped consumer's backlog
shows up even though the consumer itself exports nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NodeNotReadyError,
    RequestTimedOutError,
)
from aiokafka.partitioner import DefaultPartitioner
from faststream.kafka import KafkaBroker, KafkaRouter

from switchboard_shared import topics
from switchboard_shared.breaker import Breaker, State
from switchboard_shared.cloudevents import KafkaRecord
from switchboard_shared.lag import DownstreamLag
from switchboard_shared.metrics import ServiceMetrics
from switchboard_shared.settings import CommonSettings
from switchboard_shared.topics import Topic

log = logging.getLogger(__name__)


INFLIGHT_LIMIT = 10_000


# Up to this much per produce batch in publish_batch (the broker's default limit is 1 MiB).
BULK_BATCH_BYTES = 512 * 1024
BULK_STOP_GRACE_S = 2.0
MAX_REQUEST_SIZE = 1024 * 1024  # the producer's (aiokafka's default max_request_size)
WRITTEN = -1  # in publish_batch: a record an earlier send already wrote

# A publish failing this way says the broker is not answering: open the breaker.
BROKER_DOWN_ERRORS = (
    TimeoutError,
    KafkaConnectionError,
    KafkaTimeoutError,
    NodeNotReadyError,
    RequestTimedOutError,
)
# While the breaker is open, one publish is tried this long after the broker was found down
# (the probe normally closes the breaker well before).
BREAKER_TRIAL_AFTER_S = 5.0
DOWNSTREAM_LAG_TIMEOUT_S = 10.0
# Unanswered probes in a row (the next one sent at once) before the broker counts as down.
PROBES_TO_CALL_IT_DOWN = 2


def produced_by(service: str) -> list[Topic]:
    """The topics the registry names `service` a producer of."""
    return [t for t in topics.ALL if service in (p.strip() for p in t.producer.split(","))]


def _succeeded(future: asyncio.Future[Any]) -> bool:
    return not future.cancelled() and future.exception() is None


def _append(batch: Any, record: KafkaRecord, headers: list[tuple[str, bytes]]) -> bool:
    """Add a record to a produce batch; False when the batch is full."""
    added = batch.append(key=record.key, value=record.value, timestamp=None, headers=headers)
    return added is not None


def _size(record: KafkaRecord) -> int:
    return (
        len(record.value or b"")
        + len(record.key or b"")
        + sum(len(k) + len(v) for k, v in record.headers.items())
    )


class RecordTooLarge(ValueError):
    """The record exceeds what the producer may send; retrying cannot help."""


class BrokerUnavailable(Exception):
    """The broker did not acknowledge (in time, or it is known down and was not tried).

    Not confirmed is not "not stored": a send that timed out may still be written later, so
    the sender retries the same event (same ce_id) and the retry is deduplicated.
    """


class Bus:
    def __init__(
        self,
        settings: CommonSettings,
        *,
        client_id: str,
        metrics: ServiceMetrics,
        publish_timeout_s: float = 10.0,
        publishes: Sequence[Topic] | None = None,
    ) -> None:
        """`publishes`: the topics this service publishes (by default those the topic registry
        names `client_id` the producer of); the lag of the groups that read them (per
        `settings.downstream_groups`) is reported as `<prefix>_downstream_lag`."""
        if publishes is None:
            publishes = produced_by(client_id)
        self.settings = settings
        self.metrics = metrics
        self.publish_timeout_s = publish_timeout_s
        self.breaker = Breaker(trial_after_s=BREAKER_TRIAL_AFTER_S, on_change=self._breaker_moved)
        self.downstream = DownstreamLag(
            settings.kafka_bootstrap,
            client_id,
            {t.name: settings.downstream_groups.get(t.name, []) for t in publishes},
        )
        self.broker = KafkaBroker(
            settings.kafka_bootstrap,
            client_id=client_id,
            acks="all",
            enable_idempotence=settings.kafka_enable_idempotence,
            logger=logging.getLogger(f"{client_id}.kafka"),
            log_level=logging.DEBUG,  # one line per message is for debugging, not operations
        )
        self.client_id = client_id
        self._connected = asyncio.Event()
        self._inflight: OrderedDict[str, asyncio.Future[Any]] = OrderedDict()
        self._task: asyncio.Task[None] | None = None
        self._lag_task: asyncio.Task[None] | None = None
        self._probe_task: asyncio.Task[None] | None = None
        self._bulk: Any = None  # AIOKafkaProducer for publish and publish_batch
        self.max_request_size = MAX_REQUEST_SIZE
        # Consumers a service runs itself (aiokafka's), beside FastStream's subscribers: their
        # lag is measured too. Each entry returns the consumer, or None while it has none.
        self.own_consumers: list[Callable[[], Any]] = []
        self._bulk_lock = asyncio.Lock()
        self._partitioner = DefaultPartitioner()

    async def measure_lag(self) -> dict[str, int]:
        """Each consumer's lag, read from the broker: per topic, over the partitions assigned
        here, the newest offset minus the group's committed one. Unlike the lag noted as
        records arrive, this stays true while nothing is consumed (a paused or stuck
        consumer)."""
        out: Counter[str] = Counter()
        consumers: list[Any] = [getattr(s, "consumer", None) for s in self.broker.subscribers]
        for consumer in consumers + [own() for own in self.own_consumers]:
            partitions = list(consumer.assignment()) if consumer is not None else []
            if not partitions:
                continue
            ends = await consumer.end_offsets(partitions)
            starts: dict[Any, int] | None = None
            for tp in partitions:
                committed = await consumer.committed(tp)
                if committed is None:  # nothing committed yet: all that is kept is waiting
                    starts = starts or await consumer.beginning_offsets(partitions)
                    committed = starts[tp]
                # The newest offset the broker reports, or the one seen in the last fetch if
                # that is ahead (the development broker under-reports after batched writes).
                end = max(int(ends[tp]), int(consumer.highwater(tp) or 0))
                out[tp.topic] += max(0, end - int(committed))
        for topic, lag in out.items():
            self.metrics.consumer_lag.labels(topic).set(lag)
        return dict(out)

    async def measure_downstream_lag(self) -> dict[tuple[str, str], int]:
        """The lag of the groups that read this service's topics, {(group, topic): lag}."""
        async with asyncio.timeout(DOWNSTREAM_LAG_TIMEOUT_S):
            lags = await self.downstream.measure()
        for (group, topic), lag in lags.items():
            self.metrics.downstream_lag.labels(group, topic).set(lag)
        return lags

    async def _watch_lag(self) -> None:
        while True:
            for measure in (self.measure_lag, self.measure_downstream_lag):
                if not self.breaker.closed:
                    break  # the broker is down; its requests would only wait
                try:
                    await measure()
                except Exception as exc:  # the broker may be away; the next round retries
                    log.debug("lag not measured", extra={"error": repr(exc)})
            await asyncio.sleep(self.settings.consumer_lag_interval_s)

    async def probe(self) -> bool:
        """Ask the broker for its cluster metadata; the answer drives `broker_up` and the
        breaker. One unanswered probe is not enough to call the broker down (a busy process
        can be late to read an answer): it is asked again at once, and two in a row are."""
        for attempt in range(PROBES_TO_CALL_IT_DOWN):
            try:
                timeout = self.settings.broker_probe_timeout_s
                up = self.connected and await self.broker.ping(timeout=timeout)
            except Exception as exc:  # a probe that breaks says as much as one unanswered
                log.debug("broker probe failed", extra={"error": repr(exc), "try": attempt})
                up = False
            if up or not self.connected:
                break
        if up:
            self.breaker.succeeded()
        else:
            if self.breaker.closed:
                log.warning("kafka broker not answering", extra={"bootstrap": self.bootstrap})
            self.breaker.probe_failed()
        self._show_state()
        return up

    async def _watch_broker(self) -> None:
        while True:
            await self.probe()
            await asyncio.sleep(self.settings.broker_probe_interval_s)

    @property
    def bootstrap(self) -> str:
        return self.settings.kafka_bootstrap

    def _breaker_moved(self, state: State) -> None:
        if state is State.CLOSED:
            log.info("kafka broker answering again", extra={"bootstrap": self.bootstrap})
        self._show_state()

    def _show_state(self) -> None:
        self.metrics.broker_up.set(1 if self.connected and self.breaker.closed else 0)

    def include_router(self, router: KafkaRouter) -> None:
        self.broker.include_router(router)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def start(self) -> None:
        """Begin connecting; returns at once."""
        self._task = asyncio.create_task(self._connect(), name="kafka-connect")

    async def wait_connected(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), timeout)
        return self.connected

    async def _connect(self) -> None:
        delay = 0.5
        while True:
            try:
                await self.broker.start()
                await self._bulk_producer()
            except Exception as exc:  # the client raises several unrelated types here
                log.warning(
                    "kafka broker not reachable, retrying",
                    extra={"bootstrap": self.settings.kafka_bootstrap, "error": str(exc)},
                )
                with contextlib.suppress(Exception):
                    await self.broker.stop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 15.0)
                continue
            self._connected.set()
            self.breaker.succeeded()
            self._show_state()
            self._lag_task = asyncio.create_task(self._watch_lag(), name="kafka-consumer-lag")
            self._probe_task = asyncio.create_task(self._watch_broker(), name="kafka-probe")
            log.info("connected to kafka", extra={"bootstrap": self.settings.kafka_bootstrap})
            return

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Connected (in the background) for the duration of the block; for app lifespans."""
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def stop(self) -> None:
        for task in (self._task, self._lag_task, self._probe_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._lag_task = self._probe_task = None
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.downstream.close(), BULK_STOP_GRACE_S)
        if self._bulk is not None:
            # Its unacknowledged batches are not reported as published, so their senders
            # retry them later; do not wait out the client's request timeout for them.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._bulk.stop(), BULK_STOP_GRACE_S)
            self._bulk = None
        await self.broker.stop()
        self._connected.clear()
        self._show_state()

    async def ready(self) -> bool:
        """Connected, and the broker answered the last probe (and the last publish)."""
        self._show_state()
        return self.connected and self.breaker.closed

    async def publish(self, record: KafkaRecord) -> None:
        """Return only once the broker acknowledged the record (acks=all).

        A send that timed out may still be delivered once the broker is back. Its future is
        kept by ce_id, so the caller's retry of the same event waits for that send instead of
        producing the record a second time (and, once it was acknowledged, returns at once,
        even while the breaker is open). While the breaker is open nothing else is tried:
        `BrokerUnavailable` at once.
        """
        event_id = record.headers.get("ce_id")
        sending = self._inflight.get(event_id) if event_id else None
        if sending is not None and sending.done():
            if _succeeded(sending):  # written after its first sender was told to retry
                self._inflight.pop(str(event_id), None)
                self.metrics.published.labels(record.topic).inc()
                self.breaker.succeeded()  # the broker acknowledged it: it is answering again
                self._show_state()
                return
            sending = None
        if not self.connected:
            self.metrics.publish_failures.labels(record.topic).inc()
            raise BrokerUnavailable("not connected to the Kafka broker")
        if not self.breaker.allow():
            self.metrics.publish_failures.labels(record.topic).inc()
            raise BrokerUnavailable("the Kafka broker is not answering; not tried")
        start = time.perf_counter()
        try:
            async with asyncio.timeout(self.publish_timeout_s):
                if sending is None:
                    # The plain producer: FastStream's publish path (its middlewares, message
                    # building) cost more than the send itself.
                    producer = self._bulk or await self._bulk_producer()
                    headers = [(k, v.encode()) for k, v in record.headers.items()]
                    sending = await producer.send(
                        record.topic, record.value, key=record.key, headers=headers
                    )
                    if event_id:
                        self._remember(event_id, sending)
                await asyncio.shield(sending)
        except MessageSizeTooLargeError as exc:
            self.breaker.inconclusive()
            self.metrics.publish_failures.labels(record.topic).inc()
            raise RecordTooLarge(f"{record.topic}: {len(record.value or b'')} bytes") from exc
        except Exception as exc:
            if isinstance(exc, BROKER_DOWN_ERRORS):
                if self.breaker.closed:
                    log.warning("kafka broker not answering", extra={"error": repr(exc)})
                self.breaker.failed()
            else:
                self.breaker.inconclusive()
            self.metrics.publish_failures.labels(record.topic).inc()
            raise BrokerUnavailable(f"broker did not acknowledge: {exc!r}") from exc
        self.breaker.succeeded()
        if event_id:
            self._inflight.pop(event_id, None)
        self.metrics.publish_latency.labels(record.topic).observe(time.perf_counter() - start)
        self.metrics.published.labels(record.topic).inc()

    def _remember(self, event_id: str, sending: asyncio.Future[Any]) -> None:
        self._inflight[event_id] = sending
        while len(self._inflight) > INFLIGHT_LIMIT:
            self._inflight.popitem(last=False)

    async def publish_batch(
        self, records: Sequence[KafkaRecord], timeout_s: float | None = None
    ) -> int:
        """Publish many records at once (acks=all); how many of the first were acknowledged.

        For relays that publish thousands of stored records: they go out as one produce batch
        per partition, in order, instead of one send per record. Partitions are chosen as the
        producer does for single records (murmur2 of the key), so a key keeps its partition.
        Fewer than all acknowledged means the broker failed part way; the caller retries the
        rest later. Records carry deterministic ce_ids, so a repeat is dropped downstream.

        A batch that timed out may still be written once the broker answers again. Its sends
        are kept by ce_id, as `publish` keeps its own: when the caller retries those records,
        the earlier sends are waited for, and what they wrote is counted, not sent again.
        """
        if not records:
            return 0
        if not self.connected:
            raise BrokerUnavailable("not connected to the Kafka broker")
        if not self.breaker.allow():
            raise BrokerUnavailable("the Kafka broker is not answering; not tried")
        timeout = timeout_s or self.publish_timeout_s
        earlier = [self._inflight.get(r.headers.get("ce_id", "")) for r in records]
        sending: list[asyncio.Future[Any]] = []  # one per batch
        batch_of: list[int] = []  # per record, its batch in `sending`; WRITTEN: sent before
        try:
            async with asyncio.timeout(timeout):
                still = [f for f in earlier if f is not None and not f.done()]
                if still:
                    await asyncio.wait(still)
                producer = await self._bulk_producer()
                open_batches: dict[tuple[str, int], tuple[Any, int]] = {}
                pending: list[tuple[Any, str, int]] = []
                partitions: dict[str, list[int]] = {}
                for record, before in zip(records, earlier, strict=True):
                    if before is not None and _succeeded(before):
                        batch_of.append(WRITTEN)
                        continue
                    if _size(record) > self.max_request_size:
                        # A batch takes one oversized record (a produce that a real broker
                        # refuses): refused here as `publish` refuses it.
                        raise RecordTooLarge(f"{record.topic}: {_size(record)} bytes")
                    partition = await self._partition_of(producer, record, partitions)
                    slot = open_batches.get((record.topic, partition))
                    headers = [(k, v.encode()) for k, v in record.headers.items()]
                    if slot is None or not _append(slot[0], record, headers):
                        batch = producer.create_batch()
                        if not _append(batch, record, headers):
                            raise RecordTooLarge(f"{record.topic}: {len(record.value or b'')}")
                        slot = (batch, len(pending))
                        open_batches[(record.topic, partition)] = slot
                        pending.append((batch, record.topic, partition))
                    batch_of.append(slot[1])
                for batch, topic, partition in pending:
                    batch.close()
                    sending.append(await producer.send_batch(batch, topic, partition=partition))
                await asyncio.wait(sending)
        except RecordTooLarge:
            self.breaker.inconclusive()
            raise
        except Exception as exc:  # a timeout or the client's assorted connection errors
            log.warning("batch publish incomplete", extra={"error": repr(exc)})
            if isinstance(exc, BROKER_DOWN_ERRORS):
                self.breaker.failed()
            else:
                self.breaker.inconclusive()
        else:
            self.breaker.succeeded()
        acked = 0
        for record, before, index in zip(records, earlier, batch_of, strict=False):
            event_id = record.headers.get("ce_id")
            if index == WRITTEN or (
                index < len(sending) and sending[index].done() and _succeeded(sending[index])
            ):
                if event_id and before is not None:
                    self._inflight.pop(event_id, None)
                acked += 1
                continue
            break
        for record, index in zip(records[acked:], batch_of[acked:], strict=False):
            event_id = record.headers.get("ce_id")
            if event_id and 0 <= index < len(sending):  # may still be written: keep its send
                self._remember(event_id, sending[index])
        return acked

    async def _bulk_producer(self) -> Any:
        """The producer of `publish` and `publish_batch` (FastStream's own is for its
        subscribers' needs), started once."""
        async with self._bulk_lock:
            return await self._start_bulk()

    async def _start_bulk(self) -> Any:
        if self._bulk is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.settings.kafka_bootstrap,
                client_id=self.client_id,
                acks="all",
                enable_idempotence=self.settings.kafka_enable_idempotence,
                max_batch_size=BULK_BATCH_BYTES,
                max_request_size=self.max_request_size,
            )
            try:
                await producer.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise
            self._bulk = producer
        return self._bulk

    async def _partition_of(
        self, producer: Any, record: KafkaRecord, known: dict[str, list[int]]
    ) -> int:
        partitions = known.get(record.topic)
        if partitions is None:  # from the producer's metadata, refreshed as it refreshes it
            partitions = known[record.topic] = sorted(await producer.partitions_for(record.topic))
        return int(self._partitioner(record.key, partitions, partitions))

    async def publish_all(self, records: list[KafkaRecord]) -> None:
        """Publish in order; all acknowledged or BrokerUnavailable."""
        for record in records:
            await self.publish(record)


ReadyCheck = Callable[[], Awaitable[bool]]
