"""What every repository shares: the session, bulk writes (COPY on PostgreSQL), keyset cursors,
and the two things every unit of work stages with its change, outbox records and audit entries.

Each feature has its own repository (its SQL) built on `Store`. Methods flush when they must;
they never commit: the edge that owns the unit of work does.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any, cast

import asyncpg
import orjson
from sqlalchemy import JSON, ColumnElement, Table, any_, bindparam, insert, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.core.models import AuditEntry, Base, OutboxMessage, UtcDateTime, utcnow
from switchboard_shared.cloudevents import KafkaRecord

DEFAULT_PAGE = 50
MAX_PAGE = 200


class InvalidCursorError(ValueError):
    """A pagination cursor this service did not make."""


def encode_cursor(opened_at: datetime, activity_id: str) -> str:
    """An opaque keyset position: (a time, an id)."""
    raw = json.dumps([opened_at.astimezone(UTC).isoformat(), activity_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, activity_id = json.loads(raw)
        opened_at = datetime.fromisoformat(stamp)
    except (ValueError, TypeError) as exc:
        raise InvalidCursorError("invalid cursor") from exc
    if opened_at.tzinfo is None or not isinstance(activity_id, str):
        raise InvalidCursorError("invalid cursor")
    return opened_at, activity_id


def encode_name_cursor(key: str, row_id: str) -> str:
    raw = json.dumps(["n", key, row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_name_cursor(cursor: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        tag, key, row_id = json.loads(raw)
    except (ValueError, TypeError) as exc:
        raise InvalidCursorError("invalid cursor") from exc
    if tag != "n" or not isinstance(key, str) or not isinstance(row_id, str):
        raise InvalidCursorError("invalid cursor")
    return key, row_id


def table_of(model: type[Base]) -> Table:
    """A model's table, for Core bulk statements (the ORM's bulk path is row-by-row here)."""
    return cast(Table, model.__table__)


@lru_cache(maxsize=64)
def _array_of(type_: Any) -> Any:
    """An ARRAY type per column type, made once (building one costs a millisecond)."""
    return postgresql.ARRAY(type_)


# Below this many rows a plain INSERT is cheaper than a COPY (one more round trip).
COPY_MIN_ROWS = 20


async def _copy(driver: Any, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """COPY rows (all with the same keys) into a table, in the driver's transaction.

    The consumer writes thousands of rows per transaction; binding an INSERT row by row costs
    several times the work. COPY skips SQLAlchemy, so the Python-side column defaults and bind
    conversions are applied here, and the driver's errors are raised as SQLAlchemy's (a
    constraint violation stays an IntegrityError, a lost connection an OperationalError).
    """
    names = list(rows[0])
    # Python-side defaults of the columns the rows leave out (COPY would write NULL).
    defaulted = [
        c
        for c in table.columns
        if c.name not in rows[0]
        and c.default is not None
        and (c.default.is_scalar or c.default.is_callable)
    ]
    columns = names + [c.name for c in defaulted]
    fixed = tuple(_default_value(c) for c in defaulted)
    values_of = itemgetter(*names)
    convert = [(i, f) for i, n in enumerate(names) if (f := _copy_converter(table.c[n].type))]
    records = []
    for row in rows:
        values = list(values_of(row)) if len(names) > 1 else [values_of(row)]
        for i, f in convert:
            values[i] = f(values[i])
        records.append((*values, *fixed))
    try:
        await driver.copy_records_to_table(table.name, columns=columns, records=records)
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise IntegrityError(f"COPY {table.name}", None, exc) from exc
    except (asyncpg.PostgresError, ValueError, TypeError) as exc:
        # The server refused the rows, or the driver could not encode a value: not an outage.
        raise DBAPIError(f"COPY {table.name}", None, exc) from exc
    except Exception as exc:  # the connection is lost, or in a state nobody can trust
        raise OperationalError(
            f"COPY {table.name}", None, exc, connection_invalidated=True
        ) from exc


def _default_value(column: Any) -> Any:
    default: Any = column.default
    # SQLAlchemy wraps a callable default to take an execution context
    return default.arg(None) if default.is_callable else default.arg


def _copy_converter(type_: Any) -> Callable[[Any], Any] | None:
    """What a value needs before COPY: JSON as text, UTC datetimes checked; None: as is."""
    if isinstance(type_, JSON):
        return _json_text
    if isinstance(type_, UtcDateTime):
        return _utc
    return None


def _json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime; pass a timezone-aware value")
    return value.astimezone(UTC)


class Store:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _add_unless_conflict(self, row: Base) -> bool:
        """Insert in a savepoint; False when a unique constraint says it exists already."""
        try:
            async with self.session.begin_nested():
                self.session.add(row)
        except IntegrityError:
            return False
        return True

    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    async def plan_with_values(self, on: bool) -> None:
        """Until the transaction ends (or this is called with False), PostgreSQL plans each
        statement with its parameter values.

        asyncpg prepares every statement, and after five runs PostgreSQL may keep a generic
        plan made without the values. For the consumer's lookups of hundreds of ids, planned
        while a fresh table's statistics still say it is tiny, that plan is a sequential scan
        that compares every row with every value: a hundred times slower. The bulk writes
        that follow are better off with the cached plan, so they turn this off again.
        """
        if self._dialect() == "postgresql":
            mode = "force_custom_plan" if on else "auto"
            await self.session.execute(text(f"SET LOCAL plan_cache_mode = {mode}"))

    def _among(self, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
        """`column IN values` for the consumer's bulk lookups (hundreds of values).

        On PostgreSQL one array parameter (`= ANY($1)`) instead of one per value: the statement
        stays the same whatever the count and compiles once.
        """
        if self._dialect() == "postgresql":
            array = bindparam(None, list(values), type_=_array_of(column.type))
            return cast(ColumnElement[bool], column == any_(array))
        return cast(ColumnElement[bool], column.in_(values))

    async def _append(self, model: type[Base], rows: Sequence[dict[str, Any]]) -> None:
        """Insert many rows (all with the same keys); with COPY on PostgreSQL (see `_copy`)."""
        if not rows:
            return
        table = table_of(model)
        driver = await self._copy_driver(len(rows))
        if driver is None:
            await self.session.execute(insert(table), list(rows))
        else:
            await self._copy(driver, table, rows)

    async def _copy(self, driver: Any, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        try:
            await _copy(driver, table, rows)
        except OperationalError:
            # The connection is gone; SQLAlchemy did not see it fail, so tell it, or the
            # rollback that follows would fail too.
            await (await self.session.connection()).invalidate()
            raise

    async def _copy_driver(self, count: int) -> Any:
        """The asyncpg connection of this session's transaction when `count` rows are worth a
        COPY; else None (few rows, or another driver)."""
        if count < COPY_MIN_ROWS:
            return None
        connection = await self.session.connection()
        if connection.dialect.driver != "asyncpg":
            return None
        raw = await connection.get_raw_connection()
        return raw.driver_connection

    async def add(self, row: Base) -> None:
        self.session.add(row)
        await self.session.flush()

    async def add_outbox(self, records: Sequence[KafkaRecord]) -> None:
        """Stage records in one statement; a record with value None is a tombstone."""
        if not records:
            return
        now = utcnow()
        await self._append(
            OutboxMessage,
            [
                {
                    "topic": r.topic,
                    "key": r.key,
                    "value": r.value,
                    "headers": dict(r.headers),
                    "created_at": now,
                }
                for r in records
            ],
        )

    async def audit(self, entries: Sequence[dict[str, Any]]) -> None:
        """Append audit entries ({actor, actor_role, action, entity, entity_id, changes})."""
        if not entries:
            return
        now = utcnow()
        await self._append(AuditEntry, [{"at": now, **e} for e in entries])
