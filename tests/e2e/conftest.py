"""The whole stack, started once per database (SQLite and PostgreSQL) on its own real broker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import pytest_asyncio

from support.broker import start_broker
from support.stack import (
    ADMIN_TOKEN,
    ASTERISK_TOKEN,
    GENERIC_SECRET,
    GROUP_OWNER,
    Stack,
    make_stack,
)
from switchboard_shared.admin import create_topics
from switchboard_shared.settings import CommonSettings


@asynccontextmanager
async def running_stack(database_url: str, workdir: Path) -> AsyncIterator[Stack]:
    """Every service on its own new broker and the given database, stopped on leaving."""
    broker = start_broker(workdir / "broker.log")
    try:
        await create_topics(CommonSettings(kafka_bootstrap=broker.bootstrap))
        stack = make_stack(
            workdir,
            bootstrap=broker.bootstrap,
            database_url=database_url,
            secrets={
                "INGEST_CALLS_GENERIC_HMAC_SECRET": GENERIC_SECRET,
                "INGEST_CALLS_ASTERISK_TOKEN": ASTERISK_TOKEN,
                "CRM_STORE_BOOTSTRAP_ADMIN_TOKEN": ADMIN_TOKEN,
                "CRM_STORE_GROUP_OWNERS": f"600={GROUP_OWNER}",
            },
        )
        await asyncio.to_thread(stack.start)
        try:
            yield stack
        finally:
            await asyncio.to_thread(stack.stop)
    finally:
        broker.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def stack(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    async with running_stack(database_url, tmp_path_factory.mktemp("stack")) as stack:
        yield stack
