"""The administrator's outcome policy where crm-store opens `log_outcome`, on a real database:
the first conversation with a number asks, a short repeat does not, a long one does; with
asking off nothing asks."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_store.config import StorePolicy
from crm_store.core import Activity
from crm_store.interactions import record_interaction
from integration.crm_store.conftest import T0, make_call
from switchboard_shared.settings.groups import OutcomeSettings

pytestmark = pytest.mark.integration
Sessions = async_sessionmaker[AsyncSession]


async def outcome_requests(session: AsyncSession, number: str) -> int:
    statement = select(func.count()).where(
        Activity.counterpart == number, Activity.kind == "log_outcome"
    )
    return int((await session.execute(statement)).scalar_one())


async def test_only_the_conversations_the_policy_names_ask_for_an_outcome(
    sessions: Sessions,
) -> None:
    number = f"+1628555{uuid.uuid4().int % 10_000:04d}"
    policy = StorePolicy(outcomes=OutcomeSettings(unknown_counterpart=False, min_talk_min=3))
    talks = [(60, 1), (60, 1), (200, 2)]  # first conversation; a short repeat; a long one
    async with sessions() as session:
        for n, (talk_s, expected) in enumerate(talks):
            event = make_call(
                "needs_status",
                call_id=f"policy-{number}-{n}",
                status="answered",
                counterpart=number,
                talk_s=talk_s,
                at=T0 + timedelta(hours=n),
            )
            await record_interaction(session, event, policy=policy)
            assert await outcome_requests(session, number) == expected, (n, talk_s)
        await session.commit()


async def test_asking_off_opens_no_outcome_request(sessions: Sessions) -> None:
    number = f"+1628556{uuid.uuid4().int % 10_000:04d}"
    policy = StorePolicy(outcomes=OutcomeSettings(ask=False))
    async with sessions() as session:
        event = make_call(
            "needs_status", call_id=f"off-{number}", status="answered", counterpart=number
        )
        await record_interaction(session, event, policy=policy)
        assert await outcome_requests(session, number) == 0
        await session.commit()
