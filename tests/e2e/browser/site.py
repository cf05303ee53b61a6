"""The stack as the browser tests use it: the admin API, signed webhooks, signed-in pages."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize

from ingest_calls.domain.generic import sign
from support.stack import ADMIN_TOKEN, GENERIC_SECRET, Stack

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
T = TypeVar("T")


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    token: str
    extension: str
    email: str = ""


# Each new person's extension: unique on the stack (random ones collided now and then).
EXTENSIONS = itertools.count(7000 + uuid.uuid4().int % 1000)


class Site:
    """The stack as the tests use it: the admin API, signed webhooks and browser sessions."""

    def __init__(self, stack: Stack, browser: Browser) -> None:
        self.stack = stack
        self.browser = browser
        self.url = stack.url("crm_store")
        self.contexts: list[BrowserContext] = []

    async def api(self, method: str, path: str, **kwargs: Any) -> Any:
        async with httpx.AsyncClient(base_url=self.url, headers=ADMIN) as client:
            response = await client.request(method, path, **kwargs)
        assert response.is_success, response.text
        return response.json()

    async def person(self, role: str) -> Person:
        """A new manager (or operator...) with a unique extension, and their token."""
        suffix = uuid.uuid4().hex[:8]
        extension = str(next(EXTENSIONS)) if role != "operator" else ""
        name = f"{role.capitalize()} {suffix}"
        manager = await self.api(
            "POST",
            "/api/v1/managers",
            json={
                "name": name,
                "email": f"{role}-{suffix}@acme-corp.com",
                "extensions": [extension] if extension else [],
                "role": role,
            },
        )
        token = await self.api("POST", "/api/v1/tokens", json={"manager_id": manager["id"]})
        return Person(manager["id"], name, token["token"], extension, manager["email"])

    async def plan(self, person: Person, target: int) -> None:
        now = datetime.now(UTC)
        await self.api(
            "POST",
            "/api/v1/plan-targets",
            json={
                "manager_id": person.id,
                "metric": "activities_closed",
                "target": target,
                "period_start": (now - timedelta(days=1)).isoformat(),
                "period_end": (now + timedelta(days=30)).isoformat(),
            },
        )

    async def call(
        self,
        number: str,
        agent: str,
        *,
        status: str = "no_answer",
        direction: str = "inbound",
        ago_s: float = 90.0,
        talk_s: float = 70.0,
        recording_url: str | None = None,
    ) -> None:
        """A call record posted to ingest-calls' generic webhook, signed as a PBX signs it:
        started `ago_s` seconds ago, `talk_s` seconds of talk when answered."""
        start = datetime.now(UTC) - timedelta(seconds=ago_s)
        answered = start + timedelta(seconds=5)
        ended = answered + timedelta(seconds=talk_s) if status == "answered" else answered
        ours = "+14155550100"
        record: dict[str, Any] = {
            "id": f"page-{uuid.uuid4().hex[:12]}",
            "direction": direction,
            "status": status,
            "from": number if direction == "inbound" else ours,
            "to": ours if direction == "inbound" else number,
            "started_at": start.isoformat(),
            "ended_at": ended.isoformat(),
            "agent": agent,
        }
        if status == "answered":
            record["answered_at"] = answered.isoformat()
            record["talk_s"] = talk_s
        if recording_url:
            record["recording_url"] = recording_url
        await self._post_call(record)

    async def _post_call(self, record: dict[str, Any]) -> None:
        body = json.dumps(record).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Switchboard-Timestamp": timestamp,
            "X-Switchboard-Signature": sign(GENERIC_SECRET, timestamp, body),
        }
        async with httpx.AsyncClient(base_url=self.stack.url("ingest_calls")) as client:
            response = await client.post("/webhooks/generic", content=body, headers=headers)
        assert response.status_code == 200, response.text

    async def internal_call(self, caller: str, callee: str) -> None:
        """A colleague calls a colleague: extension to extension."""
        start = datetime.now(UTC) - timedelta(seconds=600)
        record = {
            "id": f"page-{uuid.uuid4().hex[:12]}",
            "direction": "internal",
            "status": "answered",
            "from": caller,
            "to": callee,
            "started_at": start.isoformat(),
            "answered_at": (start + timedelta(seconds=3)).isoformat(),
            "ended_at": (start + timedelta(seconds=60)).isoformat(),
            "talk_s": 57,
            "agent": callee,
        }
        await self._post_call(record)

    async def activities(self, number: str) -> list[dict[str, Any]]:
        page = await self.api("GET", "/api/v1/activities", params={"limit": "200"})
        return [a for a in page["items"] if a["counterpart"] == number]

    async def revoke_tokens(self, person: Person) -> None:
        """Revoke every token of the person, as an administrator does with the API."""
        tokens = await self.api("GET", "/api/v1/tokens", params={"manager_id": person.id})
        async with httpx.AsyncClient(base_url=self.url, headers=ADMIN) as client:
            for token in tokens:
                response = await client.delete(f"/api/v1/tokens/{token['id']}")
                assert response.status_code == 204, response.text

    async def anonymous_page(self) -> Page:
        context = await self.browser.new_context(base_url=self.url, viewport=DESKTOP)
        self.contexts.append(context)
        return await context.new_page()

    async def page(
        self,
        person: Person,
        viewport: ViewportSize = DESKTOP,
        timezone_id: str | None = None,
        locale: str | None = None,
    ) -> Page:
        """A fresh browser session, signed in through the login form (`locale`: the browser's
        language, which it sends as `Accept-Language`)."""
        context = await self.browser.new_context(
            base_url=self.url,
            viewport=viewport or {"width": 1280, "height": 900},  # type: ignore[arg-type]
            timezone_id=timezone_id,
            locale=locale,
        )
        self.contexts.append(context)
        page = await context.new_page()
        await page.goto("/login")
        # The token form, by its place (the page may speak any language).
        await page.locator("details.token-sign-in summary").click()
        await page.locator("#token").fill(person.token)
        await page.locator("details.token-sign-in button[type=submit]").click()
        await page.wait_for_url(lambda url: not url.endswith("/login"))
        return page

    async def admin_page(self) -> Page:
        """A fresh browser session of the bootstrap administrator (its token)."""
        admin = Person(id="", name="Administrator", token=ADMIN_TOKEN, extension="")
        return await self.page(admin)

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


def new_number() -> str:
    return f"+1415555{uuid.uuid4().int % 10_000:04d}"


async def eventually(
    check: Callable[[], Awaitable[T | None]], timeout: float = 30.0, interval: float = 0.2
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)
