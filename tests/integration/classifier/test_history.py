"""Imported history is judged by the same classifier behind the live traffic: a backlog of
thousands of past calls does not hold up today's missed call, a burst of live calls is judged
with the history consumer waiting, and verdicts on history go to
interactions.classified.history.v1 only."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from classifier.rules import default_rules_path
from integration.classifier.test_service import call, number, running, send
from switchboard_shared.cloudevents import encode
from switchboard_shared.events import CallRecorded, Disposition, InteractionClassified
from switchboard_shared.topics import (
    CALLS_RECORDED,
    CALLS_RECORDED_HISTORY,
    INTERACTIONS_CLASSIFIED,
    INTERACTIONS_CLASSIFIED_HISTORY,
    Topic,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
BACKLOG = 15000  # several seconds of work for a batch consumer
BURST = 400


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=5)
    await producer.start()
    yield producer
    await producer.stop()


class Watch:
    """Reads a topic from its end as of `start()` (no group to join: assigned partitions), and
    notes when each verdict arrived."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self.seen: dict[str, tuple[InteractionClassified, float]] = {}
        self.produced: dict[str, float] = {}
        """When the classifier published each verdict (the record's timestamp, seconds): unlike
        the time it was read here, it does not depend on how late this reader polls."""
        self._task: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()

    async def start(self) -> None:
        await self.consumer.start()
        await self.consumer.topics()  # the cluster metadata, with this topic's partitions
        numbers = self.consumer.partitions_for_topic(self.topic) or set()
        partitions = [TopicPartition(self.topic, p) for p in sorted(numbers)]
        self.consumer.assign(partitions)
        await self.consumer.seek_to_end(*partitions)
        for partition in partitions:
            await self.consumer.position(partition)
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            for records in (await self.consumer.getmany(timeout_ms=50)).values():
                for r in records:
                    try:
                        event = InteractionClassified.model_validate(json.loads(r.value))
                    except (ValueError, TypeError):
                        continue
                    self.seen[event.interaction_id] = (event, time.monotonic())
                    self.produced[event.interaction_id] = r.timestamp / 1000
                    self._arrived.set()

    async def wait_for(
        self, wanted: set[str], timeout: float
    ) -> dict[str, tuple[InteractionClassified, float]]:
        deadline = time.monotonic() + timeout
        while not wanted <= set(self.seen) and time.monotonic() < deadline:
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), deadline - time.monotonic())
        return {k: v for k, v in self.seen.items() if k in wanted}

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.consumer.stop()


async def send_all(
    producer: AIOKafkaProducer, topic: Topic, calls: list[CallRecorded]
) -> list[str]:
    """Publish the calls (acknowledged) without waiting for each; their ce_ids."""
    ids, sending = [], []
    for event in calls:
        ce_id = f"t-{uuid.uuid4().hex}"
        record = encode(
            topic, event, id=ce_id, source="test", key=event.counterpart, time=event.started_at
        )
        sending.append(
            await producer.send(
                record.topic,
                record.value,
                key=record.key,
                headers=[(k, v.encode()) for k, v in record.headers.items()],
            )
        )
        ids.append(ce_id)
    await asyncio.gather(*sending)
    return ids


@contextlib.asynccontextmanager
async def watching(bootstrap: str, topic: str) -> AsyncIterator[Watch]:
    watch = Watch(bootstrap, topic)
    await watch.start()
    try:
        yield watch
    finally:
        await watch.stop()


async def test_live_calls_go_first_behind_a_history_backlog(
    kafka_bootstrap: str, producer: AIOKafkaProducer, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    shutil.copy(default_rules_path(), rules)
    async with (
        watching(kafka_bootstrap, INTERACTIONS_CLASSIFIED.name) as live,
        watching(kafka_bootstrap, INTERACTIONS_CLASSIFIED_HISTORY.name) as past,
        running(kafka_bootstrap, rules),
    ):
        olds = [
            call(number(), status="no_answer" if n % 3 else "answered").model_copy(
                update={"historical": True}
            )
            for n in range(BACKLOG)
        ]
        past_ids = await send_all(producer, CALLS_RECORDED_HISTORY, olds)
        await past.wait_for({past_ids[0]}, 30)  # the history consumer is busy with the backlog

        missed = call(number(), status="no_answer")
        sent_at = time.monotonic()
        live_id = await send(producer, CALLS_RECORDED, missed, missed.counterpart or "")
        verdict, seen_at = (await live.wait_for({live_id}, 30))[live_id]
        assert verdict.disposition is Disposition.CALLBACK
        assert seen_at - sent_at < 2.0, f"the live call waited {seen_at - sent_at:.2f} s"

        # A burst of live calls: while it lasts, the history consumer waits its turn.
        burst = await send_all(producer, CALLS_RECORDED, [call(number()) for _ in range(BURST)])
        judged = await live.wait_for(set(burst), 60)
        assert set(judged) == set(burst)
        live_times = [live.produced[i] for i in burst]
        first, last = min(live_times), max(live_times)

        history = await past.wait_for(set(past_ids), 120)
        assert set(history) == set(past_ids)
        # Judged by when each verdict was produced (not when this test read it).
        produced = [past.produced[i] for i in past_ids]
        assert max(produced) > last, "the backlog was done before the burst: nothing to prove"
        meanwhile = [at for at in produced if first < at < last]
        assert len(meanwhile) < BURST // 10, f"{len(meanwhile)} past calls went between live ones"
        assert all(v.call is not None and v.call.historical for v, _ in history.values())
        assert not set(past_ids) & set(live.seen)
