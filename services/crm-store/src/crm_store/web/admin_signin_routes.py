"""The administrator's sign-in tools for one person: whether they have a password, an open
invitation or reset link, or a lock-out, and the two actions (send an invitation, reset the
password). The actions show the new link once, to be handed to the person; they share their
unit of work with the API (`POST /api/v1/managers/{id}/invitation`, `.../password-reset`) and
the same role rules (administrators act, supervisors read, everyone else gets the refusal
page). `_admin_signin_actions.html` puts the two buttons on any page that lists people.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from crm_store.core import SessionDep, SettingsDep, allowed, utcnow
from crm_store.people import PeopleRepository, credentials, lockout
from crm_store.web.admin import admin_view
from crm_store.web.i18n import _
from crm_store.web.render import page
from crm_store.web.routes import Id, forbidden, router
from crm_store.web.session import CurrentUser, PostingUser, User
from switchboard_shared.problems import Problem

API = "/api/v1"
READ_PEOPLE = ("GET", f"{API}/managers")
INVITE = ("POST", f"{API}/managers/{{manager_id}}/invitation")
RESET = ("POST", f"{API}/managers/{{manager_id}}/password-reset")
SECTION = "/admin/people"


def may(user: User, route: tuple[str, str]) -> bool:
    return allowed(route[0], route[1], user.role)


def may_manage_sign_in(user: User) -> bool:
    return may(user, INVITE) and may(user, RESET)


@router.get("/admin/people/{manager_id}/sign-in")
async def sign_in_state(
    request: Request, session: SessionDep, user: CurrentUser, manager_id: Id
) -> Response:
    if not may(user, READ_PEOPLE):
        raise forbidden(_("the administration is for administrators and supervisors"))
    manager = await PeopleRepository(session).get_manager(manager_id)
    if manager is None:
        raise Problem(404, _("Not found"), _("no such person"))
    now = utcnow()
    return page(
        "admin_signin.html",
        **admin_view(
            user,
            SECTION,
            manager=manager,
            pending=await credentials.pending_link(session, manager.id, now),
            locked_until=await lockout.locked_until(
                session, [lockout.account_key(manager.email)], now
            ),
            may_act=may_manage_sign_in(user),
            issued=None,
        ),
    )


async def _issue(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: User,
    manager_id: str,
    purpose: credentials.Purpose,
) -> Response:
    if not may_manage_sign_in(user):
        raise forbidden(_("only an administrator sends invitations and resets passwords"))
    issued = await credentials.issue_link(
        session,
        manager_id,
        purpose,
        credentials.lifetime(
            purpose, invitation_h=settings.invitation_h, reset_h=settings.reset_link_h
        ),
        user.principal,
        utcnow(),
    )
    await session.commit()
    manager = await PeopleRepository(session).get_manager(manager_id)
    base = settings.public_url or str(request.base_url)
    return page(
        "admin_signin.html",
        **admin_view(
            user,
            SECTION,
            manager=manager,
            pending=issued.link,
            locked_until=None,
            may_act=True,
            issued={
                "purpose": purpose,
                "url": credentials.link_url(base, issued.secret),
                "expires_at": issued.link.expires_at,
            },
        ),
    )


@router.post("/admin/people/{manager_id}/invitation")
async def invite(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PostingUser,
    manager_id: Id,
) -> Response:
    return await _issue(request, session, settings, user, manager_id, "invitation")


@router.post("/admin/people/{manager_id}/password-reset")
async def reset_password(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PostingUser,
    manager_id: Id,
) -> Response:
    return await _issue(request, session, settings, user, manager_id, "reset")
