"""The admin area in a real browser against the whole stack, done as an administrator does it:
a new preset is offered on a manager's card at their next page load; a manager who leaves is
handed over to a colleague in one step, whose inbox then holds the open items while the old
calls still name who took them; a token revoked on the admin page ends its page session at the
next click; a manager cannot open the admin area. Every admin page passes axe-core with no
serious or critical violation."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.async_api import Page, expect

from e2e.browser.site import Person, Site, eventually, new_number
from support.axe import blocking_violations
from support.stack import ADMIN_TOKEN

pytestmark = pytest.mark.e2e

ADMIN = Person("", "Administrator", ADMIN_TOKEN, "")


async def open_activity(site: Site, number: str) -> str:
    async def found() -> str | None:
        return next((a["id"] for a in await site.activities(number) if a["state"] == "open"), None)

    return await eventually(found)


async def accessible(page: Page) -> None:
    assert await blocking_violations(page) == [], page.url


async def test_a_new_preset_appears_on_a_managers_card_at_once(site: Site) -> None:
    manager = await site.person("manager")
    number = new_number()
    await site.call(number, agent=manager.extension)
    activity = await open_activity(site, number)
    code = f"offer_{uuid.uuid4().hex[:6]}"

    admin = await site.page(ADMIN)
    await admin.get_by_role("link", name="Admin").click()
    await expect(admin.get_by_role("heading", name="Admin", exact=True)).to_be_visible()
    await accessible(admin)
    await (
        admin.get_by_role("navigation", name="Admin sections")
        .get_by_role("link", name="Presets")
        .click()
    )
    form = admin.locator("form[action='/admin/presets']")
    await form.get_by_role("button", name="Add the preset").click()  # empty: refused
    await expect(form.get_by_label("Code", exact=True)).to_have_attribute("aria-invalid", "true")
    await accessible(admin)
    await form.get_by_label("Code", exact=True).fill(code)
    await form.get_by_label("Label (English, and wherever no other is given)").fill("Sent an offer")
    await form.get_by_label("Label in Polish").fill("Wysłano ofertę")
    await form.get_by_label("Call back").check()
    await form.get_by_role("button", name="Add the preset").click()
    await expect(
        admin.get_by_role("status").filter(has_text="The preset was added")
    ).to_be_visible()
    await expect(admin.locator(f"#preset-{code}")).to_contain_text("Sent an offer")
    await accessible(admin)

    page = await site.page(manager)
    item = page.locator(f"#item-{activity}")
    await expect(item.get_by_role("button", name="Sent an offer")).to_be_visible()


async def test_a_departing_managers_work_goes_to_a_colleague_and_history_keeps_their_name(
    site: Site,
) -> None:
    leaver = await site.person("manager")
    colleague = await site.person("manager")
    number = new_number()
    contact = await site.api(
        "POST",
        "/api/v1/contacts",
        json={
            "first_name": "Kim",
            "last_name": uuid.uuid4().hex[:6],
            "phones": [number],
            "owner_id": leaver.id,
        },
    )
    await site.call(number, agent=leaver.extension)
    activity = await open_activity(site, number)
    leaving_page = await site.page(leaver)
    await expect(leaving_page.locator(f"#item-{activity}")).to_be_visible()

    admin = await site.page(ADMIN)
    await admin.goto(f"/admin/people/{leaver.id}")
    await expect(admin.get_by_role("heading", name=leaver.name)).to_be_visible()
    await accessible(admin)
    await admin.get_by_label("Colleague who takes over").select_option(colleague.id)
    await admin.get_by_label(f"{leaver.name} leaves: deactivate them now").check()
    await admin.get_by_role("button", name="Deactivate and hand over").click()
    await expect(admin.get_by_role("status").filter(has_text="handed over")).to_be_visible()
    await expect(admin.get_by_role("heading", name=leaver.name)).to_contain_text("Deactivated")

    page = await site.page(colleague)
    await expect(page.locator(f"#item-{activity}")).to_be_visible()
    await page.goto(f"/contacts/{contact['id']}")
    entry = page.locator(".timeline .entry").first
    await expect(entry).to_contain_text(f"with {leaver.name}")
    await expect(page.locator(".facts")).to_contain_text(colleague.name)  # the owner now

    await leaving_page.get_by_role("link", name="Contacts").click()
    await expect(leaving_page).to_have_url(re.compile(rf"{re.escape(site.url)}/login(\?next=.*)?$"))


async def test_a_token_revoked_on_the_admin_page_ends_the_session_at_the_next_click(
    site: Site,
) -> None:
    manager = await site.person("manager")
    page = await site.page(manager)
    await expect(page.get_by_role("heading", name="Your inbox")).to_be_visible()

    admin = await site.page(ADMIN)
    await admin.goto(f"/admin/people/{manager.id}")
    tokens = admin.get_by_role("table").filter(has=admin.get_by_text("Last used"))
    await expect(tokens.get_by_role("row")).to_have_count(2)  # the header and the token
    await tokens.get_by_role("button", name="Revoke").click()
    await expect(admin.get_by_role("status").filter(has_text="revoked")).to_be_visible()
    await expect(tokens.get_by_role("cell", name="Revoked")).to_be_visible()

    await page.get_by_role("link", name="Contacts").click()
    await expect(page).to_have_url(re.compile(rf"{re.escape(site.url)}/login(\?next=.*)?$"))

    await admin.get_by_role("button", name="Issue a token").click()
    secret = await admin.get_by_label("Token", exact=True).input_value()
    await accessible(admin)
    again = await site.page(Person(manager.id, manager.name, secret, manager.extension))
    await expect(again.get_by_role("heading", name="Your inbox")).to_be_visible()


async def test_a_manager_cannot_open_the_admin_area(site: Site) -> None:
    manager = await site.person("manager")
    page = await site.page(manager)
    await expect(page.get_by_role("link", name="Admin")).to_have_count(0)
    response = await page.goto("/admin/people")
    assert response is not None
    assert response.status == 403
    await expect(page.get_by_role("heading", name="Not for your role")).to_be_visible()
    await accessible(page)


async def test_every_admin_page_passes_axe(site: Site) -> None:
    manager = await site.person("manager")
    admin = await site.page(ADMIN)
    for path in (
        "/admin",
        "/admin/people",
        f"/admin/people/{manager.id}",
        "/admin/presets",
        "/admin/plan",
        "/admin/fields",
    ):
        await admin.goto(path)
        await expect(admin.get_by_role("navigation", name="Admin sections")).to_be_visible()
        await accessible(admin)


async def test_an_operator_fills_in_a_contacts_extra_fields(site: Site) -> None:
    key = f"style_{uuid.uuid4().hex[:6]}"
    admin = await site.page(ADMIN)
    await admin.goto("/admin/fields")
    form = admin.locator("form[action='/admin/fields']")
    await form.get_by_label("Label", exact=True).fill("Decision style")
    await form.get_by_label("Key", exact=True).fill(key)
    await form.get_by_label("Type").select_option("choice")
    await form.get_by_role("button", name="Add the field").click()
    await expect(form.get_by_label("Choices (for a choice field)")).to_have_attribute(
        "aria-invalid", "true"
    )
    await accessible(admin)
    await form.get_by_label("Choices (for a choice field)").fill("Quick, Needs figures")
    await form.get_by_role("button", name="Add the field").click()
    await expect(admin.locator(f"#field-{key}")).to_contain_text("Decision style")

    operator = await site.person("operator")
    contact = await site.api("POST", "/api/v1/contacts", json={"first_name": "Noor"})
    page = await site.page(operator)
    await page.goto(f"/contacts/{contact['id']}")
    await page.get_by_role("link", name="Fill in the fields").click()
    await accessible(page)
    await page.get_by_label("Decision style").select_option("Needs figures")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator(f'[data-field="{key}"]')).to_contain_text("Needs figures")
    await accessible(page)
    stored = await site.api("GET", f"/api/v1/contacts/{contact['id']}")
    assert stored["fields"][key] == "Needs figures"
