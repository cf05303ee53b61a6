"""Tokens over the API on real databases: listed without their secrets, revoked (idempotent,
audited), expiring, their last use recorded cheaply, and a manager's deactivation ending all of
them at once. Also: the timeline shows activities (and their notes) only to roles that may read
activities."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_store.core import ApiToken
from crm_store.interactions import record_interaction
from switchboard_shared.events import InteractionClassified

pytestmark = pytest.mark.integration

Sessions = async_sessionmaker[AsyncSession]
EventFactory = Callable[..., InteractionClassified]


async def manager(
    client: httpx.AsyncClient, admin: dict[str, str], name: str, role: str = "manager"
) -> str:
    body = {"name": name, "email": f"{name.lower()}@our.example", "role": role}
    created = await client.post("/api/v1/managers", json=body, headers=admin)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def issue(
    client: httpx.AsyncClient, admin: dict[str, str], manager_id: str, **extra: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/tokens", json={"manager_id": manager_id, **extra}, headers=admin
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(token: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {token['token']}"}


async def listed(client: httpx.AsyncClient, admin: dict[str, str], **params: str) -> Any:
    response = await client.get("/api/v1/tokens", params=params, headers=admin)
    assert response.status_code == 200, response.text
    return response.json()


async def test_tokens_are_listed_with_their_state_and_last_use_never_their_secret(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    mia = await manager(client, admin, "Mia")
    token = await issue(client, admin, mia)
    service = await client.post("/api/v1/tokens", json={"role": "viewer"}, headers=admin)
    assert service.status_code == 201

    response = await client.get("/api/v1/tokens", headers=admin)
    assert response.status_code == 200
    assert token["token"] not in response.text
    assert service.json()["token"] not in response.text
    [mine] = [t for t in response.json() if t["id"] == token["id"]]
    assert set(mine) == {
        "id",
        "manager_id",
        "manager_name",
        "role",
        "state",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    }
    assert mine["manager_name"] == "Mia"
    assert (mine["role"], mine["state"], mine["last_used_at"]) == ("manager", "active", None)
    assert [t["id"] for t in await listed(client, admin, manager_id=mia)] == [token["id"]]

    assert (await client.get("/api/v1/presets", headers=bearer(token))).status_code == 200
    [used] = await listed(client, admin, manager_id=mia)
    assert used["last_used_at"] is not None
    # A second use within the minute writes nothing.
    assert (await client.get("/api/v1/presets", headers=bearer(token))).status_code == 200
    [again] = await listed(client, admin, manager_id=mia)
    assert again["last_used_at"] == used["last_used_at"]

    viewer = {"Authorization": f"Bearer {service.json()['token']}"}
    assert (await client.get("/api/v1/tokens", headers=viewer)).status_code == 403


async def test_a_use_is_recorded_again_after_a_minute(
    client: httpx.AsyncClient, admin: dict[str, str], sessions: Sessions
) -> None:
    token = await issue(client, admin, await manager(client, admin, "Lou"))
    long_ago = datetime.now(UTC) - timedelta(minutes=5)
    async with sessions() as session:
        await session.execute(
            update(ApiToken).where(ApiToken.id == token["id"]).values(last_used_at=long_ago)
        )
        await session.commit()
    assert (await client.get("/api/v1/presets", headers=bearer(token))).status_code == 200
    async with sessions() as session:
        row = await session.scalar(select(ApiToken).where(ApiToken.id == token["id"]))
    assert row is not None
    assert row.last_used_at is not None
    assert row.last_used_at > long_ago + timedelta(minutes=4)


async def test_revoking_a_token_is_immediate_idempotent_and_audited(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    mia = await manager(client, admin, "Mia")
    token = await issue(client, admin, mia)
    other = await issue(client, admin, mia)
    assert (await client.get("/api/v1/presets", headers=bearer(token))).status_code == 200

    revoked = await client.delete(f"/api/v1/tokens/{token['id']}", headers=admin)
    assert revoked.status_code == 204
    assert revoked.content == b""
    refused = await client.get("/api/v1/presets", headers=bearer(token))
    assert refused.status_code == 401
    assert refused.json()["detail"] == "unknown or revoked token"
    assert (await client.get("/api/v1/presets", headers=bearer(other))).status_code == 200

    assert (await client.delete(f"/api/v1/tokens/{token['id']}", headers=admin)).status_code == 204
    states = {t["id"]: t for t in await listed(client, admin, manager_id=mia)}
    assert states[token["id"]]["state"] == "revoked"
    assert states[token["id"]]["revoked_at"] is not None
    assert states[other["id"]]["state"] == "active"
    assert [t["id"] for t in await listed(client, admin, state="revoked")] == [token["id"]]

    audit = await client.get("/api/v1/audit", headers=admin)
    revocations = [
        e for e in audit.json() if e["action"] == "revoked" and e["entity_id"] == token["id"]
    ]
    assert len(revocations) == 1
    unknown = await client.delete("/api/v1/tokens/no-such-token", headers=admin)
    assert unknown.status_code == 404
    assert (
        await client.delete(f"/api/v1/tokens/{other['id']}", headers=bearer(other))
    ).status_code == 403


async def test_a_token_may_expire(
    client: httpx.AsyncClient, admin: dict[str, str], sessions: Sessions
) -> None:
    mia = await manager(client, admin, "Mia")
    before = datetime.now(UTC)
    daily = await issue(client, admin, mia, expires_in_days=1)
    expires = datetime.fromisoformat(daily["expires_at"])
    assert before + timedelta(days=1) <= expires <= datetime.now(UTC) + timedelta(days=1)
    at = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    dated = await issue(client, admin, mia, expires_at=at.isoformat())
    assert datetime.fromisoformat(dated["expires_at"]) == at
    assert (await client.get("/api/v1/presets", headers=bearer(dated))).status_code == 200

    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    for body in (
        {"manager_id": mia, "expires_at": past},
        {"manager_id": mia, "expires_in_days": 0},
        {"manager_id": mia, "expires_in_days": 1, "expires_at": at.isoformat()},
    ):
        refused = await client.post("/api/v1/tokens", json=body, headers=admin)
        assert refused.status_code == 422, body

    async with sessions() as session:
        await session.execute(
            update(ApiToken)
            .where(ApiToken.id == dated["id"])
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await session.commit()
    expired = await client.get("/api/v1/presets", headers=bearer(dated))
    assert expired.status_code == 401
    assert expired.json()["detail"] == "the token has expired"
    states = {t["id"]: t["state"] for t in await listed(client, admin, manager_id=mia)}
    assert states == {dated["id"]: "expired", daily["id"]: "active"}


async def test_deactivating_a_manager_ends_every_token_and_reactivating_revives_none(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    mia = await manager(client, admin, "Mia")
    tokens = [await issue(client, admin, mia) for _ in range(2)]
    bob = await issue(client, admin, await manager(client, admin, "Bob"))

    renamed = await client.patch(
        f"/api/v1/managers/{mia}", json={"name": "Mia Lund"}, headers=admin
    )
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["name"], renamed.json()["active"]) == ("Mia Lund", True)

    off = await client.patch(f"/api/v1/managers/{mia}", json={"active": False}, headers=admin)
    assert off.status_code == 200, off.text
    assert off.json()["active"] is False
    for token in tokens:
        assert (await client.get("/api/v1/presets", headers=bearer(token))).status_code == 401
    assert (await client.get("/api/v1/presets", headers=bearer(bob))).status_code == 200
    states = [t["state"] for t in await listed(client, admin, manager_id=mia)]
    assert states == ["revoked", "revoked"]
    refused = await client.post("/api/v1/tokens", json={"manager_id": mia}, headers=admin)
    assert refused.status_code == 409

    on = await client.patch(f"/api/v1/managers/{mia}", json={"active": True}, headers=admin)
    assert on.status_code == 200
    for token in tokens:
        assert (await client.get("/api/v1/presets", headers=bearer(token))).status_code == 401
    fresh = await issue(client, admin, mia)
    assert (await client.get("/api/v1/presets", headers=bearer(fresh))).status_code == 200

    audit = (await client.get("/api/v1/audit", headers=admin)).json()
    [deactivated] = [
        e for e in audit if e["entity_id"] == mia and e["changes"].get("active") is False
    ]
    assert sorted(deactivated["changes"]["revoked"]) == sorted(t["id"] for t in tokens)
    for body in ({"active": None}, {"email": "not-an-address"}, {"name": ""}):
        assert (
            await client.patch(f"/api/v1/managers/{mia}", json=body, headers=admin)
        ).status_code == 422, body
    missing = await client.patch("/api/v1/managers/nobody", json={"active": False}, headers=admin)
    assert missing.status_code == 404


async def test_the_timeline_shows_activities_and_notes_only_to_their_readers(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    sessions: Sessions,
    call_event: EventFactory,
) -> None:
    contact = await client.post(
        "/api/v1/contacts",
        json={"first_name": "Ann", "last_name": "Lee", "phones": ["+14155550123"]},
        headers=admin,
    )
    assert contact.status_code == 201, contact.text
    async with sessions() as session:
        result = await record_interaction(session, call_event("callback", call_id="twilio:T1"))
        await session.commit()
    [activity] = result.opened
    noted = await client.post(
        f"/api/v1/activities/{activity}/status",
        json={"preset": "in_progress", "note": "private: owes us 300"},
        headers=admin,
    )
    assert noted.status_code == 200, noted.text
    path = f"/api/v1/contacts/{contact.json()['id']}/timeline"

    operator = bearer(await issue(client, admin, await manager(client, admin, "Otto", "operator")))
    assert (await client.get(f"/api/v1/activities/{activity}", headers=operator)).status_code == 403
    seen = await client.get(path, headers=operator)
    assert seen.status_code == 200
    assert [i["id"] for i in seen.json()["interactions"]] == ["ce-twilio:T1"]
    assert seen.json()["activities"] == []
    assert "owes us" not in seen.text

    viewer = bearer(await issue(client, admin, await manager(client, admin, "Vera", "viewer")))
    readers = (await client.get(path, headers=viewer)).json()["activities"]
    assert [(a["id"], a["note"]) for a in readers] == [(activity, "private: owes us 300")]
