"""The SQL of activities, their links to interactions, and presets."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    case,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.orm import aliased

from crm_store.core import (
    DEFAULT_PAGE,
    MAX_PAGE,
    Activity,
    ActivityInteraction,
    AuditEntry,
    Interaction,
    Preset,
    Store,
    UtcDateTime,
    decode_cursor,
    encode_cursor,
    table_of,
    utcnow,
)


@dataclass(frozen=True)
class ActivityFilter:
    state: str | None = None
    kind: str | None = None
    assignee_id: str | None = None
    unassigned: bool = False
    visible_to_manager: str | None = None
    """A manager id: only that manager's activities and unassigned ones."""
    contact_id: str | None = None
    urgent_first: bool = False
    """Soonest due first (overdue, then due soon, then the rest), else newest first."""
    channel: str | None = None
    """`call` or `mail`: activities about a number (or a withheld caller), or an address."""
    overdue_at: datetime | None = None
    """Only those past their due time at this moment."""


# Sorts an activity with no due time after every other (urgent first).
NEVER_DUE = datetime(9999, 12, 31, tzinfo=UTC)


@dataclass(frozen=True)
class Page:
    items: list[Activity]
    next_cursor: str | None


class ActivityRepository(Store):
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
        urgent = where.urgent_first
        sort_key: ColumnElement[datetime] = (
            func.coalesce(Activity.due_at, literal(NEVER_DUE, UtcDateTime()), type_=UtcDateTime())
            if urgent
            else Activity.opened_at.expression
        )

        def scoped(assignee: ColumnElement[bool] | None) -> Select[Activity, datetime]:
            statement = select(Activity, sort_key.label("sort_key"))
            if assignee is not None:
                statement = statement.where(assignee)
            for condition in _conditions(where):
                statement = statement.where(condition)
            if position is not None:
                at, last_id = position
                statement = statement.where(
                    or_(sort_key > at, and_(sort_key == at, Activity.id > last_id))
                    if urgent
                    else or_(sort_key < at, and_(sort_key == at, Activity.id < last_id))
                )
            if urgent:
                return statement.order_by(sort_key.asc(), Activity.id.asc()).limit(limit + 1)
            return statement.order_by(sort_key.desc(), Activity.id.desc()).limit(limit + 1)

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
            found = (await self.session.execute(statements[0])).all()
        else:
            both = union_all(*(st.subquery().select() for st in statements)).subquery()
            merged = aliased(Activity, both)
            key = both.c.sort_key
            order = (key.asc(), both.c.id.asc()) if urgent else (key.desc(), both.c.id.desc())
            statement = select(merged, key).order_by(*order).limit(limit + 1)
            found = (await self.session.execute(statement)).all()
        rows = [(row[0], row[1]) for row in found]
        items = [activity for activity, _ in rows[:limit]]
        more = len(rows) > limit
        next_cursor = encode_cursor(rows[limit - 1][1], items[-1].id) if more else None
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
        table = table_of(Activity)
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

    async def set_bounce(self, activity_ids: Iterable[str], bounce: dict[str, Any] | None) -> None:
        """Say on these activities that their address bounced (None: it takes mail again)."""
        if wanted := sorted(set(activity_ids)):
            await self.session.execute(
                update(Activity)
                .where(Activity.id.in_(wanted))
                .values(bounce=bounce, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )

    async def insert_activities(self, rows: Sequence[dict[str, Any]]) -> None:
        await self._append(Activity, rows)

    async def update_activities(
        self, rows: Sequence[dict[str, Any]], columns: Sequence[str]
    ) -> None:
        """Write these columns of many activities in one statement (rows carry `id`)."""
        if not rows:
            return
        table = table_of(Activity)
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

    async def stale_open(self, kind: str, opened_before: datetime, limit: int) -> list[Activity]:
        """Open activities of a kind opened before a time, oldest first; locked (another
        replica's sweep skips them on PostgreSQL)."""
        statement = (
            select(Activity)
            .where(Activity.kind == kind, Activity.state == "open")
            .where(Activity.opened_at < opened_before)
            .order_by(Activity.opened_at, Activity.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.execute(statement)).scalars())

    async def last_status_entry(self, activity_id: str) -> AuditEntry | None:
        """The latest status change a person made on the activity (set, undone, corrected)."""
        statement = (
            select(AuditEntry)
            .where(AuditEntry.entity == "activity", AuditEntry.entity_id == activity_id)
            .where(AuditEntry.action.in_(("status_set", "status_undone", "status_corrected")))
            .order_by(AuditEntry.id.desc())
            .limit(1)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def interaction_of(self, activity: Activity) -> Interaction | None:
        """The interaction that last touched the activity (a preset is feedback on it)."""
        return await self.session.get(Interaction, activity.last_interaction_id)


def _conditions(where: ActivityFilter) -> list[ColumnElement[bool]]:
    """The filter's conditions other than whose activities they are."""
    out: list[ColumnElement[bool]] = []
    if where.state is not None:
        out.append(Activity.state == where.state)
    if where.kind is not None:
        out.append(Activity.kind == where.kind)
    if where.contact_id is not None:
        out.append(Activity.contact_id == where.contact_id)
    if where.channel == "mail":
        out.append(Activity.counterpart.like("%@%"))
    elif where.channel == "call":
        out.append(or_(Activity.counterpart.is_(None), Activity.counterpart.not_like("%@%")))
    if where.overdue_at is not None:
        out.append(Activity.due_at < where.overdue_at)
    return out
