"""A crm-store database of a test's own, next to the session's: the service under test commits
for real there, and other tests counting rows in theirs are not disturbed."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from crm_store.core import make_engine
from crm_store.migrate import migrate


@contextlib.asynccontextmanager
async def own_crm_database(
    like: str, directory: Path, revision: str = "head"
) -> AsyncIterator[str]:
    """A database migrated to `revision` on the same backend (and server) as `like`; dropped
    afterwards."""
    parsed = make_url(like)
    if parsed.get_backend_name() == "sqlite":
        url = f"sqlite+aiosqlite:///{directory / f'crm-{uuid.uuid4().hex[:8]}.db'}"
        await migrate(url, revision)
        yield url
        return
    name = f"crm_own_{uuid.uuid4().hex[:10]}"
    server = make_engine(like, isolation_level="AUTOCOMMIT")
    try:
        async with server.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = parsed.set(database=name).render_as_string(hide_password=False)
        await migrate(url, revision)
        yield url
    finally:
        async with server.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await server.dispose()
