"""The managers' page over HTTP on a real database (SQLite and PostgreSQL): signing in, the
inbox, one-click statuses, counters, the team view, timelines, identifying unknown numbers,
and what each role may see and do (no more than the API allows)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_store.config import Settings
from crm_store.core import ApiToken, PageSession, sha256
from crm_store.interactions import record_interaction
from crm_store.web.session import csrf_for
from support.crm_page import LOCAL, browser, build_app, hidden, sign_in
from switchboard_shared.events import InteractionClassified

pytestmark = pytest.mark.integration

Sessions = async_sessionmaker[AsyncSession]
EventFactory = Callable[..., InteractionClassified]
FETCH = {"X-Requested-With": "fetch"}
ANN_PHONE = "+14155550123"
UNKNOWN_PHONE = "+14155550188"


@pytest.fixture
def app(sessions: Sessions, settings: Settings) -> FastAPI:
    return build_app(sessions, settings)


@pytest_asyncio.fixture(loop_scope="session")
async def api(app: FastAPI, admin: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with browser(app) as client:
        client.headers.update(admin)
        yield client


@dataclass(frozen=True)
class Person:
    id: str
    token: str
    token_id: str


async def person(api: httpx.AsyncClient, name: str, role: str, extension: str = "") -> Person:
    body: dict[str, Any] = {
        "name": name,
        "email": f"{name.lower().replace(' ', '.')}@our.example",
        "extensions": [extension] if extension else [],
        "role": role,
    }
    created = await api.post("/api/v1/managers", json=body)
    assert created.status_code == 201, created.text
    manager_id = created.json()["id"]
    token = await api.post("/api/v1/tokens", json={"manager_id": manager_id})
    assert token.status_code == 201, token.text
    return Person(manager_id, token.json()["token"], token.json()["id"])


def csrf_of(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def counter(html: str, name: str) -> str:
    match = re.search(rf'data-counter="{name}">([^<]*)<', html)
    assert match, f"no counter {name}"
    return match.group(1)


def item_ids(html: str) -> list[str]:
    """The inbox's cards, by the id of the item each asks first."""
    return re.findall(r'<li class="item[^"]*" id="item-([^"]+)"', html)


def card_ids(html: str) -> list[set[str]]:
    """Every item each card holds."""
    return [
        set(ids.split())
        for ids in re.findall(
            r'<li class="item[^"]*" id="item-[^"]+" data-kind="[^"]+" data-ids="([^"]+)"', html
        )
    ]


def card_of(html: str, activity_id: str) -> str:
    """The HTML of the card that holds this item."""
    for block in html.split('<li class="item')[1:]:
        head = block.split(">", 1)[0]
        if activity_id in head.split('data-ids="', 1)[-1].split('"', 1)[0].split():
            return block.split("</li>", 1)[0]
    raise AssertionError(f"no card holds {activity_id}")


def presets_on(card: str) -> list[str]:
    return re.findall(r'name="preset" value="([^"]+)"', card)


async def record(sessions: Sessions, *events: InteractionClassified) -> list[str]:
    opened: list[str] = []
    async with sessions() as session:
        for event in events:
            opened += (await record_interaction(session, event)).opened
        await session.commit()
    return opened


async def ann_at_acme(api: httpx.AsyncClient, owner_id: str | None = None) -> str:
    company = await api.post("/api/v1/companies", json={"name": "Acme Ltd"})
    assert company.status_code == 201, company.text
    contact = await api.post(
        "/api/v1/contacts",
        json={
            "first_name": "Ann",
            "last_name": "Smith",
            "company_id": company.json()["id"],
            "owner_id": owner_id,
            "phones": ["(415) 555-0123"],
            "emails": ["ann@acme.example"],
        },
    )
    assert contact.status_code == 201, contact.text
    contact_id: str = contact.json()["id"]
    return contact_id


async def plan_target(api: httpx.AsyncClient, manager_id: str, target: int = 10) -> None:
    now = datetime.now(UTC)
    body = {
        "manager_id": manager_id,
        "metric": "activities_closed",
        "target": target,
        "period_start": (now - timedelta(days=1)).isoformat(),
        "period_end": (now + timedelta(days=30)).isoformat(),
    }
    created = await api.post("/api/v1/plan-targets", json=body)
    assert created.status_code == 201, created.text


async def identify_of(api: httpx.AsyncClient, opened: list[str]) -> str:
    """The `identify_contact` activity among those an interaction opened."""
    kinds = {a: (await api.get(f"/api/v1/activities/{a}")).json()["kind"] for a in opened}
    [identify] = [a for a, kind in kinds.items() if kind == "identify_contact"]
    return identify


def recently(minutes: int) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


# -- signing in ------------------------------------------------------------------------------


async def test_pages_send_strangers_to_sign_in(app: FastAPI) -> None:
    async with browser(app) as client:
        for path in ("/", "/team", "/identify", "/contacts", "/contacts/some-id"):
            response = await client.get(path)
            assert response.status_code == 303, path
            back = "" if path == "/" else "?" + urlencode({"next": path})
            assert response.headers["location"] == "/login" + back
        post = await client.post("/activities/x/status", data={"preset": "completed"})
        assert post.status_code == 303
        fetched = await client.post(
            "/activities/x/status", data={"preset": "completed"}, headers=FETCH
        )
        assert fetched.status_code == 401
        assert fetched.json()["error"] == "Your session has ended"


async def test_signing_in_keeps_a_session_not_the_token_in_a_strict_http_only_cookie(
    app: FastAPI, api: httpx.AsyncClient, sessions: Sessions
) -> None:
    rita = await person(api, "Rita", "manager", "201")
    async with browser(app) as client:
        form = await client.get("/login")
        assert form.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in form.headers["content-security-policy"]
        nonce = hidden(form.text, "csrf")
        response = await client.post("/login", data={"csrf": nonce, "token": rita.token})
        assert response.status_code == 303
        assert rita.token not in response.headers["location"]
        cookie = next(
            c for c in response.headers.get_list("set-cookie") if c.startswith("sb_session=")
        )
        attributes = {a.strip().lower() for a in cookie.split(";")[1:]}
        assert {"httponly", "samesite=strict", "path=/"} <= attributes
        assert "secure" not in attributes  # plain HTTP, allowed on 127.0.0.1 only
        secret = cookie.split(";")[0].removeprefix("sb_session=")
        assert rita.token not in cookie
        assert len(secret) >= 40
        inbox = await client.get("/")
        assert inbox.status_code == 200
        assert "Your inbox" in inbox.text
        assert rita.token not in inbox.text
        # The CSRF token derives from the session, not from the API token.
        assert csrf_of(inbox.text) == csrf_for(secret)
        assert csrf_of(inbox.text) != csrf_for(rita.token)
    async with sessions() as session:
        [row] = (await session.execute(select(PageSession))).scalars().all()
    assert (row.token_id, row.secret_sha256) == (rita.token_id, sha256(secret))
    assert row.secret_sha256 != sha256(rita.token)


