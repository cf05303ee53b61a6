"""The administrator's extra fields of contacts and companies (a birthday, interests, a decision
style): defined, renamed, reordered and retired here, and the values a contact or a company
carries (`fields: {key: value}`) checked against them as the built-in fields are: the type, the
choices, the length. A retired field can no longer be filled in, but the values stored on the
rows stay and are still shown. Units of work stage changes and audit entries; the caller
commits.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.core import ContactField, Principal, Store, audit_entry, invalid, utcnow
from switchboard_shared.problems import Problem

MAX_TEXT = 2000
DEFAULT_TEXT = 500
MAX_CHOICES = 50
MAX_FIELDS = 100
KEY_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"


class FieldType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    CHOICE = "choice"


class FieldEntity(StrEnum):
    CONTACT = "contact"
    COMPANY = "company"


class FieldRepository(Store):
    async def list_fields(
        self, entity: str | None = None, *, include_retired: bool = True
    ) -> list[ContactField]:
        statement = select(ContactField).order_by(
            ContactField.entity, ContactField.position, ContactField.key
        )
        if entity is not None:
            statement = statement.where(ContactField.entity == entity)
        if not include_retired:
            statement = statement.where(ContactField.active.is_(True))
        return list((await self.session.execute(statement)).scalars())

    async def get_field(self, field_id: str) -> ContactField | None:
        return await self.session.get(ContactField, field_id)

    async def add_field(self, row: ContactField) -> bool:
        """False when the entity has a field of that key (retired ones too)."""
        return await self._add_unless_conflict(row)


def _value_error(key: str, message: str) -> Problem:
    return invalid(f"fields.{key}", message)


def check_value(definition: ContactField, value: Any) -> Any:
    """The value as stored, or a 422 naming `fields.<key>`."""
    key = definition.key
    match definition.type:
        case FieldType.TEXT:
            if not isinstance(value, str):
                raise _value_error(key, "must be text")
            text = value.strip()
            limit = definition.max_length or DEFAULT_TEXT
            if len(text) > limit:
                raise _value_error(key, f"is longer than {limit} characters")
            return text
        case FieldType.NUMBER:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise _value_error(key, "must be a number")
            if not math.isfinite(value) or abs(value) > 1e15:
                raise _value_error(key, "is not a number this field takes")
            return value
        case FieldType.DATE:
            if not isinstance(value, str) or len(value) != 10:
                raise _value_error(key, "must be a date (YYYY-MM-DD)")
            try:
                return date.fromisoformat(value).isoformat()
            except ValueError as exc:
                raise _value_error(key, "must be a date (YYYY-MM-DD)") from exc
        case FieldType.CHOICE:
            if not isinstance(value, str) or value not in definition.choices:
                raise _value_error(key, f"must be one of: {', '.join(definition.choices)}")
            return value
    raise _value_error(key, "has an unknown type")  # pragma: no cover - types are checked on save


async def merged_values(
    session: AsyncSession,
    entity: FieldEntity,
    current: Mapping[str, Any],
    given: Mapping[str, Any],
) -> dict[str, Any]:
    """The row's values after applying `given`: each key replaced, null (or "") removes it.
    Unknown and retired fields are refused; values of retired fields already stored stay."""
    definitions = {f.key: f for f in await FieldRepository(session).list_fields(entity.value)}
    out = dict(current)
    for key, value in given.items():
        definition = definitions.get(key)
        if definition is None:
            raise _value_error(key, "no such field")
        if not definition.active:
            raise _value_error(key, "this field is retired")
        if value is None or value == "":
            out.pop(key, None)
        else:
            out[key] = check_value(definition, value)
    return out


# -- definitions --------------------------------------------------------------------------------


def _checked_definition(
    field_type: str, choices: list[str], max_length: int | None
) -> tuple[list[str], int | None]:
    if field_type == FieldType.CHOICE:
        cleaned = list(dict.fromkeys(c.strip() for c in choices if c.strip()))
        if not cleaned:
            raise invalid("choices", "a choice field needs at least one choice")
        if len(cleaned) > MAX_CHOICES:
            raise invalid("choices", f"at most {MAX_CHOICES} choices")
        if any(len(c) > 200 for c in cleaned):
            raise invalid("choices", "a choice is longer than 200 characters")
        return cleaned, None
    if choices:
        raise invalid("choices", "only a choice field has choices")
    if field_type == FieldType.TEXT:
        if max_length is not None and not 1 <= max_length <= MAX_TEXT:
            raise invalid("max_length", f"between 1 and {MAX_TEXT}")
        return [], max_length
    if max_length is not None:
        raise invalid("max_length", "only a text field has a length")
    return [], None


async def add_field(
    session: AsyncSession,
    *,
    entity: FieldEntity,
    key: str,
    label: str,
    field_type: FieldType,
    choices: list[str],
    max_length: int | None,
    position: int | None,
    who: Principal,
) -> ContactField:
    repo = FieldRepository(session)
    existing = await repo.list_fields(entity.value)
    if len(existing) >= MAX_FIELDS:
        raise Problem(409, "Conflict", f"at most {MAX_FIELDS} fields per record type")
    checked_choices, checked_length = _checked_definition(field_type, choices, max_length)
    row = ContactField(
        id=str(uuid.uuid4()),
        entity=entity.value,
        key=key,
        label=label,
        type=field_type.value,
        choices=checked_choices,
        max_length=checked_length,
        position=position if position is not None else 10 * (len(existing) + 1),
        active=True,
        created_at=utcnow(),
    )
    if not await repo.add_field(row):
        raise invalid("key", f"the {entity.value}s have a field {key!r} already")
    await repo.audit(
        [
            audit_entry(
                who,
                "created",
                "contact_field",
                row.id,
                record_type=row.entity,
                key=row.key,
                label=row.label,
                type=row.type,
                choices=row.choices,
                max_length=row.max_length,
            )
        ]
    )
    return row


async def change_field(
    session: AsyncSession, field_id: str, changes: dict[str, Any], who: Principal
) -> ContactField:
    """Rename, reorder, change the choices or the length, retire or bring back. The key and the
    type stay: stored values were checked against them."""
    repo = FieldRepository(session)
    row = await repo.get_field(field_id)
    if row is None:
        raise Problem(404, "Not found", f"no contact field {field_id}")
    if "choices" in changes or "max_length" in changes:
        choices, length = _checked_definition(
            row.type, changes.get("choices", row.choices), changes.get("max_length", row.max_length)
        )
        if "choices" in changes:
            changes["choices"] = choices
        if "max_length" in changes:
            changes["max_length"] = length
    before = {name: getattr(row, name) for name in changes}
    for name, value in changes.items():
        setattr(row, name, value)
    await repo.audit(
        [audit_entry(who, "updated", "contact_field", row.id, before=before, after=changes)]
    )
    return row
