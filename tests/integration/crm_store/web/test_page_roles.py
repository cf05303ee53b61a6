"""Every page route of the managers' page x every role (and a stranger) → what that role gets,
on a real database (SQLite and PostgreSQL), through the app `create_app` builds.

The routes are listed from the app itself, so a new page cannot escape: it fails
`test_every_page_route_is_in_the_matrix` until the table below says what each role gets there.
The table is written apart from `crm_store.core.policy` and `crm_store.web`, from what the page
promises in words (docs/managers-page.md, the route docstrings):

- signing in and out and the static files are for everyone, signed in or not;
- the inbox is for those who read activities (admin, supervisor, manager, viewer); an operator
  is sent on to the numbers to identify;
- setting a status is for admin, supervisor and manager; a viewer reads but cannot click;
- the team view is for those who see every inbox (admin, supervisor, viewer);
- contacts and their timelines are for every signed-in role;
- identifying numbers (creating or extending a contact) is for admin and operator, and so is
  filling in a contact's extra fields;
- setting a password with a link and single sign-on are for everyone (the link or the provider
  says who it is; without single sign-on configured its addresses are 404);
- a person's sign-in details are for admin and supervisor, inviting and resetting a password
  for admin only;
- the admin area is read by administrators and supervisors and changed by administrators only;
- a stranger is sent to sign in (to come back where they were: `?next=` is not compared).

"Served" means the request got past authorisation: the page, or a 404 for a made-up id, a 422
for an empty form, a 400 for an expired sign-in form. "Refused" is a 403.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterable, Iterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.routing import BaseRoute, Route

from crm_store.app import create_app
from crm_store.config import Settings
from crm_store.core import Role
from crm_store.web.render import STATIC_TYPES

pytestmark = pytest.mark.integration

Sessions = async_sessionmaker[AsyncSession]
LOCAL = "http://127.0.0.1:8004"
STRANGER = "stranger"

# Routes of the app that are not the page: the API, operations and the API's documentation.
NOT_PAGES = {"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/assets/{name}"}

SERVED, REFUSED, SIGN_IN = "served", "refused", "redirect:/login"
EVERYONE = {role.value: SERVED for role in Role} | {STRANGER: SERVED}


def only(*roles: Role, otherwise: str = REFUSED) -> dict[str, str]:
    """Served for `roles`, `otherwise` for the other signed-in roles; strangers sign in."""
    table = {role.value: SERVED if role in roles else otherwise for role in Role}
    return table | {STRANGER: SIGN_IN}


ADMIN, SUPERVISOR, MANAGER, OPERATOR, VIEWER = (
    Role.ADMIN,
    Role.SUPERVISOR,
    Role.MANAGER,
    Role.OPERATOR,
    Role.VIEWER,
)

SPEC: dict[tuple[str, str], dict[str, str]] = {
    ("GET", "/login"): EVERYONE,
    ("POST", "/login"): EVERYONE,  # the form without its nonce: 400, asked again
    ("POST", "/logout"): {role: SIGN_IN for role in EVERYONE},  # signed out, back to sign-in
    ("POST", "/language"): EVERYONE,  # no language picked: 422, asked again
    ("GET", "/static/{name}"): EVERYONE,
    ("GET", "/favicon.ico"): EVERYONE,
    ("GET", "/"): only(ADMIN, SUPERVISOR, MANAGER, VIEWER) | {OPERATOR.value: "redirect:/identify"},
    ("GET", "/inbox/state"): only(ADMIN, SUPERVISOR, MANAGER, VIEWER),
    ("GET", "/inbox/live"): only(ADMIN, SUPERVISOR, MANAGER, VIEWER),
    ("POST", "/activities/{activity_id}/status"): only(ADMIN, SUPERVISOR, MANAGER),
    ("POST", "/activities/{activity_id}/undo"): only(ADMIN, SUPERVISOR, MANAGER),
    ("POST", "/inbox/handled"): only(ADMIN, SUPERVISOR, MANAGER),  # no reason: 422, asked again
    ("GET", "/team"): only(ADMIN, SUPERVISOR, VIEWER),
    ("GET", "/contacts"): only(ADMIN, SUPERVISOR, MANAGER, OPERATOR, VIEWER),
    ("POST", "/contacts/search"): only(ADMIN, SUPERVISOR, MANAGER, OPERATOR, VIEWER),
    ("GET", "/contacts/{contact_id}"): only(ADMIN, SUPERVISOR, MANAGER, OPERATOR, VIEWER),
    ("GET", "/identify"): only(ADMIN, OPERATOR),
    ("POST", "/identify/{activity_id}/contact"): only(ADMIN, OPERATOR),
    ("POST", "/identify/{activity_id}/link"): only(ADMIN, OPERATOR),
    ("GET", "/set-password"): EVERYONE,  # no link: 410, ask for another
    ("POST", "/set-password"): EVERYONE,  # without the form's nonce: 400, asked again
    ("GET", "/login/sso"): EVERYONE,  # not configured here: 404
    ("GET", "/login/sso/callback"): EVERYONE,
    ("GET", "/admin/people/{manager_id}/sign-in"): only(ADMIN, SUPERVISOR),
    ("POST", "/admin/people/{manager_id}/invitation"): only(ADMIN),
    ("POST", "/admin/people/{manager_id}/password-reset"): only(ADMIN),
    ("GET", "/contacts/{contact_id}/fields"): only(ADMIN, OPERATOR),
    ("POST", "/contacts/{contact_id}/fields"): only(ADMIN, OPERATOR),
    ("GET", "/admin"): only(ADMIN, SUPERVISOR),
    ("GET", "/admin/people"): only(ADMIN, SUPERVISOR),
    ("POST", "/admin/people"): only(ADMIN),
    ("GET", "/admin/people/{manager_id}"): only(ADMIN, SUPERVISOR),
    ("POST", "/admin/people/{manager_id}"): only(ADMIN),
    ("POST", "/admin/people/{manager_id}/tokens"): only(ADMIN),
    ("POST", "/admin/people/{manager_id}/tokens/{token_id}/revoke"): only(ADMIN),
    ("POST", "/admin/people/{manager_id}/hand-over"): only(ADMIN),
    ("GET", "/admin/presets"): only(ADMIN, SUPERVISOR),
    ("POST", "/admin/presets"): only(ADMIN),
    ("POST", "/admin/presets/{code}"): only(ADMIN),
    ("POST", "/admin/presets/{code}/move"): only(ADMIN),
    ("GET", "/admin/plan"): only(ADMIN, SUPERVISOR),
    ("POST", "/admin/plan"): only(ADMIN),
    ("POST", "/admin/plan/{target_id}/remove"): only(ADMIN),
    ("GET", "/admin/fields"): only(ADMIN, SUPERVISOR),
    ("POST", "/admin/fields"): only(ADMIN),
    ("POST", "/admin/fields/{field_id}"): only(ADMIN),
    # The admin area's settings: administrators change them, supervisors read them.
    ("GET", "/admin/settings/{group}"): only(ADMIN, SUPERVISOR),
    ("POST", "/admin/settings/{group}"): only(ADMIN),  # an empty form: 422, asked again
    ("POST", "/admin/settings/classification/preview"): only(ADMIN, SUPERVISOR),
}

PATH_VALUES = {
    "{activity_id}": "no-such-activity",
    "{contact_id}": "no-such-contact",
    "{group}": "outcomes",
    "{manager_id}": "no-such-manager",
    "{token_id}": "no-such-token",
    "{code}": "no_such_preset",
    "{target_id}": "no-such-target",
    "{field_id}": "no-such-field",
    "{name}": sorted(STATIC_TYPES)[0],  # a file that is there
}
FORMS: dict[str, dict[str, str]] = {
    "/activities/{activity_id}/status": {"preset": "completed"},
    "/contacts/search": {"q": "Ann"},
    "/identify/{activity_id}/contact": {"first_name": "Eve"},
    "/identify/{activity_id}/link": {"contact_id": "no-such-contact"},
}


def routes_of(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path) of every route, included routers too (HEAD is implied by GET)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            context = getattr(route, "include_context", None)
            yield from routes_of(included.routes, prefix + getattr(context, "prefix", ""))
        elif isinstance(route, APIRoute | Route):
            for method in route.methods or ():
                if method != "HEAD":
                    yield method, prefix + route.path


def page_routes(app: FastAPI) -> set[tuple[str, str]]:
    return {
        (method, path)
        for method, path in routes_of(app.routes)
        if not path.startswith("/api/") and path not in NOT_PAGES
    }


@pytest.fixture
def app(sessions: Sessions, settings: Settings) -> FastAPI:
    app = create_app(settings)
    app.state.sessionmaker = sessions
    return app


def browser(app: FastAPI) -> httpx.AsyncClient:
    """Keeps cookies as a browser does; follows no redirect."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=LOCAL)


