"""Signing in as people do, in a real browser against the whole stack: an invitation link, a
password, the inbox; the lock-out after wrong passwords; an administrator's reset ending the
open page on its next click; single sign-on through a local OpenID Connect provider; and the
refusal page for a manager in the administration. axe-core checks the sign-in and password
pages (no serious or critical violation)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, expect

from e2e.browser.site import DESKTOP, Person, Site

pytestmark = pytest.mark.e2e

PASSWORD = "a sentence only Nora knows"


async def no_serious_violations(page: Page) -> None:
    results = await Axe().run(page)
    found = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert found == [], "\n".join(found)


async def email_of(site: Site, person: Person) -> str:
    managers = await site.api("GET", "/api/v1/managers")
    email: str = next(m["email"] for m in managers if m["id"] == person.id)
    return email


async def new_page(site: Site) -> Page:
    context = await site.browser.new_context(base_url=site.url, viewport=DESKTOP)
    site.contexts.append(context)
    return await context.new_page()


async def choose_password(page: Page, url: str, password: str) -> None:
    await page.goto(url)
    await page.get_by_label("New password").fill(password)
    await page.get_by_label("The same password again").fill(password)
    await page.get_by_role("button", name="Set password").click()
    await expect(page.get_by_text("Your password is set")).to_be_visible()


async def sign_in_with_password(page: Page, email: str, password: str) -> None:
    await page.goto("/login")
    await page.get_by_label("E-mail address").fill(email)
    await page.get_by_label("Password", exact=True).fill(password)
    await page.get_by_role("button", name="Sign in", exact=True).click()


async def invited(site: Site, role: str = "manager") -> tuple[Person, str, str]:
    person = await site.person(role)
    link = await site.api("POST", f"/api/v1/managers/{person.id}/invitation")
    return person, await email_of(site, person), str(link["url"])


async def test_an_invited_manager_sets_a_password_signs_in_and_sees_the_inbox(
    site: Site,
) -> None:
    nora, email, url = await invited(site)
    page = await new_page(site)
    await page.goto(url)
    await expect(page.get_by_role("heading", name="Set your password")).to_be_visible()
    await expect(page.get_by_text(nora.name)).to_be_visible()
    await no_serious_violations(page)
    await page.get_by_label("New password").fill("too short")
    await page.get_by_label("The same password again").fill("too short")
    await page.get_by_role("button", name="Set password").click()
    # The browser itself holds back a password under the minimum length.
    await expect(page).to_have_url(url)

    await choose_password(page, url, PASSWORD)
    await no_serious_violations(page)
    await page.get_by_label("E-mail address").fill(email)
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await expect(page.get_by_role("heading", name="Your inbox")).to_be_visible()
    await expect(page.get_by_text(nora.name).first).to_be_visible()
    cookies = await page.context.cookies()
    [session] = [c for c in cookies if c["name"].endswith("sb_session")]
    assert session["httpOnly"]
    assert session["sameSite"] == "Strict"

    used = await new_page(site)
    await used.goto(url)
    await expect(used.get_by_role("heading", name="This link no longer works")).to_be_visible()


async def test_wrong_passwords_lock_the_account_with_a_message_and_a_time(site: Site) -> None:
    _, email, url = await invited(site)
    page = await new_page(site)
    await choose_password(page, url, PASSWORD)
    for attempt in range(4):
        await sign_in_with_password(page, email, f"wrong guess {attempt}")
        await expect(page.get_by_role("alert")).to_have_text(
            "The e-mail address or the password is wrong."
        )
    await sign_in_with_password(page, email, "wrong guess 5")
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("Too many failed sign-ins")
    await expect(alert).to_contain_text(" UTC")
    await sign_in_with_password(page, email, PASSWORD)
    await expect(page.get_by_role("alert")).to_contain_text("Too many failed sign-ins")
    await expect(page).to_have_url(f"{site.url}/login")


async def test_an_administrators_reset_ends_the_open_page_on_its_next_click(site: Site) -> None:
    nora, email, url = await invited(site)
    page = await new_page(site)
    await choose_password(page, url, PASSWORD)
    await sign_in_with_password(page, email, PASSWORD)
    await expect(page.get_by_role("heading", name="Your inbox")).to_be_visible()

    administrator = await site.admin_page()
    await administrator.goto(f"/admin/people/{nora.id}/sign-in")
    await expect(administrator.get_by_text("Set on")).to_be_visible()
    await no_serious_violations(administrator)
    await administrator.get_by_role("button", name=f"Reset the password of {nora.name}").click()
    link = administrator.get_by_label("Link to set a password")
    value = await link.input_value()
    assert value.startswith(f"{site.url}/set-password?key=sbl_")
    await expect(administrator.get_by_text("every open session")).to_be_visible()

    await page.get_by_role("link", name="Contacts").click()
    await expect(page).to_have_url(f"{site.url}/login?next=%2Fcontacts")
    await sign_in_with_password(page, email, PASSWORD)
    await expect(page.get_by_role("alert")).to_have_text(
        "The e-mail address or the password is wrong."
    )
    await choose_password(page, value, PASSWORD + " again")
    await sign_in_with_password(page, email, PASSWORD + " again")
    await expect(page.get_by_role("heading", name="Your inbox")).to_be_visible()


async def set_provider_user(issuer: str, sub: str, claims: dict[str, Any]) -> None:
    async with httpx.AsyncClient(base_url=issuer) as provider:
        response = await provider.put(f"/users/{sub}", json=claims)
    assert response.status_code == 204, response.text


async def sign_on_as(page: Page, sub: str) -> None:
    await page.goto("/login")
    await page.get_by_role("link", name="Continue with Acme accounts").click()
    await page.get_by_placeholder("sub").fill(sub)
    await page.get_by_role("button", name="Authorize").click()


async def test_single_sign_on_through_the_provider_opens_the_inbox(
    site: Site, oidc_issuer: str
) -> None:
    nora = await site.person("manager")
    email = await email_of(site, nora)
    sub = f"google-{uuid.uuid4().hex[:10]}"
    await set_provider_user(oidc_issuer, sub, {"email": email, "email_verified": True})
    page = await new_page(site)
    await sign_on_as(page, sub)
    await expect(page.get_by_role("heading", name="Your inbox")).to_be_visible()
    await expect(page.get_by_text(nora.name).first).to_be_visible()

    # An address the provider has not verified, or that is no one's here, signs no one in.
    stranger = f"other-{uuid.uuid4().hex[:10]}"
    await set_provider_user(oidc_issuer, stranger, {"email": email, "email_verified": False})
    refused = await new_page(site)
    await sign_on_as(refused, stranger)
    await expect(refused.get_by_role("alert")).to_contain_text("did not sign you in")
    nobody = f"nobody-{uuid.uuid4().hex[:10]}"
    unknown = f"{nobody}@acme-corp.com"
    await set_provider_user(oidc_issuer, nobody, {"email": unknown, "email_verified": True})
    await sign_on_as(refused, nobody)
    await expect(refused.get_by_role("alert")).to_contain_text("not the address of an active")
    await refused.goto("/")
    await expect(refused).to_have_url(f"{site.url}/login")


async def test_a_manager_gets_the_refusal_page_in_the_administration(site: Site) -> None:
    manager = await site.person("manager")
    page = await site.page(manager)
    response = await page.goto(f"/admin/people/{manager.id}/sign-in")
    assert response is not None
    assert response.status == 403
    await expect(page.get_by_role("heading", name="Not for your role")).to_be_visible()
    await expect(page.get_by_role("link", name="Back to the start")).to_be_visible()
