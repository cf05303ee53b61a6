"""The broker side of a bench: a fresh broker with the topics (`broker_with_topics`, shared
with the tests), extra topics for a baseline, producing records in pipelined batches and reading
how fast records appear on a topic."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from support.private_broker import broker_with_topics
from switchboard_shared.cloudevents import KafkaRecord

__all__ = ["TopicTail", "broker_with_topics", "create_extra_topics", "producer", "send_records"]

IN_FLIGHT = 2000  # sends awaited together: the producer batches them, memory stays bounded


async def create_extra_topics(bootstrap: str, names: Iterable[str], partitions: int = 3) -> None:
    """Topics a baseline uses besides Switchboard's own (those that exist are left alone)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [NewTopic(name, partitions, 1) for name in names if name not in existing]
        if wanted:
            await admin.create_topics(wanted)
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def producer(bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    """A started producer as the services configure theirs for events (acks=all)."""
    client = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await client.start()
    try:
        yield client
    finally:
        await client.stop()


async def send_records(
    client: AIOKafkaProducer, records: Iterable[KafkaRecord], topic: str | None = None
) -> None:
    """Send every record (to `topic` instead of its own when given) and wait until the broker
    has acknowledged all of them; up to IN_FLIGHT are pipelined at a time."""
    pending: list[asyncio.Future[object]] = []
    for record in records:
        headers = [(k, v.encode()) for k, v in record.headers.items()]
        pending.append(
            await client.send(topic or record.topic, record.value, key=record.key, headers=headers)
        )
        if len(pending) >= IN_FLIGHT:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)


class TopicTail:
    """Reads what is appended to a topic after `start`: the records' broker timestamps (ms)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)

    async def start(self) -> None:
        await self.consumer.start()
        await self.consumer.topics()
        parts = self.consumer.partitions_for_topic(self.topic) or set()
        partitions = [TopicPartition(self.topic, p) for p in sorted(parts)]
        self.consumer.assign(partitions)
        await self.consumer.seek_to_end(*partitions)

    async def stop(self) -> None:
        await self.consumer.stop()

    async def collect(self, count: int, timeout: float = 300.0) -> list[int]:
        """The timestamps of the next `count` records; an error after `timeout` seconds."""
        stamps: list[int] = []
        deadline = time.monotonic() + timeout
        while len(stamps) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{self.topic}: {len(stamps)} of {count} records after {timeout}s"
                )
            batch = await self.consumer.getmany(timeout_ms=500, max_records=5000)
            stamps.extend(r.timestamp for records in batch.values() for r in records)
        return stamps
