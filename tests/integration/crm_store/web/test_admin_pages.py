"""The admin area over HTTP on a real database (SQLite and PostgreSQL), as an administrator's
browser sends it (forms, CSRF, no script): each change lands through the API's units of work
and is audited; a refused form comes back with the message next to its field; supervisors read
and cannot change; a manager is refused the whole area with a page, not JSON."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_store.config import Settings
from crm_store.interactions import record_interaction
from support.crm_page import browser, build_app, sign_in
from switchboard_shared.events import InteractionClassified

pytestmark = pytest.mark.integration

Sessions = async_sessionmaker[AsyncSession]
EventFactory = Callable[..., InteractionClassified]
ADMIN_TOKEN = "bootstrap-admin-token-for-tests"


@pytest.fixture
def app(sessions: Sessions, settings: Settings) -> FastAPI:
    return build_app(sessions, settings)


@pytest_asyncio.fixture(loop_scope="session")
async def api(app: FastAPI, admin: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with browser(app) as client:
        client.headers.update(admin)
        yield client


async def person(api: httpx.AsyncClient, name: str, role: str, ext: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "email": f"{name.lower()}@our.example", "role": role}
    if ext:
        body["extensions"] = [ext]
    created = await api.post("/api/v1/managers", json=body)
    assert created.status_code == 201, created.text
    token = await api.post("/api/v1/tokens", json={"manager_id": created.json()["id"]})
    return {**created.json(), "token": token.json()["token"]}


def csrf_of(html: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert found is not None
    return found.group(1)


async def post(client: httpx.AsyncClient, path: str, form: dict[str, str]) -> httpx.Response:
    page = await client.get("/admin")
    return await client.post(path, data={**form, "csrf": csrf_of(page.text)})


def error_next_to(html: str, control_id: str) -> str:
    """The error message a control names in its aria-describedby."""
    control = re.search(rf'id="{control_id}"[^>]*aria-describedby="([^"]+)"', html)
    assert control is not None, f"{control_id} has no description"
    for ref in control.group(1).split():
        if ref.endswith("-error"):
            message = re.search(rf'id="{ref}">([^<]+)<', html)
            assert message is not None
            return message.group(1)
    raise AssertionError(f"{control_id} names no error")


async def test_presets_are_added_relabelled_and_offered_on_the_next_load(
    app: FastAPI, api: httpx.AsyncClient, sessions: Sessions, call_event: EventFactory
) -> None:
    ann = await person(api, "Ann", "manager", "201")
    async with sessions() as session:
        await record_interaction(session, call_event("callback", call_id="twilio:P1", agent="201"))
        await session.commit()
    async with sign_in(app, ADMIN_TOKEN) as admin:
        refused = await post(admin, "/admin/presets", {"code": "Bad Code", "label": ""})
        assert refused.status_code == 422
        assert error_next_to(refused.text, "new-code")
        assert error_next_to(refused.text, "new-label")
        added = await post(
            admin,
            "/admin/presets",
            {
                "code": "sent_offer",
                "label": "Sent an offer",
                "label_pl": "Wysłano ofertę",
                "kind_callback": "1",
                "channel_call": "1",
                "closes": "1",
            },
        )
        assert added.status_code == 303, added.text
        listed = await admin.get("/admin/presets")
        assert "Sent an offer" in listed.text
        assert 'value="Wysłano ofertę"' in listed.text
    async with sign_in(app, ann["token"]) as manager:
        inbox = await manager.get("/")
        assert 'value="sent_offer"' in inbox.text
        assert "Sent an offer" in inbox.text
        polish = await manager.get("/", headers={"Accept-Language": "pl-PL,pl;q=0.9"})
        assert "Wysłano ofertę" in polish.text
    async with sign_in(app, ADMIN_TOKEN) as admin:
        retired = await post(admin, "/admin/presets/sent_offer", {"action": "retire"})
        assert retired.status_code == 303
    async with sign_in(app, ann["token"]) as manager:
        assert 'value="sent_offer"' not in (await manager.get("/")).text
    presets = (await api.get("/api/v1/presets", params={"include_inactive": "true"})).json()
    assert [p["active"] for p in presets if p["code"] == "sent_offer"] == [False]


async def test_people_tokens_and_a_hand_over_through_the_forms(
    app: FastAPI, api: httpx.AsyncClient, sessions: Sessions, call_event: EventFactory
) -> None:
    bo = await person(api, "Bo", "manager", "302")
    async with sign_in(app, ADMIN_TOKEN) as admin:
        bad = await post(admin, "/admin/people", {"name": "Cy", "email": "not an address"})
        assert bad.status_code == 422
        assert "not a valid e-mail address" in error_next_to(bad.text, "new-email")
        added = await post(
            admin,
            "/admin/people",
            {"name": "Cy", "email": "cy@our.example", "extensions": "301", "role": "manager"},
        )
        assert added.status_code == 303, added.text
        cy_page = added.headers["location"].split("?")[0]
        cy_id = cy_page.rsplit("/", 1)[1]
        taken = await post(
            admin,
            cy_page,
            {"name": "Cy", "email": "cy@our.example", "extensions": "302", "role": "manager"},
        )
        assert taken.status_code == 409
        assert "302" in error_next_to(taken.text, "edit-extensions")

        issued = await post(admin, f"{cy_page}/tokens", {"expires_in_days": ""})
        assert issued.status_code == 200
        secret = re.search(r'id="new-secret" readonly value="([^"]+)"', issued.text)
        assert secret is not None
        assert secret.group(1) not in (await admin.get(cy_page)).text  # shown once
        async with sessions() as session:
            await record_interaction(
                session, call_event("callback", call_id="twilio:P2", agent="301")
            )
            await session.commit()
        async with sign_in(app, secret.group(1)) as cy:
            assert (await cy.get("/")).status_code == 200
            assert (await cy.get("/admin")).status_code == 403

            nobody = await post(admin, f"{cy_page}/hand-over", {"successor_id": ""})
            assert nobody.status_code == 422
            assert error_next_to(nobody.text, "leave-successor_id")
            unconfirmed = await post(admin, f"{cy_page}/hand-over", {"successor_id": bo["id"]})
            assert unconfirmed.status_code == 422
            assert "confirm" in error_next_to(unconfirmed.text, "leave-confirm")
            handed = await post(
                admin, f"{cy_page}/hand-over", {"successor_id": bo["id"], "confirm": "1"}
            )
            assert handed.status_code == 303, handed.text
            ended = await cy.get("/")
            assert ended.status_code == 303
            assert ended.headers["location"] == "/login"
    activities = (await api.get("/api/v1/activities", params={"assignee": bo["id"]})).json()
    assert len(activities["items"]) == 1
    managers = {m["id"]: m for m in (await api.get("/api/v1/managers")).json()}
    assert managers[cy_id]["active"] is False
    audit = (await api.get("/api/v1/audit", params={"entity_id": cy_id})).json()
    assert "handed_over" in [e["action"] for e in audit]


async def test_plan_targets_show_the_managers_counter(app: FastAPI, api: httpx.AsyncClient) -> None:
    dee = await person(api, "Dee", "manager", "401")
    async with sign_in(app, ADMIN_TOKEN) as admin:
        wrong = await post(
            admin,
            "/admin/plan",
            {
                "manager_id": dee["id"],
                "metric": "preset:meeting_scheduled",
                "target": "ten",
                "period_start": "2026-12-01",
                "period_end": "2026-12-31",
            },
        )
        assert wrong.status_code == 422
        assert error_next_to(wrong.text, "t-target")
        added = await post(
            admin,
            "/admin/plan",
            {
                "manager_id": dee["id"],
                "metric": "preset:meeting_scheduled",
                "target": "10",
                "period_start": "2026-01-01",
                "period_end": "2036-12-31",
            },
        )
        assert added.status_code == 303, added.text
        page = await admin.get("/admin/plan")
        assert "0 of 10" in page.text
        assert "Meeting scheduled" in page.text
    [target] = (await api.get("/api/v1/plan-targets", params={"manager_id": dee["id"]})).json()
    assert target["preset"] == "meeting_scheduled"
    assert target["period_end"].startswith("2037-01-01")


async def test_contact_fields_are_defined_filled_in_and_shown(
    app: FastAPI, api: httpx.AsyncClient
) -> None:
    eve = await person(api, "Eve", "operator")
    contact = (await api.post("/api/v1/contacts", json={"first_name": "Kim"})).json()
    async with sign_in(app, ADMIN_TOKEN) as admin:
        bad = await post(
            admin,
            "/admin/fields",
            {
                "entity": "contact",
                "key": "style",
                "label": "Style",
                "type": "choice",
                "choices": "",
            },
        )
        assert bad.status_code == 422
        assert error_next_to(bad.text, "new-choices")
        for form in (
            {"entity": "contact", "key": "birthday", "label": "Birthday", "type": "date"},
            {
                "entity": "contact",
                "key": "style",
                "label": "Decision style",
                "type": "choice",
                "choices": "fast, careful",
            },
        ):
            assert (await post(admin, "/admin/fields", form)).status_code == 303
    async with sign_in(app, eve["token"]) as operator:
        form_page = await operator.get(f"/contacts/{contact['id']}/fields")
        assert form_page.status_code == 200
        csrf = csrf_of(form_page.text)
        wrong = await operator.post(
            f"/contacts/{contact['id']}/fields",
            data={"csrf": csrf, "f_birthday": "31.12.1980", "f_style": "careful"},
        )
        assert wrong.status_code == 422
        assert "YYYY-MM-DD" in error_next_to(wrong.text, "cf-f_birthday")
        saved = await operator.post(
            f"/contacts/{contact['id']}/fields",
            data={"csrf": csrf, "f_birthday": "1980-12-31", "f_style": "careful"},
        )
        assert saved.status_code == 303
        timeline = await operator.get(f"/contacts/{contact['id']}")
        assert "Decision style" in timeline.text
        assert "careful" in timeline.text
    stored = (await api.get(f"/api/v1/contacts/{contact['id']}")).json()
    assert stored["fields"] == {"birthday": "1980-12-31", "style": "careful"}


async def test_a_supervisor_reads_and_a_manager_is_refused_with_a_page(
    app: FastAPI, api: httpx.AsyncClient
) -> None:
    sue = await person(api, "Sue", "supervisor")
    max_ = await person(api, "Max", "manager", "501")
    async with sign_in(app, sue["token"]) as supervisor:
        for path in ("/admin", "/admin/people", "/admin/presets", "/admin/plan", "/admin/fields"):
            page = await supervisor.get(path)
            assert page.status_code == 200, path
            assert '<form method="post" action="/admin' not in page.text, path
        refused = await post(supervisor, "/admin/people", {"name": "X", "email": "x@our.example"})
        assert refused.status_code == 403
    async with sign_in(app, max_["token"]) as manager:
        page = await manager.get("/admin", headers={"Accept": "text/html"})
        assert page.status_code == 403
        assert page.headers["content-type"].startswith("text/html")
        assert 'href="/admin"' not in page.text  # no link to it either
