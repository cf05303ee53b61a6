"""A classifier process killed with SIGKILL and started again with its local files deleted (a pod
replaced) loses nothing: the leg of a ring-group call it was holding is classified once, by the
next process, and a wrong-number report learned before is still applied after (real broker,
real processes)."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from classifier.feed import KnowledgeFeed
from classifier.knowledge import WRONG_NUMBER, Knowledge
from classifier.rules import default_rules_path, load_rules
from integration.classifier.test_service import NOW, call, feedback, number, send
from support.conditions import eventually
from support.offsets import committed, read_to_end, start_group_at_end, unique_group
from support.replicas import Replica, replicas
from switchboard_shared.cloudevents import decode, encode
from switchboard_shared.events import Disposition, InteractionClassified, Reputation
from switchboard_shared.topics import (
    CALLS_RECORDED,
    CLASSIFIER_KNOWLEDGE,
    CRM_FEEDBACK,
    INTERACTIONS_CLASSIFIED,
    MAIL_RECEIVED,
    history_of,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
HOLD_S = 8


def classifier_env(bootstrap: str, group: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCHBOARD_", "CLASSIFIER"))}
    env.update(
        {
            "SWITCHBOARD_KAFKA_BOOTSTRAP": bootstrap,
            "SWITCHBOARD_DEFAULT_REGION": "US",
            "SWITCHBOARD_LOG_FORMAT": "json",
            "CLASSIFIER_CONSUMER_GROUP": group,
        }
    )
    return env


async def classifier_group_from_now(bootstrap: str, prefix: str) -> str:
    """A group of the classifier's own that reads only what is produced from now on."""
    group = unique_group(prefix)
    for topic, suffix in (
        (CALLS_RECORDED, ""),
        (MAIL_RECEIVED, "-mail"),
        (history_of(CALLS_RECORDED), "-history"),
        (history_of(MAIL_RECEIVED), "-mail-history"),
    ):
        await start_group_at_end(bootstrap, f"{group}{suffix}", topic.name)
    return group


