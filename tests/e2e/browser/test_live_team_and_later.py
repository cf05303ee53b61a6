"""The managers' page, second round, in a real browser against the whole stack: the inbox is
live (a card closed elsewhere leaves, a revoked session stops the stream), "Call back later"
takes a date and time in the manager's own time zone, the team view counts what each manager
has open, overdue and due today and what they did by hand, and an operator creates a contact
with its company and e-mail address in one step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Locator, expect

from e2e.browser.site import Site, eventually, new_number
from e2e.browser.test_managers_page import activity_of

pytestmark = pytest.mark.e2e


async def test_a_card_closed_elsewhere_leaves_and_a_revoked_session_stops_the_stream(
    site: Site,
) -> None:
    manager = await site.person("manager")
    page = await site.page(manager)
    await expect(page.locator("#items[data-live-open]")).to_have_count(1)
    await page.evaluate("window.stillTheSamePage = true")

    number = new_number()
    await site.call(number, agent=manager.extension)
    callback = await activity_of(site, number, "callback")
    item = page.locator(f"#item-{callback['id']}")
    await expect(item).to_be_visible(timeout=10_000)
    await expect(page.locator('#counters [data-counter="open"]')).to_have_text("1")

    # A colleague (here the API) closes it: the card leaves this page by itself.
    await site.api(
        "POST", f"/api/v1/activities/{callback['id']}/status", json={"preset": "completed"}
    )
    await expect(item).to_have_count(0, timeout=10_000)
    await expect(page.locator('#counters [data-counter="open"]')).to_have_text("0")
    assert await page.evaluate("window.stillTheSamePage === true"), "the page was reloaded"

    # Revoking the token ends the session, and with it the stream.
    await site.revoke_tokens(manager)
    await expect(page.locator("#items[data-live-open]")).to_have_count(0, timeout=15_000)
    await expect(page.locator("#live")).to_contain_text("Live updates stopped", timeout=15_000)


async def test_call_back_later_takes_a_date_and_time_in_the_managers_zone(site: Site) -> None:
    manager = await site.person("manager")
    number = new_number()
    await site.call(number, agent=manager.extension)
    callback = await activity_of(site, number, "callback")
    zone = "Asia/Tokyo"  # far from the server's UTC: a zone mix-up shows as hours off
    page = await site.page(manager, timezone_id=zone)
    item = page.locator(f"#item-{callback['id']}")
    await expect(item).to_be_visible()

    when = (datetime.now(ZoneInfo(zone)) + timedelta(days=1)).replace(
        hour=15, minute=30, second=0, microsecond=0
    )
    await item.locator("summary", has_text="Call back at a set time").click()
    picker = item.get_by_label("Call back at (your time)")
    assert await picker.get_attribute("type") == "datetime-local"
    await picker.fill(when.strftime("%Y-%m-%dT%H:%M"))
    await item.get_by_role("button", name="Set the time").click()

    await expect(item.locator(".badge", has_text="Call back later")).to_be_visible()
    stored = await site.api("GET", f"/api/v1/activities/{callback['id']}")
    assert stored["state"] == "open"
    assert stored["preset"] == "callback_later"
    due = datetime.fromisoformat(stored["due_at"])
    assert due == when.astimezone(UTC), (due, when)
    # The card says when it is due, in the manager's time.
    await expect(item.locator(".due time")).to_have_attribute("datetime", due.isoformat())
    await expect(item.locator(".due")).to_contain_text("3:30")


async def test_the_team_view_counts_open_overdue_due_today_and_what_was_done_by_hand(
    site: Site,
) -> None:
    supervisor = await site.person("supervisor")
    ann = await site.person("manager")
    await site.plan(ann, target=5)
    late, today, done, auto = (new_number() for _ in range(4))
    await site.call(late, agent=ann.extension, ago_s=6 * 3600)  # due 4 h after: overdue
    await site.call(late, agent=ann.extension, ago_s=5 * 3600)  # the same client: one card
    await site.call(today, agent=ann.extension)
    await site.call(done, agent=ann.extension)
    await site.call(auto, agent=ann.extension)
    for number in (late, today, done, auto):
        await activity_of(site, number, "callback")
    closing = await activity_of(site, done, "callback")
    await site.api(
        "POST", f"/api/v1/activities/{closing['id']}/status", json={"preset": "completed"}
    )
    # Ann calls the other client back and they talk: that callback closes by itself.
    await site.call(auto, agent=ann.extension, status="answered", direction="outbound", ago_s=30)

    async def closed_by_itself() -> bool:
        return any(a["state"] == "done" for a in await site.activities(auto))

    await eventually(closed_by_itself)

    page = await site.page(supervisor)
    await page.goto("/team")
    row = page.locator(f'tr[data-manager="{ann.id}"]')

    def cell(name: str) -> Locator:
        return row.locator(f'[data-count="{name}"]')

    # Clients: the late one (called twice: one card), today's, and the one Ann talked to, who
    # is nobody's contact yet (who is this?, an outcome to pick): 3, not 5 items.
    await expect(cell("open")).to_have_text("3")
    await expect(cell("overdue")).to_have_text("1")
    now = datetime.now(UTC)
    due_today = int((now + timedelta(hours=4)).date() == now.date())  # due 4 h after the call
    await expect(cell("due_today")).to_have_text(str(due_today))
    await expect(cell("done")).to_have_text("1")  # by hand
    await expect(cell("done_auto")).to_have_text("1")  # the callback the later call closed
    await expect(cell("plan")).to_contain_text("1 of 5")  # not 2: closing by itself is no act

    # The same "open" as Ann's inbox lists: one card per client.
    await page.goto(f"/?manager={ann.id}")
    cards = page.locator("#items > .item")
    await expect(page.locator('#counters [data-counter="overdue"]')).to_have_text("1")
    opened = int(await page.locator('#counters [data-counter="open"]').inner_text())
    assert opened == await cards.count()


async def test_an_operator_creates_the_contact_with_company_and_address_in_one_step(
    site: Site,
) -> None:
    manager = await site.person("manager")
    operator = await site.person("operator")
    number = new_number()
    await site.call(number, agent=manager.extension, status="answered")
    identify = await activity_of(site, number, "identify_contact")

    page = await site.page(operator)
    queued = page.locator(f"#item-{identify['id']}")
    await expect(queued).to_contain_text(f"Taken by {manager.name}")
    await queued.locator("summary", has_text="Create contact").click()
    await queued.get_by_label("First name").fill("Iris")
    await queued.get_by_label("Last name").fill("Vale")
    await queued.get_by_label("Company (optional").fill("Vale Logistics")
    await queued.get_by_label("E-mail address (optional)").fill("iris@vale-logistics.example")
    await queued.get_by_role("button", name="Create contact").click()
    await expect(queued).to_have_count(0)
    await expect(page.locator("#live")).to_contain_text("at Vale Logistics")

    contacts = await site.api("GET", "/api/v1/contacts", params={"phone": number})
    [iris] = contacts["items"]
    assert iris["emails"] == ["iris@vale-logistics.example"]
    company = await site.api("GET", f"/api/v1/companies/{iris['company_id']}")
    assert company["name"] == "Vale Logistics"
