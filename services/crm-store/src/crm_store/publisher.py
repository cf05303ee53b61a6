"""The only way crm-store events leave: a transactional outbox relayed to Kafka.

Events are written to the `outbox` table in the same transaction as the change they describe,
so a crash between commit and publish loses nothing: the relay publishes pending rows (acks=all)
and marks them, at least once. Their ce_ids are deterministic, so consumers dedupe a repeat.
Published rows are kept for `retention` (to look into what was sent), then deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_store.core import OutboxRepository, outbox_record, utcnow
from crm_store.metrics import DB_LATENCY, OUTBOX_PENDING
from switchboard_shared.background import Background
from switchboard_shared.cloudevents import KafkaRecord
from switchboard_shared.kafka import BrokerUnavailable, Bus

log = logging.getLogger(__name__)


class OutboxRelay(Background):
    task_name = "outbox-relay"

    def __init__(
        self,
        bus: Bus,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        interval_s: float = 0.5,
        batch: int = 500,
        timeout_s: float | None = None,
        retention: timedelta = timedelta(days=7),
        prune_every_s: float = 600.0,
    ) -> None:
        self.bus = bus
        self.sessionmaker = sessionmaker
        self.interval_s = interval_s
        self.batch = batch
        self.timeout_s = timeout_s or bus.publish_timeout_s
        self.retention = retention
        self.prune_every_s = prune_every_s
        self._pruned_at = 0.0
        self._wake = asyncio.Event()

    def notify(self) -> None:
        """Something was committed to the outbox: publish it now rather than at the next tick."""
        self._wake.set()

    async def flush(self) -> int:
        """Publish every pending row, in order; returns how many were published."""
        total = 0
        while True:
            async with self.sessionmaker() as session:
                repo = OutboxRepository(session)
                rows = await repo.pending_outbox(self.batch)
                if not rows:
                    OUTBOX_PENDING.set(0)
                    return total
                records = [outbox_record(row) for row in rows]
                acked = 0
                try:
                    acked = await self.publish_in_order(records)
                finally:
                    if acked:
                        start = time.perf_counter()
                        await repo.mark_published([row.id for row in rows[:acked]])
                        await session.commit()
                        DB_LATENCY.labels("outbox_mark").observe(time.perf_counter() - start)
                total += acked
                if acked < len(rows):
                    raise BrokerUnavailable(f"{len(rows) - acked} records not acknowledged")
                if len(rows) < self.batch:
                    # All that was pending when read: what was committed since comes with a
                    # `notify` of its own (or the next interval), not another read now.
                    OUTBOX_PENDING.set(0)
                    return total

    async def publish_in_order(self, records: list[KafkaRecord]) -> int:
        """Publish in order (acks=all), as produce batches; how many of the first records
        were acknowledged; BrokerUnavailable when not connected."""
        metrics = self.bus.metrics
        start = time.perf_counter()
        acked = await self.bus.publish_batch(records, self.timeout_s)
        elapsed = time.perf_counter() - start
        for topic, count in Counter(r.topic for r in records[:acked]).items():
            metrics.published.labels(topic).inc(count)
            latency = metrics.publish_latency.labels(topic)
            for _ in range(count):
                latency.observe(elapsed)
        for topic, count in Counter(r.topic for r in records[acked:]).items():
            metrics.publish_failures.labels(topic).inc(count)
        return acked

    async def prune(self) -> int:
        """Delete the rows published longer ago than the retention; how many went."""
        total = 0
        before = utcnow() - self.retention
        while True:
            async with self.sessionmaker() as session:
                deleted = await OutboxRepository(session).prune_outbox(before)
                await session.commit()
            total += deleted
            if deleted == 0:
                break
        if total:
            log.info("outbox pruned", extra={"deleted": total})
        return total

    async def measure_backlog(self) -> int:
        async with self.sessionmaker() as session:
            backlog = await OutboxRepository(session).outbox_backlog()
        OUTBOX_PENDING.set(backlog)
        return backlog

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            self._wake.clear()
            try:
                if self.bus.connected:
                    await self.flush()
                else:
                    await self.measure_backlog()
            except BrokerUnavailable as exc:
                log.warning("outbox relay: broker unavailable", extra={"error": str(exc)})
                with contextlib.suppress(Exception):
                    await self.measure_backlog()
            except Exception:
                log.exception("outbox relay failed; retrying")
            if time.monotonic() - self._pruned_at >= self.prune_every_s:
                self._pruned_at = time.monotonic()
                try:
                    await self.prune()
                except Exception:
                    log.warning("outbox prune failed; retried later", exc_info=True)
