"""The Kafka connection of a service: connect in the background, publish CloudEvents acks=all.

A service starts even when the broker is away: `ready()` says so, publishes fail fast with
`BrokerUnavailable` (webhooks answer 503 and the provider retries), and the connection is retried
with backoff until it succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiokafka.errors import MessageSizeTooLargeError
from faststream.kafka import KafkaBroker, KafkaRouter

from switchboard_shared.cloudevents import KafkaRecord
from switchboard_shared.metrics import ServiceMetrics
from switchboard_shared.settings import CommonSettings

log = logging.getLogger(__name__)


INFLIGHT_LIMIT = 10_000


def _succeeded(future: asyncio.Future[Any]) -> bool:
    return not future.cancelled() and future.exception() is None


class RecordTooLarge(ValueError):
    """The record exceeds what the producer may send; retrying cannot help."""


class BrokerUnavailable(Exception):
    """The broker did not acknowledge in time; nothing may be reported as accepted."""


class Bus:
    def __init__(
        self,
        settings: CommonSettings,
        *,
        client_id: str,
        metrics: ServiceMetrics,
        publish_timeout_s: float = 10.0,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.publish_timeout_s = publish_timeout_s
        self.broker = KafkaBroker(
            settings.kafka_bootstrap,
            client_id=client_id,
            acks="all",
            enable_idempotence=settings.kafka_enable_idempotence,
            logger=logging.getLogger(f"{client_id}.kafka"),
            log_level=logging.DEBUG,  # one line per message is for debugging, not operations
        )
        self._connected = asyncio.Event()
        self._inflight: OrderedDict[str, asyncio.Future[Any]] = OrderedDict()
        self._task: asyncio.Task[None] | None = None

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
            self.metrics.broker_up.set(1)
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
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.broker.stop()
        self._connected.clear()

    async def ready(self) -> bool:
        up = self.connected and await self.broker.ping(timeout=2.0)
        self.metrics.broker_up.set(1 if up else 0)
        return up

    async def publish(self, record: KafkaRecord) -> None:
        """Return only once the broker acknowledged the record (acks=all).

        A send that timed out may still be delivered once the broker is back. Its future is
        kept by ce_id, so the caller's retry of the same event waits for that send instead of
        producing the record a second time.
        """
        if not self.connected:
            self.metrics.publish_failures.labels(record.topic).inc()
            raise BrokerUnavailable("not connected to the Kafka broker")
        event_id = record.headers.get("ce_id")
        sending = self._inflight.get(event_id) if event_id else None
        if sending is not None and sending.done() and not _succeeded(sending):
            sending = None
        start = time.perf_counter()
        try:
            async with asyncio.timeout(self.publish_timeout_s):
                if sending is None:
                    sending = await self.broker.publish(
                        record.value,
                        record.topic,
                        key=record.key,
                        headers=record.headers,
                        no_confirm=True,
                    )
                    if event_id:
                        self._remember(event_id, sending)
                await asyncio.shield(sending)
        except MessageSizeTooLargeError as exc:
            self.metrics.publish_failures.labels(record.topic).inc()
            raise RecordTooLarge(f"{record.topic}: {len(record.value or b'')} bytes") from exc
        except Exception as exc:
            self.metrics.publish_failures.labels(record.topic).inc()
            raise BrokerUnavailable(f"broker did not acknowledge: {exc!r}") from exc
        if event_id:
            self._inflight.pop(event_id, None)
        self.metrics.publish_latency.labels(record.topic).observe(time.perf_counter() - start)
        self.metrics.published.labels(record.topic).inc()

    def _remember(self, event_id: str, sending: asyncio.Future[Any]) -> None:
        self._inflight[event_id] = sending
        while len(self._inflight) > INFLIGHT_LIMIT:
            self._inflight.popitem(last=False)

    async def publish_all(self, records: list[KafkaRecord]) -> None:
        """Publish in order; all acknowledged or BrokerUnavailable."""
        for record in records:
            await self.publish(record)


ReadyCheck = Callable[[], Awaitable[bool]]
