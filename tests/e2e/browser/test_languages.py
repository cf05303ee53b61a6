"""The page in its users' languages, in a real browser against the whole stack: the inbox in
Polish because the browser asks for Polish, and in Tamil because the manager picks it; dates,
durations, numbers and phone numbers as each language writes them; axe-core on both."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import expect

from e2e.browser.site import Site, new_number
from e2e.browser.test_managers_page import activity_of
from support.axe import serious_violations

pytestmark = pytest.mark.e2e

POLISH_MONTHS = ["sty", "lut", "mar", "kwi", "maj", "cze", "lip", "sie", "wrz", "paź", "lis", "gru"]


async def test_the_inbox_in_polish_because_the_browser_asks_for_it(site: Site) -> None:
    manager = await site.person("manager")
    await site.plan(manager, 12000)
    missed, talked = new_number(), new_number()
    await site.call(missed, agent=manager.extension)
    await site.call(talked, agent=manager.extension, status="answered", talk_s=70)
    callback = await activity_of(site, missed, "callback")
    outcome = await activity_of(site, talked, "log_outcome")

    page = await site.page(manager, locale="pl-PL", timezone_id="Europe/Warsaw")
    await expect(page.locator("html")).to_have_attribute("lang", "pl")
    await expect(page.locator("h1")).to_have_text("Twoja skrzynka")
    await expect(page.get_by_role("navigation", name="Główne")).to_contain_text("Skrzynka")
    card = page.locator(f"#item-{callback['id']}")
    await expect(card.locator(".why")).to_have_text("Dzwonili, a nikt nie odebrał.")
    await expect(card.locator(".kind")).to_have_text("Oddzwoń")
    # A number of our region (US here) in its national format.
    national = f"({missed[2:5]}) {missed[5:8]}-{missed[8:]}"
    await expect(card.locator(".who")).to_contain_text(national)
    # A duration and a number as Polish writes them.
    talk = page.locator(f"#item-{outcome['id']} .what")
    await expect(talk).to_have_text("Połączenie przychodzące, odebrane, rozmowa 1 min i 10 sek.")
    await expect(page.locator('#counters [data-counter="plan"]')).to_have_text("0 z 12\xa0000")
    # A date: a call back at a set time, shown as Polish writes dates (by the page's script).
    await card.locator("summary", has_text="Oddzwoń o wybranej porze").click()
    when = (datetime.now(ZoneInfo("Europe/Warsaw")) + timedelta(days=1)).replace(hour=14, minute=30)
    await card.get_by_label("Oddzwoń o (Twój czas)").fill(when.strftime("%Y-%m-%dT%H:%M"))
    await card.get_by_role("button", name="Ustaw termin").click()
    month = POLISH_MONTHS[when.month - 1]
    await expect(card.locator(".due time")).to_have_text(f"{when.day} {month} {when.year}, 14:30")
    await expect(card.locator(".due")).to_contain_text("Termin")
    # The toast after the click, and the script's own words, in Polish too.
    await expect(page.locator("#toast")).to_contain_text("Cofnij")
    assert await serious_violations(page) == []


async def test_the_inbox_in_tamil_after_picking_it(site: Site) -> None:
    manager = await site.person("manager")
    await site.plan(manager, 12000)
    number = new_number()
    await site.call(number, agent=manager.extension)
    callback = await activity_of(site, number, "callback")

    page = await site.page(manager, locale="en-US")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.locator("h1")).to_have_text("Your inbox")
    await page.get_by_label("Language").select_option("ta")
    await page.get_by_role("button", name="Change language").click()
    await expect(page.locator("html")).to_have_attribute("lang", "ta")
    await expect(page.locator("h1")).to_have_text("உங்கள் இன்பாக்ஸ்")
    card = page.locator(f"#item-{callback['id']}")
    await expect(card.locator(".why")).to_have_text("அவர்கள் அழைத்தனர், யாரும் பதிலளிக்கவில்லை.")
    await expect(page.locator('#counters [data-counter="plan"]')).to_have_text("12,000 இல் 0")
    await expect(page.get_by_label("மொழி")).to_have_value("ta")

    # The choice stays: a new page of this session is still in Tamil, whatever the browser asks.
    await page.goto("/contacts")
    await expect(page.locator("h1")).to_have_text("தொடர்புகள்")
    assert await serious_violations(page) == []
    await page.goto("/")
    await expect(page.get_by_role("button", name="வெளியேறு")).to_be_visible()
    assert await serious_violations(page) == []
