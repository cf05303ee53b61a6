"""crm-store's API and managers' page in process, on a test's sessions, and a browser signed in
through the login form."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_store import web
from crm_store.config import Settings
from crm_store.http import router as api_router
from switchboard_shared.problems import install_problem_handlers

LOCAL = "http://127.0.0.1:8004"


def build_app(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> FastAPI:
    app = FastAPI()
    app.include_router(api_router)
    app.include_router(web.router)
    install_problem_handlers(app)
    app.state.sessionmaker = sessions
    app.state.settings = settings
    return app


def browser(app: FastAPI, base_url: str = LOCAL) -> httpx.AsyncClient:
    """A client that keeps cookies, as a browser does (no redirects followed)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


@asynccontextmanager
async def sign_in(
    app: FastAPI, token: str, base_url: str = LOCAL
) -> AsyncIterator[httpx.AsyncClient]:
    """A browser signed in through the login form."""
    async with browser(app, base_url) as client:
        form = await client.get("/login")
        assert form.status_code == 200
        nonce = hidden(form.text, "csrf")
        response = await client.post("/login", data={"csrf": nonce, "token": token})
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/"
        yield client


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden field {name}"
    return match.group(1)


async def password_sign_in(
    client: httpx.AsyncClient, email: str, password: str, next_url: str | None = None
) -> httpx.Response:
    """Sign in through the login form with an e-mail address and password; the answer."""
    form = await client.get("/login")
    assert form.status_code == 200, form.text
    data = {"csrf": hidden(form.text, "csrf"), "email": email, "password": password}
    if next_url is not None:
        data["next"] = next_url
    return await client.post("/login", data=data)


async def set_password(client: httpx.AsyncClient, url: str, password: str) -> httpx.Response:
    """Open a link to set a password and send the form with `password` twice; the answer."""
    path = url.split("://", 1)[-1].partition("/")[2]
    form = await client.get("/" + path)
    assert form.status_code == 200, form.text
    data = {
        "csrf": hidden(form.text, "csrf"),
        "key": hidden(form.text, "key"),
        "password": password,
        "password_again": password,
    }
    return await client.post("/set-password", data=data)