async def test_over_https_the_cookie_is_secure_and_host_prefixed(
    app: FastAPI, api: httpx.AsyncClient
) -> None:
    rita = await person(api, "Rita", "manager", "201")
    async with sign_in(app, rita.token, "https://crm.example.com") as client:
        names = {c.name: c for c in client.cookies.jar}
        assert "__Host-sb_session" in names
        assert names["__Host-sb_session"].secure
        assert (await client.get("/")).status_code == 200


async def test_plain_http_off_loopback_refuses_to_sign_in(
    app: FastAPI, api: httpx.AsyncClient
) -> None:
    rita = await person(api, "Rita", "manager", "201")
    async with browser(app, "http://crm.example.com") as client:
        form = await client.get("/login")
        assert "signs in over HTTPS only" in form.text
        response = await client.post(
            "/login", data={"csrf": hidden(form.text, "csrf"), "token": rita.token}
        )
        assert response.status_code == 400
        assert "set-cookie" not in response.headers or "sb_session=" not in str(
            response.headers.get_list("set-cookie")
        )


async def test_a_wrong_token_or_a_forged_login_form_is_refused(
    app: FastAPI, api: httpx.AsyncClient
) -> None:
    rita = await person(api, "Rita", "manager", "201")
    async with browser(app) as client:
        form = await client.get("/login")
        wrong = await client.post(
            "/login", data={"csrf": hidden(form.text, "csrf"), "token": "sbt_not-a-token"}
        )
        assert wrong.status_code == 401
        assert "unknown, expired or revoked" in wrong.text
    async with browser(app) as client:  # no nonce cookie: a login form posted from elsewhere
        forged = await client.post("/login", data={"csrf": "guess", "token": rita.token})
        assert forged.status_code == 400
        assert (await client.get("/")).status_code == 303
    async with browser(app) as client:
        form = await client.get("/login")
        cross = await client.post(
            "/login",
            data={"csrf": hidden(form.text, "csrf"), "token": rita.token},
            headers={"Origin": "https://evil.example"},
        )
        assert cross.status_code == 403


async def test_a_revoked_token_ends_the_session_and_sign_out_clears_it(
    app: FastAPI, api: httpx.AsyncClient, sessions: Sessions
) -> None:
    rita = await person(api, "Rita", "manager", "201")
    async with sign_in(app, rita.token) as client:
        page = await client.get("/")
        out = await client.post("/logout", data={"csrf": csrf_of(page.text)})
        assert out.status_code == 303
        assert out.headers["location"] == "/login"
        assert (await client.get("/")).status_code == 303
    async with sign_in(app, rita.token) as client:
        async with sessions() as session:
            await session.execute(
                update(ApiToken)
                .where(ApiToken.id == rita.token_id)
                .values(revoked_at=datetime.now(UTC))
            )
            await session.commit()
        response = await client.get("/")
        assert response.status_code == 303
        assert response.headers["location"] == "/login"


def session_cookie(client: httpx.AsyncClient) -> str:
    return next(c.value for c in client.cookies.jar if c.name.endswith("sb_session") and c.value)


async def replayed(app: FastAPI, secret: str) -> httpx.Response:
    """The inbox asked for with a copy of an old cookie, as a thief would."""
    async with browser(app) as thief:
        thief.cookies.set("sb_session", secret)
        return await thief.get("/")


async def test_sign_out_ends_the_session_on_the_server(
    app: FastAPI, api: httpx.AsyncClient
) -> None:
    rita = await person(api, "Rita", "manager", "201")
    async with sign_in(app, rita.token) as client:
        secret = session_cookie(client)
        page = await client.get("/")
        assert (await replayed(app, secret)).status_code == 200
        out = await client.post("/logout", data={"csrf": csrf_of(page.text)})
        assert out.status_code == 303
    response = await replayed(app, secret)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"


async def test_revoking_the_token_through_the_api_ends_its_page_sessions(
    app: FastAPI, api: httpx.AsyncClient, sessions: Sessions
) -> None:
    rita = await person(api, "Rita", "manager", "201")
    async with sign_in(app, rita.token) as first, sign_in(app, rita.token) as second:
        assert (await first.get("/")).status_code == 200
        revoked = await api.delete(f"/api/v1/tokens/{rita.token_id}")
        assert revoked.status_code == 204
        for client in (first, second):
            response = await client.get("/")
            assert response.status_code == 303
            assert response.headers["location"] == "/login"
    async with sessions() as session:
        assert (await session.execute(select(PageSession))).scalars().all() == []


async def test_deactivating_a_manager_ends_their_page_sessions_and_tokens(
    app: FastAPI, api: httpx.AsyncClient
) -> None:
    rita = await person(api, "Rita", "manager", "201")
    sam = await person(api, "Sam", "manager", "202")
    async with sign_in(app, rita.token) as page, sign_in(app, sam.token) as other:
        assert (await page.get("/")).status_code == 200
        off = await api.patch(f"/api/v1/managers/{rita.id}", json={"active": False})
        assert off.status_code == 200
        assert (await page.get("/")).status_code == 303
        assert (await other.get("/")).status_code == 200
        fetched = await page.get("/inbox/state", headers=FETCH)
        assert fetched.status_code == 401
    own = {"Authorization": f"Bearer {rita.token}"}
    assert (await api.get("/api/v1/presets", headers=own)).status_code == 401
    async with browser(app) as client:
        form = await client.get("/login")
        again = await client.post(
            "/login", data={"csrf": hidden(form.text, "csrf"), "token": rita.token}
        )
        assert again.status_code == 401
    # Reactivated, the manager signs in with a new token only.
    assert (await api.patch(f"/api/v1/managers/{rita.id}", json={"active": True})).is_success
    fresh = await api.post("/api/v1/tokens", json={"manager_id": rita.id})
    async with sign_in(app, fresh.json()["token"]) as page:
        assert (await page.get("/")).status_code == 200


async def test_an_expired_session_or_token_ends_the_page(
    app: FastAPI, api: httpx.AsyncClient, sessions: Sessions
) -> None:
    rita = await person(api, "Rita", "manager", "201")
    past = datetime.now(UTC) - timedelta(seconds=1)
    async with sign_in(app, rita.token) as client:
        async with sessions() as session:
            await session.execute(update(PageSession).values(expires_at=past))
            await session.commit()
        assert (await client.get("/")).status_code == 303
    async with sign_in(app, rita.token) as client:
        async with sessions() as session:
            await session.execute(
                update(ApiToken).where(ApiToken.id == rita.token_id).values(expires_at=past)
            )
            await session.commit()
        assert (await client.get("/")).status_code == 303


async def test_a_bootstrap_admin_session_ends_when_that_token_is_changed(
    app: FastAPI, settings: Settings, admin: dict[str, str]
) -> None:
    async with sign_in(app, admin["Authorization"].removeprefix("Bearer ")) as client:
        assert (await client.get("/")).status_code == 200
        app.state.settings = settings.model_copy(
            update={"bootstrap_admin_token": "a-new-bootstrap-admin-token"}
        )
        assert (await client.get("/")).status_code == 303


# -- the inbox -------------------------------------------------------------------------------


async def test_the_inbox_lists_own_and_unassigned_items_urgent_first_with_who_what_when(
    app: FastAPI,
    api: httpx.AsyncClient,
    sessions: Sessions,
    call_event: EventFactory,
    mail_event: EventFactory,
) -> None:
    rita = await person(api, "Rita", "manager", "201")
    other = await person(api, "Otto", "manager", "202")
    await ann_at_acme(api)
    [callback] = await record(
        sessions,
        call_event("callback", call_id="tw:1", counterpart=ANN_PHONE, agent="201", at=recently(50)),
    )
    await record(
        sessions,
        call_event("callback", call_id="tw:2", counterpart=ANN_PHONE, agent="201", at=recently(40)),
    )
    # A mail from an unknown address asks for a reply and for identifying the sender.
    from_bob = await record(
        sessions,
        mail_event(
            "reply_needed", message_id="<m1@x>", counterpart="bob@example.net", at=recently(30)
        ),
    )
    identify = await identify_of(api, from_bob)
    [reply] = [a for a in from_bob if a != identify]
    [others] = await record(
        sessions,
        call_event(
            "callback", call_id="tw:3", counterpart=UNKNOWN_PHONE, agent="202", at=recently(20)
        ),
    )

    async with sign_in(app, rita.token) as client:
        page = await client.get("/")
    assert page.status_code == 200
    html = page.text
    # Rita's callback and the unassigned mail (one card: reply and who is this); not Otto's
    # callback. Most urgent first: the callback is due in 4 hours, the reply in 24.
    assert item_ids(html) == [callback, reply]
    assert card_ids(html) == [{callback}, {reply, identify}]
    assert others not in html
    assert "Ann Smith" in html
    assert "Acme Ltd" in html
    assert "Tried 2 times" in html
    assert "Missed call" in html
    assert "(415) 555-0123" in html  # a number of our region: national format
    assert "bob@example.net" in html
    assert "not a contact yet" in html
    assert "E-mail received" in html
    # Why, in words; the classifier's rule text ("made by a test") is for the timeline.
    assert "They called and nobody answered." in html
    assert "They wrote and are waiting for an answer." in html
    assert "made by a test" not in html
    assert re.search(r"<time datetime=\"[^\"]+\" title=\"[^\"]+\">\d+ minutes ago</time>", html)
    # The presets of each kind, as real buttons in a form.
    callback_html = card_of(html, callback)
    for label in ("Completed", "Call back later", "Left a voicemail", "Wrong number"):
        assert f">{label}</button>" in callback_html
    reply_html = card_of(html, reply)
    assert ">Wrong number</button>" not in reply_html  # an e-mail's card: no calls' presets
    assert ">Call back later</button>" not in reply_html
    assert ">Spam</button>" in reply_html
    assert counter(html, "open") == "2"  # clients: the cards listed, not the three items

    # Otto's inbox is refused to Rita; the manager param is ignored for nobody.
    async with sign_in(app, rita.token) as client:
        refused = await client.get("/", params={"manager": other.id})
        assert refused.status_code == 403
        assert "Not for your role" in refused.text


async def test_everything_open_for_one_client_is_one_card(
    app: FastAPI,
    api: httpx.AsyncClient,
    sessions: Sessions,
    call_event: EventFactory,
    mail_event: EventFactory,
) -> None:
    """An unknown caller's answered calls once made "Pick an outcome" twice and "Who is this?"
    (three cards); a known client's missed call and e-mail two more."""
    rita = await person(api, "Rita", "manager", "201")
    await ann_at_acme(api)
    first = await record(
        sessions,
        call_event(
            "needs_status",
            call_id="tw:c1",
            status="answered",
            counterpart=UNKNOWN_PHONE,
            agent="201",
            at=recently(40),
        ),
    )
    second = await record(
        sessions,
        call_event(
            "needs_status",
            call_id="tw:c2",
            status="answered",
            counterpart=UNKNOWN_PHONE,
            agent="201",
            at=recently(30),
        ),
    )
    anns = await record(
        sessions,
        call_event(
            "callback", call_id="tw:c3", counterpart=ANN_PHONE, agent="201", at=recently(20)
        ),
        mail_event(
            "reply_needed", message_id="<a1@acme>", counterpart="ann@acme.example", at=recently(10)
        ),
    )
    async with sign_in(app, rita.token) as client:
        html = (await client.get("/")).text
    assert sorted(map(sorted, card_ids(html))) == sorted([sorted(anns), sorted({*first, *second})])
    unknown = card_of(html, second[0])
    assert '<span class="kind kind-log_outcome">Pick an outcome</span>' in unknown
    assert '<span class="kind kind-identify_contact">Who is this?</span>' in unknown
    assert unknown.count('class="kind ') == 2  # each need once
    assert "2 times" in unknown  # two conversations, not four items
    assert "Operators add new contacts" in unknown
    ann = card_of(html, anns[0])
    assert "Ann Smith" in ann
    assert '<span class="kind kind-callback">Call back</span>' in ann
    assert '<span class="kind kind-reply">Reply</span>' in ann
    assert "E-mail received" in ann  # the latest interaction


async def test_one_tap_calls_writes_or_listens(
    app: FastAPI,
    api: httpx.AsyncClient,
    sessions: Sessions,
    call_event: EventFactory,
    mail_event: EventFactory,
) -> None:
    """Numbers were plain text (calling back meant copying them), addresses too, and the
    recording link a call carried was never shown."""
    rita = await person(api, "Rita", "manager", "201")
    await ann_at_acme(api)
    answered = call_event(
        "needs_status",
        call_id="tw:r1",
        status="answered",
        counterpart=UNKNOWN_PHONE,
        agent="201",
        at=recently(9),
    )
    recorded = answered.model_copy(
        update={
            "call": answered.call.model_copy(
                update={"recording_url": "https://pbx.example/rec/1.wav"}
            )
            if answered.call
            else None
        }
    )
    hostile = call_event("callback", call_id="tw:r2", counterpart=ANN_PHONE, agent="201")
    hostile = hostile.model_copy(
        update={
            "call": hostile.call.model_copy(update={"recording_url": "javascript:alert(1)"})
            if hostile.call
            else None,
            "occurred_at": recently(5),
        }
    )
    await record(
        sessions,
        recorded,
        hostile,
        mail_event("reply_needed", message_id="<t1@x>", counterpart="bob@example.net"),
    )
    async with sign_in(app, rita.token) as client:
        html = (await client.get("/")).text
    assert '<a class="point" href="tel:+14155550188">(415) 555-0188</a>' in html
    assert '<a class="point" href="tel:+14155550123">(415) 555-0123</a>' in html  # Ann's
    assert '<a class="point" href="mailto:bob@example.net">bob@example.net</a>' in html
    assert 'href="https://pbx.example/rec/1.wav"' in html
    assert "Listen to the recording" in html
    assert "javascript:" not in html


