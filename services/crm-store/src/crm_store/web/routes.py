"""The managers' page, served by crm-store at `/`: the inbox with one-click presets and the team
view (signing in: `signin_routes`; a contact's timeline and identifying unknown numbers and
addresses: `contact_routes`; all on the same router).

Handlers are edges: read the form, check the role against the API's matrix (`core.ROUTES`,
so the page never allows more than the API), call the same units of work as the API, commit,
render. Ids are the only identifiers in URLs; names, numbers and addresses travel in POST
bodies.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response

from crm_store.activities import domain
from crm_store.core import InvalidCursorError, Role, SessionDep, allowed, utcnow
from crm_store.people import PeopleRepository
from crm_store.web import cards, counts, queries
from crm_store.web.i18n import _
from crm_store.web.render import (
    STATIC_DIR,
    STATIC_TYPES,
    PageRoute,
    page,
)
from crm_store.web.session import CurrentUser, User
from switchboard_shared.problems import Problem

log = logging.getLogger(__name__)

router = APIRouter(route_class=PageRoute, include_in_schema=False)

API = "/api/v1"
SET_STATUS = ("POST", f"{API}/activities/{{activity_id}}/status")
UNDO = ("POST", f"{API}/activities/{{activity_id}}/undo")
MARK_HANDLED = ("POST", f"{API}/activities/mark-handled")
CREATE_CONTACT = ("POST", f"{API}/contacts")
EDIT_CONTACT = ("PATCH", f"{API}/contacts/{{contact_id}}")
READ_TEAM = ("GET", f"{API}/reports/managers")
Id = Annotated[str, Path(min_length=1, max_length=64)]
Cursor = Annotated[str | None, Query(max_length=512)]
ScopeParam = Annotated[str | None, Query(max_length=64)]
ShowParam = Annotated[str | None, Query(max_length=16)]


def may(user: User, route: tuple[str, str]) -> bool:
    return allowed(route[0], route[1], user.role)


def can_identify(user: User) -> bool:
    """Adding a number or address to a contact is editing personal data."""
    return may(user, CREATE_CONTACT) and may(user, EDIT_CONTACT)


def sees_inbox(user: User) -> bool:
    return user.role in domain.ACTIVITY_READERS


def sees_team(user: User) -> bool:
    return user.role in domain.SEES_ALL_ACTIVITIES and may(user, READ_TEAM)


def nav(user: User) -> list[tuple[str, str]]:
    links = []
    if sees_inbox(user):
        links.append(("/", _("Inbox")))
    if sees_team(user):
        links.append(("/team", _("Team")))
    if can_identify(user):
        links.append(("/identify", _("To identify")))
    links.append(("/contacts", _("Contacts")))
    if user.role in (Role.ADMIN, Role.SUPERVISOR):
        links.append(("/admin", _("Admin")))
    return links


def view(user: User, current: str, **context: Any) -> dict[str, Any]:
    return {"user": user, "nav": nav(user), "current": current, **context}


def forbidden(detail: str) -> Problem:
    return Problem(403, _("Not for your role"), detail)


def bad_cursor() -> Problem:
    return Problem(422, _("Invalid request"), _("this page link is not valid; start from the top"))


# -- the inbox -------------------------------------------------------------------------------


async def resolve_scope(session: SessionDep, user: User, asked: str | None) -> str:
    """Whose inbox: a manager's own; supervisors (and admins, viewers) pick any manager,
    `unassigned` or `all` (the default)."""
    if user.role not in domain.SEES_ALL_ACTIVITIES:
        own = user.principal.manager_id
        if own is None or asked not in (None, "", own):
            raise forbidden(_("managers see their own inbox"))
        return own
    if asked in (None, "", queries.ALL):
        return queries.ALL
    if asked == queries.UNASSIGNED:
        return queries.UNASSIGNED
    if await PeopleRepository(session).get_manager(asked) is None:
        raise Problem(404, _("Not found"), _("no such manager"))
    return asked


def scope_query(scope: str, user: User) -> str:
    """The inbox URL's query for a scope (ids only); a manager's inbox has none."""
    if scope == queries.ALL or user.role not in domain.SEES_ALL_ACTIVITIES:
        return ""
    return f"?manager={scope}"


def live_url(scope: str, user: User, show: str, now: datetime) -> str:
    """The inbox's stream of changes (`live`), from the moment the page was rendered."""
    query = {"since": str(int(now.timestamp() * 1000))}
    if scope_query(scope, user):
        query["manager"] = scope
    if show:
        query["show"] = show
    return "/inbox/live?" + urlencode(query)


