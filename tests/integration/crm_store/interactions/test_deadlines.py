"""Deadlines as the API shows them, for activities stored by the consumer's own store (one
transaction per batch, the policy from the settings), over real databases: each kind falls due
its `CRM_STORE_*_DUE_H` after the interaction that opened it, not after the moment it was
stored, and a changed setting changes the due time of what is opened from then on."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_store.config import Settings
from crm_store.interactions.handlers import make_store
from switchboard_shared.events import InteractionClassified

pytestmark = pytest.mark.integration

Sessions = async_sessionmaker[AsyncSession]
EventFactory = Callable[..., InteractionClassified]
T0 = datetime.fromisoformat("2024-11-05T06:13:00+00:00")  # long before the test runs


async def due_times(
    client: httpx.AsyncClient, admin: dict[str, str], *counterparts: str
) -> dict[tuple[str, str], datetime]:
    """{(kind, counterpart): due_at} of the open activities of these counterparts."""
    response = await client.get("/api/v1/activities", headers=admin, params={"limit": 200})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return {
        (a["kind"], a["counterpart"]): datetime.fromisoformat(a["due_at"])
        for a in items
        if a["counterpart"] in counterparts
    }


async def test_due_times_count_from_the_interaction_and_follow_the_settings(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    sessions: Sessions,
    settings: Settings,
    call_event: EventFactory,
    mail_event: EventFactory,
) -> None:
    missed, talked, wrote = (
        T0 + timedelta(minutes=7),
        T0 + timedelta(hours=1),
        T0 + timedelta(hours=2),
    )
    store = make_store(sessions, settings.store_policy())
    await store(
        [
            call_event("callback", call_id="twilio:D1", counterpart="+14155550701", at=missed),
            call_event(
                "needs_status",
                call_id="twilio:D2",
                status="answered",
                counterpart="+14155550702",
                at=talked,
            ),
            mail_event(
                "reply_needed",
                message_id="<d3@client.example>",
                counterpart="d3@client.example",
                thread_id=None,
                at=wrote,
            ),
        ]
    )
    h = timedelta(hours=1)
    assert await due_times(client, admin, "+14155550701", "+14155550702", "d3@client.example") == {
        ("callback", "+14155550701"): missed + 4 * h,
        ("log_outcome", "+14155550702"): talked + 24 * h,
        ("identify_contact", "+14155550702"): talked + 72 * h,
        ("reply", "d3@client.example"): wrote + 24 * h,
        ("identify_contact", "d3@client.example"): wrote + 72 * h,
    }

    changed = Settings(
        database_url=settings.database_url,
        bootstrap_admin_token=settings.bootstrap_admin_token,
        callback_due_h=1,
        log_outcome_due_h=8,
        reply_due_h=2.5,
        identify_contact_due_h=168,
    )
    store = make_store(sessions, changed.store_policy())
    await store(
        [
            call_event("callback", call_id="twilio:D4", counterpart="+14155550704", at=missed),
            call_event(
                "needs_status",
                call_id="twilio:D5",
                status="answered",
                counterpart="+14155550705",
                at=talked,
            ),
            mail_event(
                "reply_needed",
                message_id="<d6@client.example>",
                counterpart="d6@client.example",
                thread_id=None,
                at=wrote,
            ),
        ]
    )
    assert await due_times(client, admin, "+14155550704", "+14155550705", "d6@client.example") == {
        ("callback", "+14155550704"): missed + 1 * h,
        ("log_outcome", "+14155550705"): talked + 8 * h,
        ("identify_contact", "+14155550705"): talked + 168 * h,
        ("reply", "d6@client.example"): wrote + 2.5 * h,
        ("identify_contact", "d6@client.example"): wrote + 168 * h,
    }
    # What was opened before the change keeps its deadline.
    assert (await due_times(client, admin, "+14155550701"))[
        ("callback", "+14155550701")
    ] == missed + 4 * h
