"""ingest-mail's database (`INGEST_MAIL_DATABASE_URL`): IMAP checkpoints, the seen-set, the
tries of a message and the mailbox leases, shared by every replica.

PostgreSQL (`postgresql+asyncpg://...`) in production, where every replica reaches it; the
embedded default is a SQLite file (`sqlite+aiosqlite:///var/ingest-mail.db`), which replicas on
one host can share too (WAL, `BEGIN IMMEDIATE`).

The schema is four small tables of the service's own, all named `imap_*`, so it may live in
crm-store's database without touching crm-store's migrations. It is created at start with
`CREATE TABLE IF NOT EXISTS` (under an advisory lock on PostgreSQL, so replicas starting at once
do not race), the way the previous local file was: no migration tool, because nothing has ever
been migrated here and the tables are only added to. A SQLite file of an earlier version is
taken over as it is (same tables; the lease tables are added). The day a column changes, this
becomes an alembic history of its own with its own version table.

Lease times are read from the database's clock (never a pod's), so replicas whose clocks
differ still agree on when a lease ran out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import TextClause, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

__all__ = ["DEFAULT_DATABASE_URL", "clocked", "create_schema", "is_sqlite", "make_engine"]

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///var/ingest-mail.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000
_SCHEMA_LOCK_KEY = 0x1A6E5711  # pg_advisory_xact_lock key of the schema creation

_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS imap_checkpoint (
        mailbox TEXT NOT NULL,
        folder TEXT NOT NULL,
        uidvalidity BIGINT NOT NULL,
        last_uid BIGINT NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (mailbox, folder)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS imap_seen (
        mailbox TEXT NOT NULL,
        message_key TEXT NOT NULL,
        seen_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (mailbox, message_key)
    )
    """,
    "CREATE INDEX IF NOT EXISTS imap_seen_by_age ON imap_seen (mailbox, seen_at)",
    """
    CREATE TABLE IF NOT EXISTS imap_attempt (
        mailbox TEXT NOT NULL,
        folder TEXT NOT NULL,
        uidvalidity BIGINT NOT NULL,
        uid BIGINT NOT NULL,
        attempts INTEGER NOT NULL,
        last_error TEXT,
        PRIMARY KEY (mailbox, folder)
    )
    """,
    # One row per mailbox: who polls it, until when (database clock, epoch seconds).
    """
    CREATE TABLE IF NOT EXISTS imap_lease (
        mailbox TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL,
        acquired_at DOUBLE PRECISION NOT NULL
    )
    """,
    # One row per live replica, renewed with its leases: how many share the mailboxes.
    """
    CREATE TABLE IF NOT EXISTS imap_member (
        holder TEXT PRIMARY KEY,
        expires_at DOUBLE PRECISION NOT NULL
    )
    """,
)


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def now_sql(engine: AsyncEngine) -> str:
    """The database's time now, in epoch seconds, as an SQL expression."""
    if is_sqlite(engine):
        return "((julianday('now') - 2440587.5) * 86400.0)"
    return "extract(epoch FROM clock_timestamp())::double precision"


def clocked(engine: AsyncEngine, sql: str) -> TextClause:
    """`sql` with every `DB_NOW` replaced by the database's time now (epoch seconds)."""
    return text(sql.replace("DB_NOW", now_sql(engine)))


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine; SQLite gets WAL, a busy timeout and write transactions from the start.

    Statement parameters (addresses, message ids) never appear in error messages or logs.
    """
    kwargs.setdefault("hide_parameters", True)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_size", 5)
        return create_async_engine(url, pool_pre_ping=True, **kwargs)
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself below
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL may lose the last commits on a power cut, never on a process crash; a lost
        # checkpoint only means a message is delivered again (at least once).
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # The write lock up front: a lease taken over and a checkpoint written by its old
        # holder can never interleave.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


async def create_schema(engine: AsyncEngine) -> None:
    """Create the tables that are missing (idempotent; safe from replicas starting at once)."""
    async with engine.begin() as connection:
        if not is_sqlite(engine):
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY}
            )
        for statement in _SCHEMA:
            await connection.execute(text(statement))
