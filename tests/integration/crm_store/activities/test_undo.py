"""Undoing a preset over real databases: a mis-tap on "Spam" is put back, audited, and the
classifier is told to forget that feedback; only the clicker, only for a few minutes, only while
nothing changed the item since."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_store.core import AuditEntry, outbox_record
from crm_store.core import OutboxRepository as Repository
from crm_store.interactions import record_interaction
from switchboard_shared.cloudevents import decode
from switchboard_shared.events import ActivityChanged, Feedback, InteractionClassified

pytestmark = pytest.mark.integration

Sessions = async_sessionmaker[AsyncSession]
EventFactory = Callable[..., InteractionClassified]
PROBLEM = "application/problem+json"


async def record(sessions: Sessions, *events: InteractionClassified) -> list[str]:
    opened: list[str] = []
    async with sessions() as session:
        for event in events:
            opened += (await record_interaction(session, event)).opened
        await session.commit()
    return opened


async def manager(
    client: httpx.AsyncClient, admin: dict[str, str], name: str, role: str = "manager"
) -> tuple[str, dict[str, str]]:
    body = {"name": name, "email": f"{name.lower()}@our.example", "role": role}
    created = await client.post("/api/v1/managers", json=body, headers=admin)
    assert created.status_code == 201, created.text
    token = await client.post(
        "/api/v1/tokens", json={"manager_id": created.json()["id"]}, headers=admin
    )
    assert token.status_code == 201, token.text
    return created.json()["id"], {"Authorization": f"Bearer {token.json()['token']}"}


async def published(sessions: Sessions) -> list[Any]:
    async with sessions() as session:
        records = [outbox_record(r) for r in await Repository(session).pending_outbox(1000)]
    return [(r.headers["ce_id"], decode(r.headers, r.value)[1]) for r in records]


async def test_a_mis_tap_on_spam_is_undone_and_the_classifier_forgets_it(
    client: httpx.AsyncClient, admin: dict[str, str], sessions: Sessions, call_event: EventFactory
) -> None:
    ann, ann_auth = await manager(client, admin, "Ann")
    [callback] = await record(sessions, call_event("callback", call_id="twilio:U1"))
    spam = await client.post(
        f"/api/v1/activities/{callback}/status", json={"preset": "spam"}, headers=ann_auth
    )
    assert spam.status_code == 200, spam.text
    assert (spam.json()["state"], spam.json()["assignee_id"]) == ("done", ann)

    undone = await client.post(f"/api/v1/activities/{callback}/undo", headers=ann_auth)
    assert undone.status_code == 200, undone.text
    body = undone.json()
    assert (body["state"], body["preset"], body["assignee_id"]) == ("open", None, None)
    assert (body["closed_by"], body["close_reason"], body["closed_at"]) == (None, None, None)

    events = await published(sessions)
    [(feedback_id, given)] = [(i, d) for i, d in events if isinstance(d, Feedback) and d.preset]
    assert given.preset == "spam"
    [withdrawn] = [d for _, d in events if isinstance(d, Feedback) and d.retracts]
    assert withdrawn.retracts == feedback_id
    changes = [d.change for _, d in events if isinstance(d, ActivityChanged)]
    assert changes == ["opened", "closed", "reopened"]

    audit = await client.get(
        "/api/v1/audit", params={"entity": "activity", "entity_id": callback}, headers=admin
    )
    actions = [(e["action"], e["actor"]) for e in audit.json()]
    assert actions[:2] == [("status_undone", f"manager:{ann}"), ("status_set", f"manager:{ann}")]

    again = await client.post(f"/api/v1/activities/{callback}/undo", headers=ann_auth)
    assert again.status_code == 409
    assert again.headers["content-type"] == PROBLEM
    assert "no status change to undo" in again.json()["detail"]


async def test_only_the_clicker_undoes_and_only_for_a_few_minutes(
    client: httpx.AsyncClient, admin: dict[str, str], sessions: Sessions, call_event: EventFactory
) -> None:
    _, ann_auth = await manager(client, admin, "Ann")
    _, sue_auth = await manager(client, admin, "Sue", role="supervisor")
    [callback] = await record(sessions, call_event("callback", call_id="twilio:U2"))
    done = await client.post(
        f"/api/v1/activities/{callback}/status", json={"preset": "completed"}, headers=ann_auth
    )
    assert done.status_code == 200, done.text
    by_other = await client.post(f"/api/v1/activities/{callback}/undo", headers=sue_auth)
    assert by_other.status_code == 409
    assert "only the person who set" in by_other.json()["detail"]

    async with sessions() as session:  # the click was six minutes ago
        await session.execute(
            update(AuditEntry)
            .where(AuditEntry.entity_id == callback, AuditEntry.action == "status_set")
            .values(at=datetime.now(UTC) - timedelta(minutes=6))
        )
        await session.commit()
    late = await client.post(f"/api/v1/activities/{callback}/undo", headers=ann_auth)
    assert late.status_code == 409
    assert "5 minutes to undo have passed" in late.json()["detail"]
    stored = await client.get(f"/api/v1/activities/{callback}", headers=admin)
    assert (stored.json()["state"], stored.json()["preset"]) == ("done", "completed")


async def test_undo_never_makes_a_second_open_callback_for_one_client(
    client: httpx.AsyncClient, admin: dict[str, str], sessions: Sessions, call_event: EventFactory
) -> None:
    _, ann_auth = await manager(client, admin, "Ann")
    [first] = await record(sessions, call_event("callback", call_id="twilio:U3"))
    closed = await client.post(
        f"/api/v1/activities/{first}/status", json={"preset": "completed"}, headers=ann_auth
    )
    assert closed.status_code == 200
    [second] = await record(
        sessions,
        call_event("callback", call_id="twilio:U4", at=closed_at(closed.json())),
    )
    assert second != first
    undo = await client.post(f"/api/v1/activities/{first}/undo", headers=ann_auth)
    assert undo.status_code == 409
    assert "newer item for this client" in undo.json()["detail"]


def closed_at(activity: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(activity["closed_at"]) + timedelta(minutes=1)


async def test_a_status_that_keeps_the_item_open_is_undone_too(
    client: httpx.AsyncClient, admin: dict[str, str], sessions: Sessions, call_event: EventFactory
) -> None:
    _, ann_auth = await manager(client, admin, "Ann")
    [callback] = await record(sessions, call_event("callback", call_id="twilio:U5"))
    later = await client.post(
        f"/api/v1/activities/{callback}/status",
        json={"preset": "callback_later", "note": "after 3 pm"},
        headers=ann_auth,
    )
    assert later.status_code == 200
    undone = await client.post(f"/api/v1/activities/{callback}/undo", headers=ann_auth)
    assert undone.status_code == 200, undone.text
    assert (undone.json()["state"], undone.json()["preset"], undone.json()["note"]) == (
        "open",
        None,
        None,
    )
    changes = [d.change for _, d in await published(sessions) if isinstance(d, ActivityChanged)]
    assert changes == ["opened", "status_set", "status_set"]


async def test_afterwards_a_supervisor_corrects_the_outcome(
    client: httpx.AsyncClient, admin: dict[str, str], sessions: Sessions, call_event: EventFactory
) -> None:
    ann, ann_auth = await manager(client, admin, "Ann")
    _, sue_auth = await manager(client, admin, "Sue", role="supervisor")
    [callback] = await record(sessions, call_event("callback", call_id="twilio:C1"))
    nothing = await client.post(
        f"/api/v1/activities/{callback}/correct", json={"preset": "completed"}, headers=sue_auth
    )
    assert nothing.status_code == 409  # nobody gave it a status: nothing to correct
    spam = await client.post(
        f"/api/v1/activities/{callback}/status", json={"preset": "spam"}, headers=ann_auth
    )
    assert spam.status_code == 200
    refused = await client.post(
        f"/api/v1/activities/{callback}/correct", json={"preset": "completed"}, headers=ann_auth
    )
    assert refused.status_code == 403  # a manager undoes; a supervisor corrects

    corrected = await client.post(
        f"/api/v1/activities/{callback}/correct",
        json={"preset": "not_interested", "note": "a client after all"},
        headers=sue_auth,
    )
    assert corrected.status_code == 200, corrected.text
    body = corrected.json()
    assert (body["state"], body["preset"], body["note"]) == (
        "done",
        "not_interested",
        "a client after all",
    )
    assert body["close_reason"] == "preset not_interested (corrected)"
    assert body["assignee_id"] == ann  # still Ann's work

    events = await published(sessions)
    given = [(i, d) for i, d in events if isinstance(d, Feedback) and d.preset]
    assert [d.preset for _, d in given] == ["spam", "not_interested"]
    [withdrawn] = [d for _, d in events if isinstance(d, Feedback) and d.retracts]
    assert withdrawn.retracts == given[0][0]  # the spam report no longer counts

    too_late = await client.post(f"/api/v1/activities/{callback}/undo", headers=ann_auth)
    assert too_late.status_code == 409
    assert "supervisor corrected" in too_late.json()["detail"]
    audit = await client.get(
        "/api/v1/audit", params={"entity": "activity", "entity_id": callback}, headers=admin
    )
    assert audit.json()[0]["action"] == "status_corrected"
    assert audit.json()[0]["changes"]["before"]["preset"] == "spam"


async def test_a_correction_that_keeps_the_item_open_reopens_it(
    client: httpx.AsyncClient, admin: dict[str, str], sessions: Sessions, call_event: EventFactory
) -> None:
    _, ann_auth = await manager(client, admin, "Ann")
    _, sue_auth = await manager(client, admin, "Sue", role="supervisor")
    [callback] = await record(sessions, call_event("callback", call_id="twilio:C2"))
    await client.post(
        f"/api/v1/activities/{callback}/status", json={"preset": "completed"}, headers=ann_auth
    )
    later = await client.post(
        f"/api/v1/activities/{callback}/correct",
        json={"preset": "callback_later"},
        headers=sue_auth,
    )
    assert later.status_code == 200, later.text
    assert (later.json()["state"], later.json()["closed_at"]) == ("open", None)
    changes = [d.change for _, d in await published(sessions) if isinstance(d, ActivityChanged)]
    assert changes == ["opened", "closed", "reopened"]


async def test_call_back_later_at_a_time_makes_it_due_then_and_undo_puts_the_old_time_back(
    client: httpx.AsyncClient, admin: dict[str, str], sessions: Sessions, call_event: EventFactory
) -> None:
    _, ann_auth = await manager(client, admin, "Ann")
    [callback] = await record(sessions, call_event("callback", call_id="twilio:L1"))
    url = f"/api/v1/activities/{callback}/status"
    first_due = (await client.get(f"/api/v1/activities/{callback}", headers=admin)).json()["due_at"]
    when = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)

    for body, field_error in (
        ({"preset": "callback_later", "due_at": "2020-01-01T10:00:00Z"}, "in the future"),
        ({"preset": "completed", "due_at": when.isoformat()}, "keeps the item open"),
        ({"preset": "callback_later", "due_at": "2099-01-01T10:00:00Z"}, "within a year"),
        ({"preset": "callback_later", "due_at": "2030-01-01T10:00:00"}, "timezone"),
    ):
        refused = await client.post(url, json=body, headers=ann_auth)
        assert refused.status_code == 422, (body, refused.text)
        assert field_error in refused.text, refused.text

    later = await client.post(
        url, json={"preset": "callback_later", "due_at": when.isoformat()}, headers=ann_auth
    )
    assert later.status_code == 200, later.text
    assert (later.json()["state"], later.json()["preset"]) == ("open", "callback_later")
    assert datetime.fromisoformat(later.json()["due_at"]) == when

    undone = await client.post(f"/api/v1/activities/{callback}/undo", headers=ann_auth)
    assert undone.status_code == 200, undone.text
    assert undone.json()["due_at"] == first_due
