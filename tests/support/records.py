"""Reading a topic back in tests: every record on it now, from its beginning to its end.

A reader that stops at the first empty poll can stop before a slow broker answered (and miss a
record, or a second copy of one); one that reads for a fixed time is slow and still guesses.
`read_to_end` reads up to the end offsets the broker reports when it starts: everything a
producer was acknowledged for before the call is there, exactly once per copy on the topic.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord


async def read_to_end(
    bootstrap: str, topic: str, *, timeout: float = 30.0, **options: Any
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of `topic` up to its current end (no consumer group, nothing committed)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **options)
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout
        numbers: set[int] | None = None
        while not numbers:
            await consumer.topics()  # fetches the cluster metadata
            numbers = consumer.partitions_for_topic(topic)
            if not numbers:
                assert time.monotonic() < deadline, f"topic {topic} does not exist"
                await asyncio.sleep(0.1)
        partitions = [TopicPartition(topic, number) for number in sorted(numbers)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        found: list[ConsumerRecord[bytes, bytes]] = []
        while [p for p in partitions if await consumer.position(p) < end[p]]:
            assert time.monotonic() < deadline, f"{topic}: not read to its end in {timeout}s"
            batch = await consumer.getmany(*partitions, timeout_ms=500)
            for records in batch.values():
                found.extend(records)
        return found
    finally:
        await consumer.stop()