class VerdictTail:
    """The verdicts on interactions.classified.v1 for one counterpart, read from the topic's
    start by a reader that follows it (not up to end offsets, which the development broker
    may report short after batched writes)."""

    def __init__(self, bootstrap: str, key: str) -> None:
        self.key = key.encode()
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self.counts: Counter[str] = Counter()
        self.events: dict[str, InteractionClassified] = {}

    async def start(self) -> None:
        await self.consumer.start()
        await self.consumer.topics()
        numbers = self.consumer.partitions_for_topic(INTERACTIONS_CLASSIFIED.name) or set()
        partitions = [TopicPartition(INTERACTIONS_CLASSIFIED.name, p) for p in sorted(numbers)]
        self.consumer.assign(partitions)
        await self.consumer.seek_to_beginning(*partitions)

    async def read(self, seconds: float = 0.5) -> Counter[str]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for records in (await self.consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    if record.key != self.key:
                        continue
                    event = decode(record.headers, record.value)[1]
                    assert isinstance(event, InteractionClassified)
                    self.counts[event.interaction_id] += 1
                    self.events[event.interaction_id] = event
        return self.counts

    async def stop(self) -> None:
        await self.consumer.stop()


async def ready(replica: Replica) -> None:
    await asyncio.to_thread(replica.wait_ready, 90.0)


@pytest.fixture
def one_replica(tmp_path: Path) -> Iterator[list[Replica]]:
    made: list[Replica] = []
    yield made
    for replica in made:
        replica.stop()


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    client = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await client.start()
    yield client
    await client.stop()


async def test_a_leg_held_when_the_process_is_killed_is_classified_once_by_the_next(
    kafka_bootstrap: str, producer: AIOKafkaProducer, tmp_path: Path, one_replica: list[Replica]
) -> None:
    group = await classifier_group_from_now(kafka_bootstrap, "classifier-kill")
    # Held long enough to be killed while holding it on a busy machine.
    rules = tmp_path / "rules.yaml"
    default = default_rules_path().read_text()
    assert "  hold_s: 3\n" in default
    rules.write_text(default.replace("  hold_s: 3\n", f"  hold_s: {HOLD_S}\n"))
    env = {**classifier_env(kafka_bootstrap, group), "CLASSIFIER_RULES_PATH": str(rules)}
    [replica] = replicas("classifier", 1, env, tmp_path / "pods")
    one_replica.append(replica)
    replica.start()
    await ready(replica)

    caller = number()
    leg = call(caller, "no_answer", linked_id=f"ring-{uuid.uuid4().hex}")
    leg_id = str(uuid.uuid4())
    record = encode(CALLS_RECORDED, leg, id=leg_id, source="test", key=caller, time=NOW)
    sent = await producer.send_and_wait(
        record.topic,
        record.value,
        key=record.key,
        headers=[(k, v.encode()) for k, v in record.headers.items()],
    )

    async def held() -> bool:
        return await asyncio.to_thread(replica.metric, "classifier_held_legs") >= 1

    await eventually(held, timeout=30, interval=0.05, what="the first leg held")
    await asyncio.to_thread(replica.kill)  # within the leg's hold time
    tail = VerdictTail(kafka_bootstrap, caller)
    await tail.start()
    assert await tail.read(1.0) == Counter()  # it was still held
    await asyncio.to_thread(replica.wipe)
    replica.start()
    await ready(replica)

    async def classified() -> bool:
        return leg_id in await tail.read()

    await eventually(classified, timeout=150, interval=1.0, what="the held leg classified")

    # Acknowledged once its verdict was out: the group's position is past it.
    async def acknowledged() -> bool:
        offsets = await committed(kafka_bootstrap, group, CALLS_RECORDED.name)
        return bool(offsets[sent.partition] > sent.offset)

    await eventually(acknowledged, timeout=30, interval=0.5, what="the leg acknowledged")
    assert await tail.read(2.0) == Counter({leg_id: 1})
    assert tail.events[leg_id].disposition is Disposition.CALLBACK  # nobody answered: call back
    await tail.stop()


async def test_a_wrong_number_report_survives_a_restart_without_local_files(
    kafka_bootstrap: str, producer: AIOKafkaProducer, tmp_path: Path, one_replica: list[Replica]
) -> None:
    group = await classifier_group_from_now(kafka_bootstrap, "classifier-reputation")
    [replica] = replicas("classifier", 1, classifier_env(kafka_bootstrap, group), tmp_path)
    one_replica.append(replica)
    wrong = number()
    report = await send(producer, CRM_FEEDBACK, feedback("wrong_number"), wrong)
    replica.start()
    await ready(replica)

    async def kept() -> Reputation | None:
        found = None
        for record in await read_to_end(kafka_bootstrap, CLASSIFIER_KNOWLEDGE.name):
            if record.key == wrong.encode() and record.value is not None:
                data = decode(record.headers, record.value)[1]
                assert isinstance(data, Reputation)
                found = data
        return found

    reputation = await eventually(kept, timeout=60, interval=0.5, what="the reputation kept")
    assert [r.id for r in reputation.reports] == [f"{report}:{WRONG_NUMBER}"]
    assert reputation.counts == {WRONG_NUMBER: 1}

    # The knowledge topic alone (the feedback expired) gives the same reputation.
    knowledge = Knowledge()
    alone = KnowledgeFeed(kafka_bootstrap, knowledge, lambda: load_rules(default_rules_path()))
    alone.apply_records(
        [
            r
            for r in await read_to_end(kafka_bootstrap, CLASSIFIER_KNOWLEDGE.name)
            if r.key == wrong.encode()
        ]
    )
    assert knowledge.standing(wrong, WRONG_NUMBER, NOW, 365).reports == 1

    await asyncio.to_thread(replica.replace)  # SIGKILL, local files deleted, started again
    await ready(replica)
    wrong_call = call(wrong, talk_s=300)
    tail = VerdictTail(kafka_bootstrap, wrong)
    await tail.start()
    call_id = await send(producer, CALLS_RECORDED, wrong_call, wrong)

    async def judged() -> bool:
        return call_id in await tail.read()

    # The restarted member waits out the killed one's session before it is given partitions.
    await eventually(judged, timeout=150, interval=1.0, what="the call judged")
    verdict = tail.events[call_id]
    await tail.stop()
    assert [r.rule for r in verdict.reasons] == ["call.wrong_number_known"]
    assert verdict.disposition is Disposition.AUTO_CLOSED
