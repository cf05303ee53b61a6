"""The admin area's people: managers (name, e-mail addresses, extensions, numbers, role), their
tokens (issued with the secret shown once, listed with their last use, revoked) and a manager
who leaves (one step: deactivated, and everything they look after handed to a colleague).
Registered on `routes.router`; the units of work are the API's (`crm_store.people`)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.core import (
    AccessRepository,
    Activity,
    Company,
    Contact,
    Manager,
    PlanTarget,
    Role,
    SessionDep,
    SettingsDep,
    invalid,
    utcnow,
)
from crm_store.people import (
    ManagerIn,
    ManagerPatch,
    PeopleRepository,
    TokenIn,
    hand_over,
    service,
)
from crm_store.web.admin import admin_view, changer, done, field_errors, reader
from crm_store.web.forms import FormDep, checked
from crm_store.web.i18n import N_, _
from crm_store.web.render import page
from crm_store.web.routes import Id, router
from crm_store.web.session import ROLE_NAMES, CurrentUser, PostingUser, User
from switchboard_shared.problems import Problem

NOTICES = {
    "added": N_("The manager was added."),
    "saved": N_("The changes were saved."),
    "revoked": N_("The token was revoked; its sessions ended."),
    "handed": N_("Deactivated; everything was handed over."),
    "reactivated": N_("Reactivated: issue a new token to let them sign in."),
}


def _list(text: str) -> list[str]:
    """A comma- or line-separated form field as a list, blanks dropped."""
    return [p.strip() for p in text.replace("\n", ",").split(",") if p.strip()]


def _roles() -> list[tuple[str, str]]:
    return [(role.value, _(ROLE_NAMES[role])) for role in Role]


async def _people_page(
    session: AsyncSession, user: User, *, status: int = 200, **context: Any
) -> Response:
    managers = await PeopleRepository(session).list_managers()
    return page(
        "admin_people.html",
        status=status,
        **admin_view(user, "/admin/people", managers=managers, roles=_roles(), **context),
    )


@router.get("/admin/people")
async def people_page(
    request: Request, session: SessionDep, user: CurrentUser, notice: str | None = None
) -> Response:
    reader(user)
    return await _people_page(session, user, notice=_(NOTICES.get(notice or "", "")) or None)


@router.post("/admin/people")
async def add_person(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PostingUser,
    form: FormDep,
) -> Response:
    changer(user)
    try:
        body = ManagerIn(
            name=form.get("name", ""),
            email=form.get("email", "").strip(),
            aliases=_list(form.get("aliases", "")),
            extensions=_list(form.get("extensions", "")),
            phones=_list(form.get("phones", "")),
            role=form.get("role") or Role.MANAGER.value,  # type: ignore[arg-type]
        )
        manager = await service.add_manager(
            session, body, settings.common.default_region, user.principal
        )
    except (Problem, ValidationError) as exc:
        await session.rollback()
        status = exc.status if isinstance(exc, Problem) else 422
        return await _people_page(
            session, user, status=status, errors=field_errors(exc), values=form, notice=None
        )
    await session.commit()
    return done(f"/admin/people/{manager.id}", "added")


# -- one manager ------------------------------------------------------------------------------


async def _handover_counts(session: AsyncSession, manager_id: str) -> dict[str, int]:
    """What a hand-over would move now."""
    now = utcnow()

    async def count(model: Any, *where: Any) -> int:
        return int(
            (
                await session.execute(select(func.count()).select_from(model).where(*where))
            ).scalar_one()
        )

    return {
        "contacts": await count(Contact, Contact.owner_id == manager_id),
        "companies": await count(Company, Company.owner_id == manager_id),
        "activities": await count(
            Activity, Activity.assignee_id == manager_id, Activity.state == "open"
        ),
        "plan_targets": await count(
            PlanTarget, PlanTarget.manager_id == manager_id, PlanTarget.period_end > now
        ),
    }


async def _person_page(
    session: AsyncSession,
    user: User,
    manager_id: str,
    *,
    status: int = 200,
    **context: Any,
) -> Response:
    people = PeopleRepository(session)
    manager = await people.get_manager(manager_id)
    if manager is None:
        raise Problem(404, "Not found", _("no such manager"))
    now = utcnow()
    tokens = [
        {"row": v.token, "state": v.state(now)}
        for v in await AccessRepository(session).list_tokens(manager_id=manager_id)
    ]
    colleagues = [
        (m.id, m.name) for m in await people.list_managers(active_only=True) if m.id != manager_id
    ]
    context.setdefault("errors", {})
    context.setdefault("values", {})
    context.setdefault("failed", "")
    context.setdefault("notice", None)
    context.setdefault("secret", None)
    return page(
        "admin_person.html",
        status=status,
        **admin_view(
            user,
            "/admin/people",
            manager=manager,
            tokens=tokens,
            colleagues=colleagues,
            roles=_roles(),
            handover=await _handover_counts(session, manager_id),
            **context,
        ),
    )


@router.get("/admin/people/{manager_id}")
async def person_page(
    request: Request,
    manager_id: Id,
    session: SessionDep,
    user: CurrentUser,
    notice: str | None = None,
) -> Response:
    reader(user)
    return await _person_page(
        session, user, manager_id, notice=_(NOTICES.get(notice or "", "")) or None
    )


async def _refused(
    session: AsyncSession,
    user: User,
    manager_id: str,
    exc: Problem | ValidationError,
    form: dict[str, str],
    failed: str,
) -> Response:
    await session.rollback()
    status = exc.status if isinstance(exc, Problem) else 422
    return await _person_page(
        session,
        user,
        manager_id,
        status=status,
        errors=field_errors(exc),
        values=form,
        failed=failed,
    )


@router.post("/admin/people/{manager_id}")
async def edit_person(
    request: Request,
    manager_id: Id,
    session: SessionDep,
    settings: SettingsDep,
    user: PostingUser,
    form: FormDep,
) -> Response:
    """Name, addresses, extensions, numbers, role; reactivating (deactivating is the hand-over)."""
    changer(user)
    changes: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        "email": form.get("email", "").strip(),
        "aliases": _list(form.get("aliases", "")),
        "extensions": _list(form.get("extensions", "")),
        "phones": _list(form.get("phones", "")),
        "role": form.get("role", ""),
    }
    if checked(form, "reactivate"):
        changes = {"active": True}
    try:
        ManagerPatch.model_validate(changes)
        region = settings.common.default_region
        await service.change_manager(session, manager_id, changes, user.principal, region)
    except (Problem, ValidationError) as exc:
        return await _refused(session, user, manager_id, exc, form, "edit")
    await session.commit()
    return done(f"/admin/people/{manager_id}", "reactivated" if "active" in changes else "saved")


@router.post("/admin/people/{manager_id}/tokens")
async def issue_token(
    request: Request,
    manager_id: Id,
    session: SessionDep,
    user: PostingUser,
    form: FormDep,
) -> Response:
    """A new token: its secret is on this answer only (never in a URL, never stored)."""
    changer(user)
    days = form.get("expires_in_days", "").strip()
    try:
        if days and not days.isdigit():
            raise invalid("expires_in_days", _("a whole number of days"))
        body = TokenIn.model_validate(
            {"manager_id": manager_id, "expires_in_days": int(days) if days else None}
        )
        _row, secret, _role = await service.issue_token(session, body, user.principal)
    except (Problem, ValidationError) as exc:
        return await _refused(session, user, manager_id, exc, form, "token")
    await session.commit()
    return await _person_page(
        session,
        user,
        manager_id,
        secret=secret,
        notice=_("Token issued. Copy it now: it is not shown again."),
    )


@router.post("/admin/people/{manager_id}/tokens/{token_id}/revoke")
async def revoke_token(
    request: Request,
    manager_id: Id,
    token_id: Id,
    session: SessionDep,
    user: PostingUser,
) -> Response:
    changer(user)
    await service.revoke(session, token_id, user.principal)
    await session.commit()
    return done(f"/admin/people/{manager_id}", "revoked")


@router.post("/admin/people/{manager_id}/hand-over")
async def hand_over_person(
    request: Request,
    manager_id: Id,
    session: SessionDep,
    user: PostingUser,
    form: FormDep,
) -> Response:
    """The manager leaves: deactivated, and their contacts, companies, open activities and
    running plan targets go to the colleague chosen (one transaction, audited)."""
    changer(user)
    successor = form.get("successor_id", "").strip()[:64]
    try:
        if not successor:
            raise invalid("successor_id", _("choose the colleague who takes over"))
        if not checked(form, "confirm"):
            raise invalid("confirm", _("tick this to confirm that they leave"))
        await hand_over(session, manager_id, successor, user.principal)
    except Problem as exc:
        return await _refused(session, user, manager_id, exc, form, "handover")
    await session.commit()
    return done(f"/admin/people/{manager_id}", "handed")


def manager_label(manager: Manager) -> str:
    return manager.name if manager.active else _("%(name)s (left)", name=manager.name)
