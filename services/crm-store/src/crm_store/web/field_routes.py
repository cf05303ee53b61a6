"""A contact's extra fields on the page: shown on the contact's card (`shown_fields`) and
filled in by those who edit contacts (operators, administrators) on a form of their own,
checked as the API checks them, with each error next to its field. Registered on
`routes.router`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.core import Contact, ContactField, SessionDep, invalid
from crm_store.directory import (
    Changes,
    DirectoryRepository,
    contact_name,
    fields,
    update_contact,
)
from crm_store.web.admin import field_errors
from crm_store.web.forms import FormDep
from crm_store.web.i18n import _
from crm_store.web.render import page
from crm_store.web.routes import Id, can_identify, forbidden, router, view
from crm_store.web.session import CurrentUser, PostingUser, User
from switchboard_shared.problems import Problem


@dataclass(frozen=True)
class ShownField:
    key: str
    label: str
    value: str


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


async def shown_fields(
    session: AsyncSession, entity: str, values: dict[str, Any]
) -> list[ShownField]:
    """The row's extra fields that have a value, in the administrator's order (retired ones
    too: what was filled in stays)."""
    definitions = await fields.FieldRepository(session).list_fields(entity)
    return [
        ShownField(d.key, d.label, _text(values[d.key]))
        for d in definitions
        if d.key in (values or {})
    ]


async def _contact(session: AsyncSession, contact_id: str) -> Contact:
    contact = await DirectoryRepository(session).get_contact(contact_id)
    if contact is None:
        raise Problem(404, "Not found", _("no such contact"))
    return contact


def _number(text: str, key: str) -> int | float:
    try:
        number = float(text.replace(",", ".").strip())
    except ValueError as exc:
        raise invalid(f"fields.{key}", _("must be a number")) from exc
    return int(number) if number.is_integer() and "." not in text and "," not in text else number


def _given(definitions: list[ContactField], form: dict[str, str]) -> dict[str, Any]:
    given: dict[str, Any] = {}
    for d in definitions:
        name = f"f_{d.key}"
        if name not in form:
            continue
        text = form[name].strip()
        if not text:
            given[d.key] = None
        elif d.type == fields.FieldType.NUMBER:
            given[d.key] = _number(text, d.key)
        else:
            given[d.key] = text[:4000]
    return given


async def _form_page(
    session: AsyncSession, user: User, contact: Contact, *, status: int = 200, **context: Any
) -> Response:
    definitions = await fields.FieldRepository(session).list_fields(
        fields.FieldEntity.CONTACT.value, include_retired=False
    )
    context.setdefault("errors", {})
    context.setdefault("values", {f"f_{k}": _text(v) for k, v in (contact.fields or {}).items()})
    return page(
        "contact_fields.html",
        status=status,
        **view(
            user,
            "/contacts",
            contact=contact,
            contact_label=contact_name(contact) or _("(no name)"),
            definitions=definitions,
            **context,
        ),
    )


@router.get("/contacts/{contact_id}/fields")
async def contact_fields_page(
    request: Request, contact_id: Id, session: SessionDep, user: CurrentUser
) -> Response:
    if not can_identify(user):
        raise forbidden(_("operators fill in contacts' fields"))
    return await _form_page(session, user, await _contact(session, contact_id))


@router.post("/contacts/{contact_id}/fields")
async def save_contact_fields(
    request: Request, contact_id: Id, session: SessionDep, user: PostingUser, form: FormDep
) -> Response:
    if not can_identify(user):
        raise forbidden(_("operators fill in contacts' fields"))
    contact = await _contact(session, contact_id)
    definitions = await fields.FieldRepository(session).list_fields(
        fields.FieldEntity.CONTACT.value, include_retired=False
    )
    try:
        merged = await fields.merged_values(
            session, fields.FieldEntity.CONTACT, contact.fields or {}, _given(definitions, form)
        )
        await update_contact(
            session, contact_id, Changes(fields={"fields": merged}), user.principal
        )
    except Problem as exc:
        await session.rollback()
        errors = {k.removeprefix("fields."): v for k, v in field_errors(exc).items()}
        contact = await _contact(session, contact_id)
        return await _form_page(
            session, user, contact, status=exc.status, errors=errors, values=form
        )
    await session.commit()
    return RedirectResponse(f"/contacts/{contact_id}", status_code=303)
