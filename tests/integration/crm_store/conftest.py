"""crm-store against real databases: SQLite always, PostgreSQL when CRM_STORE_TEST_DATABASE_URL
names a server (a fresh database is created per session and dropped at the end).

Each test runs inside one transaction that is rolled back; sessions join it with savepoints, so
the code under test may commit as it does in production.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crm_store.config import Settings
from crm_store.core import make_engine
from crm_store.http import router
from switchboard_shared.events import InteractionClassified
from switchboard_shared.problems import install_problem_handlers

ADMIN_TOKEN = "bootstrap-admin-token-for-tests"
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)

Sessions = async_sessionmaker[AsyncSession]
EventFactory = Callable[..., InteractionClassified]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url)
    yield engine
    await engine.dispose()


@pytest_asyncio.fixture(loop_scope="session")
async def sessions(engine: AsyncEngine) -> AsyncIterator[Sessions]:
    """Sessions inside one outer transaction, rolled back after the test."""
    async with engine.connect() as connection:
        outer = await connection.begin()
        yield async_sessionmaker(
            bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        await outer.rollback()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, bootstrap_admin_token=ADMIN_TOKEN)


@pytest_asyncio.fixture(loop_scope="session")
async def client(sessions: Sessions, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(router)
    install_problem_handlers(app)
    app.state.sessionmaker = sessions
    app.state.settings = settings
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://crm-store") as client:
        yield client


def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def make_call(
    disposition: str,
    *,
    call_id: str,
    status: str = "no_answer",
    direction: str = "inbound",
    counterpart: str | None = "+14155550123",
    at: datetime = T0,
    agent: str | None = None,
    linked_id: str | None = None,
    talk_s: float = 60.0,
) -> InteractionClassified:
    external: dict[str, Any] = {"raw": counterpart, "e164": counterpart, "kind": "external"}
    if counterpart is None:
        external = {"raw": "anonymous", "e164": None, "kind": "withheld"}
    ours = {"raw": agent or "100", "e164": None, "kind": "internal", "extension": agent or "100"}
    legs = (external, ours) if direction == "inbound" else (ours, external)
    return InteractionClassified.model_validate(
        {
            "interaction_id": f"ce-{call_id}",
            "kind": "call",
            "occurred_at": at,
            "counterpart": counterpart,
            "disposition": disposition,
            "tags": ["missed"] if status == "no_answer" else [],
            "reasons": [{"rule": "test.rule", "detail": "made by a test"}],
            "classifier_version": "test",
            "call": {
                "call_id": call_id,
                "provider": "twilio",
                "direction": direction,
                "status": status,
                "started_at": at,
                "from": legs[0],
                "to": legs[1],
                "counterpart": counterpart,
                "agent": agent,
                "linked_id": linked_id,
                "talk_s": talk_s if status == "answered" else None,
            },
        }
    )


def make_mail(
    disposition: str,
    *,
    message_id: str,
    direction: str = "inbound",
    counterpart: str = "ann@client.example",
    thread_id: str | None = "<t1@client.example>",
    at: datetime = T0,
) -> InteractionClassified:
    def address(a: str) -> dict[str, Any]:
        return {"raw": a, "address": a, "name": None, "valid": True}

    ours = "sales@our.example"
    sender, recipient = (counterpart, ours) if direction == "inbound" else (ours, counterpart)
    return InteractionClassified.model_validate(
        {
            "interaction_id": f"ce-{message_id}",
            "kind": "mail",
            "occurred_at": at,
            "counterpart": counterpart,
            "disposition": disposition,
            "classifier_version": "test",
            "mail": {
                "message_id": message_id,
                "mailbox": ours,
                "direction": direction,
                "from": address(sender),
                "to": [address(recipient)],
                "thread_id": thread_id,
                "size_bytes": 100,
                "counterpart": counterpart,
            },
        }
    )


@pytest.fixture
def call_event() -> EventFactory:
    return make_call


@pytest.fixture
def mail_event() -> EventFactory:
    return make_mail


@pytest.fixture
def admin() -> dict[str, str]:
    return admin_headers()
