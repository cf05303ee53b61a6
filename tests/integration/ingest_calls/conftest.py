"""ingest-calls in-process (its lifespan started) against the session's real broker.

`ingest_app` has every provider enabled with generated secrets (see `webhooks.py`); `client`
talks to it over ASGI; `reader` reads back what it published.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
from fastapi import FastAPI

from ingest_calls.app import create_app
from integration.ingest_calls.webhooks import RecordReader, settings_for
from switchboard_shared.kafka import Bus


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def ingest_app(kafka_bootstrap: str) -> AsyncIterator[FastAPI]:
    app = create_app(settings_for(kafka_bootstrap))
    async with app.router.lifespan_context(app):
        bus: Bus = app.state.bus
        assert await bus.wait_connected(20), "ingest-calls did not connect to the broker"
        yield app


@pytest_asyncio.fixture(loop_scope="session")
async def client(ingest_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=ingest_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def reader(kafka_bootstrap: str) -> RecordReader:
    return RecordReader(kafka_bootstrap)
