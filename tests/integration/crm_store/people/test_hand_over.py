"""A manager who leaves, over the API on real databases: one call deactivates them (their token
stops working) and hands their contacts, companies, open activities and running plan targets to
a colleague, announced on crm.activities and audited, while every interaction still names the
manager who handled it and closed activities, ended targets and other people's rows stay."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_store.core import Interaction, OutboxMessage, utcnow
from crm_store.interactions import record_interaction
from switchboard_shared.events import InteractionClassified

pytestmark = pytest.mark.integration

Sessions = async_sessionmaker[AsyncSession]
EventFactory = Callable[..., InteractionClassified]


async def post(client: httpx.AsyncClient, admin: dict[str, str], path: str, body: Any) -> Any:
    response = await client.post(path, json=body, headers=admin)
    assert response.status_code in (200, 201), response.text
    return response.json()


async def person(client: httpx.AsyncClient, admin: dict[str, str], name: str, ext: str) -> str:
    body = {"name": name, "email": f"{name.lower()}@our.example", "extensions": [ext]}
    return str((await post(client, admin, "/api/v1/managers", body))["id"])


def target(manager_id: str, days_from: int, days_to: int) -> dict[str, Any]:
    now = utcnow()
    return {
        "manager_id": manager_id,
        "metric": "activities_closed",
        "target": 10,
        "period_start": (now + timedelta(days=days_from)).isoformat(),
        "period_end": (now + timedelta(days=days_to)).isoformat(),
    }


async def test_a_leaving_manager_hands_everything_over_in_one_step(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    sessions: Sessions,
    call_event: EventFactory,
) -> None:
    ada = await person(client, admin, "Ada", "201")
    bo = await person(client, admin, "Bo", "202")
    cy = await person(client, admin, "Cy", "203")
    token = await post(client, admin, "/api/v1/tokens", {"manager_id": ada})
    contact = await post(
        client,
        admin,
        "/api/v1/contacts",
        {"first_name": "Kim", "owner_id": ada, "phones": ["+14155550123"]},
    )
    others = await post(client, admin, "/api/v1/contacts", {"first_name": "Lee", "owner_id": cy})
    company = await post(client, admin, "/api/v1/companies", {"name": "Acme", "owner_id": ada})
    running = await post(client, admin, "/api/v1/plan-targets", target(ada, -1, 20))
    ended = await post(client, admin, "/api/v1/plan-targets", target(ada, -40, -10))
    async with sessions() as session:
        first = await record_interaction(
            session, call_event("callback", call_id="twilio:H1", agent="201")
        )
        done = await record_interaction(
            session,
            call_event("callback", call_id="twilio:H2", agent="201", counterpart="+14155550999"),
        )
        await session.commit()
    [open_id] = first.opened
    [closed_id] = done.opened
    closed = await client.post(
        f"/api/v1/activities/{closed_id}/status", json={"preset": "completed"}, headers=admin
    )
    assert closed.status_code == 200, closed.text

    refused = await client.post(
        f"/api/v1/managers/{ada}/hand-over", json={"successor_id": ada}, headers=admin
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "successor_id"
    handed = await post(client, admin, f"/api/v1/managers/{ada}/hand-over", {"successor_id": bo})

    assert handed["contacts"] == [contact["id"]]
    assert handed["companies"] == [company["id"]]
    assert handed["activities"] == [open_id]
    assert handed["plan_targets"] == [running["id"]]
    who = {"Authorization": f"Bearer {token['token']}"}
    assert (await client.get("/api/v1/contacts", headers=who)).status_code == 401
    managers = (await client.get("/api/v1/managers", headers=admin)).json()
    assert [m["active"] for m in managers if m["id"] == ada] == [False]
    kim = (await client.get(f"/api/v1/contacts/{contact['id']}", headers=admin)).json()
    assert kim["owner_id"] == bo
    lee = (await client.get(f"/api/v1/contacts/{others['id']}", headers=admin)).json()
    assert lee["owner_id"] == cy
    acme = (await client.get(f"/api/v1/companies/{company['id']}", headers=admin)).json()
    assert acme["owner_id"] == bo
    moved = (await client.get(f"/api/v1/activities/{open_id}", headers=admin)).json()
    assert moved["assignee_id"] == bo
    kept = (await client.get(f"/api/v1/activities/{closed_id}", headers=admin)).json()
    assert kept["assignee_id"] == ada  # who closed it, then
    targets = {
        t["id"]: t["manager_id"]
        for t in (await client.get("/api/v1/plan-targets", headers=admin)).json()
    }
    assert targets[running["id"]] == bo
    assert targets[ended["id"]] == ada

    async with sessions() as session:
        handled = (await session.execute(select(Interaction.manager_id))).scalars().all()
        outbox = (
            (
                await session.execute(
                    select(OutboxMessage).where(OutboxMessage.topic == "crm.activities.v1")
                )
            )
            .scalars()
            .all()
        )
    assert set(handled) == {ada}  # the history still names who handled each call
    reassigned = [
        m for m in outbox if m.key == open_id.encode() and b"reassigned" in (m.value or b"")
    ]
    assert len(reassigned) == 1
    audit = (
        await client.get(
            "/api/v1/audit", params={"entity": "manager", "entity_id": ada}, headers=admin
        )
    ).json()
    [entry] = [e for e in audit if e["action"] == "handed_over"]
    assert entry["changes"]["successor_id"] == bo


async def test_a_hand_over_to_a_deactivated_colleague_changes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    ada = await person(client, admin, "Ana", "301")
    bo = await person(client, admin, "Ben", "302")
    off = await client.patch(f"/api/v1/managers/{bo}", json={"active": False}, headers=admin)
    assert off.status_code == 200
    refused = await client.post(
        f"/api/v1/managers/{ada}/hand-over", json={"successor_id": bo}, headers=admin
    )
    assert refused.status_code == 422
    managers = (await client.get("/api/v1/managers", headers=admin)).json()
    assert [m["active"] for m in managers if m["id"] == ada] == [True]


async def test_a_manager_edit_checks_addresses_and_extensions(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    ada = await person(client, admin, "Ida", "401")
    await person(client, admin, "Jo", "402")
    token = await post(client, admin, "/api/v1/tokens", {"manager_id": ada})
    taken = await client.patch(
        f"/api/v1/managers/{ada}", json={"extensions": ["402"]}, headers=admin
    )
    assert taken.status_code == 409
    bad = await client.patch(f"/api/v1/managers/{ada}", json={"aliases": ["nope"]}, headers=admin)
    assert bad.status_code == 422
    theirs = await client.patch(
        f"/api/v1/managers/{ada}", json={"aliases": ["jo@our.example"]}, headers=admin
    )
    assert theirs.status_code == 409  # mail to one address reaches one manager
    changed = await client.patch(
        f"/api/v1/managers/{ada}",
        json={"aliases": ["Sales@Our.Example"], "extensions": ["401", "411"], "role": "supervisor"},
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["aliases"] == ["sales@our.example"]
    assert body["extensions"] == ["401", "411"]
    assert body["role"] == "supervisor"
    # The old token carried the old role: it no longer works.
    who = {"Authorization": f"Bearer {token['token']}"}
    assert (await client.get("/api/v1/presets", headers=who)).status_code == 401
