"""crm-store dead-letters a record it keeps failing to store, after `max_attempts` tries with
backoff, and goes on with the records behind it (real broker; SQLite and PostgreSQL).

The failure is real: a classified interaction whose `occurred_at` has no UTC offset decodes
(the event model accepts any datetime) but the store refuses to write a naive time
(`models.UtcDateTime`), on every try, on both backends.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select

from crm_store.app import create_app
from crm_store.config import Settings
from crm_store.core import Interaction, make_engine
from support.conditions import eventually
from support.databases import own_crm_database
from support.offsets import committed, read_to_end, start_group_at_end, unique_group
from support.private_broker import private_broker
from switchboard_shared.cloudevents import encode
from switchboard_shared.consumer import backoff
from switchboard_shared.events import InteractionClassified
from switchboard_shared.kafka import Bus
from switchboard_shared.settings import CommonSettings
from switchboard_shared.topics import INTERACTIONS_CLASSIFIED

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
MAX_ATTEMPTS = 3
TOPIC = INTERACTIONS_CLASSIFIED.name
AT = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def classified(number: str, at: datetime, disposition: str = "callback") -> InteractionClassified:
    call_id = f"asterisk:{uuid.uuid4().hex[:12]}"
    return InteractionClassified.model_validate(
        {
            "interaction_id": f"ce-{call_id}",
            "kind": "call",
            "occurred_at": at,
            "counterpart": number,
            "disposition": disposition,
            "tags": ["missed"],
            "classifier_version": "test",
            "call": {
                "call_id": call_id,
                "provider": "asterisk",
                "direction": "inbound",
                "status": "no_answer",
                "started_at": at,
                "from": {"raw": number, "e164": number, "kind": "external"},
                "to": {"raw": "100", "e164": None, "kind": "internal", "extension": "100"},
                "counterpart": number,
            },
        }
    )


async def send(producer: AIOKafkaProducer, event: InteractionClassified, key: str) -> Any:
    record = encode(INTERACTIONS_CLASSIFIED, event, id=event.interaction_id, source="test", key=key)
    return await producer.send_and_wait(
        record.topic,
        record.value,
        key=record.key,
        headers=[(k, v.encode()) for k, v in record.headers.items()],
    )


@pytest_asyncio.fixture(loop_scope="session")
async def own_database(database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    async with own_crm_database(database_url, tmp_path) as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def broker_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A broker of this module's own: the record left failing on it is met by no other test."""
    async with private_broker(tmp_path_factory.mktemp("dead-letters")) as bootstrap:
        yield bootstrap


async def test_a_record_that_keeps_failing_is_dead_lettered_and_those_behind_it_are_stored(
    own_database: str, broker_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="crm_store.interactions.handlers")
    group = unique_group("crm-store-dlq")
    await start_group_at_end(broker_bootstrap, group, TOPIC)  # this test's records only
    settings = Settings(
        database_url=own_database,
        bootstrap_admin_token="dead-letter-test-admin-token",
        consumer_group=group,
        max_attempts=MAX_ATTEMPTS,
        consumer_batch_timeout_ms=50,
        outbox_interval_s=0.2,
        common=CommonSettings(kafka_bootstrap=broker_bootstrap, publish_timeout_s=10.0),
    )
    number = f"+1415556{uuid.uuid4().int % 10_000:04d}"
    before = classified(number, AT)
    poison = classified(number, AT.replace(tzinfo=None) + timedelta(minutes=1), "auto_closed")
    assert poison.occurred_at.tzinfo is None  # decodes: the model takes a naive time
    behind = [classified(number, AT + timedelta(minutes=2 + n)) for n in range(3)]

    app = create_app(settings, run_migrations=False)
    engine = make_engine(own_database)
    producer = AIOKafkaProducer(bootstrap_servers=broker_bootstrap, acks="all")
    await producer.start()
    try:
        async with app.router.lifespan_context(app):
            bus: Bus = app.state.bus
            assert await bus.wait_connected(60), "crm-store did not connect to the broker"
            # One key: one partition, in this order.
            first = await send(producer, before, number)
            dead = await send(producer, poison, number)
            rest = [await send(producer, event, number) for event in behind]
            assert {m.partition for m in (first, *rest)} == {dead.partition}
            assert first.offset < dead.offset < min(m.offset for m in rest)

            async def stored() -> int:
                async with engine.connect() as connection:
                    statement = select(func.count()).where(Interaction.counterpart == number)
                    return int((await connection.execute(statement)).scalar_one())

            await eventually(lambda: _equals(stored, 4), timeout=120, what="4 rows stored")

            async def caught_up() -> bool:
                offsets = await committed(broker_bootstrap, group, TOPIC)
                return bool(offsets[dead.partition] == rest[-1].offset + 1)

            await eventually(caught_up, timeout=60, what="the group's position past them all")
    finally:
        await producer.stop()
        async with engine.connect() as connection:
            ids = (await connection.execute(select(Interaction.id))).scalars().all()
        await engine.dispose()

    assert poison.interaction_id not in ids
    assert {before.interaction_id, *(e.interaction_id for e in behind)} <= set(ids)

    # Tried MAX_ATTEMPTS times, one by one, waiting longer before each new try.
    tries = [
        r
        for r in caplog.records
        if r.getMessage() == "handler failed" and getattr(r, "ce_id", None) == poison.interaction_id
    ]
    assert len(tries) == MAX_ATTEMPTS
    for n, (earlier, later) in enumerate(itertools.pairwise(tries), start=1):
        assert later.created - earlier.created >= backoff(n, cap=5.0) - 0.05

    # Exactly one copy on the DLQ, the original record with what happened in its headers.
    dlq = await read_to_end(broker_bootstrap, INTERACTIONS_CLASSIFIED.dlq)
    mine = [r for r in dlq if r.key == number.encode()]
    assert len(mine) == 1, [dict(r.headers) for r in mine]
    [record] = mine
    headers = {k: v.decode() for k, v in record.headers}
    assert headers["dlq_attempts"] == str(MAX_ATTEMPTS)
    assert headers["dlq_original_topic"] == TOPIC
    assert headers["dlq_partition"] == str(dead.partition)
    assert headers["dlq_offset"] == str(dead.offset)
    assert headers["dlq_group"] == group
    assert "naive datetime" in headers["dlq_error"]
    assert headers["ce_id"] == poison.interaction_id  # the original headers are kept
    assert headers["ce_type"] == INTERACTIONS_CLASSIFIED.ce_type
    expected = encode(
        INTERACTIONS_CLASSIFIED, poison, id=poison.interaction_id, source="test", key=number
    )
    assert record.value == expected.value


async def _equals(count: Any, wanted: int) -> bool:
    return bool(await count() == wanted)
