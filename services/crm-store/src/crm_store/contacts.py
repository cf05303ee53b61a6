"""Units of work on contacts and companies: duplicates caught on save, merges, archiving
instead of deleting. Every change is audited with its actor, and every point that changes
owner is re-announced on `crm.contact-points.v1` (see `service.points_changed`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_store import linking, service
from crm_store.domain import Principal
from crm_store.models import Company, CompanyDomain, Contact, Point, utcnow
from crm_store.repository import Repository
from switchboard_shared.problems import Problem


@dataclass(frozen=True)
class PointInput:
    value: str
    """Normalised: E.164 or a lower-case address."""
    raw: str


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


@dataclass(frozen=True)
class CompanyInput:
    name: str
    owner_id: str | None = None
    notes: str | None = None
    domains: Sequence[str] = ()
    phones: Sequence[PointInput] = ()
    emails: Sequence[PointInput] = ()


def not_found(what: str, row_id: str) -> Problem:
    return Problem(404, "Not found", f"no {what} {row_id}")


def _duplicates(kind: str, candidates: dict[str, list[str]], names: dict[str, Any]) -> Problem:
    listed = [
        {
            "id": row_id,
            "name": names[row_id]["name"],
            "archived": names[row_id]["archived"],
            "matches": sorted(reasons),
        }
        for row_id, reasons in sorted(candidates.items())
    ]
    return Problem(
        409,
        "Possible duplicate",
        f"{len(listed)} existing {kind}(s) match; pass force=true to save anyway",
        type="https://switchboard.dev/problems/duplicate",
        candidates=listed,
    )


def contact_name(contact: Contact) -> str:
    return " ".join(p for p in (contact.first_name, contact.last_name) if p)


async def _check_refs(repo: Repository, company_id: str | None, owner_id: str | None) -> None:
    if company_id is not None:
        company = await repo.get_company(company_id)
        if company is None or company.archived_at is not None:
            raise Problem(422, "Invalid request", "no such company", field="company_id")
    if owner_id is not None and await repo.get_manager(owner_id) is None:
        raise Problem(422, "Invalid request", "no such manager", field="owner_id")


async def _contact_duplicates(
    repo: Repository,
    points: Sequence[PointInput],
    name_key: str,
    exclude: str | None = None,
) -> None:
    candidates: dict[str, list[str]] = {}
    by_point = await repo.contacts_with_points(linking.forms_of(p.value for p in points))
    for contact_id, values in by_point.items():
        candidates.setdefault(contact_id, []).extend(f"point {v}" for v in sorted(values))
    if name_key:
        for contact in await repo.contacts_named(name_key):
            candidates.setdefault(contact.id, []).append("name")
    candidates.pop(exclude or "", None)
    if candidates:
        rows = await repo.get_contacts(candidates)
        names = {
            c.id: {"name": contact_name(c), "archived": c.archived_at is not None} for c in rows
        }
        raise _duplicates("contact", candidates, names)


def _new_points(
    inputs: Sequence[PointInput],
    point_type: linking.PointType,
    *,
    contact_id: str | None = None,
    company_id: str | None = None,
    start: int = 0,
) -> list[Point]:
    now = utcnow()
    return [
        Point(
            id=str(uuid.uuid4()),
            type=point_type.value,
            value=p.value,
            raw=p.raw[:320],
            contact_id=contact_id,
            company_id=company_id,
            active=True,
            position=start + n,
            created_at=now,
        )
        for n, p in enumerate(inputs)
    ]


async def _replace_points(
    repo: Repository,
    current: Sequence[Point],
    wanted: Sequence[PointInput],
    point_type: linking.PointType,
    *,
    contact_id: str | None = None,
    company_id: str | None = None,
) -> set[str]:
    """Make the active points of one type equal `wanted`; returns the values that changed."""
    have = {p.value: p for p in current if p.type == point_type.value}
    keep = {p.value for p in wanted}
    gone = [p for v, p in have.items() if v not in keep]
    added = [p for p in wanted if p.value not in have]
    await repo.deactivate_points(gone)
    order = {p.value: n for n, p in enumerate(wanted)}
    for value, point in have.items():
        point.position = order.get(value, point.position)
    new = _new_points(added, point_type, contact_id=contact_id, company_id=company_id)
    for point in new:
        point.position = order[point.value]
    await repo.add_points(new)
    return {p.value for p in gone} | {p.value for p in added}


# -- contacts -----------------------------------------------------------------------------------


async def create_contact(
    session: AsyncSession, data: ContactInput, who: Principal, *, force: bool = False
) -> Contact:
    repo = Repository(session)
    await _check_refs(repo, data.company_id, data.owner_id)
    name_key = linking.person_key(data.first_name, data.last_name)
    if not force:
        await _contact_duplicates(repo, [*data.phones, *data.emails], name_key)
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
    )
    await repo.add(contact)
    points = [
        *_new_points(data.phones, linking.PointType.PHONE, contact_id=contact.id),
        *_new_points(data.emails, linking.PointType.EMAIL, contact_id=contact.id),
    ]
    await repo.add_points(points)
    await repo.audit(
        [
            service.audit_entry(
                who,
                "created",
                "contact",
                contact.id,
                name=contact_name(contact),
                company_id=contact.company_id,
                owner_id=contact.owner_id,
                points=[p.value for p in points],
                forced=force,
            )
        ]
    )
    await service.points_changed(session, [p.value for p in points], who)
    return contact


async def update_contact(
    session: AsyncSession,
    contact_id: str,
    fields: dict[str, Any],
    phones: Sequence[PointInput] | None,
    emails: Sequence[PointInput] | None,
    who: Principal,
    *,
    force: bool = False,
) -> Contact:
    repo = Repository(session)
    contact = await repo.get_contact(contact_id, for_update=True)
    if contact is None:
        raise not_found("contact", contact_id)
    if contact.archived_at is not None:
        raise Problem(409, "Archived", f"contact {contact_id} is archived; restore it first")
    await _check_refs(repo, fields.get("company_id"), fields.get("owner_id"))
    before = {k: getattr(contact, k) for k in fields}
    for name, value in fields.items():
        setattr(contact, name, value)
    contact.name_key = linking.person_key(contact.first_name, contact.last_name)
    current = await repo.active_points(contact_ids=[contact.id])
    new_points = [
        p for p in [*(phones or []), *(emails or [])] if p.value not in {c.value for c in current}
    ]
    if not force:
        renamed = "first_name" in fields or "last_name" in fields
        await _contact_duplicates(
            repo, new_points, contact.name_key if renamed else "", exclude=contact.id
        )
    changed: set[str] = set()
    if phones is not None:
        changed |= await _replace_points(
            repo, current, phones, linking.PointType.PHONE, contact_id=contact.id
        )
    if emails is not None:
        changed |= await _replace_points(
            repo, current, emails, linking.PointType.EMAIL, contact_id=contact.id
        )
    if "company_id" in fields:
        changed |= {p.value for p in await repo.active_points(contact_ids=[contact.id])}
    contact.updated_at = utcnow()
    await session.flush()
    after = {k: getattr(contact, k) for k in fields}
    await repo.audit(
        [
            service.audit_entry(
                who,
                "updated",
                "contact",
                contact.id,
                before=before,
                after=after,
                points=sorted(changed),
                forced=force,
            )
        ]
    )
    await service.points_changed(session, changed, who)
    return contact


async def archive_contact(session: AsyncSession, contact_id: str, who: Principal) -> Contact:
    """DELETE: the contact is archived and its points released; nothing is removed."""
    repo = Repository(session)
    contact = await repo.get_contact(contact_id, for_update=True)
    if contact is None:
        raise not_found("contact", contact_id)
    if contact.archived_at is not None:
        return contact
    points = await repo.active_points(contact_ids=[contact.id])
    await repo.deactivate_points(points)
    contact.archived_at = contact.updated_at = utcnow()
    await session.flush()
    await repo.audit([service.audit_entry(who, "archived", "contact", contact.id)])
    await service.points_changed(session, [p.value for p in points], who)
    return contact


async def restore_contact(session: AsyncSession, contact_id: str, who: Principal) -> Contact:
    repo = Repository(session)
    contact = await repo.get_contact(contact_id, for_update=True)
    if contact is None:
        raise not_found("contact", contact_id)
    if contact.merged_into_id is not None:
        raise Problem(
            409,
            "Merged",
            f"contact {contact_id} was merged into {contact.merged_into_id}",
            merged_into_id=contact.merged_into_id,
        )
    if contact.archived_at is None:
        return contact
    points = await repo.points_of(contact_ids=[contact.id], archived=True)
    latest: dict[str, Point] = {}
    for point in points:
        latest.setdefault(point.value, point)
    for point in latest.values():
        point.active = True
    contact.archived_at = None
    contact.updated_at = utcnow()
    await session.flush()
    await repo.audit([service.audit_entry(who, "restored", "contact", contact.id)])
    await service.points_changed(session, list(latest), who)
    return contact


async def merge_contacts(
    session: AsyncSession, target_id: str, source_ids: Sequence[str], who: Principal
) -> Contact:
    """Move the sources' points, interactions and activities to the target; the sources stay,
    archived, with a pointer to it."""
    repo = Repository(session)
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
    activities = await repo.move_activities(sources, target.id)
    await repo.add_outbox([service._relinked_record(i, service.SOURCE) for i in moved])
    await repo.audit(
        [
            service.audit_entry(
                who,
                "merged",
                "contact",
                target.id,
                sources=sources,
                interactions=len(moved),
                activities=activities,
                points=sorted(changed),
            ),
            *(
                service.audit_entry(who, "merged_into", "contact", s, target=target.id)
                for s in sources
            ),
        ]
    )
    await service.points_changed(session, changed, who)
    return target


# -- companies ----------------------------------------------------------------------------------


async def _company_duplicates(
    repo: Repository, data: CompanyInput, name_key: str, exclude: str | None = None
) -> None:
    candidates: dict[str, list[str]] = {}
    points = [p.value for p in [*data.phones, *data.emails]]
    for company_id, values in (await repo.companies_with_points(linking.forms_of(points))).items():
        candidates.setdefault(company_id, []).extend(f"point {v}" for v in sorted(values))
    if name_key:
        for company in await repo.companies_named(name_key):
            candidates.setdefault(company.id, []).append("name")
    candidates.pop(exclude or "", None)
    if candidates:
        names = {}
        for company_id in candidates:
            found = await repo.get_company(company_id)
            if found is not None:
                names[company_id] = {"name": found.name, "archived": found.archived_at is not None}
        raise _duplicates("company", candidates, names)


async def _claim_domains(
    repo: Repository, company_id: str, domains: Sequence[str], start: int = 0
) -> list[str]:
    """Give domains to a company; 409 when another active company has one."""
    owners = await repo.domain_owners(domains)
    taken = {d: c for d, c in owners.items() if c != company_id}
    if taken:
        domain_name, other = sorted(taken.items())[0]
        raise Problem(
            409,
            "Domain taken",
            f"{domain_name} belongs to company {other}",
            field="domains",
            company_id=other,
        )
    now = utcnow()
    new = [d for d in domains if d not in owners]
    for domain_name in new:
        await repo.add(
            CompanyDomain(
                id=str(uuid.uuid4()),
                domain=domain_name,
                company_id=company_id,
                active=True,
                created_at=now,
            )
        )
    return new


async def create_company(
    session: AsyncSession, data: CompanyInput, who: Principal, *, force: bool = False
) -> Company:
    repo = Repository(session)
    await _check_refs(repo, None, data.owner_id)
    name_key = linking.company_key(data.name)
    owners = await repo.domain_owners(data.domains)
    if not force:
        await _company_duplicates(repo, data, name_key)
    if owners:
        domain_name, other = sorted(owners.items())[0]
        raise Problem(
            409,
            "Domain taken",
            f"{domain_name} belongs to company {other}",
            field="domains",
            company_id=other,
        )
    now = utcnow()
    company = Company(
        id=str(uuid.uuid4()),
        name=data.name,
        name_key=name_key,
        owner_id=data.owner_id,
        notes=data.notes,
        created_at=now,
        updated_at=now,
    )
    await repo.add(company)
    await _claim_domains(repo, company.id, data.domains)
    points = [
        *_new_points(data.phones, linking.PointType.PHONE, company_id=company.id),
        *_new_points(data.emails, linking.PointType.EMAIL, company_id=company.id),
    ]
    await repo.add_points(points)
    await repo.audit(
        [
            service.audit_entry(
                who,
                "created",
                "company",
                company.id,
                name=company.name,
                domains=list(data.domains),
                points=[p.value for p in points],
                forced=force,
            )
        ]
    )
    for domain_name in data.domains:
        await service.domain_added(session, domain_name, company.id)
    await service.points_changed(session, [p.value for p in points], who)
    return company


async def update_company(
    session: AsyncSession,
    company_id: str,
    fields: dict[str, Any],
    data: CompanyInput,
    who: Principal,
    *,
    domains: Sequence[str] | None,
    phones: Sequence[PointInput] | None,
    emails: Sequence[PointInput] | None,
    force: bool = False,
) -> Company:
    repo = Repository(session)
    company = await repo.get_company(company_id, for_update=True)
    if company is None:
        raise not_found("company", company_id)
    if company.archived_at is not None:
        raise Problem(409, "Archived", f"company {company_id} is archived; restore it first")
    await _check_refs(repo, None, fields.get("owner_id"))
    before = {k: getattr(company, k) for k in fields}
    for name, value in fields.items():
        setattr(company, name, value)
    company.name_key = linking.company_key(company.name)
    current = await repo.active_points(company_ids=[company.id])
    if not force:
        have = {p.value for p in current}
        fresh = CompanyInput(
            name=company.name,
            phones=[p for p in phones or [] if p.value not in have],
            emails=[p for p in emails or [] if p.value not in have],
        )
        await _company_duplicates(
            repo, fresh, company.name_key if "name" in fields else "", exclude=company.id
        )
    added_domains: list[str] = []
    if domains is not None:
        existing = await repo.domains_of([company.id])
        for row in existing:
            if row.domain not in domains:
                row.active = False
        await session.flush()
        added_domains = await _claim_domains(repo, company.id, domains)
    changed: set[str] = set()
    if phones is not None:
        changed |= await _replace_points(
            repo, current, phones, linking.PointType.PHONE, company_id=company.id
        )
    if emails is not None:
        changed |= await _replace_points(
            repo, current, emails, linking.PointType.EMAIL, company_id=company.id
        )
    company.updated_at = utcnow()
    await session.flush()
    await repo.audit(
        [
            service.audit_entry(
                who,
                "updated",
                "company",
                company.id,
                before=before,
                after={k: getattr(company, k) for k in fields},
                domains=None if domains is None else list(domains),
                points=sorted(changed),
                forced=force,
            )
        ]
    )
    for domain_name in added_domains:
        await service.domain_added(session, domain_name, company.id)
    await service.points_changed(session, changed, who)
    return company


async def archive_company(session: AsyncSession, company_id: str, who: Principal) -> Company:
    repo = Repository(session)
    company = await repo.get_company(company_id, for_update=True)
    if company is None:
        raise not_found("company", company_id)
    if company.archived_at is not None:
        return company
    points = await repo.active_points(company_ids=[company.id])
    await repo.deactivate_points(points)
    for row in await repo.domains_of([company.id]):
        row.active = False
    company.archived_at = company.updated_at = utcnow()
    await session.flush()
    await repo.audit([service.audit_entry(who, "archived", "company", company.id)])
    await service.points_changed(session, [p.value for p in points], who)
    return company


async def restore_company(session: AsyncSession, company_id: str, who: Principal) -> Company:
    repo = Repository(session)
    company = await repo.get_company(company_id, for_update=True)
    if company is None:
        raise not_found("company", company_id)
    if company.archived_at is None:
        return company
    archived = await repo.domains_of([company.id], active=False)
    latest = {row.domain: row for row in archived}
    taken = await repo.domain_owners(latest)
    if taken:
        domain_name, other = sorted(taken.items())[0]
        raise Problem(
            409,
            "Domain taken",
            f"{domain_name} now belongs to company {other}",
            field="domains",
            company_id=other,
        )
    for row in latest.values():
        row.active = True
    points = [
        p for p in await repo.points_of_company(company.id) if not p.active and p.contact_id is None
    ]
    values: dict[str, Point] = {}
    for point in points:
        values.setdefault(point.value, point)
    for point in values.values():
        point.active = True
    company.archived_at = None
    company.updated_at = utcnow()
    await session.flush()
    await repo.audit([service.audit_entry(who, "restored", "company", company.id)])
    await service.points_changed(session, list(values), who)
    return company
