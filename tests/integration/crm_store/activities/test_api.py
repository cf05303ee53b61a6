"""The /api/v1 surface over real databases: tokens, roles, activities, statuses, presets."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_store.core import OutboxRepository as Repository
from crm_store.core import outbox_record
from crm_store.interactions import record_interaction
from switchboard_shared.cloudevents import decode
from switchboard_shared.events import ActivityChanged, Feedback, InteractionClassified

pytestmark = pytest.mark.integration

Sessions = async_sessionmaker[AsyncSession]
EventFactory = Callable[..., InteractionClassified]
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
PROBLEM = "application/problem+json"


async def record(sessions: Sessions, *events: InteractionClassified) -> list[str]:
    """Record events; returns the ids of the activities they opened."""
    opened: list[str] = []
    async with sessions() as session:
        for event in events:
            opened += (await record_interaction(session, event)).opened
        await session.commit()
    return opened


async def manager_with_token(
    client: httpx.AsyncClient, admin: dict[str, str], name: str, extension: str, role: str
) -> tuple[str, dict[str, str]]:
    body = {
        "name": name,
        "email": f"{name.lower()}@our.example",
        "extensions": [extension],
        "phones": ["(415) 555-0100"],
        "role": role,
    }
    created = await client.post("/api/v1/managers", json=body, headers=admin)
    assert created.status_code == 201, created.text
    manager_id = created.json()["id"]
    token = await client.post("/api/v1/tokens", json={"manager_id": manager_id}, headers=admin)
    assert token.status_code == 201, token.text
    assert token.json()["role"] == role
    return manager_id, {"Authorization": f"Bearer {token.json()['token']}"}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic YWxhZGRpbjpvcGVu"}],
)
async def test_requests_without_a_valid_token_are_refused(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.get("/api/v1/activities", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["status"] == 401


async def test_the_bootstrap_admin_lists_activities(
    client: httpx.AsyncClient, admin: dict[str, str], sessions: Sessions, call_event: EventFactory
) -> None:
    [opened] = await record(sessions, call_event("callback", call_id="twilio:A1"))
    response = await client.get("/api/v1/activities", headers=admin)
    assert response.status_code == 200
    body = response.json()
    assert body["next_cursor"] is None
    assert [(a["id"], a["kind"], a["state"], a["count"]) for a in body["items"]] == [
        (opened, "callback", "open", 1)
    ]
    assert body["items"][0]["opened_at"] == "2025-03-01T09:00:00Z"
    one = await client.get(f"/api/v1/activities/{opened}", headers=admin)
    assert one.status_code == 200
    assert one.json()["counterpart"] == "+14155550123"
    missing = await client.get("/api/v1/activities/nope", headers=admin)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM


async def test_activities_page_with_an_opaque_cursor(
    client: httpx.AsyncClient, admin: dict[str, str], sessions: Sessions, call_event: EventFactory
) -> None:
    events = [
        call_event(
            "callback",
            call_id=f"twilio:P{n}",
            counterpart=f"+1415555020{n}",
            at=T0 + timedelta(minutes=n % 3),  # equal opened_at values exercise the tie-break
        )
        for n in range(7)
    ]
    opened = await record(sessions, *events)
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3, "state": "open", "kind": "callback"}
        if cursor:
            params["cursor"] = cursor
        response = await client.get("/api/v1/activities", params=params, headers=admin)
        assert response.status_code == 200, response.text
        body = response.json()
        seen += [a["id"] for a in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert sorted(seen) == sorted(opened)
    assert len(seen) == len(set(seen))
    listing = (await client.get("/api/v1/activities?limit=200", headers=admin)).json()["items"]
    keys = [(a["opened_at"], a["id"]) for a in listing]
    assert keys == sorted(keys, reverse=True)
    assert [a["id"] for a in listing] == seen

    bad = await client.get("/api/v1/activities", params={"cursor": "!!!"}, headers=admin)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "cursor"
    too_many = await client.get("/api/v1/activities", params={"limit": 201}, headers=admin)
    assert too_many.status_code == 422


async def test_setting_a_closing_status_closes_and_writes_feedback(
    client: httpx.AsyncClient, admin: dict[str, str], sessions: Sessions, call_event: EventFactory
) -> None:
    [opened] = await record(sessions, call_event("callback", call_id="twilio:S1"))
    response = await client.post(
        f"/api/v1/activities/{opened}/status",
        json={"preset": "wrong_number", "note": "asked for a pizzeria"},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["state"], body["preset"], body["closed_by"]) == ("done", "wrong_number", "manager")
    assert body["note"] == "asked for a pizzeria"
    assert body["closed_at"] is not None

    async with sessions() as session:
        records = [outbox_record(r) for r in await Repository(session).pending_outbox(100)]
    decoded = [decode(r.headers, r.value)[1] for r in records]
    feedback = [d for d in decoded if isinstance(d, Feedback)]
    assert len(feedback) == 1
    assert feedback[0].preset == "wrong_number"
    assert feedback[0].classifier_disposition == "callback"
    assert feedback[0].overturns_classifier is True
    assert feedback[0].interaction_id == "ce-twilio:S1"
    closed = [d for d in decoded if isinstance(d, ActivityChanged) and d.change == "closed"]
    assert len(closed) == 1
    assert closed[0].closed_by == "manager"

    again = await client.post(
        f"/api/v1/activities/{opened}/status", json={"preset": "completed"}, headers=admin
    )
    assert again.status_code == 409


async def test_a_non_closing_status_keeps_the_activity_open(
    client: httpx.AsyncClient, admin: dict[str, str], sessions: Sessions, call_event: EventFactory
) -> None:
    [opened] = await record(sessions, call_event("callback", call_id="twilio:S2"))
    response = await client.post(
        f"/api/v1/activities/{opened}/status", json={"preset": "in_progress"}, headers=admin
    )
    assert response.status_code == 200
    assert (response.json()["state"], response.json()["preset"]) == ("open", "in_progress")
    async with sessions() as session:
        records = [outbox_record(r) for r in await Repository(session).pending_outbox(100)]
    feedback = [d for r in records if isinstance(d := decode(r.headers, r.value)[1], Feedback)]
    assert [f.overturns_classifier for f in feedback] == [False]


async def test_a_preset_that_does_not_apply_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str], sessions: Sessions, mail_event: EventFactory
) -> None:
    reply, _identify = await record(
        sessions, mail_event("reply_needed", message_id="<q1@client.example>")
    )
    response = await client.post(
        f"/api/v1/activities/{reply}/status", json={"preset": "wrong_number"}, headers=admin
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["field"] == "preset"
    unknown = await client.post(
        f"/api/v1/activities/{reply}/status", json={"preset": "no_such"}, headers=admin
    )
    assert unknown.status_code == 422


async def test_completed_on_an_identify_item_is_refused_with_the_way_to_close_it(
    client: httpx.AsyncClient, admin: dict[str, str], sessions: Sessions, call_event: EventFactory
) -> None:
    """A manager's "Completed" on "Who is this?" once dropped a demo request with no contact
    made: it is refused, and says what closes it; "Spam" still closes it."""
    conversation = call_event("needs_status", call_id="twilio:W1", status="answered")
    _outcome, identify = await record(sessions, conversation)
    refused = await client.post(
        f"/api/v1/activities/{identify}/status", json={"preset": "completed"}, headers=admin
    )
    assert refused.status_code == 409
    assert refused.headers["content-type"] == PROBLEM
    assert "contact" in refused.json()["detail"]
    still = await client.get(f"/api/v1/activities/{identify}", headers=admin)
    assert still.json()["state"] == "open"
    spam = await client.post(
        f"/api/v1/activities/{identify}/status", json={"preset": "spam"}, headers=admin
    )
    assert spam.status_code == 200
    assert spam.json()["state"] == "done"


async def test_managers_see_their_own_and_unassigned_activities(
    client: httpx.AsyncClient, admin: dict[str, str], sessions: Sessions, call_event: EventFactory
) -> None:
    alice, alice_auth = await manager_with_token(client, admin, "Alice", "101", "manager")
    bob, bob_auth = await manager_with_token(client, admin, "Bob", "102", "manager")
    for_alice, for_bob, nobodys = await record(
        sessions,
        call_event("callback", call_id="twilio:V1", counterpart="+14155550301", agent="101"),
        call_event("callback", call_id="twilio:V2", counterpart="+14155550302", agent="102"),
        call_event("callback", call_id="twilio:V3", counterpart="+14155550303", agent="999"),
    )

    listing = await client.get("/api/v1/activities", headers=alice_auth)
    assert listing.status_code == 200
    assert {a["id"]: a["assignee_id"] for a in listing.json()["items"]} == {
        for_alice: alice,
        nobodys: None,
    }
    mine = await client.get("/api/v1/activities?assignee=me", headers=alice_auth)
    assert [a["id"] for a in mine.json()["items"]] == [for_alice]
    unassigned = await client.get("/api/v1/activities?assignee=unassigned", headers=admin)
    assert [a["id"] for a in unassigned.json()["items"]] == [nobodys]
    assert (
        await client.get(f"/api/v1/activities?assignee={bob}", headers=alice_auth)
    ).status_code == 403
    assert (
        await client.get(f"/api/v1/activities/{for_bob}", headers=alice_auth)
    ).status_code == 404
    everyone = await client.get("/api/v1/activities", headers=admin)
    assert len(everyone.json()["items"]) == 3

    denied = await client.post(
        f"/api/v1/activities/{for_bob}/status", json={"preset": "completed"}, headers=alice_auth
    )
    assert denied.status_code == 404
    taken = await client.post(
        f"/api/v1/activities/{nobodys}/status", json={"preset": "in_progress"}, headers=alice_auth
    )
    assert taken.status_code == 200
    assert taken.json()["assignee_id"] == alice
    assert (await client.get(f"/api/v1/activities/{nobodys}", headers=bob_auth)).status_code == 404


async def test_roles_limit_what_a_token_may_do(
    client: httpx.AsyncClient, admin: dict[str, str], sessions: Sessions, call_event: EventFactory
) -> None:
    [opened] = await record(sessions, call_event("callback", call_id="twilio:R1"))
    _, viewer = await manager_with_token(client, admin, "Vera", "201", "viewer")
    _, operator = await manager_with_token(client, admin, "Otto", "202", "operator")
    _, supervisor = await manager_with_token(client, admin, "Sue", "203", "supervisor")

    assert (await client.get("/api/v1/activities", headers=viewer)).status_code == 200
    status = {"preset": "completed"}
    url = f"/api/v1/activities/{opened}/status"
    assert (await client.post(url, json=status, headers=viewer)).status_code == 403
    assert (await client.get("/api/v1/activities", headers=operator)).status_code == 403
    assert (await client.get("/api/v1/managers", headers=supervisor)).status_code == 200
    assert (await client.get("/api/v1/managers", headers=viewer)).status_code == 403
    preset = {"code": "quote_sent", "label": "Quote sent", "kinds": ["log_outcome"]}
    assert (
        await client.post("/api/v1/presets", json=preset, headers=supervisor)
    ).status_code == 403
    token = {"role": "admin"}
    assert (await client.post("/api/v1/tokens", json=token, headers=supervisor)).status_code == 403
    assert (await client.post(url, json=status, headers=supervisor)).status_code == 200


async def test_admin_manages_presets(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    listed = await client.get("/api/v1/presets", headers=admin)
    assert [p["code"] for p in listed.json()][:2] == ["in_progress", "completed"]
    body = {"code": "quote_sent", "label": "Quote sent", "kinds": ["log_outcome"], "closes": True}
    created = await client.post("/api/v1/presets", json=body, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["overturns"] == []
    assert (await client.post("/api/v1/presets", json=body, headers=admin)).status_code == 409
    bad = await client.post("/api/v1/presets", json={**body, "kinds": ["meeting"]}, headers=admin)
    assert bad.status_code == 422
    patched = await client.patch(
        "/api/v1/presets/quote_sent", json={"label": "Offer sent", "active": False}, headers=admin
    )
    assert patched.status_code == 200
    assert patched.json()["label"] == "Offer sent"
    nulled = await client.patch("/api/v1/presets/quote_sent", json={"label": None}, headers=admin)
    assert nulled.status_code == 422
    missing = await client.patch("/api/v1/presets/nope", json={"label": "x"}, headers=admin)
    assert missing.status_code == 404
    active = await client.get("/api/v1/presets", headers=admin)
    assert "quote_sent" not in [p["code"] for p in active.json()]
    everything = await client.get("/api/v1/presets?include_inactive=true", headers=admin)
    assert "quote_sent" in [p["code"] for p in everything.json()]


async def test_managers_and_tokens(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    manager_id, auth = await manager_with_token(client, admin, "Mia", "301", "manager")
    listed = await client.get("/api/v1/managers", headers=admin)
    [mia] = [m for m in listed.json() if m["id"] == manager_id]
    assert mia["email"] == "mia@our.example"
    assert mia["phones"] == ["+14155550100"]
    assert (await client.get("/api/v1/activities", headers=auth)).status_code == 200

    same_email = {"name": "Mia Two", "email": "MIA@our.example", "role": "manager"}
    assert (
        await client.post("/api/v1/managers", json=same_email, headers=admin)
    ).status_code == 409
    same_ext = {"name": "Max", "email": "max@our.example", "extensions": ["301"]}
    assert (await client.post("/api/v1/managers", json=same_ext, headers=admin)).status_code == 409
    bad_phone = {"name": "Max", "email": "max@our.example", "phones": ["call me"]}
    refused = await client.post("/api/v1/managers", json=bad_phone, headers=admin)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "phones.0"
    bad_email = {"name": "Max", "email": "not an address"}
    assert (await client.post("/api/v1/managers", json=bad_email, headers=admin)).status_code == 422

    orphan = await client.post("/api/v1/tokens", json={"role": "manager"}, headers=admin)
    assert orphan.status_code == 422
    unknown = await client.post("/api/v1/tokens", json={"manager_id": "nope"}, headers=admin)
    assert unknown.status_code == 422
    service = await client.post("/api/v1/tokens", json={"role": "viewer"}, headers=admin)
    assert service.status_code == 201
    viewer = {"Authorization": f"Bearer {service.json()['token']}"}
    assert (await client.get("/api/v1/activities", headers=viewer)).status_code == 200
    me = await client.get("/api/v1/activities?assignee=me", headers=viewer)
    assert me.status_code == 422
