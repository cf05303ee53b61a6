"""The admin area's frame: who may enter (administrators change, supervisors read, everyone
else gets a refusal page), its sections (`_admin_nav.html`), the index with a summary of each
section, and how a form's errors come back next to their fields. Each section is its own
module (`admin_<section>_routes.py`) on `routes.router`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.core import (
    ApiToken,
    ContactField,
    Manager,
    PlanTarget,
    Preset,
    Role,
    SessionDep,
    utcnow,
)
from crm_store.web.i18n import _
from crm_store.web.render import page
from crm_store.web.routes import forbidden, router, view
from crm_store.web.session import CurrentUser, User
from switchboard_shared.problems import Problem

READERS = frozenset({Role.ADMIN, Role.SUPERVISOR})
FORM_ERROR = "_form"


@dataclass(frozen=True)
class Section:
    href: str
    title: str
    summary: str


def sections() -> list[Section]:
    return [
        Section("/admin/people", _("People"), _("Managers, their tokens, and who takes over")),
        Section("/admin/presets", _("Presets"), _("The statuses a card offers")),
        Section("/admin/plan", _("Plan targets"), _("Goals per manager and period")),
        Section("/admin/fields", _("Contact fields"), _("Extra fields of contacts and companies")),
        Section(
            "/admin/settings/classification",
            _("Classification"),
            _("What closes by itself: short calls, wrong and service numbers"),
        ),
        Section(
            "/admin/settings/outcomes",
            _("Outcomes"),
            _("When a conversation asks for an outcome"),
        ),
        Section(
            "/admin/settings/telephony",
            _("Telephony"),
            _("Our numbers, extensions and the default region"),
        ),
    ]


def may_read(user: User) -> bool:
    return user.role in READERS


def may_change(user: User) -> bool:
    return user.role is Role.ADMIN


def reader(user: User) -> User:
    if not may_read(user):
        raise forbidden(_("the admin area is for administrators and supervisors"))
    return user


def changer(user: User) -> User:
    if not may_change(user):
        raise forbidden(_("only administrators change the settings"))
    return user


def admin_view(user: User, section: str, **context: Any) -> dict[str, Any]:
    return view(
        user,
        "/admin",
        sections=sections(),
        section=section,
        may_change=may_change(user),
        errors=context.pop("errors", {}),
        values=context.pop("values", {}),
        notice=context.pop("notice", None),
        failed=context.pop("failed", ""),
        **context,
    )


def field_errors(exc: Problem | ValidationError, default: str = FORM_ERROR) -> dict[str, str]:
    """A service's or a body's refusal as messages per form field."""
    if isinstance(exc, ValidationError):
        out: dict[str, str] = {}
        for error in exc.errors():
            loc = [str(p) for p in error.get("loc", ()) if not isinstance(p, int)]
            name = ".".join(loc) or default
            out.setdefault(name, str(error.get("msg", "")).removeprefix("Value error, "))
        return out
    errors = exc.extra.get("errors")
    if isinstance(errors, list) and errors:
        return {str(e.get("field", default)): str(e.get("message", "")) for e in errors}
    field = exc.extra.get("field")
    return {str(field) if field else default: exc.detail or exc.title}


def done(href: str, notice: str) -> Response:
    """After a change: back to the section (a reload does not post again)."""
    return RedirectResponse(f"{href}?notice={notice}", status_code=303)


def notice_text(notice: str | None, texts: Mapping[str, str]) -> str | None:
    return texts.get(notice or "")


async def _count(session: AsyncSession, statement: Any) -> int:
    return int((await session.execute(statement)).scalar_one())


async def summary(session: AsyncSession) -> dict[str, dict[str, int]]:
    now = utcnow()
    c = func.count()
    return {
        "/admin/people": {
            "active": await _count(session, select(c).where(Manager.active.is_(True))),
            "inactive": await _count(session, select(c).where(Manager.active.is_(False))),
            "tokens": await _count(
                session,
                select(c)
                .select_from(ApiToken)
                .where(ApiToken.revoked_at.is_(None))
                .where((ApiToken.expires_at.is_(None)) | (ApiToken.expires_at > now)),
            ),
        },
        "/admin/presets": {
            "active": await _count(session, select(c).where(Preset.active.is_(True))),
            "inactive": await _count(session, select(c).where(Preset.active.is_(False))),
        },
        "/admin/plan": {
            "active": await _count(
                session,
                select(c).where(PlanTarget.period_start <= now, PlanTarget.period_end > now),
            ),
        },
        "/admin/fields": {
            "active": await _count(session, select(c).where(ContactField.active.is_(True))),
            "inactive": await _count(session, select(c).where(ContactField.active.is_(False))),
        },
    }


@router.get("/admin")
async def admin_index(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    reader(user)
    return page("admin_index.html", **admin_view(user, "", counts=await summary(session)))