async def token_for(api: httpx.AsyncClient, role: Role, admin: dict[str, str]) -> str:
    body = {"name": f"Page {role.value}", "email": f"page-{role.value}@our.example"}
    created = await api.post("/api/v1/managers", json={**body, "role": role.value}, headers=admin)
    assert created.status_code == 201, created.text
    token = await api.post(
        "/api/v1/tokens", json={"manager_id": created.json()["id"]}, headers=admin
    )
    assert token.status_code == 201, token.text
    value: str = token.json()["token"]
    return value


@asynccontextmanager
async def signed_in(
    app: FastAPI, token: str | None
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A browser signed in through the login form, and the CSRF token its pages carry; a
    stranger's browser has neither session nor token."""
    async with browser(app) as client:
        if token is None:
            yield client, ""
            return
        form = await client.get("/login")
        nonce = re.search(r'name="csrf" value="([^"]*)"', form.text)
        assert nonce is not None
        response = await client.post("/login", data={"csrf": nonce.group(1), "token": token})
        assert response.status_code == 303, response.text
        contacts = await client.get("/contacts")
        csrf = re.search(r'<meta name="csrf-token" content="([^"]+)">', contacts.text)
        assert csrf is not None
        yield client, csrf.group(1)


def outcome(response: httpx.Response) -> str:
    if response.status_code == 403:
        return REFUSED
    if response.status_code in (302, 303, 307):
        return f"redirect:{response.headers['location'].partition('?')[0]}"
    if response.status_code == 401 or response.status_code >= 500:
        return f"unexpected {response.status_code}: {response.text[:200]}"
    return SERVED


def concrete(path: str) -> str:
    for template, value in PATH_VALUES.items():
        path = path.replace(template, value)
    return path


async def stream_head(client: httpx.AsyncClient, path: str) -> httpx.Response:
    """The status and headers of a stream that never ends by itself (`/inbox/live`): the ASGI
    app is called directly, and the browser "leaves" once the first events have come."""
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    started: dict[str, Any] = {}
    gone = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            started.update(message)
        elif b"event: counters" in message.get("body", b""):
            gone.set()  # the first events are out; the stream waits for changes

    cookies = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8004"), (b"cookie", cookies.encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8004),
    }
    await asyncio.wait_for(transport.app(scope, receive, send), 30)
    headers = [(k.decode(), v.decode()) for k, v in started.get("headers", [])]
    return httpx.Response(started["status"], headers=headers)