def may_set(user: User, assignee_id: str | None) -> bool:
    return may(user, SET_STATUS) and domain.can_set_status(user.principal, assignee_id)


@router.get("/")
async def inbox_page(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    manager: ScopeParam = None,
    cursor: Cursor = None,
    show: ShowParam = None,
) -> Response:
    if not sees_inbox(user):
        return RedirectResponse("/identify" if can_identify(user) else "/contacts", 303)
    scope = await resolve_scope(session, user, manager)
    now = utcnow()
    show = show if show in {value for value, _label in cards.FILTERS} else ""
    try:
        where = cards.filtered(queries.inbox_filter(scope), show, now)
        shown, next_cursor = await cards.inbox_cards(session, where, now, cursor=cursor)
    except InvalidCursorError as exc:
        raise bad_cursor() from exc
    return page(
        "inbox.html",
        **view(
            user,
            "/",
            now=now,
            scope=scope,
            cards=shown,
            cursor=cursor,
            next_cursor=next_cursor,
            counters=await queries.counters(session, user.principal, scope, now),
            managers=await queries.active_managers(session) if sees_team(user) else [],
            **{k: v for k, v in card_context(user).items() if k != "user"},
            page_query=scope_query(scope, user),
            live_url=live_url(scope, user, show, now),
            show=show,
            filters=cards.FILTERS,
        ),
    )


def card_context(user: User) -> dict[str, Any]:
    """What rendering a card needs to know about who looks at it."""
    return {
        "user": user,
        "show_assignee": user.role in domain.SEES_ALL_ACTIVITIES,
        "may_set": lambda card: any(may_set(user, i.assignee_id) for i in card.items),
        "can_identify": can_identify(user),
    }


@router.get("/inbox/state")
async def inbox_state(
    session: SessionDep, user: CurrentUser, manager: ScopeParam = None
) -> Response:
    """What the inbox's newest item is now: the page offers to show new items when it changes."""
    if not sees_inbox(user):
        raise forbidden(_("your role has no inbox"))
    scope = await resolve_scope(session, user, manager)
    newest = await queries.newest_open(session, queries.inbox_filter(scope))
    return JSONResponse({"newest": newest})


# -- the team --------------------------------------------------------------------------------


@router.get("/team")
async def team_page(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    if not sees_team(user):
        raise forbidden(_("the team view is for supervisors"))
    now = utcnow()
    opened = await counts.cards_by_assignee(session, now)
    return page(
        "team.html",
        **view(
            user,
            "/team",
            rows=await queries.team(session, user.principal, now),
            unassigned=opened.get(None, counts.CardCounts()),
        ),
    )


# -- static files ----------------------------------------------------------------------------


@router.get("/favicon.ico")
async def favicon() -> Response:
    """Browsers ask for it unprompted; the pages name the same icon in `<link rel="icon">`."""
    return FileResponse(
        STATIC_DIR / "icon.svg",
        media_type=STATIC_TYPES["icon.svg"],
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/static/{name}")
async def static_file(name: Annotated[str, Path(max_length=32)]) -> Response:
    media_type = STATIC_TYPES.get(name)
    if media_type is None:
        raise Problem(404, _("Not found"), _("no such file"))
    return FileResponse(
        STATIC_DIR / name,
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )
