"""What contacts and companies share, written once: duplicates caught on save, points replaced,
the frame of an update, archiving instead of deleting and restoring. `Records` holds the flows;
`ContactRecords` and `CompanyRecords` say what differs: their table, their points, their name
key, what else an archive or a restore touches. The units of work themselves are in `service`.

Every change is audited with its actor, and every point that changes owner is re-announced
(`relinking.points_changed`). Units of work stage changes; the caller commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.core import (
    Company,
    CompanyDomain,
    Contact,
    Point,
    Principal,
    audit_entry,
    not_found,
    utcnow,
)
from crm_store.directory import linking
from crm_store.directory.points import PointInput, new_points, replace_points
from crm_store.directory.relinking import domain_added, points_changed
from crm_store.directory.repository import DirectoryRepository
from switchboard_shared.problems import Problem


@dataclass(frozen=True)
class Changes:
    """A PATCH of a contact or a company: the plain fields given, and the points (and domains)
    that replace the current ones; None leaves them as they are."""

    fields: dict[str, Any]
    phones: Sequence[PointInput] | None = None
    emails: Sequence[PointInput] | None = None
    domains: Sequence[str] | None = None
    force: bool = False


def duplicates_problem(
    kind: str, candidates: dict[str, list[str]], names: dict[str, Any]
) -> Problem:
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


async def check_refs(
    repo: DirectoryRepository, company_id: str | None, owner_id: str | None
) -> None:
    if company_id is not None:
        company = await repo.get_company(company_id)
        if company is None or company.archived_at is not None:
            raise Problem(422, "Invalid request", "no such company", field="company_id")
    if owner_id is not None and await repo.get_manager(owner_id) is None:
        raise Problem(422, "Invalid request", "no such manager", field="owner_id")


R = TypeVar("R", Contact, Company)


class Records(Generic[R]):
    """The flows contacts and companies share; subclasses fill in what differs."""

    entity: str
    model: type[R]
    name_fields: frozenset[str]
    """The fields whose change renames the record (its name is checked for duplicates)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.repo = DirectoryRepository(session)

    # -- what differs --------------------------------------------------------------------------

    def point_owner(self, row_id: str) -> tuple[str | None, str | None]:
        """The (contact_id, company_id) of this record's own points."""
        raise NotImplementedError

    def name_key(self, row: R) -> str:
        raise NotImplementedError

    def company_ref(self, fields: dict[str, Any]) -> str | None:
        """The company a change refers to (which must exist), if any."""
        return None

    async def holders(self, values: Iterable[str]) -> dict[str, set[str]]:
        """Records that have (or had, when archived) one of these points: id → values."""
        raise NotImplementedError

    async def described(self, ids: Collection[str]) -> dict[str, dict[str, Any]]:
        """id → the name and archived flag a duplicate candidate is listed with."""
        raise NotImplementedError

    async def points_to_restore(self, row: R) -> list[Point]:
        raise NotImplementedError

    async def moved_points(self, row: R, fields: dict[str, Any]) -> set[str]:
        """Values whose owner changes with these fields though the points stay."""
        return set()

    def refuse_restore(self, row: R) -> None:
        """Raise when the record may not come back."""

    async def change_extras(self, row: R, changes: Changes) -> list[str]:
        """What else an update replaces (before the points); what it added."""
        return []

    def audited_extras(self, changes: Changes) -> dict[str, Any]:
        """What else an update's audit entry records."""
        return {}

    async def after_update(self, row: R, added: list[str]) -> None:
        """What else an update announces (before its points)."""

    async def on_archive(self, row: R) -> None:
        """What else an archive releases (after the points)."""

    async def on_restore(self, row: R) -> None:
        """What else a restore takes back (before the points); may refuse it."""

    # -- the shared flows ----------------------------------------------------------------------

    async def load(self, row_id: str) -> R:
        """The record, locked for the rest of the transaction; 404 when there is none."""
        row = await self.repo.one(self.model, row_id, for_update=True)
        if row is None:
            raise not_found(self.entity, row_id)
        return row

    async def check_duplicates(
        self, values: Iterable[str], name_key: str, exclude: str | None = None
    ) -> None:
        """409 listing the records with one of these points, or with this name key."""
        candidates: dict[str, list[str]] = {}
        for row_id, found in (await self.holders(linking.forms_of(values))).items():
            candidates.setdefault(row_id, []).extend(f"point {v}" for v in sorted(found))
        if name_key:
            for row in await self.repo.named(self.model, name_key):
                candidates.setdefault(row.id, []).append("name")
        candidates.pop(exclude or "", None)
        if candidates:
            raise duplicates_problem(self.entity, candidates, await self.described(candidates))

    async def active_points(self, row: R) -> list[Point]:
        """The record's own active points."""
        contact_id, company_id = self.point_owner(row.id)
        return await self.repo.active_points(
            contact_ids=[contact_id] if contact_id else (),
            company_ids=[company_id] if company_id else (),
        )

    async def audit_created(
        self, row: R, points: Sequence[Point], who: Principal, *, force: bool, **changes: Any
    ) -> None:
        await self.repo.audit(
            [
                audit_entry(
                    who,
                    "created",
                    self.entity,
                    row.id,
                    **changes,
                    points=[p.value for p in points],
                    forced=force,
                )
            ]
        )

    async def add_points(
        self, row: R, phones: Sequence[PointInput], emails: Sequence[PointInput]
    ) -> list[Point]:
        """A new record's points, in the order given."""
        contact_id, company_id = self.point_owner(row.id)
        points: list[Point] = []
        for inputs, point_type in (
            (phones, linking.PointType.PHONE),
            (emails, linking.PointType.EMAIL),
        ):
            points += new_points(inputs, point_type, contact_id=contact_id, company_id=company_id)
        await self.repo.add_points(points)
        return points

    async def update(self, row_id: str, changes: Changes, who: Principal) -> R:
        """Lock, check and change the fields, replace the points asked for, audit the change
        and re-announce every point value that changed owner."""
        fields = changes.fields
        row = await self.load(row_id)
        if row.archived_at is not None:
            raise Problem(409, "Archived", f"{self.entity} {row_id} is archived; restore it first")
        await check_refs(self.repo, self.company_ref(fields), fields.get("owner_id"))
        before = {k: getattr(row, k) for k in fields}
        for name, value in fields.items():
            setattr(row, name, value)
        row.name_key = self.name_key(row)
        current = await self.active_points(row)
        if not changes.force:
            have = {p.value for p in current}
            fresh = [
                p.value
                for p in [*(changes.phones or []), *(changes.emails or [])]
                if p.value not in have
            ]
            renamed = not self.name_fields.isdisjoint(fields)
            await self.check_duplicates(fresh, row.name_key if renamed else "", exclude=row.id)
        added = await self.change_extras(row, changes)
        contact_id, company_id = self.point_owner(row.id)
        changed: set[str] = set()
        for inputs, point_type in (
            (changes.phones, linking.PointType.PHONE),
            (changes.emails, linking.PointType.EMAIL),
        ):
            if inputs is not None:
                changed |= await replace_points(
                    self.repo,
                    current,
                    inputs,
                    point_type,
                    contact_id=contact_id,
                    company_id=company_id,
                )
        changed |= await self.moved_points(row, fields)
        row.updated_at = utcnow()
        await self.session.flush()
        after = {k: getattr(row, k) for k in fields}
        entry = audit_entry(
            who,
            "updated",
            self.entity,
            row.id,
            before=before,
            after=after,
            **self.audited_extras(changes),
            points=sorted(changed),
            forced=changes.force,
        )
        await self.repo.audit([entry])
        await self.after_update(row, added)
        await points_changed(self.session, changed, who)
        return row

    async def archive(self, row_id: str, who: Principal) -> R:
        """DELETE: the record is archived and its points released; nothing is removed."""
        row = await self.load(row_id)
        if row.archived_at is not None:
            return row
        points = await self.active_points(row)
        await self.repo.deactivate_points(points)
        await self.on_archive(row)
        row.archived_at = row.updated_at = utcnow()
        await self.session.flush()
        await self.repo.audit([audit_entry(who, "archived", self.entity, row.id)])
        await points_changed(self.session, [p.value for p in points], who)
        return row

    async def restore(self, row_id: str, who: Principal) -> R:
        """The archived record and its last points come back, unless another has them now."""
        row = await self.load(row_id)
        self.refuse_restore(row)
        if row.archived_at is None:
            return row
        await self.on_restore(row)
        latest: dict[str, Point] = {}
        for point in await self.points_to_restore(row):
            latest.setdefault(point.value, point)
        for point in latest.values():
            point.active = True
        row.archived_at = None
        row.updated_at = utcnow()
        await self.session.flush()
        await self.repo.audit([audit_entry(who, "restored", self.entity, row.id)])
        await points_changed(self.session, list(latest), who)
        return row


