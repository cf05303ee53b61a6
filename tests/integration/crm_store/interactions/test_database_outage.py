"""crm-store while its PostgreSQL database is away, observed from outside: /readyz answers 503
naming the database, consumption pauses (the group's committed position stands still while
records keep arriving, and the lag read from the broker and `crm_store_consumer_lag` grow),
and once the database is back every record is stored exactly once and the position catches up.

The real app is served by uvicorn on a real socket, against the real broker and a PostgreSQL
database of this test's own, reached through a TCP proxy the test cuts (open connections
dropped, new ones refused) and restores; the shared server is never touched.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from crm_store.app import create_app
from crm_store.config import Settings
from crm_store.core import Activity, Interaction, make_engine
from integration.crm_store.tcp_proxy import TcpProxy
from support.conditions import eventually
from support.databases import own_crm_database
from support.infra import missing_infra
from support.offsets import (
    committed,
    end_offsets,
    read_to_end,
    start_group_at_end,
    unique_group,
)
from switchboard_shared.cloudevents import encode
from switchboard_shared.events import InteractionClassified
from switchboard_shared.settings import CommonSettings
from switchboard_shared.topics import INTERACTIONS_CLASSIFIED

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
PG_ENV = "CRM_STORE_TEST_DATABASE_URL"
TOPIC = INTERACTIONS_CLASSIFIED.name
AT = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
BEFORE = 5  # stored before the outage
WAVES = 3  # sent while the database is away, in waves of
WAVE = 4


def missed_call(number: str, n: int) -> InteractionClassified:
    call_id = f"asterisk:{uuid.uuid4().hex[:12]}"
    at = AT + timedelta(seconds=n)
    return InteractionClassified.model_validate(
        {
            "interaction_id": f"ce-{call_id}",
            "kind": "call",
            "occurred_at": at,
            "counterpart": number,
            "disposition": "callback",
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


@pytest_asyncio.fixture(loop_scope="session")
async def postgres(tmp_path: Path) -> AsyncIterator[str]:
    """A migrated PostgreSQL database of this test's own (direct URL, not through the proxy)."""
    base = os.environ.get(PG_ENV)
    if not base:
        missing_infra(f"{PG_ENV} is unset (e.g. postgresql+asyncpg://postgres@127.0.0.1/test)")
        return
    async with own_crm_database(base, tmp_path) as url:
        yield url


async def test_the_database_away_makes_readyz_503_and_pauses_consumption(
    postgres: str, kafka_bootstrap: str
) -> None:
    direct = make_url(postgres)
    proxy = TcpProxy(direct.host or "127.0.0.1", direct.port or 5432)
    await proxy.start()
    proxied = direct.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    group = unique_group("crm-store-outage")
    await start_group_at_end(kafka_bootstrap, group, TOPIC)  # this test's records only
    settings = Settings(
        database_url=proxied,
        bootstrap_admin_token="outage-test-admin-token-0123",
        consumer_group=group,
        # One try for a failing record: only the database being away may hold it back longer.
        max_attempts=1,
        consumer_batch_timeout_ms=50,
        outbox_interval_s=0.2,
        common=CommonSettings(
            kafka_bootstrap=kafka_bootstrap, publish_timeout_s=10.0, consumer_lag_interval_s=0.3
        ),
    )
    app = create_app(settings, run_migrations=False)
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_config=None, access_log=False))
    listener = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    engine = make_engine(postgres)  # the test's own view, around the proxy
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    number = f"+1415557{uuid.uuid4().int % 10_000:04d}"
    sent = 0

    async def send(count: int) -> None:
        nonlocal sent
        for _ in range(count):
            event = missed_call(number, sent)
            record = encode(
                INTERACTIONS_CLASSIFIED, event, id=event.interaction_id, source="test", key=number
            )
            await producer.send_and_wait(
                record.topic,
                record.value,
                key=record.key,
                headers=[(k, v.encode()) for k, v in record.headers.items()],
            )
            sent += 1

    async def stored() -> int:
        async with engine.connect() as connection:
            statement = select(func.count()).where(Interaction.counterpart == number)
            return int((await connection.execute(statement)).scalar_one())

    async def position() -> int:
        return sum((await committed(kafka_bootstrap, group, TOPIC)).values())

    async def broker_lag() -> int:
        return sum((await end_offsets(kafka_bootstrap, TOPIC)).values()) - await position()

    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:

            async def readyz(status: int) -> dict[str, Any] | None:
                answer = await client.get("/readyz")
                return answer.json() if answer.status_code == status else None

            async def lag_gauge() -> float:
                text = (await client.get("/metrics")).text
                for family in text_string_to_metric_families(text):
                    for sample in family.samples:
                        if (
                            sample.name == "crm_store_consumer_lag"
                            and sample.labels.get("topic") == TOPIC
                        ):
                            return float(sample.value)
                return -1.0

            await eventually(lambda: readyz(200), timeout=90, what="crm-store ready")
            await send(BEFORE)
            await eventually(lambda: _is(stored, BEFORE), timeout=90, what="stored before")
            await eventually(lambda: _is(broker_lag, 0), timeout=60, what="position caught up")
            standing = await position()

            await proxy.cut()
            answer = await eventually(lambda: readyz(503), timeout=60, what="/readyz 503")
            assert answer == {
                "status": "not ready",
                "checks": {"kafka": "ok", "database": "unavailable"},
            }
            for wave in range(1, WAVES + 1):
                await send(WAVE)
                # The broker has them all; the group's position has not moved.
                assert await broker_lag() == wave * WAVE
                assert await position() == standing
                await eventually(
                    functools.partial(_at_least, lag_gauge, wave * WAVE),
                    timeout=60,
                    what=f"crm_store_consumer_lag >= {wave * WAVE}",
                )
            assert await position() == standing
            assert await stored() == BEFORE
            assert (await readyz(503)) is not None

            await proxy.restore()
            await eventually(lambda: readyz(200), timeout=90, what="ready again")
            total = BEFORE + WAVES * WAVE
            await eventually(lambda: _is(stored, total), timeout=120, what="all stored")
            await eventually(lambda: _is(broker_lag, 0), timeout=60, what="position caught up")
            assert await position() == standing + WAVES * WAVE
            await eventually(lambda: _is(lag_gauge, 0), timeout=60, what="the lag gauge at 0")
    finally:
        server.should_exit = True
        await serving
        listener.close()
        await producer.stop()
        await proxy.cut()

    # Exactly once: one row per record, every one folded once into the one callback.
    try:
        assert await stored() == BEFORE + WAVES * WAVE
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(Activity.kind, Activity.count).where(Activity.counterpart == number)
                )
            ).all()
    finally:
        await engine.dispose()
    assert [tuple(r) for r in rows] == [("callback", BEFORE + WAVES * WAVE)]
    dead = await read_to_end(kafka_bootstrap, INTERACTIONS_CLASSIFIED.dlq)
    assert [r.offset for r in dead if r.key == number.encode()] == []


async def _is(read: Any, wanted: float) -> bool:
    return bool(await read() == wanted)


async def _at_least(read: Any, wanted: float) -> bool:
    return bool(await read() >= wanted)
