"""Imported history on SQLite and PostgreSQL: stored and linked like live traffic, but past the
horizon (`CRM_STORE_ACTIVITY_HORIZON_H`) it opens nothing; within it, replayed in time order, a
missed call that was called back ends closed. Importing again adds nothing, and a call seen
live and imported is one interaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_store.config import DEFAULT_POLICY, Settings, StorePolicy
from crm_store.core import Activity, Interaction, OutboxMessage
from crm_store.interactions import RecordResult, record_interactions
from integration.crm_store.conftest import make_call, make_mail
from switchboard_shared.events import InteractionClassified

pytestmark = pytest.mark.integration

Sessions = async_sessionmaker[AsyncSession]
NOW = datetime.now(UTC).replace(microsecond=0)


def number() -> str:
    return f"+1415555{uuid.uuid4().int % 10_000:04d}"


def past(event: InteractionClassified) -> InteractionClassified:
    """The same event as a history import delivers it (`historical: true`)."""
    if event.call is not None:
        return event.model_copy(update={"call": event.call.model_copy(update={"historical": True})})
    assert event.mail is not None
    return event.model_copy(update={"mail": event.mail.model_copy(update={"historical": True})})


def missed(counterpart: str, at: datetime) -> InteractionClassified:
    return make_call(
        "callback", call_id=f"ast:{uuid.uuid4().hex[:10]}", counterpart=counterpart, at=at
    )


def called_back(counterpart: str, at: datetime) -> InteractionClassified:
    return make_call(
        "logged",
        call_id=f"ast:{uuid.uuid4().hex[:10]}",
        counterpart=counterpart,
        status="answered",
        direction="outbound",
        at=at,
    )


async def store(
    sessions: Sessions,
    events: Sequence[InteractionClassified],
    policy: StorePolicy = DEFAULT_POLICY,
) -> list[RecordResult]:
    async with sessions() as session:
        results = await record_interactions(session, events, policy=policy)
        await session.commit()
        return results


async def count(sessions: Sessions, model: Any, *where: Any) -> int:
    async with sessions() as session:
        query = select(func.count()).select_from(model).where(*where)
        return int((await session.execute(query)).scalar_one())


async def activity_states(sessions: Sessions, counterpart: str) -> list[tuple[str, str]]:
    async with sessions() as session:
        rows = await session.execute(
            select(Activity.kind, Activity.state)
            .where(Activity.counterpart == counterpart)
            .order_by(Activity.opened_at)
        )
        return [(kind, state) for kind, state in rows.all()]


async def test_history_older_than_the_horizon_is_stored_and_linked_but_opens_nothing(
    sessions: Sessions,
) -> None:
    client = number()
    months_ago = NOW - timedelta(days=120)
    events = [
        past(missed(client, months_ago)),
        # answered, from an unknown number: live, a log_outcome and an identify_contact
        past(
            make_call(
                "needs_status",
                call_id=f"ast:{uuid.uuid4().hex[:10]}",
                counterpart=client,
                status="answered",
                at=months_ago + timedelta(days=1),
            )
        ),
        past(
            make_mail(
                "reply_needed",
                message_id=f"<{uuid.uuid4().hex}@client.example>",
                counterpart="ann@old-client.example",
                thread_id=f"<{uuid.uuid4().hex}@client.example>",
                at=months_ago,
            )
        ),
        # just past the horizon (72 h by default)
        past(missed(client, NOW - timedelta(hours=73))),
    ]

    announced = OutboxMessage.topic == "crm.activities.v1"
    activity_changes = await count(sessions, OutboxMessage, announced)
    interactions = await count(
        sessions, OutboxMessage, OutboxMessage.topic == "crm.interactions.v1"
    )

    results = await store(sessions, events)

    assert [r.duplicate for r in results] == [False] * 4
    assert [r.opened + r.folded for r in results] == [[], [], [], []]
    ids = [e.interaction_id for e in events]
    assert await count(sessions, Interaction, Interaction.id.in_(ids)) == 4
    assert await activity_states(sessions, client) == []
    assert await activity_states(sessions, "ann@old-client.example") == []
    # stored and announced as interactions, like live ones; no activity changes announced
    assert await count(sessions, OutboxMessage, announced) == activity_changes
    linked = await count(sessions, OutboxMessage, OutboxMessage.topic == "crm.interactions.v1")
    assert linked == interactions + 4


async def test_the_same_old_calls_live_open_their_activities(sessions: Sessions) -> None:
    """The horizon is about history: a live call delivered days late (after an outage) is still
    a call nobody has returned."""
    client = number()
    results = await store(sessions, [missed(client, NOW - timedelta(days=5))])

    assert len(results[0].opened) == 1
    assert await activity_states(sessions, client) == [("callback", "open")]


async def test_old_history_closes_a_callback_that_was_open_before_it(sessions: Sessions) -> None:
    client = number()
    await store(sessions, [missed(client, NOW - timedelta(days=10))])  # live, never returned
    [result] = await store(sessions, [past(called_back(client, NOW - timedelta(days=9)))])

    assert len(result.closed) == 1
    assert result.opened == []
    assert await activity_states(sessions, client) == [("callback", "done")]


async def test_old_history_from_before_a_live_callback_leaves_it_open(sessions: Sessions) -> None:
    client = number()
    await store(sessions, [missed(client, NOW - timedelta(hours=2))])
    [result] = await store(sessions, [past(called_back(client, NOW - timedelta(days=30)))])

    assert result.closed == []
    assert await activity_states(sessions, client) == [("callback", "open")]


async def test_within_the_horizon_a_missed_call_called_back_ends_closed(sessions: Sessions) -> None:
    in_one_batch, across_batches, never_returned = number(), number(), number()
    yesterday = NOW - timedelta(hours=30)

    batch = [
        past(missed(in_one_batch, yesterday)),
        past(called_back(in_one_batch, yesterday + timedelta(minutes=20))),
        past(missed(never_returned, yesterday)),
    ]
    await store(sessions, batch)
    await store(sessions, [past(missed(across_batches, yesterday))])
    await store(sessions, [past(called_back(across_batches, yesterday + timedelta(hours=1)))])

    assert await activity_states(sessions, in_one_batch) == [("callback", "done")]
    assert await activity_states(sessions, across_batches) == [("callback", "done")]
    assert await activity_states(sessions, never_returned) == [("callback", "open")]


async def test_the_horizon_is_the_setting(sessions: Sessions, settings: Settings) -> None:
    client = number()
    policy = Settings(database_url=settings.database_url, activity_horizon_h=1.0).store_policy()
    assert policy.activity_horizon == timedelta(hours=1)

    [result] = await store(sessions, [past(missed(client, NOW - timedelta(hours=2)))], policy)

    assert result.opened == []
    assert await activity_states(sessions, client) == []


async def test_importing_again_adds_nothing(sessions: Sessions) -> None:
    client, old = number(), number()
    events = [
        past(missed(client, NOW - timedelta(hours=5))),
        past(called_back(client, NOW - timedelta(hours=4))),
        past(missed(client, NOW - timedelta(hours=3))),
        past(missed(old, NOW - timedelta(days=200))),
    ]
    first = await store(sessions, events)
    interactions = await count(sessions, Interaction)
    activities = await count(sessions, Activity)
    outbox = await count(sessions, OutboxMessage)

    again = await store(sessions, events)

    assert [r.duplicate for r in first] == [False] * 4
    assert [r.duplicate for r in again] == [True] * 4
    assert await count(sessions, Interaction) == interactions
    assert await count(sessions, Activity) == activities
    assert await count(sessions, OutboxMessage) == outbox
    assert await activity_states(sessions, client) == [("callback", "done"), ("callback", "open")]


@pytest.mark.parametrize(
    "live_first", [True, False], ids=["live-then-imported", "imported-then-live"]
)
async def test_a_call_seen_live_and_imported_is_one_interaction(
    sessions: Sessions, live_first: bool
) -> None:
    client = number()
    live = missed(client, NOW - timedelta(hours=1))
    imported = past(live)
    assert imported.interaction_id == live.interaction_id
    order = [live, imported] if live_first else [imported, live]

    first = await store(sessions, [order[0]])
    second = await store(sessions, [order[1]])

    assert first[0].duplicate is False
    assert second[0].duplicate is True
    assert await count(sessions, Interaction, Interaction.id == live.interaction_id) == 1
    assert await activity_states(sessions, client) == [("callback", "open")]


async def test_imported_missed_call_stored_after_its_callback_ends_closed(
    sessions: Sessions,
) -> None:
    """The classifier holds an unanswered leg a few seconds for its siblings, so the verdict on
    the callback can reach crm-store before the verdict on the missed call it returned."""
    client, unrelated = number(), number()
    yesterday = NOW - timedelta(hours=30)
    await store(sessions, [past(called_back(client, yesterday + timedelta(minutes=20)))])
    await store(sessions, [past(called_back(unrelated, yesterday - timedelta(hours=1)))])

    [late] = await store(sessions, [past(missed(client, yesterday))])
    [after] = await store(sessions, [past(missed(unrelated, yesterday))])

    assert late.opened == late.closed
    assert len(late.opened) == 1
    assert await activity_states(sessions, client) == [("callback", "done")]
    # an answered call before the missed one returned nothing
    assert after.closed == []
    assert await activity_states(sessions, unrelated) == [("callback", "open")]


async def test_a_live_missed_call_is_not_closed_by_an_answered_call_stored_before_it(
    sessions: Sessions,
) -> None:
    """Live calls arrive in order: an answered call stored first and dated later is an older
    call's late delivery, and the live rules (closes only what was open before) stay as they
    are."""
    client = number()
    await store(sessions, [called_back(client, NOW - timedelta(minutes=10))])
    [result] = await store(sessions, [missed(client, NOW - timedelta(minutes=30))])

    assert result.closed == []
    assert await activity_states(sessions, client) == [("callback", "open")]
