"""The admin area's settings sections and `/api/v1/settings`, on a real database: a change is
validated with the message next to its field, versioned, audited (before, after), staged for
`crm.settings.v1` and applied by this instance at once; the classification preview replays the
last days' stored interactions with the proposed values."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_store.app import create_app
from crm_store.config import Settings
from crm_store.core import AuditEntry, OutboxMessage, Role, utcnow
from crm_store.interactions import record_interaction
from integration.crm_store.conftest import ADMIN_TOKEN, make_call
from integration.crm_store.web.test_page_roles import signed_in, token_for
from switchboard_shared.events import CallStatus, SettingsChanged
from switchboard_shared.settings.follower import LiveSettings
from switchboard_shared.settings.groups import ClassificationSettings, OutcomeSettings

pytestmark = pytest.mark.integration
Sessions = async_sessionmaker[AsyncSession]
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def app(sessions: Sessions, settings: Settings) -> FastAPI:
    app = create_app(settings)
    app.state.sessionmaker = sessions
    return app


def api(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1")


async def test_a_saved_group_is_versioned_audited_published_and_applied(
    app: FastAPI, sessions: Sessions
) -> None:
    async with api(app) as client:
        before = await client.get("/api/v1/settings/outcomes", headers=ADMIN)
        assert before.status_code == 200
        assert before.json()["version"] == 0
        assert before.json()["values"] == OutcomeSettings().model_dump(mode="json")
        saved = await client.put(
            "/api/v1/settings/outcomes",
            json={"values": {"min_talk_min": 5, "first_conversation": False}, "version": 0},
            headers=ADMIN,
        )
        assert saved.status_code == 200, saved.text
        assert saved.json()["version"] == 1
        stale = await client.put(
            "/api/v1/settings/outcomes", json={"values": {}, "version": 0}, headers=ADMIN
        )
        assert stale.status_code == 409
    live: LiveSettings = app.state.live_settings
    assert live.get(OutcomeSettings).min_talk_min == 5
    assert live.version("outcomes") == 1
    async with sessions() as session:
        rows = (
            await session.execute(
                select(OutboxMessage).where(OutboxMessage.topic == "crm.settings.v1")
            )
        ).scalars()
        [record] = list(rows)
        assert record.key == b"outcomes"
        event = SettingsChanged.model_validate_json(record.value or b"")
        assert (event.group, event.version, event.values["min_talk_min"]) == ("outcomes", 1, 5)
        [entry] = (
            await session.execute(select(AuditEntry).where(AuditEntry.entity == "settings"))
        ).scalars()
        assert entry.entity_id == "outcomes"
        assert entry.changes["before"]["min_talk_min"] == 2
        assert entry.changes["after"]["min_talk_min"] == 5


async def test_bad_values_are_refused_field_by_field(app: FastAPI) -> None:
    async with api(app) as client:
        refused = await client.put(
            "/api/v1/settings/classification",
            json={"values": {"very_short_call_s": -1, "wrong_numbers": ["+1 415 555 0101", "x"]}},
            headers=ADMIN,
        )
    assert refused.status_code == 422
    fields = {e["field"]: e["message"] for e in refused.json()["errors"]}
    assert set(fields) == {"very_short_call_s", "wrong_numbers"}
    assert "'x' is not a phone number" in fields["wrong_numbers"]


async def test_the_page_shows_the_error_next_to_the_field_and_saves(app: FastAPI) -> None:
    async with api(app) as client:
        admin = await token_for(client, Role.ADMIN, ADMIN)
        manager = await token_for(client, Role.MANAGER, ADMIN)
    async with signed_in(app, manager) as (browser, _):
        refused = await browser.get("/admin/settings/classification")
        assert refused.status_code == 403
        assert "text/html" in refused.headers["content-type"]
    async with signed_in(app, admin) as (browser, csrf):
        shown = await browser.get("/admin/settings/classification")
        assert shown.status_code == 200
        assert 'id="f-very_short_call_s"' in shown.text
        form = {"csrf": csrf, "version": "0", "very_short_call_s": "soon", "wrong_numbers": ""}
        for name in ("wrong_number_reports", "spam_reports"):
            form[name] = "1"
        bad = await browser.post("/admin/settings/classification", data=form)
        assert bad.status_code == 422
        field = re.search(r'<input id="f-very_short_call_s"[^>]*>', bad.text)
        assert field is not None
        assert 'aria-invalid="true"' in field.group(0)
        assert 'id="err-very_short_call_s"' in bad.text
        good = await browser.post(
            "/admin/settings/classification", data={**form, "very_short_call_s": "45"}
        )
        assert good.status_code == 303, good.text
    live: LiveSettings = app.state.live_settings
    assert live.get(ClassificationSettings).very_short_call_s == 45


async def test_the_preview_counts_what_the_change_would_have_closed(
    app: FastAPI, sessions: Sessions
) -> None:
    now = utcnow()
    async with sessions() as session:
        for n, talk in enumerate((5, 20, 40, 90)):
            call = make_call(
                "needs_status",
                call_id=f"preview-{n}",
                status=CallStatus.ANSWERED.value,
                counterpart=f"+1415555{n:04d}",
                talk_s=talk,
                at=now - timedelta(hours=n + 1),
            )
            await record_interaction(session, call)
        await session.commit()
    async with api(app) as client:
        result = await client.post(
            "/api/v1/settings/classification/preview",
            json={"values": {"very_short_call_s": 60}},
            headers=ADMIN,
        )
    assert result.status_code == 200, result.text
    body = result.json()
    assert body["current"]["calls"] == body["proposed"]["calls"] >= 4
    # 10 s: the 5-second call is short; 60 s: the 20- and 40-second calls too.
    assert body["proposed"]["calls_auto_closed"] - body["current"]["calls_auto_closed"] == 2
    assert body["changed"] == 2
    assert json.dumps(body)


async def test_outcome_owners_are_named_by_e_mail_and_kept_as_ids(app: FastAPI) -> None:
    async with api(app) as client:
        body = {"name": "Owner", "email": "Owner.Of.Clients@our.example", "role": "manager"}
        manager = await client.post("/api/v1/managers", json=body, headers=ADMIN)
        assert manager.status_code == 201, manager.text
        saved = await client.put(
            "/api/v1/settings/outcomes",
            json={"values": {"owners": ["owner.of.clients@our.example"]}},
            headers=ADMIN,
        )
        assert saved.status_code == 200, saved.text
        assert saved.json()["values"]["owners"] == [manager.json()["id"]]
        unknown = await client.put(
            "/api/v1/settings/outcomes",
            json={"values": {"owners": ["nobody@our.example"]}},
            headers=ADMIN,
        )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "owners"
