"""The admin area's presets: created, renamed (a label per locale), moved up or down, retired
and brought back (never deleted: the history keeps its labels); which close an activity, and
which kinds and channels they fit. A change shows on the managers' cards at their next page
load. Registered on `routes.router`; the units of work are the API's (`activities.presets`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.activities import ActivityRepository, PresetIn, PresetPatch, presets
from crm_store.core import SessionDep
from crm_store.web.admin import admin_view, changer, done, field_errors, reader
from crm_store.web.forms import FormDep, checked
from crm_store.web.i18n import N_, _
from crm_store.web.render import page
from crm_store.web.routes import router
from crm_store.web.session import CurrentUser, PostingUser, User
from switchboard_shared.events import ActivityKind, InteractionKind
from switchboard_shared.problems import Problem

Code = Annotated[str, Path(min_length=1, max_length=64)]
NOTICES = {
    "added": N_("The preset was added; the cards offer it from their next load."),
    "saved": N_("The preset was saved."),
    "moved": N_("The order was saved."),
}
LOCALE_NAMES = {
    "pl": "Polish",
    "lv": "Latvian",
    "lt": "Lithuanian",
    "ms": "Malay",
    "ta": "Tamil",
}


def kind_options() -> list[tuple[str, str]]:
    return [
        (ActivityKind.CALLBACK.value, _("Call back")),
        (ActivityKind.LOG_OUTCOME.value, _("Log the outcome")),
        (ActivityKind.REPLY.value, _("Reply")),
        (ActivityKind.IDENTIFY_CONTACT.value, _("Who is this?")),
    ]


def channel_options() -> list[tuple[str, str]]:
    return [(InteractionKind.CALL.value, _("Calls")), (InteractionKind.MAIL.value, _("E-mails"))]


def _values(form: dict[str, str]) -> dict[str, Any]:
    """A preset form as the API's body: the English label, the others per locale, the kinds,
    channels and whether it closes, each a checkbox of its own."""
    return {
        "label": form.get("label", ""),
        "labels": {loc: form.get(f"label_{loc}", "") for loc in LOCALE_NAMES},
        "kinds": [k for k, _label in kind_options() if checked(form, f"kind_{k}")],
        "channels": [c for c, _label in channel_options() if checked(form, f"channel_{c}")],
        "closes": checked(form, "closes"),
    }


async def _presets_page(
    session: AsyncSession, user: User, *, status: int = 200, **context: Any
) -> Response:
    rows = await ActivityRepository(session).list_presets(include_inactive=True)
    context.setdefault("failed", "")
    context.setdefault("notice", None)
    return page(
        "admin_presets.html",
        status=status,
        **admin_view(
            user,
            "/admin/presets",
            presets=rows,
            kinds=kind_options(),
            channels=channel_options(),
            locales=[(code, _(name)) for code, name in LOCALE_NAMES.items()],
            **context,
        ),
    )


@router.get("/admin/presets")
async def presets_page(
    request: Request, session: SessionDep, user: CurrentUser, notice: str | None = None
) -> Response:
    reader(user)
    return await _presets_page(session, user, notice=_(NOTICES.get(notice or "", "")) or None)


async def _refused(
    session: AsyncSession,
    user: User,
    exc: Problem | ValidationError,
    form: dict[str, str],
    failed: str,
) -> Response:
    await session.rollback()
    status = exc.status if isinstance(exc, Problem) else 422
    errors = field_errors(exc)
    return await _presets_page(
        session, user, status=status, errors=errors, values=form, failed=failed
    )


@router.post("/admin/presets")
async def add_preset(
    request: Request, session: SessionDep, user: PostingUser, form: FormDep
) -> Response:
    changer(user)
    values = {"code": form.get("code", "").strip(), **_values(form)}
    try:
        body = PresetIn.model_validate(values)
        await presets.add_preset(session, body.model_dump(mode="json"), user.principal)
    except (Problem, ValidationError) as exc:
        return await _refused(session, user, exc, form, "new")
    await session.commit()
    return done("/admin/presets", "added")


@router.post("/admin/presets/{code}")
async def edit_preset(
    request: Request, code: Code, session: SessionDep, user: PostingUser, form: FormDep
) -> Response:
    """Save the form, or (a button of its own) retire or bring the preset back."""
    changer(user)
    action = form.get("action", "save")
    try:
        if action in ("retire", "restore"):
            changes: dict[str, Any] = {"active": action == "restore"}
        else:
            changes = PresetPatch.model_validate(_values(form)).model_dump(mode="json")
        await presets.change_preset(session, code, changes, user.principal)
    except (Problem, ValidationError) as exc:
        return await _refused(session, user, exc, form, code)
    await session.commit()
    return done("/admin/presets", "saved")


@router.post("/admin/presets/{code}/move")
async def move_preset(
    request: Request, code: Code, session: SessionDep, user: PostingUser, form: FormDep
) -> Response:
    changer(user)
    step = -1 if form.get("direction") == "up" else 1
    await presets.move_preset(session, code, step, user.principal)
    await session.commit()
    return done("/admin/presets", "moved")
