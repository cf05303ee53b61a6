"""What piles up is cleared (real databases): outcome requests nobody answered expire into "no
outcome recorded" (the old ones canceled by themselves, audited and published; newer ones, other
kinds and what a manager already closed stay as they are), and a manager back from a holiday
marks their whole inbox as handled with a reason."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_store.activities import OutcomeExpiry, expire_outcome_requests
from crm_store.core import OutboxRepository, outbox_record, utcnow
from crm_store.interactions import record_interaction
from switchboard_shared.cloudevents import decode
from switchboard_shared.events import ActivityChanged, InteractionClassified

pytestmark = pytest.mark.integration

Sessions = async_sessionmaker[AsyncSession]
EventFactory = Callable[..., InteractionClassified]


async def record(sessions: Sessions, *events: InteractionClassified) -> list[str]:
    opened: list[str] = []
    async with sessions() as session:
        for event in events:
            opened += (await record_interaction(session, event)).opened
        await session.commit()
    return opened


async def test_unanswered_outcome_requests_expire_into_no_outcome_recorded(
    client: httpx.AsyncClient, admin: dict[str, str], sessions: Sessions, call_event: EventFactory
) -> None:
    now = utcnow()
    known = "+14155550177"

    def talk(call_id: str, hours_ago: float) -> InteractionClassified:
        return call_event(
            "needs_status",
            call_id=call_id,
            status="answered",
            counterpart=known,
            at=now - timedelta(hours=hours_ago),
        )

    old = await record(sessions, talk("twilio:E1", 80))
    kinds = {a: await kind_of(client, admin, a) for a in old}
    [old_outcome] = [a for a, kind in kinds.items() if kind == "log_outcome"]
    [identify] = [a for a, kind in kinds.items() if kind == "identify_contact"]
    handled = [a for a in await record(sessions, talk("twilio:E2", 79)) if a != identify]
    [handled_outcome] = [a for a in handled if await kind_of(client, admin, a) == "log_outcome"]
    done = await client.post(
        f"/api/v1/activities/{handled_outcome}/status", json={"preset": "completed"}, headers=admin
    )
    assert done.status_code == 200
    [old_callback] = await record(
        sessions,
        call_event(
            "callback",
            call_id="twilio:E3",
            counterpart="+14155550178",
            at=now - timedelta(hours=90),
        ),
    )
    fresh = [a for a in await record(sessions, talk("twilio:E4", 2)) if a != identify]

    async with sessions() as session:
        assert await expire_outcome_requests(session, now, after_h=72) == 1
        await session.commit()
    expired = (await client.get(f"/api/v1/activities/{old_outcome}", headers=admin)).json()
    assert (expired["state"], expired["closed_by"], expired["close_reason"]) == (
        "canceled",
        "auto",
        "no outcome recorded",
    )
    for untouched in (handled_outcome, old_callback, identify, *fresh):
        state = (await client.get(f"/api/v1/activities/{untouched}", headers=admin)).json()
        assert state["close_reason"] != "no outcome recorded", untouched
    audit = await client.get(
        "/api/v1/audit", params={"entity": "activity", "entity_id": old_outcome}, headers=admin
    )
    assert audit.json()[0]["action"] == "expired"
    async with sessions() as session:
        records = [outbox_record(r) for r in await OutboxRepository(session).pending_outbox(1000)]
    changes = [
        d.change
        for r in records
        if isinstance(d := decode(r.headers, r.value)[1], ActivityChanged)
        and d.activity_id == old_outcome
    ]
    assert changes == ["opened", "canceled"]

    # The background sweep finds nothing more to do: a second round changes nothing.
    assert await OutcomeExpiry(sessions, after_h=72).sweep() == 0


async def kind_of(client: httpx.AsyncClient, admin: dict[str, str], activity_id: str) -> str:
    kind: str = (await client.get(f"/api/v1/activities/{activity_id}", headers=admin)).json()[
        "kind"
    ]
    return kind


async def test_a_manager_back_from_holiday_marks_everything_handled(
    client: httpx.AsyncClient, admin: dict[str, str], sessions: Sessions, call_event: EventFactory
) -> None:
    async def manager(
        name: str, extension: str, role: str = "manager"
    ) -> tuple[str, dict[str, str]]:
        body = {
            "name": name,
            "email": f"{name.lower()}@our.example",
            "role": role,
            "extensions": [extension],
        }
        created = await client.post("/api/v1/managers", json=body, headers=admin)
        token = await client.post(
            "/api/v1/tokens", json={"manager_id": created.json()["id"]}, headers=admin
        )
        return created.json()["id"], {"Authorization": f"Bearer {token.json()['token']}"}

    ann, ann_auth = await manager("Ann", "301")
    bob, _ = await manager("Bob", "302")
    now = utcnow()
    anns = await record(
        sessions,
        call_event(
            "callback", call_id="twilio:H1", counterpart="+14155550181", agent="301", at=now
        ),
        call_event(
            "needs_status",
            call_id="twilio:H2",
            status="answered",
            counterpart="+14155550182",
            agent="301",
            at=now,
        ),
    )
    [bobs] = await record(
        sessions,
        call_event(
            "callback", call_id="twilio:H3", counterpart="+14155550183", agent="302", at=now
        ),
    )
    kinds = {a: await kind_of(client, admin, a) for a in anns}
    not_bobs = await client.post(
        "/api/v1/activities/mark-handled",
        json={"reason": "back from holiday", "assignee_id": bob},
        headers=ann_auth,
    )
    assert not_bobs.status_code == 403
    empty = await client.post(
        "/api/v1/activities/mark-handled", json={"reason": ""}, headers=ann_auth
    )
    assert empty.status_code == 422

    handled = await client.post(
        "/api/v1/activities/mark-handled", json={"reason": "back from holiday"}, headers=ann_auth
    )
    assert handled.status_code == 200, handled.text
    assert handled.json() == {"handled": 2}  # the callback and the outcome; not who is this
    for activity_id, kind in kinds.items():
        state = (await client.get(f"/api/v1/activities/{activity_id}", headers=admin)).json()
        if kind == "identify_contact":
            assert state["state"] == "open"
        else:
            assert (state["state"], state["close_reason"]) == (
                "canceled",
                "marked as handled: back from holiday",
            )
    assert (await client.get(f"/api/v1/activities/{bobs}", headers=admin)).json()["state"] == "open"
    audit = await client.get(
        "/api/v1/audit", params={"entity": "activity", "entity_id": anns[0]}, headers=admin
    )
    assert (audit.json()[0]["action"], audit.json()[0]["actor"]) == (
        "marked_handled",
        f"manager:{ann}",
    )
    again = await client.post(
        "/api/v1/activities/mark-handled", json={"reason": "twice"}, headers=ann_auth
    )
    assert again.json() == {"handled": 0}
