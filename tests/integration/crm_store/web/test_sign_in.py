"""Signing in to the page with an e-mail address and a password, on a real database (SQLite and
PostgreSQL): an administrator's invitation link, the password set with it, signing in, a reset
that ends every session and the old password, the lock-out after repeated failures, and the
first administrator made from `CRM_STORE_BOOTSTRAP_ADMIN_EMAIL`."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_store.app import bootstrap_admin
from crm_store.config import Settings
from crm_store.core import AuditEntry, Manager, PageSession, SignInLink
from support.crm_page import browser, build_app, password_sign_in, set_password, sign_in

pytestmark = pytest.mark.integration

Sessions = async_sessionmaker[AsyncSession]
PASSWORD = "correct horse battery staple"


@pytest.fixture
def app(sessions: Sessions, settings: Settings) -> FastAPI:
    return build_app(sessions, settings)


@pytest_asyncio.fixture(loop_scope="session")
async def api(app: FastAPI, admin: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with browser(app) as client:
        client.headers.update(admin)
        yield client


async def new_manager(api: httpx.AsyncClient, role: str = "manager") -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:8]
    body = {"name": f"Nora {suffix}", "email": f"nora.{suffix}@our.example", "role": role}
    created = await api.post("/api/v1/managers", json=body)
    assert created.status_code == 201, created.text
    manager: dict[str, Any] = created.json()
    return manager


async def invite(api: httpx.AsyncClient, manager_id: str) -> str:
    response = await api.post(f"/api/v1/managers/{manager_id}/invitation")
    assert response.status_code == 201, response.text
    assert response.json()["purpose"] == "invitation"
    url: str = response.json()["url"]
    return url


def csrf_of(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


async def with_password(
    app: FastAPI, api: httpx.AsyncClient, role: str = "manager"
) -> dict[str, Any]:
    manager = await new_manager(api, role)
    async with browser(app) as client:
        done = await set_password(client, await invite(api, manager["id"]), PASSWORD)
        assert done.status_code == 303, done.text
    return manager


async def test_an_invited_manager_sets_a_password_signs_in_and_sees_the_inbox(
    app: FastAPI, api: httpx.AsyncClient, sessions: Sessions
) -> None:
    nora = await new_manager(api)
    url = await invite(api, nora["id"])
    assert url.startswith("http://127.0.0.1:8004/set-password?key=sbl_")
    async with browser(app) as client:
        form = await client.get(url.removeprefix("http://127.0.0.1:8004"))
        assert nora["name"] in form.text
        assert 'autocomplete="new-password"' in form.text
        done = await set_password(client, url, PASSWORD)
        assert done.status_code == 303, done.text
        assert done.headers["location"] == "/login?done=password"
        assert "Your password is set" in (await client.get("/login?done=password")).text
        again = await client.get(url.removeprefix("http://127.0.0.1:8004"))
        assert again.status_code == 410, "a link works once"

        signed_in = await password_sign_in(client, nora["email"].upper(), PASSWORD)
        assert signed_in.status_code == 303, signed_in.text
        assert signed_in.headers["location"] == "/"
        inbox = await client.get("/")
        assert inbox.status_code == 200
        assert "Your inbox" in inbox.text
        assert nora["name"] in inbox.text
    async with sessions() as session:
        row = await session.get(Manager, nora["id"])
        assert row is not None
        assert row.password_hash is not None
        assert row.password_hash.startswith("$argon2id$")
        assert PASSWORD not in row.password_hash
        [opened] = (
            await session.execute(select(PageSession).where(PageSession.manager_id == nora["id"]))
        ).scalars()
        assert opened.method == "password"
        actions = (
            await session.execute(
                select(AuditEntry.action).where(AuditEntry.entity_id == nora["id"])
            )
        ).scalars()
        assert {"invited", "password_set"} <= set(actions)


async def test_a_password_that_may_not_be_set_is_explained_next_to_its_field(
    app: FastAPI, api: httpx.AsyncClient
) -> None:
    nora = await new_manager(api)
    url = await invite(api, nora["id"])
    path = url.removeprefix("http://127.0.0.1:8004")
    async with browser(app) as client:
        for password, again, field, words in [
            ("short", "short", "password", "at least 10 characters"),
            (nora["email"], nora["email"], "password", "e-mail address"),
            (PASSWORD, PASSWORD + "!", "password_again", "differ"),
        ]:
            form = await client.get(path)
            nonce = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert nonce is not None
            response = await client.post(
                "/set-password",
                data={
                    "csrf": nonce.group(1),
                    "key": url.partition("key=")[2],
                    "password": password,
                    "password_again": again,
                },
            )
            assert response.status_code == 422, response.text
            assert f'id="{field}-error"' in response.text
            assert words in response.text
            assert f'aria-describedby="{field}-error"' in response.text or (
                f'aria-describedby="password-hint {field}-error"' in response.text
            )
        assert (await set_password(client, url, PASSWORD)).status_code == 303


async def test_invitations_follow_the_rules(
    app: FastAPI, api: httpx.AsyncClient, sessions: Sessions
) -> None:
    nora = await with_password(app, api)
    taken = await api.post(f"/api/v1/managers/{nora['id']}/invitation")
    assert taken.status_code == 409, "a manager with a password is reset, not invited"
    assert (await api.post("/api/v1/managers/nobody/invitation")).status_code == 404

    rex = await new_manager(api)
    first = await invite(api, rex["id"])
    second = await invite(api, rex["id"])
    async with browser(app) as client:
        assert (await client.get(first.removeprefix("http://127.0.0.1:8004"))).status_code == 410
        assert (await client.get(second.removeprefix("http://127.0.0.1:8004"))).status_code == 200
    async with sessions() as session:
        await session.execute(
            update(SignInLink)
            .where(SignInLink.manager_id == rex["id"])
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await session.commit()
    async with browser(app) as client:
        expired = await client.get(second.removeprefix("http://127.0.0.1:8004"))
        assert expired.status_code == 410
        assert "no longer works" in expired.text

    deactivated = await new_manager(api)
    await api.patch(f"/api/v1/managers/{deactivated['id']}", json={"active": False})
    refused = await api.post(f"/api/v1/managers/{deactivated['id']}/invitation")
    assert refused.status_code == 409

    supervisor = await new_manager(api, "supervisor")
    token = await api.post("/api/v1/tokens", json={"manager_id": supervisor["id"]})
    headers = {"Authorization": f"Bearer {token.json()['token']}"}
    for action in ("invitation", "password-reset"):
        denied = await api.post(f"/api/v1/managers/{rex['id']}/{action}", headers=headers)
        assert denied.status_code == 403, denied.text


async def test_a_reset_ends_every_session_and_the_old_password(
    app: FastAPI, api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    nora = await with_password(app, api)
    token = await api.post("/api/v1/tokens", json={"manager_id": nora["id"]})
    admin_token = admin["Authorization"].removeprefix("Bearer ")
    async with (
        browser(app) as by_password,
        sign_in(app, token.json()["token"]) as by_token,
        sign_in(app, admin_token) as administrator,
    ):
        assert (await password_sign_in(by_password, nora["email"], PASSWORD)).status_code == 303
        assert (await by_password.get("/")).status_code == 200
        assert (await by_token.get("/")).status_code == 200

        details = await administrator.get(f"/admin/people/{nora['id']}/sign-in")
        assert details.status_code == 200, details.text
        assert "Set on" in details.text
        reset = await administrator.post(
            f"/admin/people/{nora['id']}/password-reset", data={"csrf": csrf_of(details.text)}
        )
        assert reset.status_code == 200, reset.text
        link = re.search(r'id="signin-link"[^>]*value="([^"]+)"', reset.text)
        assert link is not None, reset.text
        assert "works once" in reset.text

        for client in (by_password, by_token):
            ended = await client.get("/")
            assert ended.status_code == 303
            assert ended.headers["location"] == "/login"
        old = await password_sign_in(by_password, nora["email"], PASSWORD)
        assert old.status_code == 401
        assert (await set_password(by_password, link.group(1), PASSWORD + " 2")).status_code == 303
        fresh = await password_sign_in(by_password, nora["email"], PASSWORD + " 2")
        assert fresh.status_code == 303
    # The API's reset does the same and answers the link once.
    again = await api.post(f"/api/v1/managers/{nora['id']}/password-reset")
    assert again.status_code == 201, again.text
    assert again.json()["url"].startswith("http://127.0.0.1:8004/set-password?key=")


async def test_deactivating_a_manager_ends_their_password_session(
    app: FastAPI, api: httpx.AsyncClient
) -> None:
    nora = await with_password(app, api)
    async with browser(app) as client:
        assert (await password_sign_in(client, nora["email"], PASSWORD)).status_code == 303
        assert (await client.get("/")).status_code == 200
        await api.patch(f"/api/v1/managers/{nora['id']}", json={"active": False})
        assert (await client.get("/")).status_code == 303
        refused = await password_sign_in(client, nora["email"], PASSWORD)
        assert refused.status_code == 401


async def test_repeated_failures_lock_the_account_until_an_administrator_resets_it(
    app: FastAPI, api: httpx.AsyncClient, settings: Settings
) -> None:
    nora = await with_password(app, api)
    async with browser(app) as client:
        for _ in range(settings.sign_in_max_failures - 1):
            wrong = await password_sign_in(client, nora["email"], "not the password")
            assert wrong.status_code == 401
            assert "The e-mail address or the password is wrong." in wrong.text
        locked = await password_sign_in(client, nora["email"], "not the password")
        assert locked.status_code == 429
        assert "Too many failed sign-ins" in locked.text
        assert re.search(r"until \d\d:\d\d UTC", locked.text), locked.text
        right = await password_sign_in(client, nora["email"], PASSWORD)
        assert right.status_code == 429, "while locked no password is checked"

        details = await api.get("/api/v1/managers")
        assert details.status_code == 200
        reset = await api.post(f"/api/v1/managers/{nora['id']}/password-reset")
        assert (await set_password(client, reset.json()["url"], PASSWORD)).status_code == 303
        assert (await password_sign_in(client, nora["email"], PASSWORD)).status_code == 303


async def test_the_first_administrator_comes_from_the_environment(
    sessions: Sessions, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    email = f"first.{uuid.uuid4().hex[:6]}@our.example"
    configured = settings.model_copy(update={"bootstrap_admin_email": email})
    with caplog.at_level(logging.WARNING, logger="crm_store.app"):
        await bootstrap_admin(sessions, configured)
    [said] = [r.getMessage() for r in caplog.records if "has no password yet" in r.getMessage()]
    url = said.rsplit(" ", 1)[-1]
    assert url.startswith("http://127.0.0.1:8004/set-password?key=sbl_")
    app = build_app(sessions, configured)
    async with browser(app) as client:
        assert (await set_password(client, url, PASSWORD)).status_code == 303
        assert (await password_sign_in(client, email, PASSWORD)).status_code == 303
        page = await client.get("/team")
        assert page.status_code == 200, "the first administrator sees the team"
        assert "Administrator" in page.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="crm_store.app"):
        await bootstrap_admin(sessions, configured)
    assert not [r for r in caplog.records if "has no password yet" in r.getMessage()]
    async with sessions() as session:
        admins = (
            (await session.execute(select(Manager).where(Manager.email == email))).scalars().all()
        )
        assert [a.role for a in admins] == ["admin"]
