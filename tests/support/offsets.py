"""Positions read from the broker: a topic's end offsets, a group's committed ones, and reading a
topic exactly up to its end (not "until the first empty poll", which a slow broker ends early)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    numbers = consumer.partitions_for_topic(topic)
    if not numbers:
        await consumer._client.force_metadata_update()
        numbers = consumer.partitions_for_topic(topic) or set()
    assert numbers, f"the broker knows no partitions of {topic}"
    return [TopicPartition(topic, n) for n in sorted(numbers)]


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """{partition: the offset the next record will get}."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        partitions = await _partitions(consumer, topic)
        ends = await consumer.end_offsets(partitions)
        return {tp.partition: int(ends[tp]) for tp in partitions}
    finally:
        await consumer.stop()


async def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """{partition: the group's committed offset}, -1 where it committed nothing."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        partitions = await _partitions(consumer, topic)
        await admin.start()
        # Partitions named explicitly: the development broker answers only that form.
        found: dict[TopicPartition, Any] = await admin.list_consumer_group_offsets(
            group, partitions=partitions
        )
    finally:
        await admin.close()
        await consumer.stop()
    out = {}
    for tp in partitions:
        offset = found.get(tp)
        out[tp.partition] = -1 if offset is None else int(offset.offset)
    return out


async def start_group_at_end(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """Commit the topic's end offsets for `group` before its consumer first starts, so that it
    reads only what is produced from now on (not the records other tests left on the session
    broker). Returns the committed offsets."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        partitions = await _partitions(consumer, topic)
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.commit({tp: int(ends[tp]) for tp in partitions})
        return {tp.partition: int(ends[tp]) for tp in partitions}
    finally:
        await consumer.stop()


async def read_to_end(bootstrap: str, topic: str, timeout: float = 60.0) -> list[Any]:
    """Every record of the topic, from its start to the end offsets it had when called."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = await _partitions(consumer, topic)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            assert time.monotonic() < deadline, f"{topic} not read to its end in {timeout}s"
            batch = await consumer.getmany(*partitions, timeout_ms=500)
            for tp, got in batch.items():
                records += [r for r in got if r.offset < ends[tp]]
        return records
    finally:
        await consumer.stop()


def unique_group(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
