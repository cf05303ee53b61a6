"""Throw-away databases: one of their own on a PostgreSQL server (created, then dropped with
its connections) or an SQLite file in a temporary directory. Empty: the caller migrates them
(crm-store's `migrate`), so this module needs nothing of any service."""

from __future__ import annotations

import contextlib
import re
import tempfile
import uuid
from collections.abc import AsyncIterator

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

PREFIX = re.compile(r"[a-z][a-z0-9_]{0,40}")


@contextlib.asynccontextmanager
async def temporary_database(like: str, prefix: str = "bench") -> AsyncIterator[str]:
    """The URL of a new, empty database on the backend (and server) of `like`: a database named
    `<prefix>_<random>` on a PostgreSQL server, an SQLite file otherwise; removed at the end."""
    if not PREFIX.fullmatch(prefix):
        raise ValueError(f"not a database name prefix: {prefix!r}")
    parsed = make_url(like)
    if parsed.get_backend_name() == "sqlite":
        with tempfile.TemporaryDirectory(prefix=f"{prefix}-") as directory:
            yield f"sqlite+aiosqlite:///{directory}/{prefix}.db"
        return
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    server = create_async_engine(like, isolation_level="AUTOCOMMIT")
    try:
        async with server.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield parsed.set(database=name).render_as_string(hide_password=False)
        finally:
            async with server.connect() as connection:
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await server.dispose()