async def test_one_click_on_a_card_acts_on_every_item_it_fits(
    app: FastAPI, api: httpx.AsyncClient, sessions: Sessions, call_event: EventFactory
) -> None:
    rita = await person(api, "Rita", "manager", "201")
    opened = await record(
        sessions,
        call_event(
            "needs_status",
            call_id="tw:s1",
            status="answered",
            counterpart=UNKNOWN_PHONE,
            agent="201",
            at=recently(5),
        ),
    )
    async with sign_in(app, rita.token) as client:
        page = await client.get("/")
        [card] = card_ids(page.text)
        first = item_ids(page.text)[0]
        others = " ".join(sorted(card - {first}))
        response = await client.post(
            f"/activities/{first}/status",
            data={"preset": "spam", "with": others},
            headers={**FETCH, "X-CSRF-Token": csrf_of(page.text)},
        )
        assert response.status_code == 200, response.text
        assert response.json()["remove"] == f"item-{first}"
        assert card_ids((await client.get("/")).text) == []
    for activity_id in opened:
        stored = (await api.get(f"/api/v1/activities/{activity_id}")).json()
        assert (stored["state"], stored["preset"]) == ("done", "spam")


async def test_the_toast_undoes_a_mis_tap_and_the_card_comes_back(
    app: FastAPI, api: httpx.AsyncClient, sessions: Sessions, call_event: EventFactory
) -> None:
    """ "Spam" on a card once could not be undone: the toast's "Undo" puts every item the click
    changed back, and the card with them."""
    rita = await person(api, "Rita", "manager", "201")
    opened = await record(
        sessions,
        call_event(
            "needs_status",
            call_id="tw:u1",
            status="answered",
            counterpart=UNKNOWN_PHONE,
            agent="201",
            at=recently(5),
        ),
    )
    async with sign_in(app, rita.token) as client:
        page = await client.get("/")
        assert '<div id="toast" class="toast" aria-live="polite"></div>' in page.text
        headers = {**FETCH, "X-CSRF-Token": csrf_of(page.text)}
        first = item_ids(page.text)[0]
        [other] = set(opened) - {first}
        spam = await client.post(
            f"/activities/{first}/status", data={"preset": "spam", "with": other}, headers=headers
        )
        assert spam.status_code == 200, spam.text
        toast = spam.json()["toast"]
        assert f'action="/activities/{first}/undo"' in toast
        assert f'name="with" value="{other}"' in toast
        assert ">Undo</button>" in toast
        assert "within 5 min" in toast

        undo = await client.post(f"/activities/{first}/undo", data={"with": other}, headers=headers)
        assert undo.status_code == 200, undo.text
        body = undo.json()
        assert body["restore"]["id"] == f"item-{first}"
        assert card_ids(body["restore"]["html"]) == [set(opened)]
        assert body["toast"] == ""
        assert counter(body["counters"], "open") == "1"  # one client, one card
        assert card_ids((await client.get("/")).text) == [set(opened)]

        twice = await client.post(
            f"/activities/{first}/undo", data={"with": other}, headers=headers
        )
        assert twice.status_code == 409
        assert "no status change to undo" in twice.json()["detail"]
    for activity_id in opened:
        stored = (await api.get(f"/api/v1/activities/{activity_id}")).json()
        assert (stored["state"], stored["preset"]) == ("open", None)


async def test_back_from_holiday_a_manager_marks_their_inbox_handled(
    app: FastAPI, api: httpx.AsyncClient, sessions: Sessions, call_event: EventFactory
) -> None:
    rita = await person(api, "Rita", "manager", "201")
    opened = await record(
        sessions,
        call_event("callback", call_id="tw:h1", counterpart=ANN_PHONE, agent="201", at=recently(9)),
        call_event(
            "needs_status",
            call_id="tw:h2",
            status="answered",
            counterpart=UNKNOWN_PHONE,
            agent="201",
            at=recently(5),
        ),
    )
    identify = await identify_of(api, opened)
    async with sign_in(app, rita.token) as client:
        page = await client.get("/")
        assert "<summary>Mark all as handled</summary>" in page.text
        csrf = csrf_of(page.text)
        nameless = await client.post("/inbox/handled", data={"reason": " ", "csrf": csrf})
        assert nameless.status_code == 422
        done = await client.post(
            "/inbox/handled", data={"reason": "back from holiday", "csrf": csrf}
        )
        assert done.status_code == 303
        assert card_ids((await client.get("/")).text) == [{identify}]  # who is this stays
    for activity_id in set(opened) - {identify}:
        stored = (await api.get(f"/api/v1/activities/{activity_id}")).json()
        assert (stored["state"], stored["close_reason"]) == (
            "canceled",
            "marked as handled: back from holiday",
        )


async def test_a_card_carries_at_most_its_bound_of_ids(
    app: FastAPI, api: httpx.AsyncClient, sessions: Sessions, call_event: EventFactory
) -> None:
    """`with` is read as at most a card's worth of ids; the rest is ignored, not looked up."""
    rita = await person(api, "Rita", "manager", "201")
    [callback] = await record(
        sessions, call_event("callback", call_id="tw:b1", agent="201", at=recently(5))
    )
    async with sign_in(app, rita.token) as client:
        page = await client.get("/")
        too_long = await client.post(
            f"/activities/{callback}/status",
            data={"preset": "completed", "with": "x" * 5000},
            headers={**FETCH, "X-CSRF-Token": csrf_of(page.text)},
        )
        assert too_long.status_code == 422
        many = " ".join(f"no-such-{n}" for n in range(200))[:1300]
        response = await client.post(
            f"/activities/{callback}/status",
            data={"preset": "completed", "with": many},
            headers={**FETCH, "X-CSRF-Token": csrf_of(page.text)},
        )
        assert response.status_code == 200, response.text
    assert (await api.get(f"/api/v1/activities/{callback}")).json()["state"] == "done"


async def test_urgent_first_with_the_due_time_shown_and_filters(
    app: FastAPI,
    api: httpx.AsyncClient,
    sessions: Sessions,
    call_event: EventFactory,
    mail_event: EventFactory,
) -> None:
    """The only overdue callback was 19th of 22 (newest first) and no due time was shown."""
    rita = await person(api, "Rita", "manager", "201")
    [late] = await record(
        sessions,
        call_event(
            "callback", call_id="tw:o1", counterpart=ANN_PHONE, agent="201", at=recently(300)
        ),
    )
    [soon] = await record(
        sessions,
        call_event(
            "callback", call_id="tw:o2", counterpart=UNKNOWN_PHONE, agent="201", at=recently(30)
        ),
    )
    mail = await record(
        sessions,
        mail_event(
            "reply_needed", message_id="<o3@x>", counterpart="bob@example.net", at=recently(1)
        ),
    )
    mail = [a for a in mail if (await api.get(f"/api/v1/activities/{a}")).json()["kind"] == "reply"]
    async with sign_in(app, rita.token) as client:
        html = (await client.get("/")).text
        calls = (await client.get("/", params={"show": "calls"})).text
        mails = (await client.get("/", params={"show": "mail"})).text
        overdue = (await client.get("/", params={"show": "overdue"})).text
        odd = await client.get("/", params={"show": "<script>"})
    assert item_ids(html) == [late, soon, *mail]  # overdue, due in 3.5 h, due tomorrow
    late_card = card_of(html, late)
    assert '<span class="badge late">Overdue</span>' in late_card
    assert re.search(r'<span class="due">Was due <time datetime="[^"]+"', late_card)
    assert re.search(r'<span class="due">Due <time datetime="[^"]+"', card_of(html, soon))
    assert '<a href="/?show=overdue">Overdue</a>' in html
    assert '<a href="/" aria-current="page">Everything</a>' in html
    assert item_ids(calls) == [late, soon]
    assert item_ids(mails) == mail
    assert item_ids(overdue) == [late]
    assert '<a href="/?show=overdue" aria-current="page">Overdue</a>' in overdue
    assert odd.status_code == 200
    assert item_ids(odd.text) == item_ids(html)  # an unknown filter shows everything


