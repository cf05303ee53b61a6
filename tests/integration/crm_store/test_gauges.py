"""Open and overdue activity gauges, read from a real database."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_store.gauges import ActivityGauges
from crm_store.service import record_interaction
from switchboard_shared.events import InteractionClassified

pytestmark = pytest.mark.integration


def gauge(name: str, kind: str) -> float:
    value = REGISTRY.get_sample_value(name, {"kind": kind})
    assert value is not None
    return value


async def test_open_and_overdue_callbacks_are_counted(
    sessions: async_sessionmaker[AsyncSession], call_event: Callable[..., InteractionClassified]
) -> None:
    gauges = ActivityGauges(sessions)
    await gauges.refresh()
    before_open = gauge("crm_store_activities_open", "callback")
    before_overdue = gauge("crm_store_activities_overdue", "callback")

    # A missed call from long ago: its callback is open and far past its due time.
    event = call_event("callback", call_id=f"gauge-{uuid.uuid4().hex[:8]}")
    async with sessions() as session:
        await record_interaction(session, event)
        await session.commit()

    await gauges.refresh()
    assert gauge("crm_store_activities_open", "callback") == before_open + 1
    assert gauge("crm_store_activities_overdue", "callback") == before_overdue + 1
    assert gauge("crm_store_activities_open", "reply") >= 0
