"""What wakes the live inbox (`web.feed`), on a real database: a commit that changed an
activity (a new one, a status), and only such a commit; a rolled-back change wakes nobody;
one user holds a bounded number of streams."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_store.core import Activity, Manager, Role, utcnow
from crm_store.interactions import record_interaction
from crm_store.web.feed import FEED, Feed
from switchboard_shared.events import InteractionClassified

pytestmark = pytest.mark.integration

Sessions = async_sessionmaker[AsyncSession]
EventFactory = Callable[..., InteractionClassified]


async def woken(wake: asyncio.Event) -> bool:
    try:
        await asyncio.wait_for(wake.wait(), 1.0)
    except TimeoutError:
        return False
    wake.clear()
    return True


async def test_a_commit_that_changes_an_activity_wakes_the_listeners(
    sessions: Sessions, call_event: EventFactory
) -> None:
    with FEED.listening() as wake:
        async with sessions() as session:
            result = await record_interaction(
                session, call_event("callback", call_id="feed:1", counterpart="+14155550177")
            )
            assert not await woken(wake)  # not before the commit
            await session.commit()
        assert await woken(wake)
        [opened] = result.opened

        # A change by statement (as bulk units of work do) wakes them too.
        async with sessions() as session:
            await session.execute(
                update(Activity).where(Activity.id == opened).values(note="by statement")
            )
            await session.commit()
        assert await woken(wake)

        # Rolled back: nothing happened, nobody is woken.
        async with sessions() as session:
            activity = await session.get(Activity, opened)
            assert activity is not None
            activity.note = "never saved"
            await session.flush()
            await session.rollback()
        assert not await woken(wake)

        # A commit about something else (a manager) leaves the inboxes alone.
        async with sessions() as session:
            session.add(
                Manager(
                    id="feed-manager",
                    name="Feed",
                    email="feed@our.example",
                    extensions=[],
                    role=Role.MANAGER.value,
                    active=True,
                    created_at=utcnow(),
                )
            )
            await session.commit()
        assert not await woken(wake)


def test_one_user_holds_at_most_the_bound_of_streams() -> None:
    feed = Feed(max_per_user=2)
    assert feed.admit("ann")
    assert feed.admit("ann")
    assert not feed.admit("ann")
    assert feed.admit("ben")  # others are not affected
    feed.release("ann")
    assert feed.streams("ann") == 1
    assert feed.admit("ann")
