"""Gauges that describe the store's state rather than its traffic: open and overdue activities.

Refreshed in the background, so a dashboard shows them even when nothing is happening.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_store.activities.repository import ActivityRepository
from crm_store.metrics import ACTIVITIES_OPEN, ACTIVITIES_OVERDUE
from switchboard_shared.background import Background
from switchboard_shared.events import ActivityKind

log = logging.getLogger(__name__)


class ActivityGauges(Background):
    task_name = "activity-gauges"

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], interval_s: float = 30.0
    ) -> None:
        self.sessionmaker = sessionmaker
        self.interval_s = interval_s

    async def refresh(self) -> None:
        async with self.sessionmaker() as session:
            counts = await ActivityRepository(session).open_activity_counts(datetime.now(UTC))
        for kind in ActivityKind:
            total, overdue = counts.get(kind.value, (0, 0))
            ACTIVITIES_OPEN.labels(kind.value).set(total)
            ACTIVITIES_OVERDUE.labels(kind.value).set(overdue)

    async def _run(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception as exc:  # the database may be away; the next round retries
                log.warning("activity gauges not refreshed", extra={"error": repr(exc)})
            await asyncio.sleep(self.interval_s)
