"""Contacts and companies over the API on real databases: duplicates on save (any number format),
archive/restore, merge, the CSV export, and what the store links to them."""

from __future__ import annotations

import csv
import io
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
from switchboard_shared.events import ContactPoint, InteractionClassified, InteractionLinked

pytestmark = pytest.mark.integration

Sessions = async_sessionmaker[AsyncSession]
EventFactory = Callable[..., InteractionClassified]
PROBLEM = "application/problem+json"
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)  # the event factories' default time


async def token_for(client: httpx.AsyncClient, admin: dict[str, str], role: str) -> dict[str, str]:
    body = {"name": f"{role.title()} One", "email": f"{role}-one@our.example", "role": role}
    created = await client.post("/api/v1/managers", json=body, headers=admin)
    assert created.status_code == 201, created.text
    token = await client.post(
        "/api/v1/tokens", json={"manager_id": created.json()["id"]}, headers=admin
    )
    return {"Authorization": f"Bearer {token.json()['token']}"}


async def record(sessions: Sessions, *events: InteractionClassified) -> list[Any]:
    results = []
    async with sessions() as session:
        for event in events:
            results.append(await record_interaction(session, event))
        await session.commit()
    return results


async def staged(sessions: Sessions) -> list[tuple[str, bytes | None, Any]]:
    """Pending outbox records as (topic, key, decoded data or None for a tombstone)."""
    async with sessions() as session:
        rows = await Repository(session).pending_outbox(limit=10_000)
    out = []
    for row in rows:
        record = outbox_record(row)
        data = None if record.value is None else decode(record.headers, record.value)[1]
        out.append((record.topic, record.key, data))
    return out


