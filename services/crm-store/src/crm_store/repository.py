"""All SQL of crm-store (tokens and page sessions: `access`). Methods flush when they must; they
never commit."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any, cast

import asyncpg
import orjson
from sqlalchemy import (
    JSON,
    ColumnElement,
    Select,
    Table,
    and_,
    any_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from crm_store.linking import PointOwner
from crm_store.models import (
    Activity,
    ActivityInteraction,
    AuditEntry,
    Base,
    Company,
    CompanyDomain,
    Contact,
    Interaction,
    Manager,
    OutboxMessage,
    PlanTarget,
    Point,
    Preset,
    ServiceState,
    UtcDateTime,
    utcnow,
)
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


def _table(model: type[Base]) -> Table:
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


@dataclass(frozen=True)
class ActivityFilter:
    state: str | None = None
    kind: str | None = None
    assignee_id: str | None = None
    unassigned: bool = False
    visible_to_manager: str | None = None
    """A manager id: only that manager's activities and unassigned ones."""
    contact_id: str | None = None


@dataclass(frozen=True)
class InteractionFilter:
    contact_id: str | None = None
    company_id: str | None = None
    unlinked: bool | None = None
    """True: no contact; False: with a contact."""
    tag: str | None = None
    counterparts: tuple[str, ...] = ()


@dataclass(frozen=True)
class InteractionPage:
    items: list[Interaction]
    next_cursor: str | None


@dataclass(frozen=True)
class Page:
    items: list[Activity]
    next_cursor: str | None


class Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- helpers ---------------------------------------------------------------------------

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
        table = _table(model)
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

    # -- interactions ----------------------------------------------------------------------

    async def get_interaction(self, interaction_id: str) -> Interaction | None:
        return await self.session.get(Interaction, interaction_id)

    async def insert_interaction(self, values: dict[str, Any]) -> bool:
        """Insert unless the id exists (a redelivery racing this one); True when inserted."""
        insert = postgresql.insert if self._dialect() == "postgresql" else sqlite.insert
        statement = (
            insert(Interaction)
            .values(created_at=utcnow(), **values)
            .on_conflict_do_nothing(index_elements=[Interaction.id])
            .returning(Interaction.id)
        )
        return (await self.session.execute(statement)).scalar_one_or_none() is not None

    async def existing_interaction_ids(self, ids: Iterable[str]) -> set[str]:
        wanted = sorted(set(ids))
        if not wanted:
            return set()
        statement = select(Interaction.id).where(self._among(Interaction.id, wanted))
        return set((await self.session.execute(statement)).scalars())

    async def insert_interactions(self, rows: Sequence[dict[str, Any]]) -> set[str]:
        """Insert many, skipping ids that exist; returns the ids inserted."""
        if not rows:
            return set()
        now = utcnow()
        rows = [{**r, "created_at": now} for r in rows]
        table = _table(Interaction)
        driver = await self._copy_driver(len(rows))
        if driver is not None:
            # COPY has no ON CONFLICT: an id stored meanwhile raises IntegrityError, and the
            # caller decides the batch again.
            await self._copy(driver, table, rows)
            return {r["id"] for r in rows}
        insert_ = postgresql.insert if self._dialect() == "postgresql" else sqlite.insert
        # Core, not the ORM's bulk path: one multi-row INSERT per page of rows.
        statement = (
            insert_(table).on_conflict_do_nothing(index_elements=["id"]).returning(table.c.id)
        )
        result = await self.session.execute(statement, rows)
        return set(result.scalars())

    async def answered_call_keys(self, keys: Iterable[str]) -> set[str]:
        """Which of these calls (linked ids) have an answered, non-internal leg stored."""
        wanted = sorted(set(keys))
        if not wanted:
            return set()
        statement = select(Interaction.linked_id).where(
            self._among(Interaction.linked_id, wanted),
            Interaction.status == "answered",
            Interaction.direction != "internal",
        )
        return {k for k in (await self.session.execute(statement)).scalars() if k}

    async def list_interactions(
        self, where: InteractionFilter, *, limit: int = DEFAULT_PAGE, cursor: str | None = None
    ) -> InteractionPage:
        """Newest first, keyset-paginated on (occurred_at, id)."""
        limit = max(1, min(limit, MAX_PAGE))
        statement = select(Interaction)
        if where.contact_id is not None:
            statement = statement.where(Interaction.contact_id == where.contact_id)
        if where.company_id is not None:
            statement = statement.where(Interaction.company_id == where.company_id)
        if where.unlinked is True:
            statement = statement.where(Interaction.contact_id.is_(None))
        elif where.unlinked is False:
            statement = statement.where(Interaction.contact_id.is_not(None))
        if where.counterparts:
            statement = statement.where(Interaction.counterpart.in_(where.counterparts))
        if where.tag is not None:
            statement = statement.where(self._has_tag(where.tag))
        if cursor is not None:
            occurred_at, last_id = decode_cursor(cursor)
            statement = statement.where(
                or_(
                    Interaction.occurred_at < occurred_at,
                    and_(Interaction.occurred_at == occurred_at, Interaction.id < last_id),
                )
            )
        statement = statement.order_by(Interaction.occurred_at.desc(), Interaction.id.desc())
        rows = list((await self.session.execute(statement.limit(limit + 1))).scalars())
        items = rows[:limit]
        more = len(rows) > limit
        next_cursor = encode_cursor(items[-1].occurred_at, items[-1].id) if more else None
        return InteractionPage(items, next_cursor)

    def _has_tag(self, tag: str) -> ColumnElement[bool]:
        if self._dialect() == "postgresql":
            return Interaction.tags.op("@>")(func.jsonb_build_array(tag))  # type: ignore[no-any-return]
        each = func.json_each(Interaction.tags).table_valued("value")
        return exists(select(literal(1)).select_from(each).where(each.c.value == tag))

    async def interactions_to_relink(
        self, counterparts: Iterable[str], domain: str | None = None
    ) -> list[Interaction]:
        """Interactions with one of these counterparts (or from this e-mail domain) that have no
        contact yet: a new point or domain may link them."""
        matches: list[ColumnElement[bool]] = []
        if wanted := sorted(set(counterparts)):
            matches.append(Interaction.counterpart.in_(wanted))
        if domain is not None:
            matches.append(and_(Interaction.domain == domain, Interaction.company_id.is_(None)))
        if not matches:
            return []
        statement = (
            select(Interaction)
            .where(Interaction.contact_id.is_(None), or_(*matches))
            .order_by(Interaction.occurred_at, Interaction.id)
        )
        return list((await self.session.execute(statement)).scalars())

    async def move_interactions(self, from_ids: Sequence[str], to_id: str) -> list[Interaction]:
        statement = select(Interaction).where(Interaction.contact_id.in_(list(from_ids)))
        rows = list((await self.session.execute(statement)).scalars())
        for row in rows:
            row.contact_id = to_id
        await self.session.flush()
        return rows

    # -- activities ------------------------------------------------------------------------

    async def get_activity(self, activity_id: str, *, for_update: bool = False) -> Activity | None:
        statement = select(Activity).where(Activity.id == activity_id)
        if for_update:
            statement = statement.with_for_update().execution_options(populate_existing=True)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def find_open_activity(self, kind: str, counterpart: str) -> Activity | None:
        statement = (
            select(Activity)
            .where(Activity.kind == kind, Activity.counterpart == counterpart)
            .where(Activity.state == "open")
            .order_by(Activity.opened_at)
            .limit(1)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def open_activities_for(
        self, counterparts: Iterable[str], thread_id: str | None = None
    ) -> list[Activity]:
        """Open activities of any of these counterparts, or of a mail thread."""
        matches: list[ColumnElement[bool]] = []
        wanted = sorted(set(counterparts))
        if wanted:
            matches.append(Activity.counterpart.in_(wanted))
        if thread_id is not None:
            matches.append(Activity.thread_id == thread_id)
        if not matches:
            return []
        statement = (
            select(Activity)
            .where(Activity.state == "open", or_(*matches))
            .order_by(Activity.opened_at, Activity.id)
        )
        return list((await self.session.execute(statement)).scalars())

    async def add_activity(self, activity: Activity) -> bool:
        """False when a uniqueness guard (one open callback per counterpart) refused it."""
        return await self._add_unless_conflict(activity)

    async def update_activity(self, activity: Activity, **changes: Any) -> Activity:
        for name, value in changes.items():
            if not hasattr(Activity, name):
                raise AttributeError(f"Activity has no column {name!r}")
            setattr(activity, name, value)
        await self.session.flush()
        return activity

    async def link(self, activity_id: str, interaction_id: str) -> None:
        if await self.session.get(ActivityInteraction, (activity_id, interaction_id)) is None:
            self.session.add(
                ActivityInteraction(activity_id=activity_id, interaction_id=interaction_id)
            )
            await self.session.flush()

    async def activity_interaction_ids(self, activity_id: str) -> list[str]:
        statement = (
            select(ActivityInteraction.interaction_id)
            .where(ActivityInteraction.activity_id == activity_id)
            .order_by(ActivityInteraction.linked_at, ActivityInteraction.interaction_id)
        )
        return list((await self.session.execute(statement)).scalars())

    async def list_activities(
        self, where: ActivityFilter, *, limit: int = DEFAULT_PAGE, cursor: str | None = None
    ) -> Page:
        """Newest first, keyset-paginated on (opened_at, id).

        A manager's inbox (their own and unassigned ones) is two index range scans merged,
        rather than one scan filtered by an OR, so it stays fast however many rows there are.
        """
        limit = max(1, min(limit, MAX_PAGE))
        position = decode_cursor(cursor) if cursor is not None else None

        def scoped(assignee: ColumnElement[bool] | None) -> Select[Activity]:
            statement = select(Activity)
            if assignee is not None:
                statement = statement.where(assignee)
            if where.state is not None:
                statement = statement.where(Activity.state == where.state)
            if where.kind is not None:
                statement = statement.where(Activity.kind == where.kind)
            if where.contact_id is not None:
                statement = statement.where(Activity.contact_id == where.contact_id)
            if position is not None:
                opened_at, last_id = position
                statement = statement.where(
                    or_(
                        Activity.opened_at < opened_at,
                        and_(Activity.opened_at == opened_at, Activity.id < last_id),
                    )
                )
            return statement.order_by(Activity.opened_at.desc(), Activity.id.desc()).limit(
                limit + 1
            )

        if where.unassigned:
            statements = [scoped(Activity.assignee_id.is_(None))]
        elif where.assignee_id is not None:
            statements = [scoped(Activity.assignee_id == where.assignee_id)]
        elif where.visible_to_manager is not None:
            statements = [
                scoped(Activity.assignee_id == where.visible_to_manager),
                scoped(Activity.assignee_id.is_(None)),
            ]
        else:
            statements = [scoped(None)]

        if len(statements) == 1:
            rows = list((await self.session.execute(statements[0])).scalars())
        else:
            both = union_all(*(st.subquery().select() for st in statements)).subquery()
            merged = aliased(Activity, both)
            statement = (
                select(merged).order_by(both.c.opened_at.desc(), both.c.id.desc()).limit(limit + 1)
            )
            rows = list((await self.session.execute(statement)).scalars())
        items = rows[:limit]
        more = len(rows) > limit
        next_cursor = encode_cursor(items[-1].opened_at, items[-1].id) if more else None
        return Page(items, next_cursor)

    async def activities_for_update(self, ids: Iterable[str]) -> list[Activity]:
        wanted = sorted(set(ids))
        if not wanted:
            return []
        statement = (
            select(Activity)
            .where(Activity.id.in_(wanted))
            .order_by(Activity.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return list((await self.session.execute(statement)).scalars())

    async def open_activities_matching(
        self,
        counterparts: Iterable[str] = (),
        thread_ids: Iterable[str] = (),
        call_keys: Iterable[str] = (),
    ) -> list[Activity]:
        """Open activities of these counterparts or mail threads, or holding these calls;
        locked for the rest of the transaction (PostgreSQL), in id order."""
        matches: list[ColumnElement[bool]] = []
        if wanted := sorted(set(counterparts)):
            matches.append(Activity.counterpart.in_(wanted))
        if threads := sorted(set(thread_ids)):
            matches.append(Activity.thread_id.in_(threads))
        if keys := sorted(set(call_keys)):
            holding = (
                select(ActivityInteraction.activity_id)
                .join(Interaction, Interaction.id == ActivityInteraction.interaction_id)
                .where(or_(Interaction.linked_id.in_(keys), Interaction.id.in_(keys)))
            )
            matches.append(Activity.id.in_(holding))
        if not matches:
            return []
        statement = (
            select(Activity)
            .where(Activity.state == "open", or_(*matches))
            .order_by(Activity.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return list((await self.session.execute(statement)).scalars())

    async def open_activity_rows(
        self,
        counterparts: Iterable[str] = (),
        thread_ids: Iterable[str] = (),
        linked_keys: Iterable[str] = (),
        kinds: Iterable[str] | None = None,
    ) -> list[dict[str, Any]]:
        """As `open_activities_matching`, as plain rows (for the consumer's bulk path);
        `kinds` limits them to those kinds."""
        table = _table(Activity)
        matches: list[ColumnElement[bool]] = []
        if wanted := sorted(set(counterparts)):
            matches.append(self._among(table.c.counterpart, wanted))
        if threads := sorted(set(thread_ids)):
            matches.append(self._among(table.c.thread_id, threads))
        if keys := sorted(set(linked_keys)):
            holding = (
                select(ActivityInteraction.activity_id)
                .join(Interaction, Interaction.id == ActivityInteraction.interaction_id)
                .where(self._among(Interaction.linked_id, keys))
            )
            matches.append(table.c.id.in_(holding))
        if not matches:
            return []
        statement = (
            select(table)
            .where(table.c.state == "open", or_(*matches))
            .where(table.c.kind.in_(sorted(kinds)) if kinds is not None else true())
            .order_by(table.c.id)
            .with_for_update()
        )
        result = await self.session.execute(statement)
        keys = list(result.keys())
        return [dict(zip(keys, row, strict=True)) for row in result]

    async def insert_activities(self, rows: Sequence[dict[str, Any]]) -> None:
        await self._append(Activity, rows)

    async def update_activities(
        self, rows: Sequence[dict[str, Any]], columns: Sequence[str]
    ) -> None:
        """Write these columns of many activities in one statement (rows carry `id`)."""
        if not rows:
            return
        table = _table(Activity)
        statement = (
            update(table)
            .where(table.c.id == bindparam("_id"))
            .values({c: bindparam(f"_{c}") for c in columns})
        )
        params = [{"_id": r["id"], **{f"_{c}": r[c] for c in columns}} for r in rows]
        connection = await self.session.connection()
        await connection.execute(statement, params)

    async def call_keys_of(self, activity_ids: Iterable[str]) -> dict[str, set[str]]:
        """Per activity, the calls folded into it (linked_id, else the interaction id)."""
        wanted = sorted(set(activity_ids))
        out: dict[str, set[str]] = {a: set() for a in wanted}
        if not wanted:
            return out
        statement = (
            select(ActivityInteraction.activity_id, Interaction.id, Interaction.linked_id)
            .join(Interaction, Interaction.id == ActivityInteraction.interaction_id)
            .where(self._among(ActivityInteraction.activity_id, wanted), Interaction.kind == "call")
        )
        for activity_id, interaction_id, linked_id in await self.session.execute(statement):
            out[activity_id].add(linked_id or interaction_id)
        return out

    async def add_links(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Link interactions to activities (pairs of activity id, interaction id)."""
        unique = list(dict.fromkeys(pairs))
        if not unique:
            return
        now = utcnow()
        await self._append(
            ActivityInteraction,
            [{"activity_id": a, "interaction_id": i, "linked_at": now} for a, i in unique],
        )

    async def set_activities_contact(
        self, counterparts: Iterable[str], contact_id: str | None, company_id: str | None
    ) -> list[Activity]:
        """Open activities of these counterparts without a contact get the new link."""
        wanted = sorted(set(counterparts))
        if not wanted:
            return []
        statement = (
            select(Activity)
            .where(
                Activity.state == "open",
                Activity.counterpart.in_(wanted),
                Activity.contact_id.is_(None),
            )
            .order_by(Activity.id)
            .with_for_update()
        )
        rows = list((await self.session.execute(statement)).scalars())
        for row in rows:
            row.contact_id = contact_id
            row.company_id = company_id or row.company_id
        await self.session.flush()
        return rows

    async def move_activities(self, from_ids: Sequence[str], to_id: str) -> int:
        result = await self.session.execute(
            update(Activity)
            .where(Activity.contact_id.in_(list(from_ids)))
            .values(contact_id=to_id, updated_at=utcnow())
        )
        return int(getattr(result, "rowcount", 0) or 0)

    # -- managers --------------------------------------------------------------------------

    async def add_manager(self, manager: Manager) -> bool:
        """False when the e-mail address is taken."""
        return await self._add_unless_conflict(manager)

    async def get_manager(self, manager_id: str) -> Manager | None:
        return await self.session.get(Manager, manager_id)

    async def list_managers(self, *, active_only: bool = False) -> list[Manager]:
        statement = select(Manager).order_by(Manager.name, Manager.id)
        if active_only:
            statement = statement.where(Manager.active.is_(True))
        return list((await self.session.execute(statement)).scalars())

    async def find_manager_by_email(self, email: str) -> Manager | None:
        statement = select(Manager).where(Manager.email == email.strip().lower())
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def find_managers_by_extensions(self, extensions: Iterable[str]) -> list[Manager]:
        # JSON containment differs between SQLite and PostgreSQL; the team is small, so the
        # filter runs here rather than in SQL.
        wanted = set(extensions)
        return [m for m in await self.list_managers(active_only=True) if wanted & set(m.extensions)]

    async def find_manager_by_extension(self, extension: str) -> Manager | None:
        found = await self.find_managers_by_extensions([extension])
        return found[0] if found else None

    # -- presets ---------------------------------------------------------------------------

    async def list_presets(self, *, include_inactive: bool = False) -> list[Preset]:
        statement = select(Preset).order_by(Preset.position, Preset.code)
        if not include_inactive:
            statement = statement.where(Preset.active.is_(True))
        return list((await self.session.execute(statement)).scalars())

    async def get_preset(self, code: str) -> Preset | None:
        return await self.session.get(Preset, code)

    async def add_preset(self, preset: Preset) -> bool:
        """False when the code is taken."""
        return await self._add_unless_conflict(preset)

    async def update_preset(self, preset: Preset, **changes: Any) -> Preset:
        for name, value in changes.items():
            if not hasattr(Preset, name) or name == "code":
                raise AttributeError(f"Preset column {name!r} cannot be changed")
            setattr(preset, name, value)
        await self.session.flush()
        return preset

    # -- contacts, companies and their points -----------------------------------------------

    async def point_owners(self, values: Iterable[str]) -> dict[str, list[PointOwner]]:
        """Per value, who has it among active points: contacts (with their company and owner)
        and companies (with their owner)."""
        wanted = sorted(set(values))
        out: dict[str, list[PointOwner]] = {v: [] for v in wanted}
        if not wanted:
            return out
        company = aliased(Company)
        company_id = func.coalesce(Contact.company_id, Point.company_id)
        statement = (
            select(
                Point.value,
                Point.contact_id,
                company_id,
                func.coalesce(Contact.owner_id, company.owner_id),
            )
            .outerjoin(Contact, Contact.id == Point.contact_id)
            .outerjoin(company, company.id == company_id)
            .where(Point.active.is_(True), self._among(Point.value, wanted))
            .order_by(Point.value, Point.contact_id, company_id)
        )
        for value, contact_id, company_id_, owner_id in await self.session.execute(statement):
            out[value].append(PointOwner(contact_id, company_id_, owner_id))
        return out

    async def domain_companies(self, domains: Iterable[str]) -> dict[str, tuple[str, str | None]]:
        """Per registrable domain, the active company that has it and that company's owner."""
        wanted = sorted(set(domains))
        if not wanted:
            return {}
        statement = (
            select(CompanyDomain.domain, Company.id, Company.owner_id)
            .join(Company, Company.id == CompanyDomain.company_id)
            .where(CompanyDomain.active.is_(True), self._among(CompanyDomain.domain, wanted))
        )
        return {d: (c, o) for d, c, o in await self.session.execute(statement)}

    async def active_points(
        self, *, contact_ids: Iterable[str] = (), company_ids: Iterable[str] = ()
    ) -> list[Point]:
        """Active points of these contacts, and the companies' own points."""
        matches: list[ColumnElement[bool]] = []
        if contacts := sorted(set(contact_ids)):
            matches.append(Point.contact_id.in_(contacts))
        if companies := sorted(set(company_ids)):
            matches.append(and_(Point.contact_id.is_(None), Point.company_id.in_(companies)))
        if not matches:
            return []
        statement = (
            select(Point)
            .where(Point.active.is_(True), or_(*matches))
            .order_by(Point.position, Point.created_at, Point.id)
        )
        return list((await self.session.execute(statement)).scalars())

    async def points_of(
        self, *, contact_ids: Iterable[str] = (), archived: bool = False
    ) -> list[Point]:
        """Every point of these contacts, or only the inactive ones (to restore them)."""
        wanted = sorted(set(contact_ids))
        if not wanted:
            return []
        statement = select(Point).where(Point.contact_id.in_(wanted))
        if archived:
            statement = statement.where(Point.active.is_(False))
        return list((await self.session.execute(statement.order_by(Point.position))).scalars())

    async def points_of_company(self, company_id: str) -> list[Point]:
        statement = (
            select(Point)
            .where(Point.company_id == company_id, Point.contact_id.is_(None))
            .order_by(Point.position, Point.created_at.desc())
        )
        return list((await self.session.execute(statement)).scalars())

    async def add_points(self, points: Sequence[Point]) -> None:
        self.session.add_all(points)
        await self.session.flush()

    async def deactivate_points(self, points: Iterable[Point]) -> None:
        for point in points:
            point.active = False
        await self.session.flush()

    async def all_active_point_values(self) -> list[str]:
        statement = (
            select(Point.value).where(Point.active.is_(True)).distinct().order_by(Point.value)
        )
        return list((await self.session.execute(statement)).scalars())

    async def contacts_with_points(
        self, values: Iterable[str], *, include_archived: bool = True
    ) -> dict[str, set[str]]:
        """Contacts that have (or had, when archived) one of these points: id → values."""
        wanted = sorted(set(values))
        out: dict[str, set[str]] = {}
        if not wanted:
            return out
        statement = (
            select(Point.contact_id, Point.value)
            .join(Contact, Contact.id == Point.contact_id)
            .where(Point.value.in_(wanted), Contact.merged_into_id.is_(None))
        )
        if include_archived:
            statement = statement.where(
                or_(Point.active.is_(True), Contact.archived_at.is_not(None))
            )
        else:
            statement = statement.where(Point.active.is_(True))
        for contact_id, value in await self.session.execute(statement):
            if contact_id is not None:
                out.setdefault(contact_id, set()).add(value)
        return out

    async def companies_with_points(self, values: Iterable[str]) -> dict[str, set[str]]:
        wanted = sorted(set(values))
        out: dict[str, set[str]] = {}
        if not wanted:
            return out
        statement = (
            select(Point.company_id, Point.value)
            .join(Company, Company.id == Point.company_id)
            .where(
                Point.contact_id.is_(None),
                Point.value.in_(wanted),
                Company.merged_into_id.is_(None),
                or_(Point.active.is_(True), Company.archived_at.is_not(None)),
            )
        )
        for company_id, value in await self.session.execute(statement):
            if company_id is not None:
                out.setdefault(company_id, set()).add(value)
        return out

    async def contacts_named(self, name_key: str) -> list[Contact]:
        statement = select(Contact).where(
            Contact.name_key == name_key, Contact.merged_into_id.is_(None)
        )
        return list((await self.session.execute(statement)).scalars())

    async def companies_named(self, name_key: str) -> list[Company]:
        statement = select(Company).where(
            Company.name_key == name_key, Company.merged_into_id.is_(None)
        )
        return list((await self.session.execute(statement)).scalars())

    async def get_contact(self, contact_id: str, *, for_update: bool = False) -> Contact | None:
        statement = select(Contact).where(Contact.id == contact_id)
        if for_update:
            statement = statement.with_for_update().execution_options(populate_existing=True)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def get_contacts(self, ids: Iterable[str]) -> list[Contact]:
        wanted = sorted(set(ids))
        if not wanted:
            return []
        statement = select(Contact).where(Contact.id.in_(wanted)).order_by(Contact.id)
        return list((await self.session.execute(statement.with_for_update())).scalars())

    async def get_company(self, company_id: str, *, for_update: bool = False) -> Company | None:
        statement = select(Company).where(Company.id == company_id)
        if for_update:
            statement = statement.with_for_update().execution_options(populate_existing=True)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def add(self, row: Base) -> None:
        self.session.add(row)
        await self.session.flush()

    async def _page_by_name(
        self, statement: Select[Any], model: Any, limit: int, cursor: str | None
    ) -> tuple[list[Any], str | None]:
        """One page of contacts or companies by (name_key, id), and the next page's cursor."""
        if cursor is not None:
            key, last_id = decode_name_cursor(cursor)
            statement = statement.where(
                or_(model.name_key > key, and_(model.name_key == key, model.id > last_id))
            )
        statement = statement.order_by(model.name_key, model.id).limit(limit + 1)
        rows = list((await self.session.execute(statement)).scalars())
        items = rows[:limit]
        more = len(rows) > limit
        return items, encode_name_cursor(items[-1].name_key, items[-1].id) if more else None

    async def list_contacts(
        self,
        *,
        point_values: Sequence[str] = (),
        tokens: Sequence[str] = (),
        company_id: str | None = None,
        include_archived: bool = False,
        limit: int = DEFAULT_PAGE,
        cursor: str | None = None,
    ) -> tuple[list[Contact], str | None]:
        """By name (name_key, id), filtered by point, name tokens and company."""
        limit = max(1, min(limit, MAX_PAGE))
        statement = select(Contact)
        if not include_archived:
            statement = statement.where(Contact.archived_at.is_(None))
        if point_values:
            having = select(Point.contact_id).where(
                Point.value.in_(list(point_values)), Point.contact_id.is_not(None)
            )
            if not include_archived:
                having = having.where(Point.active.is_(True))
            statement = statement.where(Contact.id.in_(having))
        for token in tokens:
            statement = statement.where(Contact.name_key.contains(token, autoescape=True))
        if company_id is not None:
            statement = statement.where(Contact.company_id == company_id)
        return await self._page_by_name(statement, Contact, limit, cursor)

    async def list_companies(
        self,
        *,
        point_values: Sequence[str] = (),
        domain: str | None = None,
        tokens: Sequence[str] = (),
        include_archived: bool = False,
        limit: int = DEFAULT_PAGE,
        cursor: str | None = None,
    ) -> tuple[list[Company], str | None]:
        limit = max(1, min(limit, MAX_PAGE))
        statement = select(Company)
        if not include_archived:
            statement = statement.where(Company.archived_at.is_(None))
        if point_values:
            having = select(Point.company_id).where(
                Point.value.in_(list(point_values)), Point.contact_id.is_(None)
            )
            statement = statement.where(Company.id.in_(having))
        if domain is not None:
            statement = statement.where(
                Company.id.in_(
                    select(CompanyDomain.company_id).where(CompanyDomain.domain == domain)
                )
            )
        for token in tokens:
            statement = statement.where(Company.name_key.contains(token, autoescape=True))
        return await self._page_by_name(statement, Company, limit, cursor)

    async def domains_of(
        self, company_ids: Iterable[str], *, active: bool = True
    ) -> list[CompanyDomain]:
        wanted = sorted(set(company_ids))
        if not wanted:
            return []
        statement = (
            select(CompanyDomain)
            .where(CompanyDomain.company_id.in_(wanted), CompanyDomain.active.is_(active))
            .order_by(CompanyDomain.created_at, CompanyDomain.domain)
        )
        return list((await self.session.execute(statement)).scalars())

    async def domain_owners(self, domains: Iterable[str]) -> dict[str, str]:
        """Active domain → the company that has it."""
        wanted = sorted(set(domains))
        if not wanted:
            return {}
        statement = select(CompanyDomain.domain, CompanyDomain.company_id).where(
            CompanyDomain.active.is_(True), CompanyDomain.domain.in_(wanted)
        )
        return {d: c for d, c in (await self.session.execute(statement)).all()}

    async def export_points(self, point_type: str | None) -> list[tuple[Any, ...]]:
        """Active points of active contacts and companies, for a mailing list."""
        company = aliased(Company)
        company_id = func.coalesce(Contact.company_id, Point.company_id)
        statement = (
            select(
                Point.type,
                Point.value,
                Point.contact_id,
                Contact.first_name,
                Contact.last_name,
                company_id,
                company.name,
            )
            .outerjoin(Contact, Contact.id == Point.contact_id)
            .outerjoin(company, company.id == company_id)
            .where(Point.active.is_(True))
            .order_by(Point.type, Point.value, Point.contact_id)
        )
        if point_type is not None:
            statement = statement.where(Point.type == point_type)
        return [tuple(row) for row in await self.session.execute(statement)]

    # -- plan targets and reports ------------------------------------------------------------

    async def list_plan_targets(
        self, manager_ids: Iterable[str] | None, start: datetime, end: datetime
    ) -> list[PlanTarget]:
        """Targets whose period overlaps [start, end)."""
        statement = select(PlanTarget).where(
            PlanTarget.period_start < end, PlanTarget.period_end > start
        )
        if manager_ids is not None:
            statement = statement.where(PlanTarget.manager_id.in_(sorted(set(manager_ids))))
        statement = statement.order_by(PlanTarget.manager_id, PlanTarget.period_start)
        return list((await self.session.execute(statement)).scalars())

    async def open_activity_counts(self, now: datetime) -> dict[str, tuple[int, int]]:
        """Open activities by kind: (open, of which overdue at `now`)."""
        overdue = func.sum(
            case((and_(Activity.due_at.is_not(None), Activity.due_at < now), 1), else_=0)
        )
        statement = (
            select(Activity.kind, func.count(), overdue)
            .where(Activity.state == "open")
            .group_by(Activity.kind)
        )
        rows = (await self.session.execute(statement)).all()
        return {kind: (int(total), int(late or 0)) for kind, total, late in rows}

    async def count_by_manager(
        self,
        what: str,
        managers: Sequence[str],
        start: datetime,
        end: datetime,
        *,
        preset: str | None = None,
    ) -> dict[str, int]:
        """Per manager, how many of `what` happened in [start, end).

        interactions, auto_resolved (needed nobody), opened, closed (done), closed_auto,
        canceled, status_set (presets picked, by `preset` when given), overdue (open now and
        past due at `end`).
        """
        if not managers:
            return {}
        i, a = Interaction, Activity
        statement: Select[str | None, int]
        match what:
            case "interactions" | "auto_resolved":
                statement = select(i.manager_id, func.count()).where(
                    i.manager_id.in_(managers), i.occurred_at >= start, i.occurred_at < end
                )
                if what == "auto_resolved":
                    statement = statement.where(i.disposition.in_(["auto_closed", "logged"]))
                statement = statement.group_by(i.manager_id)
            case "opened":
                statement = select(a.assignee_id, func.count()).where(
                    a.opened_at >= start, a.opened_at < end
                )
            case "closed" | "closed_auto" | "canceled":
                statement = select(a.assignee_id, func.count()).where(
                    a.closed_at >= start, a.closed_at < end
                )
                state = "canceled" if what == "canceled" else "done"
                statement = statement.where(a.state == state)
                if what == "closed_auto":
                    statement = statement.where(a.closed_by == "auto")
            case "status_set":
                statement = select(a.assignee_id, func.count()).where(
                    a.preset.is_not(None), a.updated_at >= start, a.updated_at < end
                )
                if preset is not None:
                    statement = statement.where(a.preset == preset)
            case "overdue":
                statement = select(a.assignee_id, func.count()).where(
                    a.state == "open", a.due_at.is_not(None), a.due_at < end
                )
            case _:
                raise ValueError(f"unknown measure {what!r}")
        if what not in ("interactions", "auto_resolved"):
            statement = statement.where(a.assignee_id.in_(managers)).group_by(a.assignee_id)
        return {m: n for m, n in (await self.session.execute(statement)).all() if m}

    async def presets_used(
        self, managers: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, dict[str, int]]:
        if not managers:
            return {}
        statement = (
            select(Activity.assignee_id, Activity.preset, func.count())
            .where(
                Activity.assignee_id.in_(managers),
                Activity.preset.is_not(None),
                Activity.updated_at >= start,
                Activity.updated_at < end,
            )
            .group_by(Activity.assignee_id, Activity.preset)
        )
        out: dict[str, dict[str, int]] = {}
        for manager_id, preset, n in await self.session.execute(statement):
            if manager_id is not None and preset is not None:
                out.setdefault(manager_id, {})[preset] = n
        return out

    # -- outbox ----------------------------------------------------------------------------

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

    async def outbox_backlog(self) -> int:
        statement = select(func.count()).where(OutboxMessage.published_at.is_(None))
        return int((await self.session.execute(statement)).scalar_one())

    async def pending_outbox(self, limit: int = 100) -> list[PendingRecord]:
        """Oldest unpublished first; on PostgreSQL, rows another publisher holds are skipped."""
        table = _table(OutboxMessage)
        statement = (
            select(table.c.id, table.c.topic, table.c.key, table.c.value, table.c.headers)
            .where(table.c.published_at.is_(None))
            .order_by(table.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [PendingRecord(*row) for row in await self.session.execute(statement)]

    async def mark_published(self, ids: Iterable[int]) -> None:
        wanted = list(ids)
        if wanted:
            table = _table(OutboxMessage)
            await self.session.execute(
                update(table).where(self._among(table.c.id, wanted)).values(published_at=utcnow())
            )

    async def prune_outbox(self, published_before: datetime, limit: int = 10_000) -> int:
        """Delete up to `limit` rows published before then; how many were deleted."""
        table = _table(OutboxMessage)
        oldest = (
            select(table.c.id)
            .where(table.c.published_at < published_before)
            .order_by(table.c.id)
            .limit(limit)
        )
        ids = list((await self.session.execute(oldest)).scalars())
        if ids:
            await self.session.execute(delete(table).where(self._among(table.c.id, ids)))
        return len(ids)

    # -- audit -----------------------------------------------------------------------------

    async def audit(self, entries: Sequence[dict[str, Any]]) -> None:
        """Append audit entries ({actor, actor_role, action, entity, entity_id, changes})."""
        if not entries:
            return
        now = utcnow()
        await self._append(AuditEntry, [{"at": now, **e} for e in entries])

    async def list_audit(
        self, entity: str | None, entity_id: str | None, limit: int, before: int | None
    ) -> list[AuditEntry]:
        statement = select(AuditEntry)
        if entity is not None:
            statement = statement.where(AuditEntry.entity == entity)
        if entity_id is not None:
            statement = statement.where(AuditEntry.entity_id == entity_id)
        if before is not None:
            statement = statement.where(AuditEntry.id < before)
        statement = statement.order_by(AuditEntry.id.desc()).limit(limit)
        return list((await self.session.execute(statement)).scalars())

    # -- service state ---------------------------------------------------------------------

    async def claim_state(self, key: str, value: dict[str, Any]) -> bool:
        """Record a one-time fact; False when it was recorded before (by anyone)."""
        insert_ = postgresql.insert if self._dialect() == "postgresql" else sqlite.insert
        statement = (
            insert_(ServiceState)
            .values(key=key, value=value, updated_at=utcnow())
            .on_conflict_do_nothing(index_elements=[ServiceState.key])
            .returning(ServiceState.key)
        )
        return (await self.session.execute(statement)).scalar_one_or_none() is not None


@dataclass(frozen=True, slots=True)
class PendingRecord:
    """An outbox row waiting to be published."""

    id: int
    topic: str
    key: bytes | None
    value: bytes | None  # None for a tombstone
    headers: dict[str, str]


def outbox_record(row: PendingRecord) -> KafkaRecord:
    """The Kafka record an outbox row stands for.

    A tombstone's value is None. `KafkaRecord.value` is typed `bytes` in shared; `Bus.publish`
    hands the value to FastStream, which sends a keyed None as a real null value.
    """
    return KafkaRecord(row.topic, row.key, row.value, dict(row.headers))