def contact_name(contact: Contact) -> str:
    return " ".join(p for p in (contact.first_name, contact.last_name) if p)


def domain_taken(owners: Mapping[str, str], verb: str = "belongs") -> Problem:
    """409 naming the first domain another company has."""
    domain_name, other = sorted(owners.items())[0]
    return Problem(
        409,
        "Domain taken",
        f"{domain_name} {verb} to company {other}",
        field="domains",
        company_id=other,
    )


class ContactRecords(Records[Contact]):
    entity = "contact"
    model = Contact
    name_fields = frozenset({"first_name", "last_name"})

    def point_owner(self, row_id: str) -> tuple[str | None, str | None]:
        return row_id, None

    def name_key(self, row: Contact) -> str:
        return linking.person_key(row.first_name, row.last_name)

    def company_ref(self, fields: dict[str, Any]) -> str | None:
        company_id: str | None = fields.get("company_id")
        return company_id

    async def holders(self, values: Iterable[str]) -> dict[str, set[str]]:
        return await self.repo.contacts_with_points(values)

    async def described(self, ids: Collection[str]) -> dict[str, dict[str, Any]]:
        rows = await self.repo.get_contacts(ids)
        return {
            c.id: {"name": contact_name(c), "archived": c.archived_at is not None} for c in rows
        }

    async def points_to_restore(self, row: Contact) -> list[Point]:
        return await self.repo.points_of(contact_ids=[row.id], archived=True)

    async def moved_points(self, row: Contact, fields: dict[str, Any]) -> set[str]:
        """A contact that changes company moves its points' company with it."""
        if "company_id" not in fields:
            return set()
        return {p.value for p in await self.repo.active_points(contact_ids=[row.id])}

    def refuse_restore(self, row: Contact) -> None:
        if row.merged_into_id is not None:
            raise Problem(
                409,
                "Merged",
                f"contact {row.id} was merged into {row.merged_into_id}",
                merged_into_id=row.merged_into_id,
            )


