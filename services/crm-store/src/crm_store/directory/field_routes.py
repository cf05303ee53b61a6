"""`/api/v1/contact-fields`: the extra fields an administrator defines for contacts and
companies. Everyone reads them (the page and the API show the values); administrators define,
change and retire them. Nothing is deleted: a retired field's stored values stay."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query, status

from crm_store.core import Authorized, ContactField, SessionDep, feature_router
from crm_store.directory import fields
from crm_store.directory.schemas import ContactFieldIn, ContactFieldOut, ContactFieldPatch

router = feature_router()


@router.get("/contact-fields", response_model=list[ContactFieldOut], tags=["contact fields"])
async def list_contact_fields(
    session: SessionDep,
    who: Authorized,
    entity: Annotated[Literal["contact", "company"] | None, Query()] = None,
    include_retired: bool = False,
) -> list[ContactField]:
    return await fields.FieldRepository(session).list_fields(
        entity, include_retired=include_retired
    )


@router.post(
    "/contact-fields",
    response_model=ContactFieldOut,
    status_code=status.HTTP_201_CREATED,
    tags=["contact fields"],
)
async def create_contact_field(
    body: ContactFieldIn, session: SessionDep, who: Authorized
) -> ContactField:
    row = await fields.add_field(
        session,
        entity=fields.FieldEntity(body.entity),
        key=body.key,
        label=body.label,
        field_type=fields.FieldType(body.type),
        choices=body.choices,
        max_length=body.max_length,
        position=body.position,
        who=who,
    )
    await session.commit()
    return row


@router.patch("/contact-fields/{field_id}", response_model=ContactFieldOut, tags=["contact fields"])
async def update_contact_field(
    field_id: str, body: ContactFieldPatch, session: SessionDep, who: Authorized
) -> ContactField:
    """Rename, reorder, change choices or length; `active: false` retires the field (its
    stored values stay and are still shown; no new value can be set)."""
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    row = await fields.change_field(session, field_id, changes, who)
    await session.commit()
    return row
