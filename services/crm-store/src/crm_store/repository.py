"""All SQL of crm-store. Methods flush when they must; they never commit."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.models import (
    Activity,
    ActivityInteraction,
    ApiToken,
    Base,
    Interaction,
    Manager,
    OutboxMessage,
    Preset,
    utcnow,
)
from switchboard_shared.cloudevents import KafkaRecord

DEFAULT_PAGE = 50
MAX_PAGE = 200


class InvalidCursorError(ValueError):
    """A pagination cursor this service did not make."""


def encode_cursor(opened_at: datetime, activity_id: str) -> str:
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


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class ActivityFilter:
    state: str | None = None
    kind: str | None = None
    assignee_id: str | None = None
    unassigned: bool = False
    visible_to_manager: str | None = None
    """A manager id: only that manager's activities and unassigned ones."""


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
        """Newest first, keyset-paginated on (opened_at, id)."""
        limit = max(1, min(limit, MAX_PAGE))
        statement = select(Activity)
        if where.state is not None:
            statement = statement.where(Activity.state == where.state)
        if where.kind is not None:
            statement = statement.where(Activity.kind == where.kind)
        if where.unassigned:
            statement = statement.where(Activity.assignee_id.is_(None))
        elif where.assignee_id is not None:
            statement = statement.where(Activity.assignee_id == where.assignee_id)
        if where.visible_to_manager is not None:
            statement = statement.where(
                or_(
                    Activity.assignee_id == where.visible_to_manager,
                    Activity.assignee_id.is_(None),
                )
            )
        if cursor is not None:
            opened_at, last_id = decode_cursor(cursor)
            statement = statement.where(
                or_(
                    Activity.opened_at < opened_at,
                    and_(Activity.opened_at == opened_at, Activity.id < last_id),
                )
            )
        statement = statement.order_by(Activity.opened_at.desc(), Activity.id.desc())
        rows = list((await self.session.execute(statement.limit(limit + 1))).scalars())
        items = rows[:limit]
        more = len(rows) > limit
        next_cursor = encode_cursor(items[-1].opened_at, items[-1].id) if more else None
        return Page(items, next_cursor)

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

    # -- tokens ----------------------------------------------------------------------------

    async def create_token(self, *, role: str, manager_id: str | None) -> tuple[ApiToken, str]:
        """Returns the row and the plaintext token; only its SHA-256 is stored."""
        plaintext = "sbt_" + secrets.token_urlsafe(32)
        token = ApiToken(
            id=str(uuid.uuid4()),
            manager_id=manager_id,
            role=role,
            token_sha256=hash_token(plaintext),
            created_at=utcnow(),
        )
        self.session.add(token)
        await self.session.flush()
        return token, plaintext

    async def find_token(self, plaintext: str) -> tuple[ApiToken, Manager | None] | None:
        """A live token and its manager (None for a token without one)."""
        statement = (
            select(ApiToken, Manager)
            .outerjoin(Manager, Manager.id == ApiToken.manager_id)
            .where(ApiToken.token_sha256 == hash_token(plaintext), ApiToken.revoked_at.is_(None))
        )
        row = (await self.session.execute(statement)).first()
        return None if row is None else (row[0], row[1])

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

    # -- outbox ----------------------------------------------------------------------------

    async def add_outbox(self, records: Sequence[KafkaRecord]) -> None:
        now = utcnow()
        self.session.add_all(
            OutboxMessage(
                topic=r.topic, key=r.key, value=r.value, headers=dict(r.headers), created_at=now
            )
            for r in records
        )
        await self.session.flush()

    async def pending_outbox(self, limit: int = 100) -> list[OutboxMessage]:
        """Oldest unpublished first; on PostgreSQL, rows another publisher holds are skipped."""
        statement = (
            select(OutboxMessage)
            .where(OutboxMessage.published_at.is_(None))
            .order_by(OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.execute(statement)).scalars())

    async def mark_published(self, ids: Iterable[int]) -> None:
        wanted = list(ids)
        if wanted:
            await self.session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(wanted))
                .values(published_at=utcnow())
            )


def outbox_record(row: OutboxMessage) -> KafkaRecord:
    """The Kafka record an outbox row stands for."""
    return KafkaRecord(row.topic, row.key, row.value, dict(row.headers))
