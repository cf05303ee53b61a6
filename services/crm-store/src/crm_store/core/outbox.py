"""The outbox table as the relay reads it: what is pending, what was acknowledged, what is old
enough to go. Units of work stage records with `Store.add_outbox`, in their own transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update

from crm_store.core.models import OutboxMessage, utcnow
from crm_store.core.store import Store, table_of
from switchboard_shared.cloudevents import KafkaRecord

SOURCE = "crm-store"
"""The `ce_source` of every event crm-store publishes."""


class OutboxRepository(Store):
    async def outbox_backlog(self) -> int:
        statement = select(func.count()).where(OutboxMessage.published_at.is_(None))
        return int((await self.session.execute(statement)).scalar_one())

    async def pending_outbox(self, limit: int = 100) -> list[PendingRecord]:
        """Oldest unpublished first; on PostgreSQL, rows another publisher holds are skipped."""
        table = table_of(OutboxMessage)
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
            table = table_of(OutboxMessage)
            await self.session.execute(
                update(table).where(self._among(table.c.id, wanted)).values(published_at=utcnow())
            )

    async def prune_outbox(self, published_before: datetime, limit: int = 10_000) -> int:
        """Delete up to `limit` rows published before then; how many were deleted."""
        table = table_of(OutboxMessage)
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
