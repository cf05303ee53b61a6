"""A rolling deploy under load: 3 classifier and 2 crm-store processes (one consumer group each)
on the real broker and PostgreSQL, fed a steady stream of calls, ring-group calls among them
whose unanswered legs the classifier holds for their siblings. Every process of a service is
killed with SIGKILL in turn and started again with its working directory emptied (a new pod).

Afterwards every call whose record the broker acknowledged is stored once, the held legs
included, and a number three managers reported as a wrong number before the restarts is still
auto-closed after them: no replica kept anything that mattered to itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text

from crm_store.core import make_engine
from integration.classifier.test_restarts import classifier_group_from_now
from integration.classifier.test_service import call, feedback, number, send
from support.conditions import eventually
from support.databases import own_crm_database
from support.infra import missing_infra
from support.offsets import start_group_at_end, unique_group
from support.replicas import Replica, replicas
from switchboard_shared.cloudevents import encode
from switchboard_shared.events import CallRecorded
from switchboard_shared.topics import (
    CALLS_RECORDED,
    CRM_FEEDBACK,
    INTERACTIONS_CLASSIFIED,
    history_of,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]
RATE = 20  # calls per second, a third of them ring groups
HELD_WAIT_S = 15.0  # how long a victim is given to hold a leg before it is killed


@dataclass
class Load:
    """Steady traffic: a call every 1/RATE s; every third, a ring group (two unanswered legs,
    answered by a third leg half of the time). Notes every call the broker acknowledged."""

    producer: AIOKafkaProducer
    acked: dict[str, CallRecorded] = field(default_factory=dict)
    held_kind: set[str] = field(default_factory=set)  # legs of ring groups (held when sent)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        rng = random.Random(20)
        tick = 0
        next_at = time.monotonic()
        while not self._stop.is_set():
            tick += 1
            if tick % 3:
                caller = number()
                calls = [call(caller, talk_s=rng.choice([6.0, 45.0, 300.0]))]
            else:
                caller = number()
                linked = f"ring-{uuid.uuid4().hex}"
                calls = [call(caller, "no_answer", linked_id=linked) for _ in range(2)]
                if rng.random() < 0.5:
                    calls.append(call(caller, "answered", talk_s=120, linked_id=linked))
            for event in calls:
                ce_id = await self._send(event, caller)
                if ce_id is not None:
                    self.acked[ce_id] = event
                    if event.linked_id and event.status.value == "no_answer":
                        self.held_kind.add(ce_id)
            next_at += 1 / RATE
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def _send(self, event: CallRecorded, key: str) -> str | None:
        ce_id = str(uuid.uuid4())
        record = encode(CALLS_RECORDED, event, id=ce_id, source="test", key=key)
        try:
            await self.producer.send_and_wait(
                record.topic,
                record.value,
                key=record.key,
                headers=[(k, v.encode()) for k, v in record.headers.items()],
            )
        except Exception:  # not acknowledged: not promised to anyone
            return None
        return ce_id

    def stop(self) -> None:
        self._stop.set()


@pytest.fixture
async def postgres_url(tmp_path: Path) -> AsyncIterator[str]:
    base = os.environ.get("CRM_STORE_TEST_DATABASE_URL", "")
    if not base.startswith("postgresql"):
        missing_infra("CRM_STORE_TEST_DATABASE_URL does not name a PostgreSQL server")
    async with own_crm_database(base, tmp_path) as url:
        yield url


def base_env(bootstrap: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SWITCHBOARD_", "CRM_STORE_", "CLASSIFIER_"))
    }
    env.update(
        {
            "SWITCHBOARD_KAFKA_BOOTSTRAP": bootstrap,
            "SWITCHBOARD_DEFAULT_REGION": "US",
            "SWITCHBOARD_OWN_DOMAINS": "acme-corp.com",
            "SWITCHBOARD_LOG_FORMAT": "json",
        }
    )
    return env


async def held_a_leg(replica: Replica) -> bool:
    """Wait (a while) until the replica holds a leg; whether it did."""
    deadline = time.monotonic() + HELD_WAIT_S
    while time.monotonic() < deadline:
        if await asyncio.to_thread(replica.metric, "classifier_held_legs") >= 1:
            return True
        await asyncio.sleep(0.05)
    return False


async def roll(replica: Replica) -> None:
    """SIGKILL, local files deleted, started again, ready: one pod of a rolling deploy."""
    await asyncio.to_thread(replica.replace)
    await asyncio.to_thread(replica.wait_ready, 120.0)


async def stored(url: str) -> dict[str, tuple[int, str]]:
    """interaction id -> (rows, disposition)."""
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text(
                    "SELECT id, count(*), min(disposition) FROM interactions "
                    "WHERE kind = 'call' GROUP BY id"
                )
            )
            return {row[0]: (int(row[1]), str(row[2])) for row in rows}
    finally:
        await engine.dispose()


async def test_a_rolling_restart_under_load_loses_nothing(
    kafka_bootstrap: str, postgres_url: str, tmp_path: Path
) -> None:
    env = base_env(kafka_bootstrap)
    classifier_group = await classifier_group_from_now(kafka_bootstrap, "rolling-classifier")
    store_group = unique_group("rolling-crm-store")
    await start_group_at_end(kafka_bootstrap, store_group, INTERACTIONS_CLASSIFIED.name)
    await start_group_at_end(
        kafka_bootstrap, f"{store_group}-history", history_of(INTERACTIONS_CLASSIFIED).name
    )
    classifiers = replicas(
        "classifier", 3, {**env, "CLASSIFIER_CONSUMER_GROUP": classifier_group}, tmp_path
    )
    stores = replicas(
        "crm_store",
        2,
        {
            **env,
            "CRM_STORE_DATABASE_URL": postgres_url,
            "CRM_STORE_CONSUMER_GROUP": store_group,
            "CRM_STORE_OUTBOX_INTERVAL_S": "0.2",
        },
        tmp_path,
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    load = Load(producer)
    runner: asyncio.Task[None] | None = None
    try:
        # Three managers report a number as a wrong number before anything restarts.
        wrong = number()
        for _ in range(3):
            await send(producer, CRM_FEEDBACK, feedback("wrong_number"), wrong)
        for replica in classifiers + stores:
            replica.start()
        for replica in classifiers + stores:
            await asyncio.to_thread(replica.wait_ready, 120.0)
        runner = asyncio.create_task(load.run())

        async def flowing() -> bool:
            return len(await stored(postgres_url)) >= RATE

        await eventually(flowing, timeout=60, interval=0.5, what="calls stored")

        killed_holding = 0
        for replica in classifiers:
            killed_holding += await held_a_leg(replica)
            await roll(replica)
        for replica in stores:
            await roll(replica)
        load.stop()
        await runner
        runner = None
        assert killed_holding >= 1, "no classifier held a leg when it was killed"

        reported = call(wrong, talk_s=300)
        reported_id = await send(producer, CALLS_RECORDED, reported, wrong)
        wanted = set(load.acked) | {reported_id}
        assert len(load.held_kind) >= 10

        async def all_stored() -> bool:
            return wanted <= set(await stored(postgres_url))

        await eventually(all_stored, timeout=150, interval=1.0, what="every call stored")
        rows = await stored(postgres_url)
        assert {i: rows[i][0] for i in wanted} == dict.fromkeys(wanted, 1)
        assert rows[reported_id][1] == "auto_closed"
    finally:
        if runner is not None:
            load.stop()
            with contextlib.suppress(Exception):
                await runner
        await producer.stop()
        for replica in classifiers + stores:
            await asyncio.to_thread(replica.stop)
