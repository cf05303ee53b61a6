"""The page in its users' languages, over HTTP on a real database (SQLite and PostgreSQL): the
locale from the picker's cookie, else `Accept-Language`, else English; dates, durations, numbers
and phone numbers written as the locale and region write them; the script's words; errors."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException

from crm_store import web
from crm_store.config import Settings
from crm_store.interactions import record_interaction
from support.crm_page import LOCAL, browser, build_app, sign_in
from switchboard_shared.events import InteractionClassified

pytestmark = pytest.mark.integration

Sessions = async_sessionmaker[AsyncSession]
EventFactory = Callable[..., InteractionClassified]
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
POLISH_NUMBER = "+48221234567"


@pytest.fixture
def app(sessions: Sessions, settings: Settings) -> FastAPI:
    app = build_app(sessions, settings)
    app.add_exception_handler(StarletteHTTPException, web.http_error)  # as crm_store.app does
    return app


async def manager(app: FastAPI, admin: dict[str, str], name: str, extension: str) -> str:
    async with browser(app) as api:
        api.headers.update(admin)
        created = await api.post(
            "/api/v1/managers",
            json={"name": name, "email": f"{name.lower()}@our.example", "extensions": [extension]},
        )
        assert created.status_code == 201, created.text
        token = await api.post("/api/v1/tokens", json={"manager_id": created.json()["id"]})
        assert token.status_code == 201, token.text
        return str(token.json()["token"])


async def record(sessions: Sessions, *events: InteractionClassified) -> None:
    async with sessions() as session:
        for event in events:
            await record_interaction(session, event)
        await session.commit()


def lang_of(html: str) -> str:
    match = re.search(r'<html lang="([^"]+)"', html)
    assert match, "no <html lang>"
    return match.group(1)


def script_strings(html: str) -> dict[str, str]:
    match = re.search(r"data-strings='([^']*)'", html)
    assert match, "no data-strings on <html>"
    strings: dict[str, str] = json.loads(unescape(match.group(1)))
    return strings


async def test_the_inbox_speaks_the_browsers_language_then_the_users_choice(
    app: FastAPI, admin: dict[str, str], sessions: Sessions, call_event: EventFactory
) -> None:
    token = await manager(app, admin, "Rita", "201")
    at = datetime.now(UTC) - timedelta(minutes=20)
    await record(
        sessions,
        call_event("callback", call_id="lang:1", agent="201", at=at),
        call_event("callback", call_id="lang:2", agent="201", counterpart=POLISH_NUMBER, at=at),
        call_event("callback", call_id="lang:3", agent="201", at=at + timedelta(minutes=1)),
    )
    async with sign_in(app, token) as client:
        english = (await client.get("/")).text
        assert lang_of(english) == "en"
        assert "Your inbox" in english
        assert "20 minutes ago" in english
        assert "Tried 2 times" in english

        client.headers["Accept-Language"] = "de-DE,pl-PL;q=0.9,en;q=0.5"
        polish = (await client.get("/")).text
        assert lang_of(polish) == "pl"
        assert "<h1>Twoja skrzynka</h1>" in polish
        assert ">Skrzynka</a>" in polish  # the navigation
        assert "Dzwonili, a nikt nie odebrał." in polish  # why the card asks
        assert "2 próby" in polish  # Polish plural: 2 (few), not 5 (many)
        assert "20 minut temu" in polish
        # The absolute time as Polish writes it: day, abbreviated month, year, 24-hour time.
        month = ["sty", "lut", "mar", "kwi", "maj", "cze", "lip", "sie", "wrz", "paź", "lis", "gru"]
        assert f"{at.day} {month[at.month - 1]} {at.year}, {at:%H:%M} UTC" in polish
        # Numbers of our region nationally, others internationally.
        assert "(415) 555-0123" in polish
        assert "+48 22 123 45 67" in polish
        # The script's words, in the page's language.
        assert script_strings(polish)["Something went wrong"] == "Coś poszło nie tak"

        csrf = re.search(r'<meta name="csrf-token" content="([^"]+)">', polish)
        assert csrf
        picked = await client.post(
            "/language", data={"language": "ta", "back": "/"}, headers={"Origin": LOCAL}
        )
        assert picked.status_code == 303
        assert picked.headers["location"] == "/"
        tamil = (await client.get("/")).text  # still asks for Polish: the choice wins
        assert lang_of(tamil) == "ta"
        assert "உங்கள் இன்பாக்ஸ்" in tamil
        assert "அவர்கள் அழைத்தனர், யாரும் பதிலளிக்கவில்லை." in tamil
        assert '<option value="ta" lang="ta" selected>தமிழ்</option>' in tamil


async def test_counters_and_shares_are_numbers_of_the_locale(
    app: FastAPI, admin: dict[str, str], sessions: Sessions, call_event: EventFactory
) -> None:
    token = await manager(app, admin, "Lina", "202")
    at = datetime.now(UTC) - timedelta(minutes=5)
    await record(
        sessions,
        call_event("auto_closed", call_id="share:1", agent="202", status="answered", at=at),
        call_event("auto_closed", call_id="share:2", agent="202", status="answered", at=at),
        call_event("callback", call_id="share:3", agent="202", at=at, counterpart="+14155550124"),
    )
    async with sign_in(app, token) as client:
        client.headers["Accept-Language"] = "lt"
        html = (await client.get("/")).text
        assert lang_of(html) == "lt"
        # Two of three resolved by themselves: Lithuanian writes a space before the percent sign.
        auto = re.search(r'data-counter="auto">([^<]*)<', html)
        assert auto
        assert auto.group(1) == "67\xa0%"
        client.headers["Accept-Language"] = "en"
        auto = re.search(r'data-counter="auto">([^<]*)<', (await client.get("/")).text)
        assert auto
        assert auto.group(1) == "67%"


async def test_signing_in_and_errors_speak_the_language_too(app: FastAPI) -> None:
    async with browser(app) as client:
        login = await client.get("/login", headers={"Accept-Language": "lv"})
        assert lang_of(login.text) == "lv"
        assert "<h1>Pierakstīties</h1>" in login.text
        missing = await client.get(
            "/no/such/page", headers={"Accept": BROWSER_ACCEPT, "Accept-Language": "ms-MY"}
        )
        assert missing.status_code == 404
        assert "<h1>Halaman tidak dijumpai</h1>" in missing.text
        # A language we do not have: English.
        other = await client.get("/login", headers={"Accept-Language": "ja, fr;q=0.8"})
        assert lang_of(other.text) == "en"


async def test_the_picker_takes_only_our_languages_and_only_from_this_site(
    app: FastAPI,
) -> None:
    async with browser(app) as client:
        unknown = await client.post("/language", data={"language": "xx"})
        assert unknown.status_code == 422
        assert "sb_lang" not in client.cookies
        foreign = await client.post(
            "/language", data={"language": "pl"}, headers={"Origin": "https://evil.example"}
        )
        assert foreign.status_code == 403
        assert "sb_lang" not in client.cookies
        away = await client.post("/language", data={"language": "pl", "back": "//evil.example/"})
        assert away.status_code == 303
        assert away.headers["location"] == "/"
        assert client.cookies.get("sb_lang") == "pl"
        login = await client.get("/login", headers={"Accept-Language": "en"})
        assert lang_of(login.text) == "pl"
