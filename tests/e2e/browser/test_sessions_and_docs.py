"""In a real browser: the page's cookie holds a session, not the token, and revoking the token
ends the open page; the API's docs render from the service itself under a strict policy, with
nothing loaded from elsewhere and no policy violation."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import ConsoleMessage, Page, Request, expect

from e2e.browser.site import Site

pytestmark = pytest.mark.e2e


def watch(page: Page, origin: str) -> tuple[list[str], list[str]]:
    """Requests to other origins, and console errors (a policy violation is one)."""
    foreign: list[str] = []
    errors: list[str] = []

    def on_request(request: Request) -> None:
        if not request.url.startswith((origin, "data:")):
            foreign.append(request.url)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("request", on_request)
    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return foreign, errors


async def test_the_cookie_holds_a_session_and_revoking_the_token_ends_it(site: Site) -> None:
    manager = await site.person("manager")
    page = await site.page(manager)
    foreign, errors = watch(page, site.url)
    await page.reload()
    await expect(page.get_by_role("heading", name="Your inbox")).to_be_visible()
    cookies = await page.context.cookies()
    [session] = [c for c in cookies if c["name"].endswith("sb_session")]
    assert manager.token not in session["value"]
    assert session["httpOnly"]
    assert session["sameSite"] == "Strict"

    await site.revoke_tokens(manager)
    await page.reload()
    await expect(page).to_have_url(re.compile(rf"{re.escape(site.url)}/login(\?next=.*)?$"))
    await expect(page.get_by_label("E-mail address")).to_be_visible()
    assert foreign == []
    assert errors == []


async def test_the_api_docs_render_from_the_service_itself(site: Site) -> None:
    page = await site.anonymous_page()
    foreign, errors = watch(page, site.url)
    response = await page.goto("/docs")
    assert response is not None
    assert response.status == 200
    policy = await response.header_value("content-security-policy")
    assert policy is not None
    assert "script-src 'self'" in policy
    await expect(page.locator(".opblock").first).to_be_visible()
    await expect(page.get_by_role("button", name="Authorize")).to_be_visible()
    assert foreign == []
    assert errors == []
