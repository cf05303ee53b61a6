"""Units of work on contacts and companies: created (duplicates caught on save), updated,
archived instead of deleted, restored, and contacts merged. The flows contacts and companies
share are written once in `records`. Every change is audited with its actor, and every point
that changes owner is re-announced on `crm.contact-points.v1` (`relinking.points_changed`).
A merge moves the sources' points, interactions and activities to the target and keeps the
sources archived, with a pointer to it. Units of work stage changes; the caller commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.activities import ActivityRepository
from crm_store.core import (
    SOURCE,
    Company,
    Contact,
    Principal,
    audit_entry,
    not_found,
    utcnow,
)
from crm_store.directory import linking
from crm_store.directory.points import PointInput
from crm_store.directory.records import (
    Changes,
    CompanyRecords,
    ContactRecords,
    check_refs,
    claim_domains,
    contact_name,
    domain_taken,
)
from crm_store.directory.relinking import domain_added, points_changed, relinked_record
from crm_store.directory.repository import DirectoryRepository
from switchboard_shared.problems import Problem


@dataclass(frozen=True)
class ContactInput:
    first_name: str = ""
    last_name: str = ""
    title: str | None = None
    company_id: str | None = None
    owner_id: str | None = None
    notes: str | None = None
    phones: Sequence[PointInput] = ()
    emails: Sequence[PointInput] = ()
    fields: dict[str, Any] = field(default_factory=dict)
    """Extra field values, checked (`fields.merged_values`)."""


@dataclass(frozen=True)
class CompanyInput:
    name: str
    owner_id: str | None = None
    notes: str | None = None
    domains: Sequence[str] = ()
    phones: Sequence[PointInput] = ()
    emails: Sequence[PointInput] = ()
    fields: dict[str, Any] = field(default_factory=dict)


# -- contacts -----------------------------------------------------------------------------------


async def create_contact(
    session: AsyncSession, data: ContactInput, who: Principal, *, force: bool = False
) -> Contact:
    records = ContactRecords(session)
    await check_refs(records.repo, data.company_id, data.owner_id)
    name_key = linking.person_key(data.first_name, data.last_name)
    if not force:
        await records.check_duplicates([p.value for p in [*data.phones, *data.emails]], name_key)
    now = utcnow()
    contact = Contact(
        id=str(uuid.uuid4()),
        first_name=data.first_name,
        last_name=data.last_name,
        name_key=name_key,
        title=data.title,
        company_id=data.company_id,
        owner_id=data.owner_id,
        notes=data.notes,
        created_at=now,
        updated_at=now,
        fields=dict(data.fields),
    )
    await records.repo.add(contact)
    points = await records.add_points(contact, data.phones, data.emails)
    await records.audit_created(
        contact,
        points,
        who,
        force=force,
        name=contact_name(contact),
        company_id=contact.company_id,
        owner_id=contact.owner_id,
    )
    await points_changed(session, [p.value for p in points], who)
    return contact


async def update_contact(
    session: AsyncSession, contact_id: str, changes: Changes, who: Principal
) -> Contact:
    return await ContactRecords(session).update(contact_id, changes, who)


async def merge_contacts(
    session: AsyncSession, target_id: str, source_ids: Sequence[str], who: Principal
) -> Contact:
    """Move the sources' points, interactions and activities to the target; the sources stay,
    archived, with a pointer to it."""
    repo = DirectoryRepository(session)
    activities = ActivityRepository(session)
    sources = [s for s in dict.fromkeys(source_ids) if s != target_id]
    if not sources:
        raise Problem(422, "Invalid request", "nothing to merge", field="from")
    target = await repo.get_contact(target_id, for_update=True)
    if target is None:
        raise not_found("contact", target_id)
    if target.archived_at is not None:
        raise Problem(409, "Archived", f"contact {target_id} is archived; restore it first")
    rows = {c.id: c for c in await repo.get_contacts(sources)}
    missing = [s for s in sources if s not in rows]
    if missing:
        raise Problem(422, "Invalid request", f"no contact {missing[0]}", field="from")
    merged = [s for s in sources if rows[s].merged_into_id is not None]
    if merged:
        raise Problem(409, "Merged", f"contact {merged[0]} was merged already")

    target_points = {p.value for p in await repo.active_points(contact_ids=[target.id])}
    changed: set[str] = set()
    position = len(target_points)
    for point in await repo.points_of(contact_ids=sources):
        if not point.active:
            continue
        changed.add(point.value)
        if point.value in target_points:
            point.active = False
        else:
            point.contact_id = target.id
            point.position = position
            position += 1
            target_points.add(point.value)
    now = utcnow()
    for source in rows.values():
        source.merged_into_id = target.id
        source.archived_at = source.archived_at or now
        source.updated_at = now
        target.company_id = target.company_id or source.company_id
        target.owner_id = target.owner_id or source.owner_id
    target.updated_at = now
    await session.flush()
    moved = await repo.move_interactions(sources, target.id)
    moved_activities = await activities.move_activities(sources, target.id)
    await repo.add_outbox([relinked_record(i, SOURCE) for i in moved])
    await repo.audit(
        [
            audit_entry(
                who,
                "merged",
                "contact",
                target.id,
                sources=sources,
                interactions=len(moved),
                activities=moved_activities,
                points=sorted(changed),
            ),
            *(audit_entry(who, "merged_into", "contact", s, target=target.id) for s in sources),
        ]
    )
    await points_changed(session, changed, who)
    return target


# -- companies ----------------------------------------------------------------------------------


async def create_company(
    session: AsyncSession, data: CompanyInput, who: Principal, *, force: bool = False
) -> Company:
    records = CompanyRecords(session)
    await check_refs(records.repo, None, data.owner_id)
    name_key = linking.company_key(data.name)
    owners = await records.repo.domain_owners(data.domains)
    if not force:
        await records.check_duplicates([p.value for p in [*data.phones, *data.emails]], name_key)
    if owners:
        raise domain_taken(owners)
    now = utcnow()
    company = Company(
        id=str(uuid.uuid4()),
        name=data.name,
        name_key=name_key,
        owner_id=data.owner_id,
        notes=data.notes,
        created_at=now,
        updated_at=now,
        fields=dict(data.fields),
    )
    await records.repo.add(company)
    await claim_domains(records.repo, company.id, data.domains)
    points = await records.add_points(company, data.phones, data.emails)
    await records.audit_created(
        company, points, who, force=force, name=company.name, domains=list(data.domains)
    )
    for domain_name in data.domains:
        await domain_added(session, domain_name, company.id)
    await points_changed(session, [p.value for p in points], who)
    return company


async def update_company(
    session: AsyncSession, company_id: str, changes: Changes, who: Principal
) -> Company:
    return await CompanyRecords(session).update(company_id, changes, who)


# -- archive and restore: one implementation for both (`records.Records`) -------------------


async def archive_contact(session: AsyncSession, contact_id: str, who: Principal) -> Contact:
    """DELETE: the contact is archived and its points released; nothing is removed."""
    return await ContactRecords(session).archive(contact_id, who)


async def archive_company(session: AsyncSession, company_id: str, who: Principal) -> Company:
    """DELETE: the company is archived, its points and domains released; nothing is removed."""
    return await CompanyRecords(session).archive(company_id, who)


async def restore_contact(session: AsyncSession, contact_id: str, who: Principal) -> Contact:
    return await ContactRecords(session).restore(contact_id, who)


async def restore_company(session: AsyncSession, company_id: str, who: Principal) -> Company:
    return await CompanyRecords(session).restore(company_id, who)
