"""Consumer lag read from the broker, so it stays visible while the consumer itself is down.

A consumer reports its own lag only while it runs. A publisher can read, from the broker, how far
the groups that read its topics are behind: the end offset of each partition minus the group's
committed offset (minus the oldest kept offset when the group committed nothing there yet).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


class DownstreamLag:
    """How far the consumer groups of some topics are behind, read with two clients of its own:
    an admin client (committed offsets) and a consumer in no group (end offsets)."""

    def __init__(self, bootstrap: str, client_id: str, groups: Mapping[str, Sequence[str]]) -> None:
        self.bootstrap = bootstrap
        self.client_id = client_id
        self.groups = {topic: tuple(names) for topic, names in groups.items() if names}
        self._admin: AIOKafkaAdminClient | None = None
        self._offsets: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()  # one measurement at a time, sharing the clients

    async def measure(self) -> dict[tuple[str, str], int]:
        """{(group, topic): messages behind}, summed over the topic's partitions."""
        if not self.groups:
            return {}
        async with self._lock:
            return await self._measure()

    async def _measure(self) -> dict[tuple[str, str], int]:
        admin, offsets = await self._clients()
        partitions: dict[str, list[TopicPartition]] = {}
        for topic in self.groups:
            numbers = offsets.partitions_for_topic(topic)
            if numbers is None:
                await offsets._client.force_metadata_update()  # a topic created after start
                numbers = offsets.partitions_for_topic(topic) or set()
            partitions[topic] = [TopicPartition(topic, n) for n in sorted(numbers)]
        every = [tp for tps in partitions.values() for tp in tps]
        if not every:
            return {}
        ends: dict[TopicPartition, int] = await offsets.end_offsets(every)
        starts: dict[TopicPartition, int] | None = None
        out: dict[tuple[str, str], int] = {}
        for topic, groups in self.groups.items():
            for group in groups:
                # Partitions named explicitly: the development broker answers only that form.
                committed: dict[TopicPartition, Any] = await admin.list_consumer_group_offsets(
                    group, partitions=partitions[topic]
                )
                lag = 0
                for tp in partitions[topic]:
                    offset = committed.get(tp)
                    position = -1 if offset is None else int(offset.offset)
                    if position < 0:  # nothing committed: everything kept is waiting
                        starts = starts or await offsets.beginning_offsets(every)
                        position = int(starts[tp])
                    lag += max(0, int(ends[tp]) - position)
                out[(group, topic)] = lag
        return out

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self.bootstrap, client_id=f"{self.client_id}-lag"
            )
            try:
                await admin.start()
            except BaseException:
                await admin.close()
                raise
            self._admin = admin
        if self._offsets is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap,
                client_id=f"{self.client_id}-lag",
                enable_auto_commit=False,
            )
            try:
                await consumer.start()
            except BaseException:
                await consumer.stop()
                raise
            self._offsets = consumer
        return self._admin, self._offsets

    async def close(self) -> None:
        admin, offsets, self._admin, self._offsets = self._admin, self._offsets, None, None
        if admin is not None:
            await admin.close()
        if offsets is not None:
            await offsets.stop()
