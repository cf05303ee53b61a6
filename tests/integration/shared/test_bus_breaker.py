"""The Bus against a broker of its own that the tests freeze (SIGSTOP): the background probe,
the breaker, the retry of a send that timed out, and the lag of downstream groups."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import REGISTRY

from support.broker import BrokerProcess, start_broker
from switchboard_shared.admin import create_topics
from switchboard_shared.breaker import State
from switchboard_shared.cloudevents import KafkaRecord
from switchboard_shared.kafka import BrokerUnavailable, Bus
from switchboard_shared.metrics import ServiceMetrics
from switchboard_shared.settings import CommonSettings
from switchboard_shared.topics import CRM_ACTIVITIES

pytestmark = pytest.mark.integration

METRICS = ServiceMetrics.create("bus_breaker_test", "0")


@pytest_asyncio.fixture(loop_scope="session")
async def own_broker(tmp_path: Path) -> AsyncIterator[BrokerProcess]:
    broker = start_broker(tmp_path / "broker.log")
    try:
        await create_topics(CommonSettings(kafka_bootstrap=broker.bootstrap))
        yield broker
    finally:
        broker.thaw()  # never leave it frozen
        broker.stop()


@contextlib.asynccontextmanager
async def running_bus(broker: BrokerProcess, **settings: object) -> AsyncIterator[Bus]:
    common = CommonSettings.model_validate(
        {"kafka_bootstrap": broker.bootstrap, "broker_probe_interval_s": 0.5, **settings}
    )
    bus = Bus(
        common,
        client_id="breaker-test",
        metrics=METRICS,
        publish_timeout_s=1.0,
        publishes=[CRM_ACTIVITIES],
    )
    async with bus.running():
        assert await bus.wait_connected(30)
        yield bus


async def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        await asyncio.sleep(0.05)


def record(ce_id: str) -> KafkaRecord:
    return KafkaRecord(CRM_ACTIVITIES.name, b"k", b'{"n": 1}', {"ce_id": ce_id})


async def copies(bootstrap: str, ce_id: str) -> int:
    """How many records on the topic carry this ce_id (every copy, duplicates included)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        numbers = consumer.partitions_for_topic(CRM_ACTIVITIES.name) or set()
        partitions = [TopicPartition(CRM_ACTIVITIES.name, n) for n in sorted(numbers)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found = 0
        async with asyncio.timeout(20):
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                batch = await consumer.getmany(timeout_ms=500)
                for items in batch.values():
                    found += sum(1 for r in items if dict(r.headers)["ce_id"] == ce_id.encode())
        return found
    finally:
        await consumer.stop()


def broker_up() -> float | None:
    return REGISTRY.get_sample_value("bus_breaker_test_broker_up")


async def test_the_probe_sees_a_stall_and_the_end_of_it(own_broker: BrokerProcess) -> None:
    async with running_bus(own_broker) as bus:
        assert broker_up() == 1.0
        with own_broker.frozen():
            started = time.monotonic()
            await until(lambda: broker_up() == 0.0, 5, "broker_up reads 0")
            assert time.monotonic() - started < 5
            assert bus.breaker.state is State.OPEN
            assert not await bus.ready()
        await until(lambda: broker_up() == 1.0, 10, "broker_up reads 1")
        assert bus.breaker.closed
        assert await bus.ready()


async def test_publishes_fail_fast_and_the_timed_out_send_is_the_one_written(
    own_broker: BrokerProcess,
) -> None:
    caught, refused = record("caught-in-the-stall"), record("refused-untried")
    async with running_bus(own_broker) as bus:
        with own_broker.frozen():
            started = time.monotonic()
            with pytest.raises(BrokerUnavailable):
                await bus.publish(caught)
            assert time.monotonic() - started < 1.5  # the deadline, not the client's 40 s
            assert not bus.breaker.closed
            for attempt in (caught, refused):  # known down: refused without waiting
                started = time.monotonic()
                with pytest.raises(BrokerUnavailable, match="not tried"):
                    await bus.publish(attempt)
                assert time.monotonic() - started < 0.1
            started = time.monotonic()
            with pytest.raises(BrokerUnavailable, match="not tried"):
                await bus.publish_batch([refused])
            assert time.monotonic() - started < 0.1
        await until(lambda: bus.breaker.closed, 10, "the breaker closes")
        assert await copies(own_broker.bootstrap, refused.headers["ce_id"]) == 0  # not tried
        await bus.publish(caught)  # the sender's retry: the stalled send was written
        await bus.publish(refused)
    assert await copies(own_broker.bootstrap, caught.headers["ce_id"]) == 1
    assert await copies(own_broker.bootstrap, refused.headers["ce_id"]) == 1


async def test_the_lag_of_a_group_reading_our_topic_while_it_runs_nowhere(
    own_broker: BrokerProcess,
) -> None:
    group = f"billing-{time.monotonic_ns()}"
    settings = {"downstream_groups": {CRM_ACTIVITIES.name: [group]}}
    async with running_bus(own_broker, **settings) as bus:
        before = await bus.measure_downstream_lag()
        for n in range(4):
            await bus.publish(record(f"lag-{group}-{n}"))
        after = await bus.measure_downstream_lag()
        assert after[(group, CRM_ACTIVITIES.name)] == before[(group, CRM_ACTIVITIES.name)] + 4
        gauge = REGISTRY.get_sample_value(
            "bus_breaker_test_downstream_lag", {"group": group, "topic": CRM_ACTIVITIES.name}
        )
        assert gauge == after[(group, CRM_ACTIVITIES.name)]

        consumer = AIOKafkaConsumer(
            CRM_ACTIVITIES.name,
            bootstrap_servers=own_broker.bootstrap,
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            seen = 0
            async with asyncio.timeout(20):
                while seen < after[(group, CRM_ACTIVITIES.name)]:
                    batch = await consumer.getmany(timeout_ms=500)
                    seen += sum(len(items) for items in batch.values())
            await consumer.commit()
        finally:
            await consumer.stop()
        assert (await bus.measure_downstream_lag())[(group, CRM_ACTIVITIES.name)] == 0


async def test_a_batch_caught_in_a_stall_is_written_once_when_the_relay_retries_it(
    own_broker: BrokerProcess,
) -> None:
    """What crm-store's outbox relay does: a batch times out in a stall, the broker wakes up,
    the relay publishes the same records again. The first sends were written: not again."""
    tag = time.monotonic_ns()
    batch = [record(f"batch-{tag}-{n}") for n in range(5)]
    async with running_bus(own_broker) as bus:
        assert await bus.publish_batch([record(f"warm-{tag}")]) == 1  # the producer is up
        with own_broker.frozen():
            assert await bus.publish_batch(batch, timeout_s=1.0) == 0
        await until(lambda: bus.breaker.closed, 10, "the breaker closes")
        assert await bus.publish_batch(batch, timeout_s=10.0) == len(batch)
    for sent in batch:
        assert await copies(own_broker.bootstrap, sent.headers["ce_id"]) == 1
