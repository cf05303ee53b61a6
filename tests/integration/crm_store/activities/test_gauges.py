"""Open and overdue activity gauges, read from a real database."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_store.activities import ActivityGauges
from crm_store.interactions import record_interaction
from switchboard_shared.events import InteractionClassified

pytestmark = pytest.mark.integration


def gauge(name: str, kind: str) -> float:
    value = REGISTRY.get_sample_value(name, {"kind": kind})
    assert value is not None
    return value


async def open_in_database(sessions: async_sessionmaker[AsyncSession], kind: str) -> int:
    """Counted with plain SQL, apart from the repository query the gauges use."""
    async with sessions() as session:
        statement = text("SELECT count(*) FROM activities WHERE kind = :kind AND state = 'open'")
        return int((await session.execute(statement, {"kind": kind})).scalar_one())


async def test_open_and_overdue_callbacks_are_counted(
    sessions: async_sessionmaker[AsyncSession],
    call_event: Callable[..., InteractionClassified],
    mail_event: Callable[..., InteractionClassified],
) -> None:
    gauges = ActivityGauges(sessions)
    await gauges.refresh()
    before_open = gauge("crm_store_activities_open", "callback")
    before_overdue = gauge("crm_store_activities_overdue", "callback")
    before_replies = gauge("crm_store_activities_open", "reply")
    assert before_open == await open_in_database(sessions, "callback")
    assert before_replies == await open_in_database(sessions, "reply")

    # A missed call from long ago: its callback is open and far past its due time.
    event = call_event("callback", call_id=f"gauge-{uuid.uuid4().hex[:8]}")
    async with sessions() as session:
        await record_interaction(session, event)
        await session.commit()

    await gauges.refresh()
    assert gauge("crm_store_activities_open", "callback") == before_open + 1
    assert gauge("crm_store_activities_overdue", "callback") == before_overdue + 1
    # the callback is not a reply: that gauge holds what the database holds, unchanged
    assert gauge("crm_store_activities_open", "reply") == before_replies
    assert before_replies == await open_in_database(sessions, "reply")

    # a message waiting for an answer opens a reply, and only that gauge moves
    mail = mail_event("reply_needed", message_id=f"<gauge-{uuid.uuid4().hex[:8]}@client.example>")
    async with sessions() as session:
        await record_interaction(session, mail)
        await session.commit()
    await gauges.refresh()
    assert gauge("crm_store_activities_open", "reply") == before_replies + 1
    assert gauge("crm_store_activities_open", "reply") == await open_in_database(sessions, "reply")
    assert gauge("crm_store_activities_open", "callback") == before_open + 1
