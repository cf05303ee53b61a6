"""Consuming CloudEvents: decode, handle, retry, dead-letter, then commit.

Offsets are committed only after the handler returned, i.e. after its work is durable. A handler
error is retried with backoff; after `max_attempts` the message goes to `<topic>.dlq` with the
error in its headers. Errors a handler declares transient (the database is down) are retried
without limit: an outage pauses consumption, it never drops a message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from faststream import AckPolicy
from faststream.kafka import KafkaMessage, KafkaRouter

from switchboard_shared.cloudevents import CloudEventError, Envelope, KafkaRecord, decode
from switchboard_shared.events import Event
from switchboard_shared.kafka import BrokerUnavailable, Bus
from switchboard_shared.topics import Topic

log = logging.getLogger(__name__)

Handler = Callable[[Envelope, Event], Awaitable[None]]


class RetryableError(Exception):
    """Raised by a handler for a fault outside the message (store down): retry without limit."""


def backoff(attempt: int, cap: float = 30.0) -> float:
    return float(min(cap, 0.2 * 2**attempt))


async def dead_letter(
    bus: Bus, topic: Topic, group_id: str, raw: Any, error: str, attempts: int
) -> None:
    """Publish a consumed record (aiokafka's) to the topic's DLQ with why and where it came
    from, waiting out broker outages: a record is never acknowledged unless it was handled or
    dead-lettered."""
    headers = {k: v.decode(errors="replace") for k, v in raw.headers or ()}
    headers.update(
        {
            "dlq_error": error[:2000],
            "dlq_original_topic": raw.topic,
            "dlq_partition": str(raw.partition),
            "dlq_offset": str(raw.offset),
            "dlq_attempts": str(attempts),
            "dlq_group": group_id,
        }
    )
    record = KafkaRecord(topic.dlq, raw.key, raw.value or b"", headers)
    attempt = 0
    while True:
        try:
            await bus.publish(record)
            break
        except BrokerUnavailable:
            attempt += 1
            await asyncio.sleep(backoff(attempt))
    bus.metrics.dead_lettered.labels(topic.name).inc()
    bus.metrics.messages.labels(topic.name, "dead_lettered").inc()
    log.error(
        "message dead-lettered",
        extra={"topic": topic.name, "dlq": topic.dlq, "attempts": attempts, "error": error},
    )


def _lag(message: KafkaMessage) -> int | None:
    raw: Any = message.raw_message
    consumer: Any = getattr(message, "consumer", None)
    try:
        from aiokafka import TopicPartition

        highwater = consumer.highwater(TopicPartition(raw.topic, raw.partition))
    except Exception:
        return None
    if highwater is None:
        return None
    return max(0, int(highwater) - int(raw.offset) - 1)


def subscribe(
    router: KafkaRouter,
    bus: Bus,
    topic: Topic,
    handler: Handler,
    *,
    group_id: str,
    max_attempts: int = 5,
    transient: tuple[type[BaseException], ...] = (RetryableError,),
) -> None:
    """Register `handler` for `topic` in consumer group `group_id`."""
    metrics = bus.metrics

    async def on_message(message: KafkaMessage) -> None:
        lag = _lag(message)
        if lag is not None:
            metrics.consumer_lag.labels(topic.name).set(lag)
        try:
            envelope, data = decode(message.headers, message.body)
            if not isinstance(data, topic.model):
                raise CloudEventError(f"{topic.name} expects {topic.model.__name__}")
        except CloudEventError as exc:
            await dead_letter(bus, topic, group_id, message.raw_message, f"undecodable: {exc}", 0)
            return
        failures = 0
        outage = 0
        while True:
            start = time.perf_counter()
            try:
                await handler(envelope, data)
            except transient as exc:
                outage += 1
                metrics.messages.labels(topic.name, "retried").inc()
                log.warning(
                    "transient failure, retrying",
                    extra={"topic": topic.name, "ce_id": envelope.id, "error": repr(exc)},
                )
                await asyncio.sleep(backoff(outage))
                continue
            except Exception as exc:
                failures += 1
                log.exception(
                    "handler failed",
                    extra={"topic": topic.name, "ce_id": envelope.id, "attempt": failures},
                )
                if failures >= max_attempts:
                    await dead_letter(
                        bus, topic, group_id, message.raw_message, repr(exc), failures
                    )
                    return
                metrics.messages.labels(topic.name, "retried").inc()
                await asyncio.sleep(backoff(failures, cap=5.0))
                continue
            metrics.processing.labels(topic.name).observe(time.perf_counter() - start)
            metrics.messages.labels(topic.name, "processed").inc()
            return

    on_message.__name__ = f"consume_{topic.name.replace('.', '_').replace('-', '_')}"
    router.subscriber(
        topic.name,
        group_id=group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.ACK,
        description=topic.description,
    )(on_message)
