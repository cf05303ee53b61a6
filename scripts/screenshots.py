"""Screenshots of the managers' page for the docs (docs/screenshots/*.png).

Builds crm-store's page on a throw-away SQLite database, fills it with a believable morning of a
sales team (made-up people and 555 numbers) through the same units of work the consumer and the
API use, serves it on a loopback port and photographs it with the system chromium via
Playwright: the inbox (desktop and phone, and in Polish and Tamil), a contact's timeline, the
operator's list of numbers to identify, the team view, the toast that offers "Undo" after a
click, the sign-in form, the page an invitation link opens, and the admin area (its overview, a
person with their tokens and hand-over, presets, plan targets, contact fields). Tamil needs a
Tamil font (Debian: fonts-lohit-taml).

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--chromium /usr/bin/chromium]

Needs no broker and nothing from the internet.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from playwright.async_api import Browser, Page, ViewportSize, async_playwright

from crm_store import web
from crm_store.config import Settings
from crm_store.core import make_engine, make_sessionmaker
from crm_store.http import router as api_router
from crm_store.interactions import record_interactions
from crm_store.migrate import migrate
from harness.databases import temporary_database
from harness.service import free_port
from switchboard_shared.events import InteractionClassified
from switchboard_shared.problems import install_problem_handlers

log = logging.getLogger("screenshots")

ADMIN_TOKEN = "screenshots-admin-token-0123456789"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP: ViewportSize = {"width": 1200, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
OURS = "+14155550100"


def build_app(settings: Settings) -> FastAPI:
    engine = make_engine(settings.database_url)
    app = FastAPI()
    app.include_router(api_router)
    app.include_router(web.router)
    install_problem_handlers(app)
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.settings = settings
    return app


# -- a morning of a sales team -----------------------------------------------------------------


def call(
    n: int,
    number: str,
    at: datetime,
    *,
    agent: str,
    disposition: str,
    status: str,
    rule: str,
    detail: str,
    talk_s: float | None = None,
    ring_s: float | None = None,
    direction: str = "inbound",
    tags: tuple[str, ...] = (),
) -> InteractionClassified:
    theirs = {"raw": number, "e164": number, "kind": "external"}
    ours = {"raw": agent, "e164": None, "kind": "internal", "extension": agent}
    legs = (theirs, ours) if direction == "inbound" else (ours, theirs)
    return InteractionClassified.model_validate(
        {
            "interaction_id": f"shot-call-{n}",
            "kind": "call",
            "occurred_at": at,
            "counterpart": number,
            "disposition": disposition,
            "tags": list(tags),
            "reasons": [{"rule": rule, "detail": detail}],
            "classifier_version": "0.1.0+default.yaml",
            "call": {
                "call_id": f"pbx:{n}",
                "provider": "generic",
                "direction": direction,
                "status": status,
                "started_at": at,
                "from": legs[0],
                "to": legs[1],
                "counterpart": number,
                "agent": agent,
                "talk_s": talk_s,
                "ring_s": ring_s,
            },
        }
    )


def missed(
    n: int, number: str, at: datetime, *, ring_s: float, status: str = "no_answer"
) -> InteractionClassified:
    return call(
        n,
        number,
        at,
        agent="201",
        disposition="callback",
        status=status,
        rule="call.missed_inbound",
        detail=f"inbound call {status}",
        ring_s=ring_s,
        tags=("missed",),
    )


def mail(
    n: int,
    sender: str,
    name: str,
    at: datetime,
    subject: str,
    snippet: str,
    mailbox: str,
    *,
    outbound_to: str | None = None,
) -> InteractionClassified:
    """An inbound message from `sender`; with `outbound_to`, our answer in its thread."""

    def address(value: str, display: str | None) -> dict[str, Any]:
        raw = f"{display} <{value}>" if display else value
        return {"raw": raw, "address": value, "name": display, "valid": True}

    ours, theirs = address(mailbox, None), address(sender, name)
    outbound = outbound_to is not None
    return InteractionClassified.model_validate(
        {
            "interaction_id": f"shot-mail-{n}",
            "kind": "mail",
            "occurred_at": at,
            "counterpart": sender,
            "disposition": "logged" if outbound else "reply_needed",
            "reasons": [
                {"rule": "mail.outbound", "detail": "our outbound message"}
                if outbound
                else {"rule": "mail.inbound", "detail": "a message from an external person"}
            ],
            "classifier_version": "0.1.0+default.yaml",
            "mail": {
                "message_id": f"<shot-{n}@example.com>",
                "mailbox": mailbox,
                "direction": "outbound" if outbound else "inbound",
                "from": ours if outbound else theirs,
                "to": [theirs if outbound else ours],
                "subject": subject,
                "snippet": snippet,
                "text": snippet,
                "thread_id": f"<thread-{outbound_to or n}@example.com>",
                "size_bytes": 2048,
            },
        }
    )


async def seed(client: httpx.AsyncClient, app: FastAPI) -> dict[str, Any]:
    """People, companies, contacts and interactions; returns tokens and ids to visit."""

    async def post(path: str, body: dict[str, Any], token: str = ADMIN_TOKEN) -> Any:
        response = await client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
        response.raise_for_status()
        return response.json()

    people = {}
    for name, email, ext, role in [
        ("Maria Lopez", "maria@acme-corp.com", "201", "manager"),
        ("Tom Becker", "tom@acme-corp.com", "202", "manager"),
        ("Sam Rivera", "sam@acme-corp.com", "", "supervisor"),
        ("Olga Marsh", "olga@acme-corp.com", "", "operator"),
    ]:
        manager = await post(
            "/api/v1/managers",
            {"name": name, "email": email, "extensions": [ext] if ext else [], "role": role},
        )
        token = await post("/api/v1/tokens", {"manager_id": manager["id"]})
        people[name.split()[0].lower()] = {"id": manager["id"], "token": token["token"]}
    maria, tom = people["maria"]["id"], people["tom"]["id"]

    northwind = await post("/api/v1/companies", {"name": "Northwind Traders"})
    harbor = await post(
        "/api/v1/companies", {"name": "Blue Harbor Logistics", "domains": ["blueharbor.example"]}
    )
    ann = await post(
        "/api/v1/contacts",
        {
            "first_name": "Ann",
            "last_name": "Smith",
            "title": "Purchasing lead",
            "company_id": northwind["id"],
            "owner_id": maria,
            "phones": ["(415) 555-0123"],
            "emails": ["ann.smith@northwind.example"],
        },
    )
    await post(
        "/api/v1/contacts",
        {
            "first_name": "Jonas",
            "last_name": "Weber",
            "company_id": harbor["id"],
            "owner_id": maria,
            "phones": ["+1 212 555 0147"],
            "emails": ["jonas.weber@blueharbor.example"],
        },
    )
    await post(
        "/api/v1/contacts",
        {
            "first_name": "Priya",
            "last_name": "Natarajan",
            "owner_id": tom,
            "phones": ["+1 646 555 0199"],
        },
    )
    now = datetime.now(UTC)
    await post(
        "/api/v1/plan-targets",
        {
            "manager_id": maria,
            "metric": "preset",
            "preset": "meeting_scheduled",
            "target": 10,
            "period_start": now.replace(day=1, hour=0, minute=0, second=0).isoformat(),
            "period_end": (now + timedelta(days=30)).isoformat(),
        },
    )

    for field in (
        {"entity": "contact", "key": "birthday", "label": "Birthday", "type": "date"},
        {"entity": "contact", "key": "interests", "label": "Interests", "type": "text"},
        {
            "entity": "contact",
            "key": "decision_style",
            "label": "Decision style",
            "type": "choice",
            "choices": ["Quick", "Consults the team", "Needs figures"],
        },
        {"entity": "company", "key": "staff", "label": "Staff", "type": "number"},
    ):
        await post("/api/v1/contact-fields", field)
    response = await client.patch(
        f"/api/v1/contacts/{ann['id']}",
        json={"fields": {"birthday": "1984-05-17", "decision_style": "Needs figures"}},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    response.raise_for_status()

    def ago(minutes: float) -> datetime:
        return now - timedelta(minutes=minutes)

    ann_phone, jonas_phone, priya_phone = "+14155550123", "+12125550147", "+16465550199"
    events = [
        # Earlier today: conversations that ended in meetings, and what needed nobody.
        *[
            call(
                10 + i,
                ann_phone if i % 2 else jonas_phone,
                ago(300 - 20 * i),
                agent="201",
                disposition="needs_status",
                status="answered",
                rule="call.conversation",
                detail=f"inbound call answered, {240 + 30 * i} s of talk",
                talk_s=240 + 30 * i,
            )
            for i in range(5)
        ],
        *[
            call(
                30 + i,
                f"+1415555{(700 + i):04d}",
                ago(200 - 15 * i),
                agent="201",
                disposition="auto_closed",
                status="answered",
                rule="call.wrong_number_short",
                detail="answered, 4 s of talk (very short: up to 10 s) with a number that is "
                "not a known contact",
                talk_s=4,
                tags=("wrong_number",),
            )
            for i in range(6)
        ],
        call(
            40,
            jonas_phone,
            ago(150),
            agent="201",
            disposition="auto_closed",
            status="answered",
            rule="call.routine_short",
            talk_s=8,
            tags=("routine",),
            detail="inbound call answered, 8 s of talk (very short: up to 10 s) with a known "
            "contact",
        ),
        # Ann wrote; Maria answered in the thread, which closed the reply by itself.
        mail(
            41,
            "ann.smith@northwind.example",
            "Ann Smith",
            ago(130),
            "Contract draft",
            "Hi Maria, legal has two small changes to the draft, see the attachment.",
            "maria@acme-corp.com",
        ),
        mail(
            42,
            "ann.smith@northwind.example",
            "Ann Smith",
            ago(95),
            "Re: Contract draft",
            "Thanks Ann, both changes are fine with us. I'll send the final version today.",
            "maria@acme-corp.com",
            outbound_to="41",
        ),
        # Still open: a client who tried three times, a mail, an unknown caller, an old callback.
        missed(50, priya_phone, ago(290), ring_s=31),
        missed(51, ann_phone, ago(38), ring_s=22),
        missed(52, ann_phone, ago(21), ring_s=3, status="busy"),
        missed(53, ann_phone, ago(6), ring_s=27),
        mail(
            60,
            "jonas.weber@blueharbor.example",
            "Jonas Weber",
            ago(14),
            "Quote for 20 seats",
            "Hi Maria, could you send us a quote for 20 seats, with the onboarding package? "
            "We'd like to start in March.",
            "maria@acme-corp.com",
        ),
        call(
            70,
            "+13125550166",
            ago(3),
            agent="201",
            disposition="needs_status",
            status="answered",
            rule="call.conversation",
            detail="inbound call answered, 312 s of talk",
            talk_s=312,
        ),
    ]
    async with app.state.sessionmaker() as session:
        results = await record_interactions(session, events)
        await session.commit()
    opened = [a for r in results[:5] for a in r.opened]
    for activity_id in opened:  # the five morning conversations became meetings
        await post(
            f"/api/v1/activities/{activity_id}/status",
            {"preset": "meeting_scheduled"},
            token=people["maria"]["token"],
        )
    invited = await post(f"/api/v1/managers/{people['maria']['id']}/invitation", {})
    return {"people": people, "ann": ann["id"], "invitation": invited["url"]}


async def shoot_admin(
    browser: Browser, base_url: str, seeded: dict[str, Any], out: Path
) -> list[Path]:
    """The admin area as an administrator sees it."""
    written = []
    admin = await signed_in(browser, base_url, ADMIN_TOKEN, DESKTOP)
    tom = seeded["people"]["tom"]["id"]
    for name, path in [
        ("admin.png", "/admin"),
        ("admin-person.png", f"/admin/people/{tom}"),
        ("admin-presets.png", "/admin/presets"),
        ("admin-plan.png", "/admin/plan"),
        ("admin-fields.png", "/admin/fields"),
    ]:
        await admin.goto(path)
        if path == "/admin/presets":
            await admin.locator("#preset-meeting_scheduled summary").click()
        written.append(out / name)
        await admin.screenshot(path=written[-1], full_page=True)
    # The classification settings with the preview of a longer short-call threshold against
    # the last 7 days, and the outcome policy.
    await admin.goto("/admin/settings/classification")
    await admin.get_by_label("Short call (seconds)").fill("120")
    await admin.get_by_label("Service numbers").fill("+1 415 555 0188")
    await admin.get_by_role("button", name="Preview against the last 7 days").click()
    await admin.locator("#preview-calls").wait_for()
    written.append(out / "admin-classification.png")
    await admin.screenshot(path=written[-1], full_page=True)
    await admin.goto("/admin/settings/outcomes")
    written.append(out / "admin-outcomes.png")
    await admin.screenshot(path=written[-1], full_page=True)
    return written


# -- photographs -------------------------------------------------------------------------------


async def signed_in(
    browser: Browser, base_url: str, token: str, viewport: ViewportSize, locale: str = "en-US"
) -> Page:
    context = await browser.new_context(
        base_url=base_url,
        viewport=viewport,
        locale=locale,
        timezone_id="UTC",
        device_scale_factor=1,
    )
    page = await context.new_page()
    await page.goto("/login")
    # The token form, by its place (the page may speak any language).
    await page.locator("details.token-sign-in summary").click()
    await page.locator("#token").fill(token)
    await page.locator("details.token-sign-in button[type=submit]").click()
    await page.wait_for_load_state("networkidle")
    return page


async def sign_in_pages(browser: Browser, base_url: str, link: str, out: Path) -> list[Path]:
    """The sign-in form, and the page an invitation link opens."""
    context = await browser.new_context(
        base_url=base_url, viewport=DESKTOP, locale="en-US", timezone_id="UTC"
    )
    page = await context.new_page()
    written = [out / "sign-in.png", out / "set-password.png"]
    await page.goto("/login")
    await page.screenshot(path=written[0], full_page=True)
    await page.goto(link)
    await page.screenshot(path=written[1], full_page=True)
    await context.close()
    return written


async def shoot(base_url: str, seeded: dict[str, Any], out: Path, chromium: str) -> list[Path]:
    maria = seeded["people"]["maria"]["token"]
    sam = seeded["people"]["sam"]["token"]
    olga = seeded["people"]["olga"]["token"]
    written = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium, args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = await signed_in(browser, base_url, maria, DESKTOP)
            written.append(out / "inbox.png")
            await page.screenshot(path=written[-1], full_page=True)

            await page.goto(f"/contacts/{seeded['ann']}")
            written.append(out / "timeline.png")
            await page.screenshot(path=written[-1], full_page=True)

            phone = await signed_in(browser, base_url, maria, PHONE)
            written.append(out / "inbox-phone.png")
            await phone.screenshot(path=written[-1], full_page=False)

            queue = await signed_in(browser, base_url, olga, DESKTOP)
            await queue.locator("summary", has_text="Create contact").first.click()
            written.append(out / "identify.png")
            await queue.screenshot(path=written[-1], full_page=True)

            written += await shoot_admin(browser, base_url, seeded, out)

            team = await signed_in(browser, base_url, sam, DESKTOP)
            await team.goto("/team")
            written.append(out / "team.png")
            await team.screenshot(path=written[-1], full_page=True)

            # The inbox in Polish (the browser asks for it) and in Tamil (picked on the page).
            polish = await signed_in(browser, base_url, maria, DESKTOP, locale="pl-PL")
            written.append(out / "inbox-pl.png")
            await polish.screenshot(path=written[-1], full_page=True)
            tamil = await signed_in(browser, base_url, maria, DESKTOP)
            await tamil.get_by_label("Language").select_option("ta")
            await tamil.get_by_role("button", name="Change language").click()
            await tamil.wait_for_function("document.documentElement.lang === 'ta'")
            await tamil.wait_for_load_state("networkidle")
            written.append(out / "inbox-ta.png")
            await tamil.screenshot(path=written[-1], full_page=True)

            # Last, as it changes the data: a click, and the toast that offers "Undo".
            await phone.locator(".item button.closes").first.click()
            await phone.locator("#toast button", has_text="Undo").wait_for()
            written.append(out / "undo-toast.png")
            await phone.screenshot(path=written[-1], full_page=False)

            written += await sign_in_pages(browser, base_url, seeded["invitation"], out)
        finally:
            await browser.close()
    return written


async def run(out: Path, chromium: str) -> list[Path]:
    async with temporary_database("sqlite://", "screenshots") as url:
        await migrate(url)
        app = build_app(Settings(database_url=url, bootstrap_admin_token=ADMIN_TOKEN))
        port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        try:
            while not server.started:
                if serving.done():
                    serving.result()
                await asyncio.sleep(0.05)
            base_url = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base_url) as client:
                seeded = await seed(client, app)
            return await shoot(base_url, seeded, out, chromium)
        finally:
            server.should_exit = True
            await serving
            await app.state.engine.dispose()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    if not Path(args.chromium).exists():
        print(f"no chromium at {args.chromium} (apt-get install chromium)", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING)
    args.out.mkdir(parents=True, exist_ok=True)
    for path in asyncio.run(run(args.out, args.chromium)):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
