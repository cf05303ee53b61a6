"""The live inbox: `GET /inbox/live` streams server-sent events to an open inbox, so new cards
appear and closed ones leave without a reload. Registered on `routes.router`.

Each stream waits for `feed.FEED` (a commit in this process changed an activity), then reads
its own manager's view again (the same listing and scope as the page, first page only) and
sends the cards that changed:

- `card`  `{"was": [ids], "ids": [ids], "version": "...", "pos": n, "html": "<li ...>"}`: a
  card is new or changed; it replaces the cards holding any of `was` or `ids`, at position `pos`;
- `gone`  `{"was": [ids]}`: nothing of that card is open any more;
- `counters` `{"html": "..."}`: the counters at the top;
- `sync`  `{"open": [ids]}` once after connecting: cards holding none of these closed meanwhile;
- `end`   the session ended (signed out, token revoked or expired); the stream closes.

A comment line goes every `HEARTBEAT_S` so proxies keep the connection. The session is checked
again every `RECHECK_S` (and at every wake-up), and the view re-read every `RECHECK_EVERY`
checks even without a wake-up (another process's commits). One user holds at most
`feed.MAX_STREAMS_PER_USER` streams; one more is refused with 429.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import Response, StreamingResponse

from crm_store.core import SessionDep, SettingsDep, utcnow
from crm_store.web import cards, queries
from crm_store.web.feed import FEED
from crm_store.web.i18n import _
from crm_store.web.render import fragment
from crm_store.web.routes import ScopeParam, ShowParam, card_context, forbidden, router, sees_inbox
from crm_store.web.routes import resolve_scope as resolve
from crm_store.web.session import CurrentUser, SignInRequired, User, session_principal
from crm_store.web.session import session_secret as secret_of
from switchboard_shared.problems import Problem

log = logging.getLogger(__name__)

HEARTBEAT_S = 15.0
RECHECK_S = 5.0
RECHECK_EVERY = 6  # a full re-read every 30 s without a wake-up
SETTLE_S = 0.15  # a burst of commits (a batch from the consumer) is read once
RETRY_MS = 3000
SINCE_LIMIT = timedelta(hours=1)


@dataclass(frozen=True)
class Shown:
    ids: list[str]
    version: str


def event(name: str, data: Any) -> str:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _since(value: int | None, now: datetime) -> datetime:
    """When the page was rendered (ms since the epoch), at most `SINCE_LIMIT` back."""
    if value is None:
        return now
    try:
        at = datetime.fromtimestamp(value / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return now
    return min(max(at, now - SINCE_LIMIT), now)


class InboxStream:
    """One open inbox: what it shows, and the events that bring it up to date."""

    def __init__(self, request: Request, user: User, scope: str, show: str) -> None:
        self.request = request
        self.user = user
        self.scope = scope
        self.show = show
        self.shown: dict[str, Shown] = {}

    async def read(self) -> tuple[list[cards.Card], str, datetime]:
        now = utcnow()
        where = cards.filtered(queries.inbox_filter(self.scope), self.show, now)
        async with self.request.app.state.sessionmaker() as session:
            listed, _cursor = await cards.inbox_cards(session, where, now)
            counted = await queries.counters(session, self.user.principal, self.scope, now)
        counters = fragment("_counters.html", counters=counted, scope=self.scope)
        return listed, counters, now

    def card_event(self, card: cards.Card, pos: int, now: datetime, was: list[str]) -> str:
        html = fragment(
            "_card.html", card=card, now=now, scope=self.scope, **card_context(self.user)
        )
        data = {"was": was, "ids": card.ids, "version": card.version, "pos": pos, "html": html}
        return event("card", data)

    async def start(self, since: datetime) -> list[str]:
        """The first events: what closed and what changed since the page was rendered."""
        listed, counters, now = await self.read()
        self.shown = {c.key: Shown(c.ids, c.version) for c in listed}
        out = [event("sync", {"open": [i for c in listed for i in c.ids]})]
        for pos, card in enumerate(listed):
            if max(i.last_at for i in card.items) > since or _changed_after(card, since):
                out.append(self.card_event(card, pos, now, card.ids))
        out.append(event("counters", {"html": counters}))
        return out

    async def update(self) -> list[str]:
        listed, counters, now = await self.read()
        out = []
        current = {c.key: c for c in listed}
        for pos, card in enumerate(listed):
            before = self.shown.get(card.key)
            if before is None or before.version != card.version or before.ids != card.ids:
                out.append(self.card_event(card, pos, now, before.ids if before else []))
        for key, before in self.shown.items():
            if key not in current:
                out.append(event("gone", {"was": before.ids}))
        self.shown = {c.key: Shown(c.ids, c.version) for c in listed}
        if out:
            out.append(event("counters", {"html": counters}))
        return out


def _changed_after(card: cards.Card, since: datetime) -> bool:
    """Whether an item of the card was opened after the page was rendered (a new card)."""
    return any(i.opened_at > since for i in card.items)


async def _still_signed_in(request: Request, settings: SettingsDep, secret: str) -> bool:
    try:
        await session_principal(request, settings, secret)
    except SignInRequired:
        return False
    return True


async def _events(
    request: Request, settings: SettingsDep, secret: str, stream: InboxStream, since: datetime
) -> AsyncIterator[str]:
    yield f"retry: {RETRY_MS}\n\n"
    for chunk in await stream.start(since):
        yield chunk
    sent_at = time.monotonic()
    quiet = 0
    with FEED.listening() as wake:
        while True:
            woken = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), RECHECK_S)
                woken = True
            if woken:
                await asyncio.sleep(SETTLE_S)
            wake.clear()
            if await request.is_disconnected():
                return
            if not await _still_signed_in(request, settings, secret):
                yield event("end", {"reason": "signed out"})
                return
            quiet = 0 if woken else quiet + 1
            chunks = await stream.update() if woken or quiet >= RECHECK_EVERY else []
            if quiet >= RECHECK_EVERY:
                quiet = 0
            for chunk in chunks:
                yield chunk
            if chunks:
                sent_at = time.monotonic()
            elif time.monotonic() - sent_at >= HEARTBEAT_S:
                yield ": ping\n\n"
                sent_at = time.monotonic()


def _user_key(user: User) -> str:
    who = user.principal
    return who.token_id or who.manager_id or who.role.value


SinceParam = Annotated[int | None, Query(ge=0, le=10**14)]


@router.get("/inbox/live")
async def inbox_live(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    manager: ScopeParam = None,
    show: ShowParam = None,
    since: SinceParam = None,
) -> Response:
    if not sees_inbox(user):
        raise forbidden(_("your role has no inbox"))
    scope = await resolve(session, user, manager)
    await session.close()  # the stream reads with its own short sessions
    now = utcnow()
    show = show if show in {value for value, _label in cards.FILTERS} else ""
    secret = secret_of(request)
    if secret is None:
        raise SignInRequired()
    key = _user_key(user)
    if FEED.streams(key) >= FEED.max_per_user:
        raise Problem(429, _("Too many open pages"), _("close another tab of the inbox first"))
    stream = InboxStream(request, user, scope, show)

    async def body() -> AsyncIterator[str]:
        # Counted inside the stream, so a stream that never starts holds no place.
        if not FEED.admit(key):
            yield event("end", {"reason": "too many open pages"})
            return
        try:
            async for chunk in _events(request, settings, secret, stream, _since(since, now)):
                yield chunk
        finally:
            FEED.release(key)

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"X-Accel-Buffering": "no"},
    )
