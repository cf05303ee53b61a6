"""The admin area's contact fields: extra fields of contacts and companies (text, number, date,
choice), renamed, reordered, their choices changed, retired (the values stay) and brought
back. Operators fill them in on a contact's page (`field_routes`). Registered on
`routes.router`; the units of work are the API's (`directory.fields`)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.core import SessionDep, invalid
from crm_store.directory import ContactFieldIn, ContactFieldPatch, fields
from crm_store.web.admin import admin_view, changer, done, field_errors, reader
from crm_store.web.forms import FormDep
from crm_store.web.i18n import N_, _
from crm_store.web.render import page
from crm_store.web.routes import Id, router
from crm_store.web.session import CurrentUser, PostingUser, User
from switchboard_shared.problems import Problem

NOTICES = {"added": N_("The field was added."), "saved": N_("The field was saved.")}


def type_options() -> list[tuple[str, str]]:
    return [
        (fields.FieldType.TEXT.value, _("Text")),
        (fields.FieldType.NUMBER.value, _("Number")),
        (fields.FieldType.DATE.value, _("Date")),
        (fields.FieldType.CHOICE.value, _("Choice")),
    ]


def entity_options() -> list[tuple[str, str]]:
    return [("contact", _("Contacts")), ("company", _("Companies"))]


def _choices(text: str) -> list[str]:
    return [c.strip() for c in text.replace("\n", ",").split(",") if c.strip()]


def _length(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit():
        raise invalid("max_length", _("enter a whole number"))
    return int(text)


async def _fields_page(
    session: AsyncSession, user: User, *, status: int = 200, **context: Any
) -> Response:
    rows = await fields.FieldRepository(session).list_fields()
    context.setdefault("failed", "")
    context.setdefault("notice", None)
    return page(
        "admin_fields.html",
        status=status,
        **admin_view(
            user,
            "/admin/fields",
            fields=rows,
            types=type_options(),
            entities=entity_options(),
            **context,
        ),
    )


@router.get("/admin/fields")
async def fields_page(
    request: Request, session: SessionDep, user: CurrentUser, notice: str | None = None
) -> Response:
    reader(user)
    return await _fields_page(session, user, notice=_(NOTICES.get(notice or "", "")) or None)


async def _refused(
    session: AsyncSession,
    user: User,
    exc: Problem | ValidationError,
    form: dict[str, str],
    failed: str,
) -> Response:
    await session.rollback()
    status = exc.status if isinstance(exc, Problem) else 422
    return await _fields_page(
        session, user, status=status, errors=field_errors(exc), values=form, failed=failed
    )


@router.post("/admin/fields")
async def add_field(
    request: Request, session: SessionDep, user: PostingUser, form: FormDep
) -> Response:
    changer(user)
    try:
        body = ContactFieldIn.model_validate(
            {
                "entity": form.get("entity", ""),
                "key": form.get("key", "").strip(),
                "label": form.get("label", ""),
                "type": form.get("type", ""),
                "choices": _choices(form.get("choices", "")),
                "max_length": _length(form.get("max_length", "")),
            }
        )
        await fields.add_field(
            session,
            entity=fields.FieldEntity(body.entity),
            key=body.key,
            label=body.label,
            field_type=fields.FieldType(body.type),
            choices=body.choices,
            max_length=body.max_length,
            position=None,
            who=user.principal,
        )
    except (Problem, ValidationError) as exc:
        return await _refused(session, user, exc, form, "new")
    await session.commit()
    return done("/admin/fields", "added")


@router.post("/admin/fields/{field_id}")
async def edit_field(
    request: Request, field_id: Id, session: SessionDep, user: PostingUser, form: FormDep
) -> Response:
    """Save the label, choices, length and place; or retire it or bring it back."""
    changer(user)
    action = form.get("action", "save")
    try:
        row = await fields.FieldRepository(session).get_field(field_id)
        if row is None:
            raise Problem(404, "Not found", _("no such field"))
        changes: dict[str, Any]
        if action in ("retire", "restore"):
            changes = {"active": action == "restore"}
        else:
            position = form.get("position", "").strip()
            if position and not position.isdigit():
                raise invalid("position", _("enter a whole number"))
            changes = {"label": form.get("label", "")}
            if position:
                changes["position"] = int(position)
            if row.type == fields.FieldType.CHOICE:
                changes["choices"] = _choices(form.get("choices", ""))
            if row.type == fields.FieldType.TEXT:
                changes["max_length"] = _length(form.get("max_length", ""))
            changes = ContactFieldPatch.model_validate(changes).model_dump(exclude_unset=True)
        await fields.change_field(session, field_id, changes, user.principal)
    except (Problem, ValidationError) as exc:
        return await _refused(session, user, exc, form, field_id)
    await session.commit()
    return done("/admin/fields", "saved")
