"""ingest-mail against a real Dovecot (one server per test session, one fresh user per test)
and a real Postfix delivering by LMTP (one instance per test session)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.engine import make_url

from ingest_mail.checkpoints import CheckpointStore
from ingest_mail.database import make_engine
from ingest_mail.leases import replica_id
from support.dovecot import DovecotServer, MailAccount, dovecot_binary, start_dovecot
from support.infra import missing_infra
from support.ports import free_port
from support.postfix import PostfixServer, postfix_binary, running_postfix

PG_ENV = "CRM_STORE_TEST_DATABASE_URL"


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    if dovecot_binary() is None:
        missing_infra("dovecot is not installed (Debian: dovecot-imapd)")
    server = start_dovecot()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="session")
def postfix() -> Iterator[PostfixServer]:
    """Postfix relaying mail for acme.test by LMTP to `postfix.lmtp_port`, where a test starts
    ingest-mail."""
    if postfix_binary() is None:
        missing_infra("postfix is not installed (Debian: postfix)")
    if os.geteuid() != 0:
        missing_infra("postfix starts as root (it then runs as its own user)")
    with running_postfix(free_port()) as server:
        yield server


@pytest.fixture
def account(dovecot: DovecotServer) -> MailAccount:
    """A fresh user, so a fresh mail store, per test."""
    username = f"sales-{uuid.uuid4().hex[:10]}@acme.test"
    dovecot.add_user(username, "test-secret-0123")
    return MailAccount(dovecot, username, "test-secret-0123")


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "var" / "ingest-mail.db"


@pytest.fixture
def store_url(store_path: Path) -> str:
    return f"sqlite+aiosqlite:///{store_path}"


async def open_store(url: str, **options: Any) -> CheckpointStore:
    """A store as one replica opens it at start: its own holder id, the schema created."""
    return await CheckpointStore(url, holder=replica_id(), **options).open()


@pytest_asyncio.fixture
async def store(store_url: str) -> AsyncIterator[CheckpointStore]:
    store = await open_store(store_url)
    yield store
    await store.close()


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def mail_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty ingest-mail database of the test's own: a SQLite file, or a PostgreSQL
    database on the server of CRM_STORE_TEST_DATABASE_URL (dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'var' / 'ingest-mail.db'}"
        return
    base_url = os.environ.get(PG_ENV)
    if not base_url:
        missing_infra(f"{PG_ENV} is unset (e.g. postgresql+asyncpg://postgres@127.0.0.1/test)")
        return
    name = f"ingest_mail_{uuid.uuid4().hex[:10]}"
    server = make_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        async with server.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        async with server.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await server.dispose()
