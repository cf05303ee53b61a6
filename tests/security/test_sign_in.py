"""Signing in with a password, attacked: guessing passwords (per account and from one client
address), telling which addresses have accounts (by the answer or its time), fixing a session
id before the victim signs in, stealing the cookie through script or plain HTTP, and a `next=`
that sends the signed-in person to another site.

crm-store's app runs in process on a migrated database of its own (SQLite and PostgreSQL), so
each test may come from a client address of its own (the lock-out counts per address) without
locking the stack the other attacks share.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from crm_store.app import create_app
from crm_store.config import Settings
from support.crm_page import hidden, password_sign_in, set_password

pytestmark = pytest.mark.security

ADMIN_TOKEN = "sign-in-attack-admin-token-0123456789"
PASSWORD = "a long and private passphrase"
LOCAL = "http://127.0.0.1:8004"
ACCOUNT_LIMIT = 5
ADDRESS_LIMIT = 12


@pytest.fixture(scope="module")
def app(database_url: str) -> FastAPI:
    settings = Settings(
        database_url=database_url,
        bootstrap_admin_token=ADMIN_TOKEN,
        sign_in_max_failures=ACCOUNT_LIMIT,
        sign_in_address_max_failures=ADDRESS_LIMIT,
    )
    return create_app(settings, run_migrations=False)


@asynccontextmanager
async def client_from(
    app: FastAPI, address: str | None = None, base_url: str = LOCAL
) -> AsyncIterator[httpx.AsyncClient]:
    """A browser (keeps cookies, follows no redirect) at a client address of its own."""
    ip = address or f"198.51.100.{uuid.uuid4().int % 250 + 1}"
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="session")
async def victim(app: FastAPI) -> dict[str, Any]:
    """A manager with a password."""
    async with client_from(app) as api:
        api.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        suffix = uuid.uuid4().hex[:8]
        created = await api.post(
            "/api/v1/managers",
            json={"name": f"Victor {suffix}", "email": f"victor.{suffix}@our.example"},
        )
        assert created.status_code == 201, created.text
        manager: dict[str, Any] = created.json()
        invited = await api.post(f"/api/v1/managers/{manager['id']}/invitation")
        assert invited.status_code == 201, invited.text
    async with client_from(app) as client:
        assert (await set_password(client, invited.json()["url"], PASSWORD)).status_code == 303
    return manager


def session_cookie(client: httpx.AsyncClient) -> str | None:
    return next(
        (c.value for c in client.cookies.jar if c.name.endswith("sb_session") and c.value), None
    )


async def test_guessing_one_accounts_password_locks_it_from_every_address(
    app: FastAPI, victim: dict[str, Any]
) -> None:
    async with client_from(app) as attacker:
        answers = [
            await password_sign_in(attacker, victim["email"], f"guess {n}")
            for n in range(ACCOUNT_LIMIT)
        ]
        assert [a.status_code for a in answers] == [401] * (ACCOUNT_LIMIT - 1) + [429]
        assert "Too many failed sign-ins" in answers[-1].text
        assert "UTC" in answers[-1].text
        # The right password is not even checked while the account is locked.
        right = await password_sign_in(attacker, victim["email"], PASSWORD)
        assert right.status_code == 429
        assert session_cookie(attacker) is None
    async with client_from(app) as elsewhere:
        moved = await password_sign_in(elsewhere, victim["email"], PASSWORD)
        assert moved.status_code == 429, "another address does not lift the account's lock"


async def test_guessing_many_accounts_from_one_address_locks_the_address(
    app: FastAPI, victim: dict[str, Any]
) -> None:
    address = "203.0.113.77"
    async with client_from(app, address) as attacker:
        statuses = [
            (await password_sign_in(attacker, f"u{n}@our.example", "123456")).status_code
            for n in range(ADDRESS_LIMIT)
        ]
        assert statuses == [401] * (ADDRESS_LIMIT - 1) + [429]
        another = await password_sign_in(attacker, f"{uuid.uuid4().hex}@our.example", "x")
        assert another.status_code == 429
        assert "Too many failed sign-ins" in another.text
    async with client_from(app) as someone_else:
        fine = await password_sign_in(someone_else, "nobody@our.example", "wrong")
        assert fine.status_code == 401, "only the guessing address is locked"


def answer_text(response: httpx.Response) -> str:
    """The page without its per-request nonce."""
    return response.text.replace(hidden(response.text, "csrf"), "NONCE")


async def test_the_answer_does_not_tell_whether_an_account_exists(
    app: FastAPI, victim: dict[str, Any]
) -> None:
    unknown = f"nobody.{uuid.uuid4().hex[:6]}@our.example"
    async with client_from(app) as known_client, client_from(app) as unknown_client:
        known = await password_sign_in(known_client, victim["email"], "wrong password")
        other = await password_sign_in(unknown_client, unknown, "wrong password")
        assert known.status_code == other.status_code == 401
        assert answer_text(known).replace(victim["email"], "ADDRESS") == answer_text(other).replace(
            unknown, "ADDRESS"
        )
        # An unknown address locks exactly as a real one does.
        for _ in range(ACCOUNT_LIMIT - 1):
            last = await password_sign_in(unknown_client, unknown, "wrong password")
        assert last.status_code == 429


async def test_an_unknown_address_takes_as_long_as_a_wrong_password(
    app: FastAPI, victim: dict[str, Any]
) -> None:
    """Both do the same argon2 work; the medians stay within a factor of two of each other."""
    known_times: list[float] = []
    unknown_times: list[float] = []
    for round_ in range(3):
        for email, times in ((victim["email"], known_times), (None, unknown_times)):
            async with client_from(app) as client:
                form = await client.get("/login")
                data = {
                    "csrf": hidden(form.text, "csrf"),
                    "email": email or f"ghost.{round_}.{uuid.uuid4().hex[:6]}@our.example",
                    "password": f"wrong {round_}",
                }
                started = time.perf_counter()
                response = await client.post("/login", data=data)
                times.append(time.perf_counter() - started)
                assert response.status_code == 401
        if round_ == 0:  # the decoy hash is made once, on first use; the account is not locked
            known_times.clear()
            unknown_times.clear()
    known, unknown = statistics.median(known_times), statistics.median(unknown_times)
    assert 0.5 < known / unknown < 2.0, (known_times, unknown_times)


async def test_signing_in_gives_a_new_session_id_and_ends_the_planted_one(
    app: FastAPI, victim: dict[str, Any]
) -> None:
    async with client_from(app) as attacker:
        assert (await password_sign_in(attacker, victim["email"], PASSWORD)).status_code == 303
        planted = session_cookie(attacker)
        assert planted is not None
    async with client_from(app) as browser:
        browser.cookies.set("sb_session", planted, domain="127.0.0.1")
        assert (await password_sign_in(browser, victim["email"], PASSWORD)).status_code == 303
        issued = session_cookie(browser)
        assert issued is not None
        assert issued != planted, "the session id the browser came with was kept"
        assert (await browser.get("/")).status_code == 200
    async with client_from(app) as attacker:
        attacker.cookies.set("sb_session", planted, domain="127.0.0.1")
        replay = await attacker.get("/")
        assert replay.status_code == 303, "the planted session still works"


async def test_the_session_cookie_is_out_of_reach_of_scripts_and_other_sites(
    app: FastAPI, victim: dict[str, Any]
) -> None:
    async with client_from(app) as plain:
        signed_in = await password_sign_in(plain, victim["email"], PASSWORD)
        cookie = signed_in.headers["set-cookie"]
        assert cookie.startswith("sb_session="), cookie
        flags = cookie.lower()
        assert "httponly" in flags
        assert "samesite=strict" in flags
        assert "path=/" in flags
    async with client_from(app, base_url="https://crm.our.example") as tls:
        signed_in = await password_sign_in(tls, victim["email"], PASSWORD)
        assert signed_in.status_code == 303, signed_in.text
        cookie = signed_in.headers["set-cookie"]
        assert cookie.startswith("__Host-sb_session="), cookie
        flags = cookie.lower()
        assert "; secure" in flags
        assert "httponly" in flags
        assert "samesite=strict" in flags
        assert "domain=" not in flags
    async with client_from(app, base_url="http://crm.our.example") as cleartext:
        refused = await password_sign_in(cleartext, victim["email"], PASSWORD)
        assert refused.status_code == 400, "plain HTTP away from this machine signs no one in"
        assert "set-cookie" not in refused.headers or "sb_session" not in refused.headers.get(
            "set-cookie", ""
        )


HOSTILE_NEXT = [
    "//evil.example/",
    "https://evil.example/",
    "/\\evil.example",
    "\\\\evil.example",
    "javascript:alert(1)",
    "/%0d%0aLocation: https://evil.example",
    " //evil.example",
    "/\t/evil.example",
    "evil.example",
    "/logout",
]


@pytest.mark.parametrize("next_url", HOSTILE_NEXT)
async def test_next_never_leaves_the_site(
    app: FastAPI, victim: dict[str, Any], next_url: str
) -> None:
    async with client_from(app) as client:
        answer = await password_sign_in(client, victim["email"], PASSWORD, next_url=next_url)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/"


async def test_next_brings_a_person_back_to_the_page_they_asked_for(
    app: FastAPI, victim: dict[str, Any]
) -> None:
    async with client_from(app) as client:
        sent = await client.get("/contacts?q=ann")
        assert sent.status_code == 303
        assert sent.headers["location"] == "/login?next=%2Fcontacts%3Fq%3Dann"
        form = await client.get(sent.headers["location"])
        assert hidden(form.text, "next") == "/contacts?q=ann"
        answer = await client.post(
            "/login",
            data={
                "csrf": hidden(form.text, "csrf"),
                "next": hidden(form.text, "next"),
                "email": victim["email"],
                "password": PASSWORD,
            },
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == "/contacts?q=ann"
