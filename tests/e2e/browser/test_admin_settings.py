"""The admin area's settings in a real browser, against the whole stack: an administrator
previews and saves a new short-call threshold, and the next call is classified with it, without
a restart; a manager cannot open the admin area."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from typing import Any

import pytest
from axe_playwright_python.async_playwright import Axe  # type: ignore[import-untyped]
from playwright.async_api import Page, expect

from e2e.browser.site import Site, eventually, new_number

pytestmark = pytest.mark.e2e


async def accessible(page: Page) -> None:
    """axe-core finds no serious or critical violation on the page as it is now."""
    results = await Axe().run(page)
    bad = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, bad


async def classified(site: Site, number: str) -> dict[str, Any]:
    """The stored interaction of the call from `number`, with the classified event."""

    async def found() -> dict[str, Any] | None:
        page = await site.api("GET", "/api/v1/interactions", params={"counterpart": number})
        return page["items"][0] if page["items"] else None

    item = await eventually(found)
    detail: dict[str, Any] = await site.api("GET", f"/api/v1/interactions/{item['id']}")
    return detail


async def test_a_changed_short_call_threshold_decides_the_next_call(site: Site) -> None:
    admin = await site.person("admin")
    page = await site.page(admin)
    # An answered call with 70 s of talk from a stranger: a conversation under the default 10 s.
    first = await classified_call(site, admin.extension)
    assert first["disposition"] == "needs_status", first["reasons"]

    await page.goto("/admin/settings/classification")
    await expect(page.get_by_role("heading", name="Admin: Classification")).to_be_visible()
    threshold = page.get_by_label("Short call (seconds)")
    await expect(threshold).to_have_value("10")
    await accessible(page)
    # A value that is not a number: nothing is saved, the message is next to the field.
    await threshold.fill("soon")
    await page.get_by_role("button", name="Save").click()
    error = page.locator("#err-very_short_call_s")
    await expect(error).to_be_visible()
    await expect(threshold).to_have_attribute("aria-invalid", "true")
    assert "err-very_short_call_s" in (await threshold.get_attribute("aria-describedby") or "")
    await accessible(page)
    await threshold.fill("120")
    await page.get_by_role("button", name="Preview against the last 7 days").click()
    preview = page.locator("#preview-calls")
    await expect(preview).to_contain_text("With this change,")
    counts = re.search(
        r"(\d+) of (\d+) calls would have been auto-closed instead of (\d+)",
        await preview.inner_text(),
    )
    assert counts is not None
    assert int(counts.group(1)) > int(counts.group(3)), "the first call would have closed"
    await accessible(page)
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status").filter(has_text="Saved")).to_be_visible()
    version = (await site.api("GET", "/api/v1/settings/classification"))["version"]
    try:
        # Every call says which settings judged it; the first one judged by the new version
        # follows the new threshold, with no service restarted.
        deadline = time.monotonic() + 30
        while True:
            call = await classified_call(site, admin.extension)
            judged_by = call["payload"]["classifier_version"]
            if f"+settings.{version}." in judged_by:
                break
            assert call["disposition"] == "needs_status", "old settings, old verdict"
            assert time.monotonic() < deadline, f"the classifier still judges with {judged_by}"
        assert call["disposition"] == "auto_closed", call["reasons"]
        assert call["tags"] == ["wrong_number"]
        assert "up to 120 s" in call["reasons"][0]["detail"]
    finally:
        await site.api(
            "PUT", "/api/v1/settings/classification", json={"values": {"very_short_call_s": 10}}
        )


async def classified_call(site: Site, agent: str) -> dict[str, Any]:
    number = new_number()
    await site.call(number, agent=agent, status="answered")
    return await classified(site, number)


async def test_a_manager_cannot_open_the_admin_area(site: Site) -> None:
    manager = await site.person("manager")
    page = await site.page(manager)
    await expect(page.get_by_role("link", name="Admin")).to_have_count(0)
    response = await page.goto("/admin/settings/classification")
    assert response is not None
    assert response.status == 403
    await expect(page.get_by_role("heading", name="Not for your role")).to_be_visible()


async def test_the_outcome_policy_decides_which_conversation_asks(site: Site) -> None:
    admin = await site.person("admin")
    page = await site.page(admin)
    await page.goto("/admin/settings/outcomes")
    await expect(page.get_by_role("heading", name="Admin: Outcomes")).to_be_visible()
    await accessible(page)
    await page.get_by_label("First conversation").uncheck()
    await page.get_by_label("New clients").uncheck()
    await page.get_by_label("Long conversations (minutes)").fill("0")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status").filter(has_text="Saved")).to_be_visible()
    await expect(page.get_by_label("First conversation")).not_to_be_checked()
    try:
        # A first conversation of 70 s with a stranger: nobody is asked for its outcome now,
        # while the stranger still has to be identified.
        number = new_number()
        await site.call(number, agent=admin.extension, status="answered")
        call = await classified(site, number)
        assert call["disposition"] == "needs_status"

        async def identify_opened() -> list[str] | None:
            kinds = [a["kind"] for a in await site.activities(number)]
            return kinds if "identify_contact" in kinds else None

        assert "log_outcome" not in await eventually(identify_opened)
    finally:
        await site.api("PUT", "/api/v1/settings/outcomes", json={"values": {}})


async def test_a_new_default_region_reads_the_next_webhooks_numbers(site: Site) -> None:
    admin = await site.person("admin")
    page = await site.page(admin)
    await page.goto("/admin/settings/telephony")
    await accessible(page)
    region = page.get_by_label("Default region")
    await expect(region).to_have_value("US")
    await region.fill("Atlantis")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#err-default_region")).to_be_visible()
    await region.fill("PL")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status").filter(has_text="Saved")).to_be_visible()
    digits = f"{uuid.uuid4().int % 100:02d}"
    try:
        # ingest-calls follows the topic: the first webhook after it read the change reads a
        # national number as a Polish one, with no restart.
        polish = await read_as(site, admin.extension, f"22 123 45 {digits}", f"+482212345{digits}")
        assert polish["counterpart"] == f"+482212345{digits}"
    finally:
        await site.api(
            "PUT", "/api/v1/settings/telephony", json={"values": {"default_region": "US"}}
        )
    # Back to the United States before the next test's calls.
    us = f"(415) 555-{uuid.uuid4().int % 10_000:04d}"
    await read_as(site, admin.extension, us, "+1415555" + us[-4:])


async def read_as(site: Site, agent: str, national: str, expected: str) -> dict[str, Any]:
    """Post missed calls from `national` until one is stored as `expected` (30 s at most)."""
    deadline = time.monotonic() + 30
    while True:
        await site.call(national, agent=agent)
        page = await site.api("GET", "/api/v1/interactions", params={"counterpart": expected})
        if page["items"]:
            found: dict[str, Any] = page["items"][0]
            return found
        assert time.monotonic() < deadline, f"{national} was never read as {expected}"
        await asyncio.sleep(0.5)