async def request(client: httpx.AsyncClient, csrf: str, method: str, path: str) -> httpx.Response:
    if (method, path) == ("GET", "/inbox/live"):
        return await stream_head(client, path)
    if method == "GET":
        return await client.get(concrete(path))
    form: dict[str, Any] = {**FORMS.get(path, {}), "csrf": csrf}
    return await client.post(concrete(path), data=form)


def test_every_page_route_is_in_the_matrix(app: FastAPI) -> None:
    served = page_routes(app)
    assert len(served) >= 13
    assert served == set(SPEC)


def test_the_matrix_names_every_role() -> None:
    for route, table in SPEC.items():
        assert set(table) == {role.value for role in Role} | {STRANGER}, route


async def test_every_page_route_for_every_role(app: FastAPI, admin: dict[str, str]) -> None:
    async with browser(app) as api:
        tokens: dict[str, str | None] = {
            role.value: await token_for(api, role, admin) for role in Role
        }
    tokens[STRANGER] = None
    # Signing out ends the session: it goes last.
    ordered = sorted(page_routes(app), key=lambda route: route == ("POST", "/logout"))
    wrong: list[str] = []
    for who, token in tokens.items():
        async with signed_in(app, token) as (client, csrf):
            for method, path in ordered:
                got = outcome(await request(client, csrf, method, path))
                expected = SPEC.get((method, path), {}).get(who, "(not in the matrix)")
                if got != expected:
                    wrong.append(f"{method} {path} as {who}: {got}, expected {expected}")
    assert wrong == []


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


async def test_a_browser_gets_a_page_not_raw_json_for_an_unknown_address(app: FastAPI) -> None:
    """Unknown URLs and `/favicon.ico` once answered problem+json to a person's browser."""
    async with browser(app) as client:
        missing = await client.get("/no/such/page", headers={"Accept": BROWSER_ACCEPT})
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("text/html")
        assert "<h1>Page not found</h1>" in missing.text
        assert '<a href="/">' in missing.text
        assert "default-src 'none'" in missing.headers["content-security-policy"]
        icon = await client.get("/favicon.ico", headers={"Accept": "image/*"})
        assert icon.status_code == 200
        assert icon.headers["content-type"] == "image/svg+xml"
        assert icon.text.startswith("<svg")
        login = await client.get("/login")
        assert '<link rel="icon"' in login.text
        # Programs still get problem+json: the API, and a client that does not ask for a page.
        api = await client.get("/api/v1/no-such", headers={"Accept": BROWSER_ACCEPT})
        assert api.status_code == 404
        assert api.headers["content-type"] == "application/problem+json"
        script = await client.get("/no/such/page", headers={"Accept": "application/json"})
        assert script.headers["content-type"] == "application/problem+json"
