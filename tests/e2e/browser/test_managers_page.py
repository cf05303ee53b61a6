"""The managers' page in a real browser, against the whole stack: a signed missed call posted to
ingest-calls shows up in the manager's inbox, one click on a preset closes it without a page
reload and updates the counters, and an operator and a manager see what their roles allow."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Locator, Page, expect

from e2e.browser.site import PHONE, Site, eventually, new_number

pytestmark = pytest.mark.e2e


async def activity_of(site: Site, number: str, kind: str) -> dict[str, Any]:
    async def found() -> dict[str, Any] | None:
        return next((a for a in await site.activities(number) if a["kind"] == kind), None)

    return await eventually(found)


async def item_on(page: Page, activity_id: str) -> Locator:
    """The inbox item, once the page shows it (reloading as a manager would)."""
    item = page.locator(f"#item-{activity_id}")

    async def shown() -> bool:
        await page.reload()
        return await item.count() == 1

    await eventually(shown, timeout=15)
    return item


def counter(page: Page, name: str) -> Locator:
    return page.locator(f'#counters [data-counter="{name}"]')


async def test_a_missed_call_reaches_the_inbox_and_one_click_closes_it(site: Site) -> None:
    manager = await site.person("manager")
    await site.plan(manager, target=10)
    page = await site.page(manager)
    await expect(page.get_by_role("heading", name="Your inbox")).to_be_visible()

    await page.evaluate("window.stillTheSamePage = true")
    await expect(page.locator("#items[data-live-open]")).to_have_count(1)
    number = new_number()
    await site.call(number, agent=manager.extension)
    callback = await activity_of(site, number, "callback")
    # The open page gets the new card by itself (server-sent events), without a reload.
    item = page.locator(f"#item-{callback['id']}")
    await expect(item).to_be_visible(timeout=10_000)
    await expect(item).to_contain_text("Call back")
    await expect(item).to_contain_text("Tried once")
    await expect(item).to_contain_text("Missed call")
    await expect(item.locator(".who")).to_contain_text(number[-4:])
    await expect(counter(page, "done")).to_have_text("0")
    await expect(counter(page, "plan")).to_have_text("0 of 10")
    open_before = int(await counter(page, "open").inner_text())
    assert await page.evaluate("window.stillTheSamePage === true"), "the page was reloaded"

    await item.get_by_role("button", name="Completed").click()

    await expect(item).to_have_count(0)
    await expect(counter(page, "done")).to_have_text("1")
    await expect(counter(page, "plan")).to_have_text("1 of 10")
    await expect(counter(page, "open")).to_have_text(str(open_before - 1))
    await expect(page.locator("#live")).to_contain_text("Completed")
    assert await page.evaluate("window.stillTheSamePage === true"), "the page was reloaded"

    closed = await site.api("GET", f"/api/v1/activities/{callback['id']}")
    assert closed["state"] == "done"
    assert closed["closed_by"] == "manager"
    assert closed["preset"] == "completed"
    assert closed["assignee_id"] == manager.id


async def test_on_a_phone_with_the_keyboard_a_preset_and_a_note_are_set(site: Site) -> None:
    manager = await site.person("manager")
    number = new_number()
    await site.call(number, agent=manager.extension)
    await site.call(number, agent=manager.extension)  # the client tried twice
    callback = await activity_of(site, number, "callback")
    await eventually(lambda: _count_is(site, number, 2))

    page = await site.page(manager, viewport=PHONE)
    item = await item_on(page, callback["id"])
    await expect(item).to_contain_text("Tried 2 times")
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, "the page scrolls sideways on a phone"

    # Keyboard only: open the note, type it, tab to "Call back later", press Enter.
    await item.locator("summary", has_text="Add a note").focus()
    await page.keyboard.press("Enter")
    await page.keyboard.press("Tab")
    await page.keyboard.type("Asked to call after 3 pm")
    later = item.get_by_role("button", name="Call back later")
    for _ in range(12):
        await page.keyboard.press("Tab")
        if await later.evaluate("button => button === document.activeElement"):
            break
    else:
        raise AssertionError("the preset button is not reachable with Tab")
    outline = await later.evaluate("b => getComputedStyle(b).outlineStyle")
    assert outline != "none", "no visible focus"
    await page.keyboard.press("Enter")

    # A preset that keeps the callback open: the item stays, showing its new status.
    await expect(item.locator(".badge", has_text="Call back later")).to_be_visible()
    await expect(item).to_contain_text("Asked to call after 3 pm")
    stored = await site.api("GET", f"/api/v1/activities/{callback['id']}")
    assert stored["state"] == "open"
    assert stored["preset"] == "callback_later"
    assert stored["note"] == "Asked to call after 3 pm"


async def _count_is(site: Site, number: str, count: int) -> bool:
    return any(a["count"] == count for a in await site.activities(number))


async def test_an_operator_and_a_manager_see_what_their_roles_allow(site: Site) -> None:
    manager = await site.person("manager")
    operator = await site.person("operator")
    number = new_number()
    # A real conversation with a number nobody knows: an outcome to log, and who is this?
    await site.call(number, agent=manager.extension, status="answered")
    outcome = await activity_of(site, number, "log_outcome")
    identify = await activity_of(site, number, "identify_contact")

    as_manager = await site.page(manager)
    nav = as_manager.get_by_role("navigation", name="Main")
    await expect(nav.get_by_role("link")).to_have_text(["Inbox", "Contacts"])
    # One card for the caller: the outcome and who is this, never two cards.
    card = await item_on(as_manager, outcome["id"])
    await expect(card.locator(".kind")).to_have_text(["Pick an outcome", "Who is this?"])
    await expect(card).to_contain_text("Operators add new contacts")
    await expect(card.get_by_text("Create contact")).to_have_count(0)
    await expect(as_manager.locator(f"#item-{identify['id']}")).to_have_count(0)
    for path in ("/team", "/identify"):
        response = await as_manager.goto(path)
        assert response is not None
        assert response.status == 403
        await expect(as_manager.get_by_role("heading", name="Not for your role")).to_be_visible()

    as_operator = await site.page(operator)
    assert as_operator.url.endswith("/identify")
    nav = as_operator.get_by_role("navigation", name="Main")
    await expect(nav.get_by_role("link")).to_have_text(["To identify", "Contacts"])
    queued = as_operator.locator(f"#item-{identify['id']}")
    await expect(queued).to_be_visible()
    await expect(as_operator.locator(f"#item-{outcome['id']}")).to_have_count(0)
    await expect(as_operator.get_by_role("button", name="Completed")).to_have_count(0)
    await expect(queued).to_contain_text(f"Taken by {manager.name}")  # whom to ask
    team = await as_operator.goto("/team")
    assert team is not None
    assert team.status == 403
    await as_operator.goto(f"/?manager={manager.id}")  # no inbox: back to the queue
    assert as_operator.url.endswith("/identify")

    # The operator names the caller: the number is pre-filled, the item leaves the queue.
    queued = as_operator.locator(f"#item-{identify['id']}")
    await queued.locator("summary", has_text="Create contact").click()
    await expect(queued).to_contain_text(number[-4:])
    await queued.get_by_label("First name").fill("Eve")
    await queued.get_by_label("Last name").fill("Stone")
    await queued.get_by_role("button", name="Create contact").click()
    await expect(queued).to_have_count(0)

    identified = await site.api("GET", f"/api/v1/activities/{identify['id']}")
    assert identified["state"] == "done"
    contacts = await site.api("GET", "/api/v1/contacts", params={"phone": number})
    [eve] = contacts["items"]
    assert eve["name"] == "Eve Stone"

    # The manager now sees who it was, and the timeline with the classifier's decision.
    await as_manager.goto("/")
    item = as_manager.locator(f"#item-{outcome['id']}")
    await expect(item.get_by_role("link", name="Eve Stone")).to_be_visible()
    await expect(as_manager.locator(f"#item-{identify['id']}")).to_have_count(0)
    await item.get_by_role("link", name="Eve Stone").click()
    await expect(as_manager.get_by_role("heading", name="Eve Stone")).to_be_visible()
    await expect(as_manager.locator(".decision").first).to_contain_text("needs an outcome")
    assert eve["id"] in as_manager.url
    assert number[1:] not in as_manager.url


async def test_a_mis_tap_is_undone_from_the_toast(site: Site) -> None:
    manager = await site.person("manager")
    number = new_number()
    await site.call(number, agent=manager.extension)
    callback = await activity_of(site, number, "callback")
    page = await site.page(manager)
    item = await item_on(page, callback["id"])

    await item.get_by_role("button", name="Spam").click()
    await expect(item).to_have_count(0)
    toast = page.locator("#toast")
    await expect(toast).to_contain_text("Spam")
    await toast.get_by_role("button", name="Undo").click()

    back = page.locator(f"#item-{callback['id']}")
    await expect(back).to_be_visible()
    await expect(back.get_by_role("button", name="Spam")).to_be_visible()
    await expect(toast.get_by_role("button", name="Undo")).to_have_count(0)
    await expect(page.locator("#live")).to_contain_text("Undone")
    stored = await site.api("GET", f"/api/v1/activities/{callback['id']}")
    assert (stored["state"], stored["preset"]) == ("open", None)


async def test_the_keyboard_moves_picks_a_preset_and_undoes(site: Site) -> None:
    manager = await site.person("manager")
    number = new_number()
    await site.call(number, agent=manager.extension)
    callback = await activity_of(site, number, "callback")
    page = await site.page(manager)
    item = await item_on(page, callback["id"])
    await page.locator("body").focus()

    for _ in range(30):  # j from the top until this card has the focus
        await page.keyboard.press("j")
        if await item.locator("article").evaluate("a => a === document.activeElement"):
            break
    else:
        raise AssertionError("j never reached the card")
    await page.keyboard.press("n")
    await expect(item.get_by_label("Note (optional, saved with the status)")).to_be_focused()
    await page.keyboard.type("left a message")
    await item.locator("article").focus()
    buttons = await item.locator(".presets button").all_inner_texts()
    await page.keyboard.press(str(buttons.index("Completed") + 1))
    await expect(item).to_have_count(0)
    stored = await site.api("GET", f"/api/v1/activities/{callback['id']}")
    assert (stored["state"], stored["preset"], stored["note"]) == (
        "done",
        "completed",
        "left a message",
    )

    await page.keyboard.press("u")
    await expect(page.locator(f"#item-{callback['id']}")).to_be_visible()
    stored = await site.api("GET", f"/api/v1/activities/{callback['id']}")
    assert (stored["state"], stored["preset"]) == ("open", None)