async def test_one_click_closes_the_item_and_updates_the_counters(
    app: FastAPI, api: httpx.AsyncClient, sessions: Sessions, call_event: EventFactory
) -> None:
    rita = await person(api, "Rita", "manager", "201")
    await plan_target(api, rita.id, target=10)
    [first, second] = await record(
        sessions,
        call_event("callback", call_id="tw:1", counterpart=ANN_PHONE, agent="201", at=recently(9)),
        call_event(
            "callback", call_id="tw:2", counterpart=UNKNOWN_PHONE, agent="201", at=recently(5)
        ),
    )
    async with sign_in(app, rita.token) as client:
        page = await client.get("/")
        assert counter(page.text, "open") == "2"
        assert counter(page.text, "done") == "0"
        assert counter(page.text, "plan") == "0 of 10"
        response = await client.post(
            f"/activities/{first}/status",
            data={"preset": "completed", "note": "called back, all good"},
            headers={**FETCH, "X-CSRF-Token": csrf_of(page.text)},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["remove"] == f"item-{first}"
        assert "Completed" in body["message"]
        assert counter(body["counters"], "open") == "1"
        assert counter(body["counters"], "done") == "1"
        assert counter(body["counters"], "plan") == "1 of 10"

        again = await client.get("/")
        assert item_ids(again.text) == [second]

    stored = await api.get(f"/api/v1/activities/{first}")
    assert stored.json()["state"] == "done"
    assert stored.json()["closed_by"] == "manager"
    assert stored.json()["preset"] == "completed"
    assert stored.json()["note"] == "called back, all good"


async def test_a_card_already_closed_in_another_tab_leaves_quietly(
    app: FastAPI, api: httpx.AsyncClient, sessions: Sessions, call_event: EventFactory
) -> None:
    """The second tab's click once showed "activity <uuid> is done" and the card stayed."""
    rita = await person(api, "Rita", "manager", "201")
    [callback] = await record(
        sessions, call_event("callback", call_id="tw:1", agent="201", at=recently(3))
    )
    async with sign_in(app, rita.token) as client:
        page = await client.get("/")
        headers = {**FETCH, "X-CSRF-Token": csrf_of(page.text)}
        first = await client.post(
            f"/activities/{callback}/status", data={"preset": "completed"}, headers=headers
        )
        assert first.status_code == 200, first.text
        second = await client.post(
            f"/activities/{callback}/status", data={"preset": "spam"}, headers=headers
        )
        assert second.status_code == 200, second.text
        body = second.json()
        assert body["remove"] == f"item-{callback}"
        assert body["message"] == "Already handled: Completed."
        assert counter(body["counters"], "open") == "0"
        plain = await client.post(
            f"/activities/{callback}/status",
            data={"preset": "spam", "csrf": csrf_of(page.text)},
        )
        assert plain.status_code == 303
    stored = await api.get(f"/api/v1/activities/{callback}")
    assert stored.json()["preset"] == "completed"  # the late click changed nothing


async def test_who_is_this_offers_no_completed_and_refuses_it(
    app: FastAPI, api: httpx.AsyncClient, sessions: Sessions, call_event: EventFactory
) -> None:
    """ "Completed" on "Who is this?" once removed it from the operator's list with no contact
    made (a demo request was lost): the card does not offer it and a forged click is refused
    with what to do instead."""
    rita = await person(api, "Rita", "manager", "201")
    opened = await record(
        sessions,
        call_event(
            "needs_status",
            call_id="tw:1",
            status="answered",
            counterpart=UNKNOWN_PHONE,
            agent="201",
            at=recently(3),
        ),
    )
    identify = await identify_of(api, opened)
    [outcome] = [a for a in opened if a != identify]
    async with sign_in(app, rita.token) as client:
        page = await client.get("/")
        headers = {**FETCH, "X-CSRF-Token": csrf_of(page.text)}
        assert card_ids(page.text) == [{outcome, identify}]
        forged = await client.post(
            f"/activities/{identify}/status", data={"preset": "completed"}, headers=headers
        )
        assert forged.status_code == 409
        assert "contact" in forged.json()["detail"]
        # "Completed" on the card is the outcome's: the card stays for who is this.
        done = await client.post(
            f"/activities/{outcome}/status",
            data={"preset": "completed", "with": identify},
            headers=headers,
        )
        assert done.status_code == 200, done.text
        body = done.json()
        assert body["replace"]["id"] == f"item-{outcome}"
        card = body["replace"]["html"]
        assert card_ids(card) == [{identify}]
        assert "Who is this?" in card
        assert "completed" not in presets_on(card)
        assert "spam" in presets_on(card)
        assert (await api.get(f"/api/v1/activities/{outcome}")).json()["state"] == "done"
    stored = await api.get(f"/api/v1/activities/{identify}")
    assert stored.json()["state"] == "open"


async def test_the_page_can_ask_what_the_newest_item_is(
    app: FastAPI, api: httpx.AsyncClient, sessions: Sessions, call_event: EventFactory
) -> None:
    rita = await person(api, "Rita", "manager", "201")
    olga = await person(api, "Olga", "operator")
    async with sign_in(app, rita.token) as client:
        page = await client.get("/")
        assert 'data-state="/inbox/state"' in page.text
        assert (await client.get("/inbox/state", headers=FETCH)).json() == {"newest": None}
        [callback] = await record(
            sessions, call_event("callback", call_id="tw:1", agent="201", at=recently(1))
        )
        state = await client.get("/inbox/state", headers=FETCH)
        assert state.json() == {"newest": callback}
        assert state.headers["cache-control"] == "no-store"
    async with sign_in(app, olga.token) as client:
        assert (await client.get("/inbox/state", headers=FETCH)).status_code == 403


async def test_a_preset_that_keeps_the_item_open_shows_on_it(
    app: FastAPI, api: httpx.AsyncClient, sessions: Sessions, call_event: EventFactory
) -> None:
    rita = await person(api, "Rita", "manager", "201")
    [callback] = await record(
        sessions, call_event("callback", call_id="tw:1", agent="201", at=recently(3))
    )
    async with sign_in(app, rita.token) as client:
        page = await client.get("/")
        response = await client.post(
            f"/activities/{callback}/status",
            data={"preset": "in_progress", "csrf": csrf_of(page.text)},
            headers=FETCH,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert "remove" not in body
        assert body["replace"]["id"] == f"item-{callback}"
        assert '<span class="badge">Taken into work</span>' in body["replace"]["html"]
        assert counter(body["counters"], "open") == "1"


async def test_without_script_a_status_form_posts_and_redirects(
    app: FastAPI, api: httpx.AsyncClient, sessions: Sessions, call_event: EventFactory
) -> None:
    rita = await person(api, "Rita", "manager", "201")
    [callback] = await record(
        sessions, call_event("callback", call_id="tw:1", agent="201", at=recently(3))
    )
    async with sign_in(app, rita.token) as client:
        page = await client.get("/")
        response = await client.post(
            f"/activities/{callback}/status",
            data={"preset": "wrong_number", "csrf": csrf_of(page.text)},
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/"
        assert item_ids((await client.get("/")).text) == []


async def test_posts_without_the_csrf_token_or_from_another_site_change_nothing(
    app: FastAPI, api: httpx.AsyncClient, sessions: Sessions, call_event: EventFactory
) -> None:
    rita = await person(api, "Rita", "manager", "201")
    [callback] = await record(
        sessions, call_event("callback", call_id="tw:1", agent="201", at=recently(3))
    )
    async with sign_in(app, rita.token) as client:
        csrf = csrf_of((await client.get("/")).text)
        missing = await client.post(f"/activities/{callback}/status", data={"preset": "completed"})
        assert missing.status_code == 403
        wrong = await client.post(
            f"/activities/{callback}/status", data={"preset": "completed", "csrf": "0" * 64}
        )
        assert wrong.status_code == 403
        for origin in ("https://evil.example", "null"):
            cross = await client.post(
                f"/activities/{callback}/status",
                data={"preset": "completed", "csrf": csrf},
                headers={"Origin": origin},
            )
            assert cross.status_code == 403
        cross_site = await client.post(
            f"/activities/{callback}/status",
            data={"preset": "completed", "csrf": csrf},
            headers={"Sec-Fetch-Site": "cross-site"},
        )
        assert cross_site.status_code == 403
        same = await client.post(
            f"/activities/{callback}/status",
            data={"preset": "in_progress", "csrf": csrf},
            headers={"Origin": LOCAL, "Sec-Fetch-Site": "same-origin"},
        )
        assert same.status_code == 303
        as_json = await client.post(
            f"/activities/{callback}/status",
            json={"preset": "completed", "csrf": csrf},
        )
        assert as_json.status_code == 415
    stored = (await api.get(f"/api/v1/activities/{callback}")).json()
    assert stored["state"] == "open"
    assert stored["preset"] == "in_progress"  # only the same-origin post counted


async def test_bad_status_input_is_a_clear_error_and_loses_nothing(
    app: FastAPI, api: httpx.AsyncClient, sessions: Sessions, call_event: EventFactory
) -> None:
    rita = await person(api, "Rita", "manager", "201")
    [callback] = await record(
        sessions, call_event("callback", call_id="tw:1", agent="201", at=recently(3))
    )
    async with sign_in(app, rita.token) as client:
        headers = {**FETCH, "X-CSRF-Token": csrf_of((await client.get("/")).text)}
        unknown = await client.post(
            f"/activities/{callback}/status", data={"preset": "nope"}, headers=headers
        )
        assert unknown.status_code == 422
        assert unknown.json()["error"] == "Unknown preset"
        long_note = await client.post(
            f"/activities/{callback}/status",
            data={"preset": "completed", "note": "x" * 4001},
            headers=headers,
        )
        assert long_note.status_code == 422
        assert "4000" in long_note.json()["detail"]
        done = await client.post(
            f"/activities/{callback}/status", data={"preset": "completed"}, headers=headers
        )
        assert done.status_code == 200
        twice = await client.post(
            f"/activities/{callback}/status", data={"preset": "completed"}, headers=headers
        )
        assert twice.status_code == 200  # already handled: the card leaves, nothing changes
        assert twice.json()["remove"] == f"item-{callback}"
        page = await client.get("/", params={"cursor": "not-a-cursor"})
        assert page.status_code == 422
        assert "<h1>Invalid request</h1>" in page.text


# -- roles -----------------------------------------------------------------------------------


async def test_a_manager_sees_their_own_work_and_nothing_more(
    app: FastAPI, api: httpx.AsyncClient, sessions: Sessions, call_event: EventFactory
) -> None:
    rita = await person(api, "Rita", "manager", "201")
    otto = await person(api, "Otto", "manager", "202")
    [ottos] = await record(
        sessions, call_event("callback", call_id="tw:9", agent="202", at=recently(3))
    )
    # A real conversation with an unknown number: an outcome to log and a number to identify.
    opened = await record(
        sessions,
        call_event(
            "needs_status",
            call_id="tw:10",
            status="answered",
            counterpart=UNKNOWN_PHONE,
            agent="201",
            at=recently(2),
        ),
    )
    async with sign_in(app, rita.token) as client:
        page = await client.get("/")
        csrf = csrf_of(page.text)
        assert [href for href, _ in nav_links(page.text)] == ["/", "/contacts"]
        assert card_ids(page.text) == [set(opened)]  # one card: an outcome, who is this
        assert "Operators add new contacts" in page.text
        assert "Create contact" not in page.text
        assert (await client.get("/team")).status_code == 403
        assert (await client.get("/identify")).status_code == 403
        assert (await client.get("/", params={"manager": otto.id})).status_code == 403
        # Otto's activity is not there for Rita, not even to close.
        hidden_one = await client.post(
            f"/activities/{ottos}/status", data={"preset": "completed", "csrf": csrf}
        )
        assert hidden_one.status_code == 404
        create = await client.post(
            f"/identify/{await identify_of(api, opened)}/contact",
            data={"first_name": "Eve", "csrf": csrf},
        )
        assert create.status_code == 403
    assert (await api.get(f"/api/v1/activities/{ottos}")).json()["state"] == "open"


def nav_links(html: str) -> list[tuple[str, str]]:
    block = html[html.index('<nav aria-label="Main">') : html.index("</nav>")]
    return re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', block)


async def test_the_identify_list_waits_in_time_order_and_says_what_was_said(
    app: FastAPI,
    api: httpx.AsyncClient,
    sessions: Sessions,
    call_event: EventFactory,
    mail_event: EventFactory,
) -> None:
    """The list was not in time order, and did not say who took the call or what the e-mail
    said: an operator could not name the caller."""
    await person(api, "Rita", "manager", "201")
    olga = await person(api, "Olga", "operator")
    newer = await record(
        sessions,
        call_event(
            "needs_status",
            call_id="tw:q1",
            status="answered",
            counterpart=UNKNOWN_PHONE,
            agent="201",
            at=recently(10),
        ),
    )
    older = await record(
        sessions,
        mail_event(
            "reply_needed", message_id="<q2@x>", counterpart="eve@example.net", at=recently(60)
        ),
    )
    # The caller rings again: their item was opened after the mail's, so it still waits less.
    await record(
        sessions,
        call_event(
            "needs_status",
            call_id="tw:q3",
            status="answered",
            counterpart=UNKNOWN_PHONE,
            agent="201",
            at=recently(1),
        ),
    )
    by_call = await identify_of(api, newer)
    by_mail = await identify_of(api, older)
    async with sign_in(app, olga.token) as client:
        queue = (await client.get("/identify")).text
    assert item_ids(queue) == [by_mail, by_call]  # longest waiting first
    call_entry = queue.split(f'id="item-{by_call}"', 1)[1].split("</li>", 1)[0]
    assert "Taken by Rita" in call_entry
    assert "waiting since" in call_entry
    assert "the latest" in call_entry  # two calls: when the latest was
    mail_entry = queue.split(f'id="item-{by_mail}"', 1)[1].split("</li>", 1)[0]
    assert '<p class="subject">' in mail_entry  # what the e-mail said


async def test_an_operator_identifies_numbers_but_sees_no_inbox(
    app: FastAPI, api: httpx.AsyncClient, sessions: Sessions, call_event: EventFactory
) -> None:
    rita = await person(api, "Rita", "manager", "201")
    olga = await person(api, "Olga", "operator")
    [callback] = await record(
        sessions, call_event("callback", call_id="tw:1", agent="201", at=recently(5))
    )
    opened = await record(
        sessions,
        call_event(
            "needs_status",
            call_id="tw:2",
            status="answered",
            counterpart=UNKNOWN_PHONE,
            agent="201",
            at=recently(2),
        ),
    )
    kinds = {a: (await api.get(f"/api/v1/activities/{a}")).json()["kind"] for a in opened}
    [identify] = [a for a, kind in kinds.items() if kind == "identify_contact"]
    [outcome] = [a for a, kind in kinds.items() if kind == "log_outcome"]

    async with sign_in(app, olga.token) as client:
        home = await client.get("/")
        assert home.status_code == 303
        assert home.headers["location"] == "/identify"
        queue = await client.get("/identify")
        assert queue.status_code == 200
        assert [href for href, _ in nav_links(queue.text)] == ["/identify", "/contacts"]
        assert item_ids(queue.text) == [identify]
        assert "(415) 555-0188" in queue.text
        assert "Taken by Rita" in queue.text  # who took the call, to ask them
        assert callback not in queue.text
        assert outcome not in queue.text
        assert (await client.get("/team")).status_code == 403
        csrf = csrf_of(queue.text)
        status = await client.post(
            f"/activities/{outcome}/status", data={"preset": "completed", "csrf": csrf}
        )
        assert status.status_code == 403
    # Closing "who is this?" without a contact is refused, with what to do instead.
    refused = await api.post(f"/api/v1/activities/{identify}/status", json={"preset": "completed"})
    assert refused.status_code == 409, refused.text
    assert "create the contact or link an existing one" in refused.json()["detail"]
    async with sign_in(app, olga.token) as client:
        queue = await client.get("/identify")
        csrf = csrf_of(queue.text)
        # The form has the company, and the other way to reach them, in the same step.
        assert 'name="company"' in queue.text
        assert 'name="email" type="email"' in queue.text
        created = await client.post(
            f"/identify/{identify}/contact",
            data={
                "first_name": "Eve",
                "last_name": "Stone",
                "company": "Stone Works",
                "email": "Eve@Stone-Works.example",
                "csrf": csrf,
            },
            headers=FETCH,
        )
        assert created.status_code == 200, created.text
        assert created.json()["remove"] == f"item-{identify}"
        assert created.json()["message"] == "Contact Eve Stone created, at Stone Works."
        assert item_ids((await client.get("/identify")).text) == []

    found = (await api.get("/api/v1/contacts", params={"phone": UNKNOWN_PHONE})).json()["items"]
    [eve] = found
    assert eve["name"] == "Eve Stone"
    assert eve["owner_id"] == rita.id  # the manager who had the conversation
    assert eve["emails"] == ["eve@stone-works.example"]
    company = (await api.get(f"/api/v1/companies/{eve['company_id']}")).json()
    assert company["name"] == "Stone Works"
    assert (await api.get(f"/api/v1/activities/{identify}")).json()["state"] == "done"
    assert (await api.get(f"/api/v1/activities/{outcome}")).json()["state"] == "open"

    # The operator reads the timeline (calls and the classifier's decision), not activities.
    async with sign_in(app, olga.token) as client:
        timeline = await client.get(f"/contacts/{eve['id']}")
    assert timeline.status_code == 200
    assert "needs an outcome" in timeline.text
    assert 'aria-label="Activities"' not in timeline.text


async def test_a_viewer_reads_but_cannot_click(
    app: FastAPI, api: httpx.AsyncClient, sessions: Sessions, call_event: EventFactory
) -> None:
    await person(api, "Rita", "manager", "201")
    vera = await person(api, "Vera", "viewer")
    [callback] = await record(
        sessions, call_event("callback", call_id="tw:1", agent="201", at=recently(5))
    )
    async with sign_in(app, vera.token) as client:
        page = await client.get("/")
        assert item_ids(page.text) == [callback]
        assert "</button>" not in page.text.split('id="items"')[1].split("Sign out")[0]
        refused = await client.post(
            f"/activities/{callback}/status",
            data={"preset": "completed", "csrf": csrf_of(page.text)},
        )
        assert refused.status_code == 403
        assert (await client.get("/team")).status_code == 200


async def test_a_supervisor_sees_every_inbox_and_the_team(
    app: FastAPI, api: httpx.AsyncClient, sessions: Sessions, call_event: EventFactory
) -> None:
    rita = await person(api, "Rita", "manager", "201")
    otto = await person(api, "Otto", "manager", "202")
    sue = await person(api, "Sue", "supervisor")
    await plan_target(api, rita.id, target=4)
    [ritas, ottos] = await record(
        sessions,
        call_event("callback", call_id="tw:1", agent="201", at=recently(5)),
        call_event("callback", call_id="tw:2", counterpart=UNKNOWN_PHONE, agent="202"),
    )
    async with sign_in(app, sue.token) as client:
        everyone = await client.get("/")
        assert sorted(item_ids(everyone.text)) == sorted([ritas, ottos])
        assert "All inboxes" in everyone.text
        only_otto = await client.get("/", params={"manager": otto.id})
        assert item_ids(only_otto.text) == [ottos]
        assert "Inbox of Otto" in only_otto.text
        assert (await client.get("/", params={"manager": "nobody"})).status_code == 404
        closed = await client.post(
            f"/activities/{ottos}/status",
            data={"preset": "completed", "scope": otto.id},
            headers={**FETCH, "X-CSRF-Token": csrf_of(only_otto.text)},
        )
        assert closed.status_code == 200, closed.text
        assert counter(closed.json()["counters"], "done") == "1"

        team = await client.get("/team")
    assert team.status_code == 200
    rows = {
        name: cells
        for name, cells in re.findall(
            r'<th scope="row"><a [^>]+>([^<]+)</a></th>(.*?)</tr>', team.text, re.S
        )
    }
    assert set(rows) == {"Rita", "Otto", "Sue"}  # who may hold activities
    assert re.search(r'data-count="open">1<', rows["Rita"])
    assert re.search(r'data-count="done">1<', rows["Otto"])  # by hand
    assert re.search(r'data-count="done_auto">0<', rows["Otto"])
    assert "0 of 4" in rows["Rita"]


# -- timelines, search, linking --------------------------------------------------------------


async def test_the_timeline_shows_every_call_and_message_with_the_classifiers_decision(
    app: FastAPI,
    api: httpx.AsyncClient,
    sessions: Sessions,
    call_event: EventFactory,
    mail_event: EventFactory,
) -> None:
    rita = await person(api, "Rita", "manager", "201")
    ann = await ann_at_acme(api, owner_id=rita.id)
    await record(
        sessions,
        call_event("callback", call_id="tw:1", counterpart=ANN_PHONE, agent="201", at=recently(60)),
        call_event(
            "needs_status",
            call_id="tw:2",
            status="answered",
            direction="outbound",
            counterpart=ANN_PHONE,
            agent="201",
            at=recently(30),
        ),
        mail_event(
            "reply_needed", message_id="<m1@acme>", counterpart="ann@acme.example", at=recently(10)
        ),
    )
    async with sign_in(app, rita.token) as client:
        page = await client.get(f"/contacts/{ann}")
    assert page.status_code == 200
    html = page.text
    assert '<h1 id="contact-name">Ann Smith' in html
    assert "Acme Ltd" in html
    assert "Rita" in html
    entries = re.findall(r'<li class="entry entry-(call|mail)">', html)
    assert entries == ["mail", "call", "call"]  # newest first
    for decision in ("needs a call back", "needs an outcome", "needs a reply"):
        assert decision in html
    assert "<code>test.rule</code> made by a test" in html
    assert "closed by itself" in html  # the answered call closed the callback


async def test_links_and_forms_carry_ids_only_never_personal_data(
    app: FastAPI,
    api: httpx.AsyncClient,
    sessions: Sessions,
    call_event: EventFactory,
    mail_event: EventFactory,
) -> None:
    rita = await person(api, "Rita", "manager", "201")
    ann = await ann_at_acme(api, owner_id=rita.id)
    await record(
        sessions,
        call_event("callback", call_id="tw:1", counterpart=ANN_PHONE, agent="201", at=recently(9)),
        mail_event("reply_needed", message_id="<m2@x>", counterpart="zed@example.net"),
    )
    async with sign_in(app, rita.token) as client:
        pages = [await client.get("/"), await client.get(f"/contacts/{ann}")]
    assert "tel:+14155550123" in pages[0].text
    for page in pages:
        urls = re.findall(r'(?:href|action|src)="([^"]*)"', page.text)
        assert urls
        # One tap calls or writes back: tel: and mailto: links hold the number or address,
        # but they never reach a server (no request, no log, no referrer).
        taps = {u for u in urls if u.startswith(("tel:", "mailto:"))}
        for url in set(urls) - taps:
            assert not re.search(r"@|555|Ann|Smith", url), url
            assert url.startswith(("/", "#")), f"{url}: the page loads nothing from elsewhere"


async def test_an_admin_links_an_unknown_number_to_an_existing_contact_from_the_inbox(
    app: FastAPI,
    api: httpx.AsyncClient,
    sessions: Sessions,
    call_event: EventFactory,
    settings: Settings,
) -> None:
    ann = await ann_at_acme(api)
    opened = await record(
        sessions,
        call_event(
            "needs_status",
            call_id="tw:5",
            status="answered",
            counterpart=UNKNOWN_PHONE,
            at=recently(2),
        ),
    )
    kinds = {a: (await api.get(f"/api/v1/activities/{a}")).json()["kind"] for a in opened}
    [identify] = [a for a, kind in kinds.items() if kind == "identify_contact"]
    assert settings.bootstrap_admin_token is not None
    async with sign_in(app, settings.bootstrap_admin_token) as client:
        page = await client.get("/")
        assert "Create contact" in page.text
        assert "Link to existing" in page.text
        headers = {**FETCH, "X-CSRF-Token": csrf_of(page.text)}
        search = await client.post(
            "/contacts/search", data={"q": "smith", "activity": identify}, headers=headers
        )
        assert search.status_code == 200, search.text
        assert search.json()["target"]["id"] == f"hits-{identify}"
        assert "Link to Ann Smith" in search.json()["target"]["html"]
        by_number = await client.post(
            "/contacts/search", data={"q": "415 555 0123"}, headers=headers
        )
        assert "Ann Smith" in by_number.json()["target"]["html"]
        # A company's name finds its people (it once found nothing).
        by_company = await client.post(
            "/contacts/search", data={"q": "acme", "activity": identify}, headers=headers
        )
        assert "Link to Ann Smith" in by_company.json()["target"]["html"]
        nobody = await client.post("/contacts/search", data={"q": "globex"}, headers=headers)
        assert "Ann Smith" not in nobody.json()["target"]["html"]
        linked = await client.post(
            f"/identify/{identify}/link", data={"contact_id": ann}, headers=headers
        )
        assert linked.status_code == 200, linked.text
        assert linked.json()["remove"] == f"item-{identify}"
        again = await client.post(
            f"/identify/{identify}/link", data={"contact_id": ann}, headers=headers
        )
        assert again.status_code == 409
    contact = (await api.get(f"/api/v1/contacts/{ann}")).json()
    assert sorted(contact["phones"]) == sorted([ANN_PHONE, UNKNOWN_PHONE])
    assert (await api.get(f"/api/v1/activities/{identify}")).json()["state"] == "done"


async def test_creating_a_look_alike_contact_asks_first(
    app: FastAPI, api: httpx.AsyncClient, sessions: Sessions, call_event: EventFactory
) -> None:
    await ann_at_acme(api)
    olga = await person(api, "Olga", "operator")
    opened = await record(
        sessions,
        call_event(
            "needs_status",
            call_id="tw:6",
            status="answered",
            counterpart=UNKNOWN_PHONE,
            at=recently(2),
        ),
    )
    kinds = {a: (await api.get(f"/api/v1/activities/{a}")).json()["kind"] for a in opened}
    [identify] = [a for a, kind in kinds.items() if kind == "identify_contact"]
    async with sign_in(app, olga.token) as client:
        headers = {**FETCH, "X-CSRF-Token": csrf_of((await client.get("/identify")).text)}
        form = {"first_name": "Ann", "last_name": "Smith"}
        duplicate = await client.post(f"/identify/{identify}/contact", data=form, headers=headers)
        assert duplicate.status_code == 409
        assert [c["name"] for c in duplicate.json()["candidates"]] == ["Ann Smith"]
        # The page's words, not the API's hint ("pass force=true").
        assert "force" not in duplicate.json()["detail"]
        assert "Save even if it looks like a duplicate" in duplicate.json()["detail"]
        plain = await client.post(
            f"/identify/{identify}/contact", data={**form, "csrf": headers["X-CSRF-Token"]}
        )
        assert plain.status_code == 409
        assert "force" not in plain.text
        nameless = await client.post(
            f"/identify/{identify}/contact", data={"first_name": " "}, headers=headers
        )
        assert nameless.status_code == 422
        forced = await client.post(
            f"/identify/{identify}/contact", data={**form, "force": "1"}, headers=headers
        )
        assert forced.status_code == 200, forced.text


async def test_static_files_and_unknown_ones(app: FastAPI) -> None:
    async with browser(app) as client:
        css = await client.get("/static/app.css")
        assert css.status_code == 200
        assert css.headers["content-type"].startswith("text/css")
        js = await client.get("/static/app.js")
        assert js.headers["content-type"].startswith("text/javascript")
        assert (await client.get("/static/../app.py")).status_code == 404
        assert (await client.get("/static/secrets.txt")).status_code == 404
