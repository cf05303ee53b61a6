"""Outcome requests that nobody answered expire into "no outcome recorded" instead of piling
up: an open `log_outcome` older than `CRM_STORE_LOG_OUTCOME_EXPIRE_H` is canceled by itself,
in the background, a bounded batch per round. Audited, and published like any other change.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_store.activities.repository import ActivityRepository
from crm_store.activities.service import cancel_all
from crm_store.core import utcnow
from crm_store.metrics import ACTIVITY_CHANGES
from switchboard_shared.background import Background
from switchboard_shared.events import ActivityKind, ClosedBy

log = logging.getLogger(__name__)

NO_OUTCOME = "no outcome recorded"
BATCH = 500


async def expire_outcome_requests(
    session: AsyncSession, now: datetime, *, after_h: float, limit: int = BATCH
) -> int:
    """Cancel up to `limit` outcome requests opened more than `after_h` hours before `now`;
    returns how many. The caller commits."""
    repo = ActivityRepository(session)
    stale = await repo.stale_open(
        ActivityKind.LOG_OUTCOME.value, now - timedelta(hours=after_h), limit
    )
    await cancel_all(
        repo,
        stale,
        reason=NO_OUTCOME,
        closed_by=ClosedBy.AUTO,
        actor=None,
        action="expired",
        now=now,
    )
    return len(stale)


class OutcomeExpiry(Background):
    task_name = "outcome-expiry"

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        after_h: float,
        interval_s: float = 300.0,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.after_h = after_h
        self.interval_s = interval_s

    async def sweep(self) -> int:
        async with self.sessionmaker() as session:
            expired = await expire_outcome_requests(session, utcnow(), after_h=self.after_h)
            await session.commit()
        if expired:
            ACTIVITY_CHANGES.labels(ActivityKind.LOG_OUTCOME.value, "canceled", "auto").inc(expired)
            log.info("outcome requests expired", extra={"count": expired})
        return expired

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception as exc:  # the database may be away; the next round retries
                log.warning("outcome requests not expired", extra={"error": repr(exc)})
            await asyncio.sleep(self.interval_s)
