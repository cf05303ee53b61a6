"""The SQL of interactions: stored once each (a redelivery changes nothing), listed newest first."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, literal, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from crm_store.core import (
    DEFAULT_PAGE,
    MAX_PAGE,
    Interaction,
    Store,
    decode_cursor,
    encode_cursor,
    table_of,
    utcnow,
)


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


class InteractionRepository(Store):
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

    async def messages(self, message_ids: Iterable[str]) -> list[Interaction]:
        """Stored mail with one of these Message-IDs, oldest first."""
        wanted = sorted(set(message_ids))
        if not wanted:
            return []
        statement = (
            select(Interaction)
            .where(Interaction.kind == "mail", self._among(Interaction.message_id, wanted))
            .order_by(Interaction.occurred_at, Interaction.id)
        )
        return list((await self.session.execute(statement)).scalars())

    async def existing_interaction_ids(self, ids: Iterable[str]) -> set[str]:
        wanted = sorted(set(ids))
        if not wanted:
            return set()
        statement = select(Interaction.id).where(self._among(Interaction.id, wanted))
        return set((await self.session.execute(statement)).scalars())

    async def conversed_counterparts(self, counterparts: Iterable[str]) -> set[str]:
        """The counterparts with a stored conversation (an answered call or a message)."""
        wanted = sorted(set(counterparts))
        if not wanted:
            return set()
        statement = (
            select(Interaction.counterpart)
            .where(self._among(Interaction.counterpart, wanted))
            .where(or_(Interaction.kind == "mail", Interaction.status == "answered"))
            .distinct()
        )
        return {c for c in (await self.session.execute(statement)).scalars() if c}

    async def insert_interactions(self, rows: Sequence[dict[str, Any]]) -> set[str]:
        """Insert many, skipping ids that exist; returns the ids inserted."""
        if not rows:
            return set()
        now = utcnow()
        rows = [{**r, "created_at": now} for r in rows]
        table = table_of(Interaction)
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
