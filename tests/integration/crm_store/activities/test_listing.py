"""The inbox's listing over real databases: most urgent first (soonest due), page by page,
through a manager's two merged scans (their own and the unassigned ones)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_store.activities import ActivityFilter, ActivityRepository
from crm_store.core import Activity, Manager
from crm_store.interactions import record_interaction
from crm_store.people import PeopleRepository
from switchboard_shared.events import InteractionClassified

pytestmark = pytest.mark.integration

Sessions = async_sessionmaker[AsyncSession]
EventFactory = Callable[..., InteractionClassified]
NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


async def test_soonest_due_first_page_by_page(sessions: Sessions, call_event: EventFactory) -> None:
    manager = Manager(
        id=str(uuid.uuid4()),
        name="Rita",
        email=f"rita-{uuid.uuid4().hex[:6]}@our.example",
        role="manager",
        extensions=["201"],
        phones=[],
        active=True,
        created_at=NOW,
    )
    async with sessions() as session:
        assert await PeopleRepository(session).add_manager(manager)
        await session.commit()
    ids: list[str] = []
    async with sessions() as session:
        for n in range(7):
            event = call_event(
                "callback",
                call_id=f"twilio:L{n}",
                counterpart=f"+1415555{n:04d}",
                agent="201" if n % 2 else None,  # some Rita's, some unassigned
                at=NOW - timedelta(minutes=n),
            )
            ids += (await record_interaction(session, event)).opened
        # Due times out of opening order; one with none at all goes last.
        dues = [None if h is None else NOW + timedelta(hours=h) for h in (5, -1, 3, None, 2, -3, 1)]
        for activity_id, due in zip(ids, dues, strict=True):
            await session.execute(
                update(Activity).where(Activity.id == activity_id).values(due_at=due)
            )
        await session.commit()
    expected = [ids[i] for i in (5, 1, 6, 4, 2, 0, 3)]

    where = ActivityFilter(state="open", visible_to_manager=manager.id, urgent_first=True)
    seen: list[str] = []
    cursor = None
    async with sessions() as session:
        repo = ActivityRepository(session)
        for _ in range(10):
            page = await repo.list_activities(where, limit=2, cursor=cursor)
            seen += [a.id for a in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        overdue = await repo.list_activities(
            ActivityFilter(state="open", urgent_first=True, overdue_at=NOW), limit=10
        )
    assert seen == expected
    assert [a.id for a in overdue.items] == [ids[5], ids[1]]
