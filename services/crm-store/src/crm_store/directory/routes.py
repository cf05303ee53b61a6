"""`/api/v1/contacts`, `/api/v1/companies` and the contact-point export. Operators (and admins)
edit personal data; everyone else reads it. DELETE archives; nothing is ever removed."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Query, status
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.core import (
    MAX_PAGE,
    Authorized,
    Company,
    Contact,
    InvalidCursorError,
    Point,
    SessionDep,
    SettingsDep,
    feature_router,
    invalid,
    not_found,
)
from crm_store.directory import delivery, fields, linking, service
from crm_store.directory.records import Changes, contact_name
from crm_store.directory.repository import DirectoryRepository
from crm_store.directory.schemas import (
    CompanyIn,
    CompanyOut,
    CompanyPage,
    CompanyPatch,
    ContactIn,
    ContactOut,
    ContactPage,
    ContactPatch,
    MergeIn,
)
from crm_store.directory.service import CompanyInput, ContactInput
from crm_store.directory.validation import (
    normalised_domains,
    normalised_emails,
    normalised_phones,
)

router = feature_router()
T = TypeVar("T")
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Cursor = Annotated[str | None, Query(max_length=512)]
PROBLEM_409: dict[int | str, dict[str, Any]] = {
    409: {"description": "Possible duplicate: the body lists the `candidates`"}
}


def contact_out(contact: Contact, points: Sequence[Point]) -> ContactOut:
    mine = [p for p in points if p.contact_id == contact.id]
    return ContactOut(
        id=contact.id,
        first_name=contact.first_name,
        last_name=contact.last_name,
        name=contact_name(contact),
        title=contact.title,
        company_id=contact.company_id,
        owner_id=contact.owner_id,
        phones=[p.value for p in mine if p.type == linking.PointType.PHONE],
        emails=[p.value for p in mine if p.type == linking.PointType.EMAIL],
        notes=contact.notes,
        archived_at=contact.archived_at,
        merged_into_id=contact.merged_into_id,
        created_at=contact.created_at,
        updated_at=contact.updated_at,
        preferred_email=delivery.preferred_email(mine),
        undeliverable=delivery.undeliverable_of(mine),
        fields=contact.fields or {},
    )


async def contact_view(repo: DirectoryRepository, contact: Contact) -> ContactOut:
    """Active points; an archived contact shows the points it had."""
    if contact.archived_at is None:
        points = await repo.active_points(contact_ids=[contact.id])
    else:
        latest: dict[str, Point] = {}
        for point in await repo.points_of(contact_ids=[contact.id]):
            latest.setdefault(point.value, point)
        points = list(latest.values())
    return contact_out(contact, points)


async def company_view(repo: DirectoryRepository, company: Company) -> CompanyOut:
    archived = company.archived_at is not None
    domains = await repo.domains_of([company.id], active=not archived)
    if archived:
        points = [p for p in await repo.points_of_company(company.id) if not p.active]
    else:
        points = await repo.active_points(company_ids=[company.id])
    return CompanyOut(
        id=company.id,
        name=company.name,
        domains=list(dict.fromkeys(d.domain for d in domains)),
        phones=list(dict.fromkeys(p.value for p in points if p.type == "phone")),
        emails=list(dict.fromkeys(p.value for p in points if p.type == "email")),
        owner_id=company.owner_id,
        notes=company.notes,
        archived_at=company.archived_at,
        merged_into_id=company.merged_into_id,
        created_at=company.created_at,
        updated_at=company.updated_at,
        undeliverable=delivery.undeliverable_of(points),
        fields=company.fields or {},
    )


async def _saved_contact(session: AsyncSession, contact: Contact) -> ContactOut:
    """Commit the unit of work; the contact as it is now."""
    await session.commit()
    return await contact_view(DirectoryRepository(session), contact)


async def _saved_company(session: AsyncSession, company: Company) -> CompanyOut:
    await session.commit()
    return await company_view(DirectoryRepository(session), company)


_POINT_FIELDS = {"domains", "phones", "emails", "force"}


def _changes(body: ContactPatch | CompanyPatch, region: str) -> Changes:
    """A PATCH body as the service takes it: the plain fields given, and the points (and
    domains) normalised, when given."""
    domains = body.domains if isinstance(body, CompanyPatch) else None
    return Changes(
        fields=body.model_dump(
            exclude_unset=True, exclude={"domains", "phones", "emails", "force"}
        ),
        phones=None if body.phones is None else normalised_phones(body.phones, region),
        emails=None if body.emails is None else normalised_emails(body.emails),
        domains=None if domains is None else normalised_domains(domains),
        force=body.force,
    )


def found(what: str, row_id: str, row: T | None) -> T:
    """The row, or the 404 that names it."""
    if row is None:
        raise not_found(what, row_id)
    return row


def _lookup_values(phone: str | None, email: str | None, region: str) -> list[str] | None:
    """Points to filter by, in every equivalent form; None when no filter was asked."""
    values: set[str] = set()
    if phone is not None:
        value = linking.phone_point(phone, region)
        if value is None:
            raise invalid("phone", "not a valid external phone number")
        values |= linking.point_forms(value)
    if email is not None:
        value = linking.email_point(email)
        if value is None:
            raise invalid("email", "not a valid e-mail address")
        values.add(value)
    return sorted(values) if values else None


# -- contacts -----------------------------------------------------------------------------------


@router.get("/contacts", response_model=ContactPage, tags=["contacts"])
async def list_contacts(
    session: SessionDep,
    settings: SettingsDep,
    who: Authorized,
    phone: Annotated[str | None, Query(max_length=64, description="Any format")] = None,
    email: Annotated[str | None, Query(max_length=320)] = None,
    q: Annotated[str | None, Query(max_length=200, description="Name words")] = None,
    company_id: Annotated[str | None, Query(max_length=64)] = None,
    include_archived: bool = False,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> ContactPage:
    region = settings.common.default_region
    repo = DirectoryRepository(session)
    try:
        rows, next_cursor = await repo.list_contacts(
            point_values=_lookup_values(phone, email, region) or (),
            tokens=linking.search_tokens(q or ""),
            company_id=company_id,
            include_archived=include_archived,
            limit=limit,
            cursor=cursor,
        )
    except InvalidCursorError as exc:
        raise invalid("cursor", str(exc)) from exc
    points = await repo.active_points(contact_ids=[c.id for c in rows])
    return ContactPage(items=[contact_out(c, points) for c in rows], next_cursor=next_cursor)


@router.post(
    "/contacts",
    response_model=ContactOut,
    status_code=status.HTTP_201_CREATED,
    tags=["contacts"],
    responses=PROBLEM_409,
)
async def create_contact(
    body: ContactIn, session: SessionDep, settings: SettingsDep, who: Authorized
) -> ContactOut:
    data = ContactInput(
        first_name=body.first_name,
        last_name=body.last_name,
        title=body.title,
        company_id=body.company_id,
        owner_id=body.owner_id,
        notes=body.notes,
        phones=normalised_phones(body.phones, settings.common.default_region),
        emails=normalised_emails(body.emails),
        fields=await fields.merged_values(session, fields.FieldEntity.CONTACT, {}, body.fields),
    )
    contact = await service.create_contact(session, data, who, force=body.force)
    return await _saved_contact(session, contact)


@router.get("/contacts/{contact_id}", response_model=ContactOut, tags=["contacts"])
async def get_contact(contact_id: str, session: SessionDep, who: Authorized) -> ContactOut:
    repo = DirectoryRepository(session)
    return await contact_view(
        repo, found("contact", contact_id, await repo.get_contact(contact_id))
    )


@router.patch(
    "/contacts/{contact_id}", response_model=ContactOut, tags=["contacts"], responses=PROBLEM_409
)
async def update_contact(
    contact_id: str,
    body: ContactPatch,
    session: SessionDep,
    settings: SettingsDep,
    who: Authorized,
) -> ContactOut:
    changes = _changes(body, settings.common.default_region)
    if body.fields is not None:
        repo = DirectoryRepository(session)
        current = found("contact", contact_id, await repo.get_contact(contact_id)).fields
        entity = fields.FieldEntity.CONTACT
        changes.fields["fields"] = await fields.merged_values(session, entity, current, body.fields)
    contact = await service.update_contact(session, contact_id, changes, who)
    return await _saved_contact(session, contact)


@router.delete("/contacts/{contact_id}", response_model=ContactOut, tags=["contacts"])
async def archive_contact(contact_id: str, session: SessionDep, who: Authorized) -> ContactOut:
    """Archives the contact (nothing is deleted) and releases its numbers and addresses."""
    return await _saved_contact(session, await service.archive_contact(session, contact_id, who))


@router.post("/contacts/{contact_id}/restore", response_model=ContactOut, tags=["contacts"])
async def restore_contact(contact_id: str, session: SessionDep, who: Authorized) -> ContactOut:
    return await _saved_contact(session, await service.restore_contact(session, contact_id, who))


@router.post("/contacts/{contact_id}/merge", response_model=ContactOut, tags=["contacts"])
async def merge_contacts(
    contact_id: str, body: MergeIn, session: SessionDep, who: Authorized
) -> ContactOut:
    """Moves the `from` contacts' points, interactions and activities here; they stay archived
    with `merged_into_id` pointing to this one."""
    contact = await service.merge_contacts(session, contact_id, body.from_, who)
    return await _saved_contact(session, contact)


# -- companies ----------------------------------------------------------------------------------


@router.get("/companies", response_model=CompanyPage, tags=["companies"])
async def list_companies(
    session: SessionDep,
    settings: SettingsDep,
    who: Authorized,
    phone: Annotated[str | None, Query(max_length=64)] = None,
    email: Annotated[str | None, Query(max_length=320)] = None,
    domain: Annotated[str | None, Query(max_length=255)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    include_archived: bool = False,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> CompanyPage:
    repo = DirectoryRepository(session)
    registrable = None
    if domain is not None:
        registrable = linking.registrable_domain(domain)
        if registrable is None:
            raise invalid("domain", "not a registrable domain name")
    try:
        rows, next_cursor = await repo.list_companies(
            point_values=_lookup_values(phone, email, settings.common.default_region) or (),
            domain=registrable,
            tokens=linking.search_tokens(q or ""),
            include_archived=include_archived,
            limit=limit,
            cursor=cursor,
        )
    except InvalidCursorError as exc:
        raise invalid("cursor", str(exc)) from exc
    return CompanyPage(items=[await company_view(repo, c) for c in rows], next_cursor=next_cursor)


@router.post(
    "/companies",
    response_model=CompanyOut,
    status_code=status.HTTP_201_CREATED,
    tags=["companies"],
    responses=PROBLEM_409,
)
async def create_company(
    body: CompanyIn, session: SessionDep, settings: SettingsDep, who: Authorized
) -> CompanyOut:
    data = CompanyInput(
        name=body.name,
        owner_id=body.owner_id,
        notes=body.notes,
        domains=normalised_domains(body.domains),
        phones=normalised_phones(body.phones, settings.common.default_region),
        emails=normalised_emails(body.emails),
        fields=await fields.merged_values(session, fields.FieldEntity.COMPANY, {}, body.fields),
    )
    company = await service.create_company(session, data, who, force=body.force)
    return await _saved_company(session, company)


@router.get("/companies/{company_id}", response_model=CompanyOut, tags=["companies"])
async def get_company(company_id: str, session: SessionDep, who: Authorized) -> CompanyOut:
    repo = DirectoryRepository(session)
    return await company_view(
        repo, found("company", company_id, await repo.get_company(company_id))
    )


@router.patch(
    "/companies/{company_id}",
    response_model=CompanyOut,
    tags=["companies"],
    responses=PROBLEM_409,
)
async def update_company(
    company_id: str,
    body: CompanyPatch,
    session: SessionDep,
    settings: SettingsDep,
    who: Authorized,
) -> CompanyOut:
    changes = _changes(body, settings.common.default_region)
    if body.fields is not None:
        repo = DirectoryRepository(session)
        current = found("company", company_id, await repo.get_company(company_id)).fields
        entity = fields.FieldEntity.COMPANY
        changes.fields["fields"] = await fields.merged_values(session, entity, current, body.fields)
    company = await service.update_company(session, company_id, changes, who)
    return await _saved_company(session, company)


@router.delete("/companies/{company_id}", response_model=CompanyOut, tags=["companies"])
async def archive_company(company_id: str, session: SessionDep, who: Authorized) -> CompanyOut:
    return await _saved_company(session, await service.archive_company(session, company_id, who))


@router.post("/companies/{company_id}/restore", response_model=CompanyOut, tags=["companies"])
async def restore_company(company_id: str, session: SessionDep, who: Authorized) -> CompanyOut:
    return await _saved_company(session, await service.restore_company(session, company_id, who))


# -- export -------------------------------------------------------------------------------------

CSV_COLUMNS = [
    "type",
    "value",
    "contact_id",
    "first_name",
    "last_name",
    "company_id",
    "company_name",
]


def _cell(value: Any) -> str:
    """Spreadsheet-safe text: names starting with = + - @ would run as formulas."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@router.get(
    "/contact-points/export",
    tags=["contacts"],
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "One row per point"}},
)
async def export_contact_points(
    session: SessionDep,
    who: Authorized,
    type: Annotated[
        linking.PointType, Query(description="`email` (for a mailing, the default) or `phone`")
    ] = linking.PointType.EMAIL,
) -> Response:
    """Active numbers or addresses of active contacts and companies, as CSV (for a mailing).
    Addresses that bounced for good are left out."""
    rows = await DirectoryRepository(session).export_points(type.value)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for point_type, value, contact_id, first, last, company_id, company_name in rows:
        writer.writerow(
            [
                point_type,
                value,
                contact_id or "",
                _cell(first),
                _cell(last),
                company_id or "",
                _cell(company_name),
            ]
        )
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="contact-points.csv"'},
    )