class CompanyRecords(Records[Company]):
    entity = "company"
    model = Company
    name_fields = frozenset({"name"})

    def point_owner(self, row_id: str) -> tuple[str | None, str | None]:
        return None, row_id

    def name_key(self, row: Company) -> str:
        return linking.company_key(row.name)

    async def holders(self, values: Iterable[str]) -> dict[str, set[str]]:
        return await self.repo.companies_with_points(values)

    async def described(self, ids: Collection[str]) -> dict[str, dict[str, Any]]:
        names = {}
        for company_id in ids:
            found = await self.repo.get_company(company_id)
            if found is not None:
                names[company_id] = {"name": found.name, "archived": found.archived_at is not None}
        return names

    async def points_to_restore(self, row: Company) -> list[Point]:
        return [
            p
            for p in await self.repo.points_of_company(row.id)
            if not p.active and p.contact_id is None
        ]

    async def change_extras(self, row: Company, changes: Changes) -> list[str]:
        """The domains given replace the current ones; those new to it are claimed."""
        if changes.domains is None:
            return []
        for current in await self.repo.domains_of([row.id]):
            if current.domain not in changes.domains:
                current.active = False
        await self.session.flush()
        return await claim_domains(self.repo, row.id, changes.domains)

    def audited_extras(self, changes: Changes) -> dict[str, Any]:
        return {"domains": None if changes.domains is None else list(changes.domains)}

    async def after_update(self, row: Company, added: list[str]) -> None:
        for domain_name in added:
            await domain_added(self.session, domain_name, row.id)

    async def on_archive(self, row: Company) -> None:
        for domain in await self.repo.domains_of([row.id]):
            domain.active = False

    async def on_restore(self, row: Company) -> None:
        """Its domains come back first, unless another company has one of them now."""
        archived = await self.repo.domains_of([row.id], active=False)
        latest = {domain.domain: domain for domain in archived}
        taken = await self.repo.domain_owners(latest)
        if taken:
            raise domain_taken(taken, "now belongs")
        for domain in latest.values():
            domain.active = True


async def claim_domains(
    repo: DirectoryRepository, company_id: str, domains: Sequence[str], start: int = 0
) -> list[str]:
    """Give domains to a company; 409 when another active company has one."""
    owners = await repo.domain_owners(domains)
    taken = {d: c for d, c in owners.items() if c != company_id}
    if taken:
        raise domain_taken(taken)
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
