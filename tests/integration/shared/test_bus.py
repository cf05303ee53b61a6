"""Bus.publish_batch against the real broker: partitions, order, acknowledgements."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from faststream import AckPolicy
from faststream.kafka import KafkaMessage, KafkaRouter

from support.broker import BrokerProcess, start_broker
from switchboard_shared.admin import create_topics
from switchboard_shared.cloudevents import KafkaRecord
from switchboard_shared.kafka import BrokerUnavailable, Bus
from switchboard_shared.metrics import ServiceMetrics
from switchboard_shared.settings import CommonSettings
from switchboard_shared.topics import CRM_ACTIVITIES, CRM_CONTACT_POINTS, CRM_FEEDBACK

pytestmark = pytest.mark.integration

METRICS = ServiceMetrics.create("bus_test", "0")


@pytest_asyncio.fixture(loop_scope="session")
async def own_broker(tmp_path: Path) -> AsyncIterator[BrokerProcess]:
    broker = start_broker(tmp_path / "broker.log")  # its own: four partitions per topic
    try:
        await create_topics(CommonSettings(kafka_bootstrap=broker.bootstrap, topic_partitions=4))
        yield broker
    finally:
        broker.stop()


def records(count: int) -> list[KafkaRecord]:
    out = []
    for n in range(count):
        topic = CRM_ACTIVITIES.name if n % 3 else CRM_CONTACT_POINTS.name
        value = None if n % 50 == 7 else f'{{"n": {n}}}'.encode()  # some tombstones
        out.append(KafkaRecord(topic, f"key-{n % 20}".encode(), value, {"ce_id": f"id-{n}"}))
    return out


Received = tuple[str, int, bytes, bytes | None, str]  # topic, partition, key, value, ce_id


async def read_all(bootstrap: str, count: int) -> list[Received]:
    consumer = AIOKafkaConsumer(
        CRM_ACTIVITIES.name,
        CRM_CONTACT_POINTS.name,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    out: list[Received] = []
    try:
        async with asyncio.timeout(30):
            while len(out) < count:
                batch = await consumer.getmany(timeout_ms=500)
                for items in batch.values():
                    for r in items:
                        headers = dict(r.headers)
                        out.append(
                            (r.topic, r.partition, r.key, r.value, headers["ce_id"].decode())
                        )
    finally:
        await consumer.stop()
    return out


async def test_a_batch_keeps_each_keys_partition_and_order(own_broker: BrokerProcess) -> None:
    bus = Bus(CommonSettings(kafka_bootstrap=own_broker.bootstrap), client_id="t", metrics=METRICS)
    await bus.start()
    assert await bus.wait_connected(30)
    sent = records(300)
    try:
        assert await bus.publish_batch(sent) == 300
    finally:
        await bus.stop()

    received = await read_all(own_broker.bootstrap, 300)
    assert sorted(r[4] for r in received) == sorted(r.headers["ce_id"] for r in sent)
    # the partition the producer picks for a single record with that key
    single = AIOKafkaProducer(bootstrap_servers=own_broker.bootstrap)
    await single.start()
    try:
        expected = {}
        for topic in (CRM_ACTIVITIES.name, CRM_CONTACT_POINTS.name):
            for k in range(20):
                key = f"key-{k}".encode()
                meta = await (await single.send(topic, b"probe", key=key))
                expected[(topic, key)] = meta.partition
    finally:
        await single.stop()
    assert {(r[0], r[2]): r[1] for r in received} == expected
    assert len(set(expected.values())) > 1  # the keys really spread over partitions
    # per key, in the order given; tombstones stay null
    for topic, key in expected:
        got = [r[4] for r in received if (r[0], r[2]) == (topic, key)]
        want = [r.headers["ce_id"] for r in sent if (r.topic, r.key) == (topic, key)]
        assert got == want
    assert {r[4] for r in received if r[3] is None} == {
        r.headers["ce_id"] for r in sent if r.value is None
    }


async def test_without_the_broker_nothing_is_acknowledged(tmp_path: Path) -> None:
    broker = start_broker(tmp_path / "broker.log")
    settings = CommonSettings(kafka_bootstrap=broker.bootstrap)
    await create_topics(settings)
    bus = Bus(settings, client_id="t", metrics=METRICS)
    await bus.start()
    try:
        assert await bus.wait_connected(30)
        assert await bus.publish_batch(records(10)) == 10
        broker.stop()
        assert await bus.publish_batch(records(10), timeout_s=2) == 0
    finally:
        await bus.stop()
        broker.stop()

    offline = Bus(settings, client_id="t", metrics=METRICS)
    with pytest.raises(BrokerUnavailable):
        await offline.publish_batch(records(1))


async def test_consumer_lag_is_read_from_the_broker_while_nothing_is_consumed(
    own_broker: BrokerProcess,
) -> None:
    """A consumer stuck on its first record: the lag gauge still shows what waits."""
    settings = CommonSettings(kafka_bootstrap=own_broker.bootstrap, consumer_lag_interval_s=0.2)
    bus = Bus(settings, client_id="t", metrics=METRICS)
    router = KafkaRouter()
    release = asyncio.Event()
    handled: list[bytes] = []
    topic = CRM_FEEDBACK.name

    @router.subscriber(
        topic, group_id="lag-test", auto_offset_reset="earliest", ack_policy=AckPolicy.ACK
    )
    async def stuck(message: KafkaMessage) -> None:
        handled.append(message.body)
        await release.wait()

    bus.include_router(router)
    gauge = METRICS.consumer_lag.labels(topic)

    async def until(condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + 20
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.1)

    await bus.start()
    try:
        assert await bus.wait_connected(30)
        sent = [KafkaRecord(topic, f"k{n}".encode(), b"{}", {"ce_id": f"f{n}"}) for n in range(10)]
        assert await bus.publish_batch(sent) == 10
        await until(lambda: bool(handled), "the first record handled")
        await until(lambda: gauge._value.get() == 10, "lag 10")  # nothing committed yet
        release.set()
        await until(lambda: len(handled) == 10, "all handled")
        await until(lambda: gauge._value.get() == 0, "lag 0")
        assert await bus.measure_lag() == {topic: 0}
    finally:
        release.set()
        await bus.stop()