async def test_a_contact_is_stored_with_normalised_points_and_duplicates_are_caught(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    operator = await token_for(client, admin, "operator")
    body = {
        "first_name": "Ann",
        "last_name": "Lee",
        "phones": ["(415) 555-0123", "+1 415 555 0123"],
        "emails": ["Ann.Lee@Client.Example"],
    }
    created = await client.post("/api/v1/contacts", json=body, headers=operator)
    assert created.status_code == 201, created.text
    ann = created.json()
    assert ann["phones"] == ["+14155550123"]
    assert ann["emails"] == ["ann.lee@client.example"]
    assert ann["name"] == "Ann Lee"

    # The same number in another format, under another name.
    again = {"first_name": "Bob", "phones": ["tel:+1-415-555-0123"]}
    duplicate = await client.post("/api/v1/contacts", json=again, headers=operator)
    assert duplicate.status_code == 409
    assert duplicate.headers["content-type"] == PROBLEM
    [candidate] = duplicate.json()["candidates"]
    assert (candidate["id"], candidate["matches"]) == (ann["id"], ["point +14155550123"])

    # The same name, in another order and case.
    same_name = await client.post(
        "/api/v1/contacts", json={"first_name": "LEE", "last_name": "ann"}, headers=operator
    )
    assert same_name.status_code == 409
    assert same_name.json()["candidates"][0]["matches"] == ["name"]

    forced = await client.post("/api/v1/contacts", json={**again, "force": True}, headers=operator)
    assert forced.status_code == 201

    found = await client.get("/api/v1/contacts?phone=4155550123", headers=operator)
    assert sorted(c["id"] for c in found.json()["items"]) == sorted(
        [ann["id"], forced.json()["id"]]
    )
    by_name = await client.get("/api/v1/contacts?q=ann", headers=operator)
    assert [c["id"] for c in by_name.json()["items"]] == [ann["id"]]

    bad = await client.post(
        "/api/v1/contacts", json={"first_name": "X", "phones": ["12", "nope"]}, headers=operator
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "phones.0"
    nameless = await client.post("/api/v1/contacts", json={"phones": []}, headers=operator)
    assert nameless.status_code == 422


async def test_archive_restore_and_patch(
    client: httpx.AsyncClient, admin: dict[str, str], sessions: Sessions
) -> None:
    created = await client.post(
        "/api/v1/contacts",
        json={"first_name": "Cy", "last_name": "Moe", "emails": ["cy@client.example"]},
        headers=admin,
    )
    contact_id = created.json()["id"]
    patched = await client.patch(
        f"/api/v1/contacts/{contact_id}",
        json={"title": "Buyer", "phones": ["+44 20 7946 0018"]},
        headers=admin,
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["title"], patched.json()["phones"]) == ("Buyer", ["+442079460018"])
    assert patched.json()["emails"] == ["cy@client.example"]

    archived = await client.delete(f"/api/v1/contacts/{contact_id}", headers=admin)
    assert archived.status_code == 200
    assert archived.json()["archived_at"] is not None
    assert archived.json()["emails"] == ["cy@client.example"]  # what it had
    listed = await client.get("/api/v1/contacts?email=cy@client.example", headers=admin)
    assert listed.json()["items"] == []
    with_archived = await client.get(
        "/api/v1/contacts?email=cy@client.example&include_archived=true", headers=admin
    )
    assert [c["id"] for c in with_archived.json()["items"]] == [contact_id]
    assert (
        await client.patch(f"/api/v1/contacts/{contact_id}", json={"title": "x"}, headers=admin)
    ).status_code == 409

    # Released points are tombstoned on the compacted topic; restored ones come back.
    records = [r for r in await staged(sessions) if r[0] == "crm.contact-points.v1"]
    assert (b"cy@client.example", None) in [(key, data) for _, key, data in records]

    restored = await client.post(f"/api/v1/contacts/{contact_id}/restore", headers=admin)
    assert restored.status_code == 200
    assert restored.json()["archived_at"] is None
    assert restored.json()["emails"] == ["cy@client.example"]
    last = [
        d
        for t, k, d in await staged(sessions)
        if t == "crm.contact-points.v1" and k == b"cy@client.example"
    ][-1]
    assert isinstance(last, ContactPoint)
    assert (last.contact_id, last.type) == (contact_id, "email")

    audit = await client.get(f"/api/v1/audit?entity=contact&entity_id={contact_id}", headers=admin)
    assert [e["action"] for e in audit.json()] == ["restored", "archived", "updated", "created"]
    assert {e["actor"] for e in audit.json()} == {"bootstrap-admin"}


async def test_merge_moves_points_interactions_and_activities(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    sessions: Sessions,
    call_event: EventFactory,
) -> None:
    keep = await client.post(
        "/api/v1/contacts",
        json={"first_name": "Dee", "last_name": "Ray", "phones": ["+14155550401"]},
        headers=admin,
    )
    dupe = await client.post(
        "/api/v1/contacts",
        json={"first_name": "D.", "last_name": "Ray", "phones": ["+14155550402"], "force": True},
        headers=admin,
    )
    keep_id, dupe_id = keep.json()["id"], dupe.json()["id"]
    [missed] = await record(
        sessions, call_event("callback", call_id="twilio:M1", counterpart="+14155550402")
    )
    assert missed.link == "contact"

    merged = await client.post(
        f"/api/v1/contacts/{keep_id}/merge", json={"from": [dupe_id]}, headers=admin
    )
    assert merged.status_code == 200, merged.text
    assert merged.json()["phones"] == ["+14155550401", "+14155550402"]
    old = (await client.get(f"/api/v1/contacts/{dupe_id}", headers=admin)).json()
    assert old["merged_into_id"] == keep_id
    assert old["archived_at"] is not None
    timeline = (await client.get(f"/api/v1/contacts/{keep_id}/timeline", headers=admin)).json()
    assert [i["id"] for i in timeline["interactions"]] == ["ce-twilio:M1"]
    assert [a["id"] for a in timeline["activities"]] == missed.opened
    assert timeline["activities"][0]["contact_id"] == keep_id
    restore = await client.post(f"/api/v1/contacts/{dupe_id}/restore", headers=admin)
    assert restore.status_code == 409
    again = await client.post(
        f"/api/v1/contacts/{keep_id}/merge", json={"from": [dupe_id]}, headers=admin
    )
    assert again.status_code == 409


async def test_companies_by_domain_never_a_free_mail_one(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    sessions: Sessions,
    mail_event: EventFactory,
) -> None:
    free = await client.post(
        "/api/v1/companies", json={"name": "Gmail fans", "domains": ["gmail.com"]}, headers=admin
    )
    assert free.status_code == 422
    assert free.json()["errors"][0]["field"] == "domains.0"

    # Mail from the domain before the company exists: linked once the company gets it.
    [early] = await record(
        sessions,
        mail_event(
            "reply_needed",
            message_id="<e1@acme-tools.example>",
            counterpart="zed@acme-tools.example",
        ),
    )
    assert early.link == "none"
    created = await client.post(
        "/api/v1/companies",
        json={
            "name": "ACME Tools GmbH",
            "domains": ["eu.acme-tools.example"],
            "phones": ["+49 30 1234567"],
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    company = created.json()
    assert company["domains"] == ["acme-tools.example"]
    assert company["phones"] == ["+49301234567"]
    relinked = await client.get(f"/api/v1/interactions/{early.interaction_id}", headers=admin)
    assert (relinked.json()["company_id"], relinked.json()["link"]) == (company["id"], "domain")

    [later, gmail] = await record(
        sessions,
        mail_event("reply_needed", message_id="<e2@x>", counterpart="amy@sales.acme-tools.example"),
        mail_event("reply_needed", message_id="<e3@x>", counterpart="amy@gmail.com"),
    )
    assert later.link == "domain"
    assert gmail.link == "none"
    same = await client.post("/api/v1/companies", json={"name": "Acme Tools"}, headers=admin)
    assert same.status_code == 409
    taken = await client.post(
        "/api/v1/companies",
        json={"name": "Other", "domains": ["acme-tools.example"], "force": True},
        headers=admin,
    )
    assert taken.status_code == 409
    assert taken.json()["company_id"] == company["id"]

    archived = await client.delete(f"/api/v1/companies/{company['id']}", headers=admin)
    assert archived.json()["archived_at"] is not None
    listed = await client.get("/api/v1/companies?domain=acme-tools.example", headers=admin)
    assert listed.json()["items"] == []
    restored = await client.post(f"/api/v1/companies/{company['id']}/restore", headers=admin)
    assert restored.json()["domains"] == ["acme-tools.example"]


async def test_csv_export_of_contact_points(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await client.post(
        "/api/v1/contacts",
        json={
            "first_name": "=HYPERLINK()",
            "last_name": "Eve",
            "emails": ["eve@client.example"],
            "phones": ["+14155550499"],
        },
        headers=admin,
    )
    response = await client.get("/api/v1/contact-points/export", headers=admin)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["type"], r["value"], r["first_name"]) for r in rows] == [
        ("email", "eve@client.example", "'=HYPERLINK()")
    ]
    both = await client.get("/api/v1/contact-points/export?type=phone", headers=admin)
    assert "+14155550499" in both.text


async def test_links_by_exact_point_shared_points_and_owners(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    sessions: Sessions,
    call_event: EventFactory,
) -> None:
    owner = await client.post(
        "/api/v1/managers",
        json={"name": "Olga", "email": "olga@our.example", "extensions": ["150"]},
        headers=admin,
    )
    owner_id = owner.json()["id"]
    company = (
        await client.post("/api/v1/companies", json={"name": "Shared Ltd"}, headers=admin)
    ).json()
    for first in ("Pat", "Sam"):
        response = await client.post(
            "/api/v1/contacts",
            json={
                "first_name": first,
                "company_id": company["id"],
                "owner_id": owner_id,
                "phones": ["+525512345678"],  # a switchboard both give
                "force": True,
            },
            headers=admin,
        )
        assert response.status_code == 201, response.text
    mexico_old_form = "+5215512345678"
    [shared] = await record(
        sessions,
        call_event("callback", call_id="twilio:SH1", counterpart=mexico_old_form, agent=None),
    )
    stored = (
        await client.get(f"/api/v1/interactions/{shared.interaction_id}", headers=admin)
    ).json()
    assert stored["link"] == "ambiguous"
    assert stored["contact_id"] is None
    assert stored["company_id"] == company["id"]
    assert len(stored["candidates"]) == 2

    solo = await client.post(
        "/api/v1/contacts",
        json={"first_name": "Uma", "owner_id": owner_id, "phones": ["+14155550444"]},
        headers=admin,
    )
    [linked] = await record(
        sessions,
        call_event("callback", call_id="twilio:SO1", counterpart="+14155550444", agent=None),
    )
    detail = (
        await client.get(f"/api/v1/interactions/{linked.interaction_id}", headers=admin)
    ).json()
    assert (detail["contact_id"], detail["manager_id"]) == (solo.json()["id"], owner_id)
    activity = (await client.get(f"/api/v1/activities/{linked.opened[0]}", headers=admin)).json()
    assert (activity["assignee_id"], activity["contact_id"]) == (owner_id, solo.json()["id"])
    events = [d for t, _, d in await staged(sessions) if isinstance(d, InteractionLinked)]
    assert events[-1].contact_id == solo.json()["id"]


async def test_adding_a_number_later_links_past_interactions_and_closes_identify_contact(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    sessions: Sessions,
    call_event: EventFactory,
) -> None:
    number = "+14155550466"
    results = await record(
        sessions,
        call_event("needs_status", call_id="twilio:U1", status="answered", counterpart=number),
        call_event(
            "needs_status",
            call_id="twilio:U2",
            status="answered",
            counterpart=number,
            at=T0 + timedelta(hours=1),
        ),
    )
    identify = results[0].opened[1]
    assert results[1].folded[-1] == identify
    unlinked = await client.get("/api/v1/interactions?unlinked=true", headers=admin)
    assert {"ce-twilio:U1", "ce-twilio:U2"} <= {i["id"] for i in unlinked.json()["items"]}

    contact = await client.post(
        "/api/v1/contacts", json={"first_name": "Vic", "phones": ["415-555-0466"]}, headers=admin
    )
    contact_id = contact.json()["id"]
    closed = (await client.get(f"/api/v1/activities/{identify}", headers=admin)).json()
    assert (closed["kind"], closed["state"], closed["closed_by"]) == (
        "identify_contact",
        "done",
        "auto",
    )
    assert closed["contact_id"] == contact_id
    mine = await client.get(f"/api/v1/interactions?contact_id={contact_id}", headers=admin)
    assert [i["id"] for i in mine.json()["items"]] == ["ce-twilio:U2", "ce-twilio:U1"]
    relinked = [
        d
        for t, _, d in await staged(sessions)
        if isinstance(d, InteractionLinked) and d.contact_id == contact_id
    ]
    assert sorted(d.interaction_id for d in relinked) == ["ce-twilio:U1", "ce-twilio:U2"]
    point = [
        d
        for t, k, d in await staged(sessions)
        if t == "crm.contact-points.v1" and k == number.encode()
    ][-1]
    assert isinstance(point, ContactPoint)
    assert point.contact_id == contact_id


async def test_reports_with_plan_progress(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    sessions: Sessions,
    call_event: EventFactory,
) -> None:
    manager = await client.post(
        "/api/v1/managers",
        json={"name": "Rita", "email": "rita@our.example", "extensions": ["171"]},
        headers=admin,
    )
    manager_id = manager.json()["id"]
    results = await record(
        sessions,
        call_event("callback", call_id="twilio:RP1", counterpart="+14155550471", agent="171"),
        call_event("callback", call_id="twilio:RP2", counterpart="+14155550472", agent="171"),
        call_event("auto_closed", call_id="twilio:RP3", counterpart="+14155550473", agent="171"),
    )
    await client.post(
        f"/api/v1/activities/{results[0].opened[0]}/status",
        json={"preset": "meeting_scheduled"},
        headers=admin,
    )
    target = {
        "manager_id": manager_id,
        "metric": "preset",
        "preset": "meeting_scheduled",
        "target": 10,
        "period_start": "2000-01-01T00:00:00Z",
        "period_end": "2100-01-01T00:00:00Z",
    }
    created = await client.post("/api/v1/plan-targets", json=target, headers=admin)
    assert created.status_code == 201, created.text
    bad = await client.post("/api/v1/plan-targets", json={**target, "preset": None}, headers=admin)
    assert bad.status_code == 422
    # Plans count only the manager's own acts: the item Rita closed, and no conversation (two
    # missed calls and a call that closed as nothing are not hers).
    for metric in ("activities_closed", "interactions"):
        body = {**target, "metric": metric, "preset": None, "target": 5}
        created = await client.post("/api/v1/plan-targets", json=body, headers=admin)
        assert created.status_code == 201, created.text

    report = await client.get(
        "/api/v1/reports/managers",
        params={"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"},
        headers=admin,
    )
    assert report.status_code == 200, report.text
    [rita] = [m for m in report.json()["managers"] if m["manager_id"] == manager_id]
    assert rita["interactions"] == 3
    assert rita["auto_resolved"] == 1
    assert rita["auto_resolved_share"] == pytest.approx(1 / 3, abs=1e-3)
    assert rita["activities"]["opened"] == 2
    assert rita["activities"]["closed"] == 1
    assert rita["activities"]["closed_by_manager"] == 1
    assert rita["activities"]["overdue"] == 1  # the 2025 callback, due 4 hours later
    assert rita["presets"] == {"meeting_scheduled": 1}
    progress = {p["metric"]: p["progress"] for p in rita["plan"]}
    assert progress == {
        "preset": "1 of 10",
        "activities_closed": "1 of 5",
        "interactions": "0 of 5",
    }
