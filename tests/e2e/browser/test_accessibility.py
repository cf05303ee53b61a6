"""axe-core on every screen of the managers' page, with real content from the stack: the inbox
(with cards, a toast after a click), the team view, contacts and a search, the operator's list
to identify and a contact's timeline. No serious or critical violation is allowed."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from e2e.browser.site import PHONE, Site, new_number
from e2e.browser.test_managers_page import activity_of
from support.axe import serious_violations

pytestmark = pytest.mark.e2e


async def clean(page: Page, screen: str) -> None:
    found = await serious_violations(page)
    assert found == [], f"{screen}: " + "\n".join(found)


async def test_every_screen_passes_axe_core(site: Site) -> None:
    manager = await site.person("manager")
    supervisor = await site.person("supervisor")
    operator = await site.person("operator")
    missed, talked = new_number(), new_number()
    await site.call(missed, agent=manager.extension)
    await site.call(talked, agent=manager.extension, status="answered")
    callback = await activity_of(site, missed, "callback")
    identify = await activity_of(site, talked, "identify_contact")

    inbox = await site.page(manager)
    await expect(inbox.locator(f"#item-{callback['id']}")).to_be_visible()
    await clean(inbox, "inbox")
    await inbox.locator(f"#item-{callback['id']}").get_by_role("button", name="Completed").click()
    await expect(inbox.locator("#toast").get_by_role("button", name="Undo")).to_be_visible()
    await clean(inbox, "inbox with the undo toast")

    phone = await site.page(manager, viewport=PHONE)
    await clean(phone, "inbox on a phone")

    team = await site.page(supervisor)
    await team.goto("/team")
    await expect(team.get_by_role("heading", name="Team today")).to_be_visible()
    await clean(team, "team view")

    queue = await site.page(operator)
    queued = queue.locator(f"#item-{identify['id']}")
    await expect(queued).to_be_visible()
    await queued.locator("summary", has_text="Create contact").click()
    await clean(queue, "to identify")
    await queue.goto("/contacts")
    await clean(queue, "contacts")

    contact = await site.api(
        "POST",
        "/api/v1/contacts",
        json={"first_name": "Ada", "last_name": "Axe", "phones": [missed]},
    )
    await queue.goto("/contacts")
    await queue.get_by_label("Name, number or address").fill("Ada")
    await queue.get_by_role("button", name="Search").click()
    await expect(queue.get_by_role("link", name="Ada Axe")).to_be_visible()
    await clean(queue, "contact search")
    await inbox.goto(f"/contacts/{contact['id']}")
    await expect(inbox.get_by_role("heading", name="Ada Axe")).to_be_visible()
    await clean(inbox, "timeline")
