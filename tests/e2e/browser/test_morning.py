"""A realistic morning on a fresh stack, then the clicks it costs: three managers, fifteen
contacts, 76 calls and e-mails (missed calls, some called back; conversations; unknown callers
calling twice; wrong numbers; internal calls; newsletters; out-of-office replies; a bounce;
mail needing a reply, some answered), all through the public API, the calls' webhook and the
mail intake. An operator names the unknown callers and senders, then each manager signs in
and clears their inbox the way the page invites: one click on each card.

It must show: no client on two cards, and at most one click per client that needed a manager.
The clicks measured are printed (`-s`) and written to docs/managers-page.md.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from crm_store.migrate import migrate
from e2e.browser.site import ADMIN, Person, Site, eventually, new_number
from e2e.conftest import running_stack
from e2e.test_bounce_flow import postfix_bounce
from support.stack import MAILBOX, post_mail

pytestmark = pytest.mark.e2e


@pytest_asyncio.fixture(loop_scope="session")
async def fresh_site(
    chromium: Browser, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Site]:
    """A stack of its own, on a new database: the morning starts from nothing."""
    workdir = tmp_path_factory.mktemp("morning")
    url = f"sqlite+aiosqlite:///{workdir / 'crm.db'}"
    await migrate(url)
    async with running_stack(url, workdir) as stack:
        site = Site(stack, chromium)
        try:
            yield site
        finally:
            await site.close()


@dataclass
class Morning:
    """What was played, and what it should leave for people."""

    interactions: int = 0
    counterparts: Counter[str] = field(default_factory=Counter)
    """Interactions crm-store must have stored per number or address before anyone looks."""
    needs_manager: dict[str, set[str]] = field(default_factory=dict)
    """Per manager id, the clients (numbers or addresses) that needed them."""
    unknown: set[str] = field(default_factory=set)
    """Numbers and addresses nobody knows, that an operator must name."""

    def played(self, counterpart: str | None = None) -> None:
        self.interactions += 1
        if counterpart is not None:
            self.counterparts[counterpart] += 1

    def needs(self, manager: Person, client: str) -> None:
        self.needs_manager.setdefault(manager.id, set()).add(client)


def mail(
    sender: str,
    to: str,
    subject: str,
    text: str,
    *,
    in_reply_to: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[bytes, str]:
    message_id = f"<{uuid.uuid4().hex}@{sender.rsplit('@', 1)[1].rstrip('>')}>"
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    msg["Date"] = "Tue, 01 Dec 2026 08:30:00 +0000"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(text)
    return msg.as_bytes(), message_id


async def contacts_of(site: Site, managers: list[Person], tag: str) -> list[dict[str, Any]]:
    """Fifteen contacts at five companies, five owned by each manager."""
    companies = [
        await site.api("POST", "/api/v1/companies", json={"name": f"Client {n} {tag}"})
        for n in range(5)
    ]
    out = []
    for n in range(15):
        owner = managers[n % 3]
        contact = await site.api(
            "POST",
            "/api/v1/contacts",
            json={
                "first_name": f"Client{n}",
                "last_name": tag,
                "company_id": companies[n % 5]["id"],
                "owner_id": owner.id,
                "phones": [new_number()],
                "emails": [f"client{n}.{tag}@client{n % 5}-{tag}.example"],
            },
        )
        out.append(contact)
    return out


async def play(site: Site, managers: list[Person], contacts: list[dict[str, Any]]) -> Morning:
    """About 25 interactions per manager, and one withheld caller: 76 in all."""
    morning = Morning()
    stack = site.stack
    tag = uuid.uuid4().hex[:6]
    for k, m in enumerate(managers):
        mine = [c for n, c in enumerate(contacts) if n % 3 == k]
        a, b, c, d, e = mine
        phone = {x["id"]: x["phones"][0] for x in mine}
        email = {x["id"]: x["emails"][0] for x in mine}
        # a: a missed call, called back: the callback closes by itself; the talk asks an outcome.
        await site.call(phone[a["id"]], m.extension, ago_s=3600)
        await site.call(
            phone[a["id"]], m.extension, status="answered", direction="outbound", ago_s=1800
        )
        morning.played(phone[a["id"]])
        morning.played(phone[a["id"]])
        morning.needs(m, a["id"])
        # a again: a 5-second routine call with a known contact closes as nothing.
        await site.call(phone[a["id"]], m.extension, status="answered", talk_s=5, ago_s=1500)
        morning.played(phone[a["id"]])
        # b: missed twice, not called back yet, and writes too: one card.
        await site.call(phone[b["id"]], m.extension, ago_s=3000)
        await site.call(phone[b["id"]], m.extension, ago_s=2400)
        raw, _ = mail(f"B <{email[b['id']]}>", m.email, "Tried to call you", "Call me back?")
        await post_mail(stack, raw, mailbox=m.email)
        morning.played(phone[b["id"]])
        morning.played(phone[b["id"]])
        morning.played(email[b["id"]])
        morning.needs(m, b["id"])
        # c: a real conversation, and an unanswered attempt to call them later.
        await site.call(phone[c["id"]], m.extension, status="answered", talk_s=180, ago_s=2000)
        await site.call(phone[c["id"]], m.extension, direction="outbound", ago_s=600)
        morning.played(phone[c["id"]])
        morning.played(phone[c["id"]])
        morning.needs(m, c["id"])
        # d: an out-of-office reply, then a real question.
        ooo, _ = mail(
            f"D <{email[d['id']]}>",
            m.email,
            "Automatic reply: Out of office until Monday",
            "I am out of the office until Monday.",
            headers={"Auto-Submitted": "auto-replied"},
        )
        await post_mail(stack, ooo, mailbox=m.email)
        question, _ = mail(f"D <{email[d['id']]}>", m.email, "Quote", "A quote for 20 seats?")
        await post_mail(stack, question, mailbox=m.email)
        morning.played(email[d["id"]])
        morning.played(email[d["id"]])
        morning.needs(m, d["id"])
        # e: asks, and the manager answers in the thread: nothing left to do.
        asked, asked_id = mail(f"E <{email[e['id']]}>", m.email, "Invoice", "Is it paid?")
        await post_mail(stack, asked, mailbox=m.email)
        answer, _ = mail(m.email, email[e["id"]], "Re: Invoice", "Yes, paid.", in_reply_to=asked_id)
        await post_mail(stack, answer, folder="Sent", mailbox=m.email)
        morning.played(email[e["id"]])
        morning.played(email[e["id"]])
        # Two wrong numbers: 4 seconds each.
        for _ in range(2):
            wrong = new_number()
            await site.call(wrong, m.extension, status="answered", talk_s=4, ago_s=1200)
            morning.played(wrong)
        # Two internal calls from colleagues.
        for other in managers:
            if other is not m:
                await site.internal_call(other.extension, m.extension)
                morning.played()
        # Three newsletters.
        for n in range(3):
            news, _ = mail(
                f"News <news-{tag}@vendor-{tag}.example>",
                m.email,
                f"Our offers, week {n}",
                "Offers inside.",
                headers={
                    "List-Unsubscribe": f"<https://vendor-{tag}.example/u>",
                    "List-Id": f"offers.vendor-{tag}.example",
                    "Precedence": "bulk",
                },
            )
            await post_mail(stack, news, mailbox=m.email)
            morning.played(f"news-{tag}@vendor-{tag}.example")
        # A bounce of a mail to a client that does not exist.
        gone = f"nobody.{tag}{k}@client0-{tag}.example"
        await post_mail(
            stack,
            postfix_bounce(gone, f"<q{tag}{k}@acme-corp.com>", f"<b{tag}{k}@mx.example>"),
            mailbox=MAILBOX,
        )
        morning.played()
        # An unknown caller misses, then gets through: the talk closes the callback; the
        # operator names them; the manager picks the outcome.
        stranger = new_number()
        await site.call(stranger, m.extension, ago_s=2200)
        await site.call(stranger, m.extension, status="answered", talk_s=90, ago_s=2100)
        morning.played(stranger)
        morning.played(stranger)
        morning.unknown.add(stranger)
        morning.needs(m, stranger)
        # Another unknown caller tries twice and never gets through: one callback.
        twice = new_number()
        await site.call(twice, m.extension, ago_s=1900)
        await site.call(twice, m.extension, ago_s=1300)
        morning.played(twice)
        morning.played(twice)
        morning.needs(m, twice)
        # An unknown sender asks a question.
        sender = f"lead.{tag}{k}@prospect-{tag}.example"
        lead, _ = mail(f"Lead <{sender}>", m.email, "Demo?", "Can we see a demo next week?")
        await post_mail(stack, lead, mailbox=m.email)
        morning.played(sender)
        morning.unknown.add(sender)
        morning.needs(m, sender)
    # A missed call from a withheld number: nobody can call back.
    await site.call("anonymous", managers[0].extension, ago_s=900)
    morning.played()
    return morning


async def stored(site: Site, morning: Morning) -> None:
    """Wait until crm-store has stored every interaction of every number and address."""

    async def count(client: httpx.AsyncClient, counterpart: str) -> int:
        response = await client.get(
            "/api/v1/interactions", params={"counterpart": counterpart, "limit": "50"}
        )
        assert response.status_code == 200, response.text
        return len(response.json()["items"])

    async def all_in() -> bool:
        async with httpx.AsyncClient(base_url=site.url, headers=ADMIN) as client:
            for counterpart, expected in morning.counterparts.items():
                if await count(client, counterpart) < expected:
                    return False
        return True

    await eventually(all_in, timeout=120, interval=1.0)


async def cards_on(page: Page) -> list[dict[str, Any]]:
    value: list[dict[str, Any]] = await page.evaluate(
        """() => Array.from(document.querySelectorAll('#items > .item')).map(li => ({
            id: li.id,
            ids: li.getAttribute('data-ids').split(' '),
            who: li.querySelector('.who').textContent.trim(),
        }))"""
    )
    return value


async def identify_all(site: Site, operator: Person) -> int:
    """The operator names every unknown number and address: one "Create contact" each."""
    page = await site.page(operator)
    clicks = 0
    items = page.locator("#items > .item")
    for n in range(20):
        if await items.count() == 0:
            break
        first = items.first
        await first.locator("summary", has_text="Create contact").click()
        await first.get_by_label("First name").fill(f"Named{n}")
        await first.get_by_label("Last name").fill("Caller")
        await first.get_by_label("Save even if it looks like a duplicate").check()
        before = await items.count()
        await first.get_by_role("button", name="Create contact").click()
        clicks += 1
        await expect(items).to_have_count(before - 1)
    return clicks


async def clear_inbox(site: Site, manager: Person) -> tuple[int, list[str]]:
    """Clicks to an empty inbox: on each card, "Completed" (or the first closing preset).
    Returns the clicks and the clients each card was about, as listed at the start."""
    page = await site.page(manager)
    start = await cards_on(page)
    whos = [card["who"] for card in start]
    assert len(whos) == len(set(whos)), f"a client on two cards: {whos}"
    every_id = [i for card in start for i in card["ids"]]
    assert len(every_id) == len(set(every_id)), "an item on two cards"
    clicks = 0
    items = page.locator("#items > .item")
    for _ in range(60):
        if await items.count() == 0:
            break
        card = items.first
        card_id = await card.get_attribute("id")
        completed = card.get_by_role("button", name="Completed", exact=True)
        button = completed if await completed.count() else card.locator(".presets .closes").first
        await button.click()
        clicks += 1
        await expect(page.locator(f"#{card_id}")).to_have_count(0)
    await expect(page.locator(".empty")).to_have_text("Nothing needs you right now.")
    return clicks, whos


async def test_a_realistic_morning_costs_one_click_per_client_who_needed_a_person(
    fresh_site: Site,
) -> None:
    site = fresh_site
    managers = [await site.person("manager") for _ in range(3)]
    operator = await site.person("operator")
    tag = uuid.uuid4().hex[:6]
    contacts = await contacts_of(site, managers, tag)
    morning = await play(site, managers, contacts)
    assert morning.interactions == 76
    await stored(site, morning)

    operator_clicks = await identify_all(site, operator)
    assert operator_clicks == len(morning.unknown)

    report = []
    total = 0
    for manager in managers:
        clicks, whos = await clear_inbox(site, manager)
        needed = len(morning.needs_manager[manager.id])
        assert clicks <= needed, f"{manager.name}: {clicks} clicks for {needed} clients ({whos})"
        assert clicks == len(whos)  # one click per card, and every card left after it
        total += clicks
        report.append(f"{manager.name}: {clicks} clicks, {needed} clients needed them")
    needed_total = sum(len(v) for v in morning.needs_manager.values())
    summary = (
        f"morning: {morning.interactions} interactions, 3 managers, {len(contacts)} contacts; "
        f"managers' clicks to an empty inbox: {total} for {needed_total} clients who needed "
        f"one; operator: {operator_clicks} contacts created"
    )
    print("\n" + summary + "\n" + "\n".join(report))
    assert total <= needed_total
