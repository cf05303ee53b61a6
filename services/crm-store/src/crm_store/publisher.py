"""The only way crm-store events leave: a transactional outbox relayed to Kafka.

Events are written to the `outbox` table in the same transaction as the change they describe,
so a crash between commit and publish loses nothing: the relay publishes pending rows (acks=all)
and marks them, at least once. Their ce_ids are deterministic, so consumers dedupe a repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_store.metrics import OUTBOX_PENDING
from crm_store.repository import Repository, outbox_record
from switchboard_shared.kafka import BrokerUnavailable, Bus

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(
        self,
        bus: Bus,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        interval_s: float = 0.5,
        batch: int = 100,
    ) -> None:
        self.bus = bus
        self.sessionmaker = sessionmaker
        self.interval_s = interval_s
        self.batch = batch
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def notify(self) -> None:
        """Something was committed to the outbox: publish it now rather than at the next tick."""
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def flush(self) -> int:
        """Publish every pending row; returns how many were published."""
        total = 0
        while True:
            async with self.sessionmaker() as session:
                repo = Repository(session)
                rows = await repo.pending_outbox(self.batch)
                if not rows:
                    OUTBOX_PENDING.set(0)
                    return total
                published: list[int] = []
                try:
                    for row in rows:
                        await self.bus.publish(outbox_record(row))
                        published.append(row.id)
                finally:
                    if published:
                        await repo.mark_published(published)
                        await session.commit()
                total += len(published)
                OUTBOX_PENDING.set(len(rows) - len(published))

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            self._wake.clear()
            if not self.bus.connected:
                continue
            try:
                await self.flush()
            except BrokerUnavailable as exc:
                log.warning("outbox relay: broker unavailable", extra={"error": str(exc)})
            except Exception:
                log.exception("outbox relay failed; retrying")
