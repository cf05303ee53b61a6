"""The SQL of contacts, companies, their points and domains, and of what a change to them
re-links: interactions without a contact, a merged contact's interactions."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased

from crm_store.core import (
    DEFAULT_PAGE,
    MAX_PAGE,
    Company,
    CompanyDomain,
    Contact,
    Interaction,
    Manager,
    Point,
    ServiceState,
    Store,
    decode_name_cursor,
    encode_name_cursor,
    utcnow,
)
from crm_store.directory.delivery import mark_of, set_mark
from crm_store.directory.linking import PointOwner

M = TypeVar("M", Contact, Company)


class DirectoryRepository(Store):
    async def point_owners(self, values: Iterable[str]) -> dict[str, list[PointOwner]]:
        """Per value, who has it among active points: contacts (with their company and owner)
        and companies (with their owner)."""
        wanted = sorted(set(values))
        out: dict[str, list[PointOwner]] = {v: [] for v in wanted}
        if not wanted:
            return out
        company = aliased(Company)
        company_id = func.coalesce(Contact.company_id, Point.company_id)
        statement = (
            select(
                Point.value,
                Point.contact_id,
                company_id,
                func.coalesce(Contact.owner_id, company.owner_id),
            )
            .outerjoin(Contact, Contact.id == Point.contact_id)
            .outerjoin(company, company.id == company_id)
            .where(Point.active.is_(True), self._among(Point.value, wanted))
            .order_by(Point.value, Point.contact_id, company_id)
        )
        for value, contact_id, company_id_, owner_id in await self.session.execute(statement):
            out[value].append(PointOwner(contact_id, company_id_, owner_id))
        return out

    async def email_points(self, values: Iterable[str]) -> list[Point]:
        """Active e-mail points with one of these addresses, whoever has them."""
        wanted = sorted(set(values))
        if not wanted:
            return []
        statement = (
            select(Point)
            .where(Point.active.is_(True), Point.type == "email", self._among(Point.value, wanted))
            .order_by(Point.value, Point.id)
        )
        return list((await self.session.execute(statement)).scalars())

    async def marked_points(self, values: Iterable[str] | None = None) -> list[Point]:
        """Active points marked undeliverable: among these values, or all of them (None)."""
        statement = select(Point).where(Point.active.is_(True), Point.undeliverable_at.is_not(None))
        if values is not None:
            wanted = sorted(set(values))
            if not wanted:
                return []
            statement = statement.where(self._among(Point.value, wanted))
        return list((await self.session.execute(statement.order_by(Point.value))).scalars())

    async def last_heard_from(self, addresses: Iterable[str]) -> dict[str, datetime]:
        """Per address, when the newest inbound message from it was sent (stored ones)."""
        wanted = sorted(set(addresses))
        if not wanted:
            return {}
        statement = (
            select(Interaction.counterpart, func.max(Interaction.occurred_at))
            .where(
                Interaction.kind == "mail",
                Interaction.direction == "inbound",
                self._among(Interaction.counterpart, wanted),
            )
            .group_by(Interaction.counterpart)
        )
        return {value: at for value, at in await self.session.execute(statement) if value}

    async def domain_companies(self, domains: Iterable[str]) -> dict[str, tuple[str, str | None]]:
        """Per registrable domain, the active company that has it and that company's owner."""
        wanted = sorted(set(domains))
        if not wanted:
            return {}
        statement = (
            select(CompanyDomain.domain, Company.id, Company.owner_id)
            .join(Company, Company.id == CompanyDomain.company_id)
            .where(CompanyDomain.active.is_(True), self._among(CompanyDomain.domain, wanted))
        )
        return {d: (c, o) for d, c, o in await self.session.execute(statement)}

    async def active_points(
        self, *, contact_ids: Iterable[str] = (), company_ids: Iterable[str] = ()
    ) -> list[Point]:
        """Active points of these contacts, and the companies' own points."""
        matches: list[ColumnElement[bool]] = []
        if contacts := sorted(set(contact_ids)):
            matches.append(Point.contact_id.in_(contacts))
        if companies := sorted(set(company_ids)):
            matches.append(and_(Point.contact_id.is_(None), Point.company_id.in_(companies)))
        if not matches:
            return []
        statement = (
            select(Point)
            .where(Point.active.is_(True), or_(*matches))
            .order_by(Point.position, Point.created_at, Point.id)
        )
        return list((await self.session.execute(statement)).scalars())

    async def points_of(
        self, *, contact_ids: Iterable[str] = (), archived: bool = False
    ) -> list[Point]:
        """Every point of these contacts, or only the inactive ones (to restore them)."""
        wanted = sorted(set(contact_ids))
        if not wanted:
            return []
        statement = select(Point).where(Point.contact_id.in_(wanted))
        if archived:
            statement = statement.where(Point.active.is_(False))
        return list((await self.session.execute(statement.order_by(Point.position))).scalars())

    async def points_of_company(self, company_id: str) -> list[Point]:
        statement = (
            select(Point)
            .where(Point.company_id == company_id, Point.contact_id.is_(None))
            .order_by(Point.position, Point.created_at.desc())
        )
        return list((await self.session.execute(statement)).scalars())

    async def add_points(self, points: Sequence[Point]) -> None:
        """Store new points; an address known to bounce (on any row, even an archived
        contact's) comes with its undeliverable mark: the address fails for everyone."""
        if emails := {p.value for p in points if p.type == "email"}:
            statement = (
                select(Point)
                .where(
                    self._among(Point.value, sorted(emails)), Point.undeliverable_at.is_not(None)
                )
                .order_by(Point.undeliverable_at)
            )
            marked = {p.value: p for p in (await self.session.execute(statement)).scalars()}
            for point in points:
                if (known := marked.get(point.value)) is not None and point.type == "email":
                    set_mark(point, mark_of(known))
        self.session.add_all(points)
        await self.session.flush()

    async def deactivate_points(self, points: Iterable[Point]) -> None:
        for point in points:
            point.active = False
        await self.session.flush()

    async def all_active_point_values(self) -> list[str]:
        statement = (
            select(Point.value).where(Point.active.is_(True)).distinct().order_by(Point.value)
        )
        return list((await self.session.execute(statement)).scalars())

    async def contacts_with_points(
        self, values: Iterable[str], *, include_archived: bool = True
    ) -> dict[str, set[str]]:
        """Contacts that have (or had, when archived) one of these points: id → values."""
        live = Point.active.is_(True)
        return await self._holding(
            Point.contact_id,
            Contact,
            values,
            lambda wanted: [Point.value.in_(wanted), Contact.merged_into_id.is_(None)],
            or_(live, Contact.archived_at.is_not(None)) if include_archived else live,
        )

    async def companies_with_points(self, values: Iterable[str]) -> dict[str, set[str]]:
        return await self._holding(
            Point.company_id,
            Company,
            values,
            lambda wanted: [
                Point.contact_id.is_(None),
                Point.value.in_(wanted),
                Company.merged_into_id.is_(None),
                or_(Point.active.is_(True), Company.archived_at.is_not(None)),
            ],
        )

    async def _holding(
        self,
        owner: Any,
        model: type[Contact] | type[Company],
        values: Iterable[str],
        conditions: Callable[[list[str]], list[ColumnElement[bool]]],
        *more: ColumnElement[bool],
    ) -> dict[str, set[str]]:
        """Owner id → the values among `values` its points hold, under these conditions."""
        wanted = sorted(set(values))
        out: dict[str, set[str]] = {}
        if not wanted:
            return out
        statement = (
            select(owner, Point.value).join(model, model.id == owner).where(*conditions(wanted))
        )
        if more:
            statement = statement.where(*more)
        for owner_id, value in await self.session.execute(statement):
            if owner_id is not None:
                out.setdefault(owner_id, set()).add(value)
        return out

    async def named(self, model: type[M], name_key: str) -> list[M]:
        """The contacts (or companies) with this name key, but merged ones."""
        statement = select(model).where(model.name_key == name_key, model.merged_into_id.is_(None))
        return list((await self.session.execute(statement)).scalars())

    async def get_contact(self, contact_id: str, *, for_update: bool = False) -> Contact | None:
        return await self.one(Contact, contact_id, for_update=for_update)

    async def get_contacts(self, ids: Iterable[str]) -> list[Contact]:
        wanted = sorted(set(ids))
        if not wanted:
            return []
        statement = select(Contact).where(Contact.id.in_(wanted)).order_by(Contact.id)
        return list((await self.session.execute(statement.with_for_update())).scalars())

    async def get_company(self, company_id: str, *, for_update: bool = False) -> Company | None:
        return await self.one(Company, company_id, for_update=for_update)

    async def one(self, model: type[M], row_id: str, *, for_update: bool = False) -> M | None:
        """One contact or company; locked (and read afresh) for an update."""
        statement = select(model).where(model.id == row_id)
        if for_update:
            statement = statement.with_for_update().execution_options(populate_existing=True)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def _page_by_name(
        self, statement: Select[Any], model: Any, limit: int, cursor: str | None
    ) -> tuple[list[Any], str | None]:
        """One page of contacts or companies by (name_key, id), and the next page's cursor."""
        limit = max(1, min(limit, MAX_PAGE))
        if cursor is not None:
            key, last_id = decode_name_cursor(cursor)
            statement = statement.where(
                or_(model.name_key > key, and_(model.name_key == key, model.id > last_id))
            )
        statement = statement.order_by(model.name_key, model.id).limit(limit + 1)
        rows = list((await self.session.execute(statement)).scalars())
        items = rows[:limit]
        more = len(rows) > limit
        return items, encode_name_cursor(items[-1].name_key, items[-1].id) if more else None

    async def list_contacts(
        self,
        *,
        point_values: Sequence[str] = (),
        tokens: Sequence[str] = (),
        company_id: str | None = None,
        include_archived: bool = False,
        limit: int = DEFAULT_PAGE,
        cursor: str | None = None,
    ) -> tuple[list[Contact], str | None]:
        """By name (name_key, id), filtered by point, name tokens and company."""
        statement = _listed(Contact, include_archived)
        if point_values:
            having = select(Point.contact_id).where(
                Point.value.in_(list(point_values)), Point.contact_id.is_not(None)
            )
            if not include_archived:
                having = having.where(Point.active.is_(True))
            statement = statement.where(Contact.id.in_(having))
        statement = _with_name_tokens(statement, Contact, tokens)
        if company_id is not None:
            statement = statement.where(Contact.company_id == company_id)
        return await self._page_by_name(statement, Contact, limit, cursor)

    async def list_companies(
        self,
        *,
        point_values: Sequence[str] = (),
        domain: str | None = None,
        tokens: Sequence[str] = (),
        include_archived: bool = False,
        limit: int = DEFAULT_PAGE,
        cursor: str | None = None,
    ) -> tuple[list[Company], str | None]:
        statement = _listed(Company, include_archived)
        if point_values:
            having = select(Point.company_id).where(
                Point.value.in_(list(point_values)), Point.contact_id.is_(None)
            )
            statement = statement.where(Company.id.in_(having))
        if domain is not None:
            statement = statement.where(
                Company.id.in_(
                    select(CompanyDomain.company_id).where(CompanyDomain.domain == domain)
                )
            )
        statement = _with_name_tokens(statement, Company, tokens)
        return await self._page_by_name(statement, Company, limit, cursor)

    async def domains_of(
        self, company_ids: Iterable[str], *, active: bool = True
    ) -> list[CompanyDomain]:
        wanted = sorted(set(company_ids))
        if not wanted:
            return []
        statement = (
            select(CompanyDomain)
            .where(CompanyDomain.company_id.in_(wanted), CompanyDomain.active.is_(active))
            .order_by(CompanyDomain.created_at, CompanyDomain.domain)
        )
        return list((await self.session.execute(statement)).scalars())

    async def domain_owners(self, domains: Iterable[str]) -> dict[str, str]:
        """Active domain → the company that has it."""
        wanted = sorted(set(domains))
        if not wanted:
            return {}
        statement = select(CompanyDomain.domain, CompanyDomain.company_id).where(
            CompanyDomain.active.is_(True), CompanyDomain.domain.in_(wanted)
        )
        return {d: c for d, c in (await self.session.execute(statement)).all()}

    async def export_points(self, point_type: str | None) -> list[tuple[Any, ...]]:
        """Active points of active contacts and companies, for a mailing list; never an
        address that bounced for good."""
        company = aliased(Company)
        company_id = func.coalesce(Contact.company_id, Point.company_id)
        statement = (
            select(
                Point.type,
                Point.value,
                Point.contact_id,
                Contact.first_name,
                Contact.last_name,
                company_id,
                company.name,
            )
            .outerjoin(Contact, Contact.id == Point.contact_id)
            .outerjoin(company, company.id == company_id)
            .where(Point.active.is_(True), Point.undeliverable_at.is_(None))
            .order_by(Point.type, Point.value, Point.contact_id)
        )
        if point_type is not None:
            statement = statement.where(Point.type == point_type)
        return [tuple(row) for row in await self.session.execute(statement)]

    async def interactions_to_relink(
        self, counterparts: Iterable[str], domain: str | None = None
    ) -> list[Interaction]:
        """Interactions with one of these counterparts (or from this e-mail domain) that have no
        contact yet: a new point or domain may link them."""
        matches: list[ColumnElement[bool]] = []
        if wanted := sorted(set(counterparts)):
            matches.append(Interaction.counterpart.in_(wanted))
        if domain is not None:
            matches.append(and_(Interaction.domain == domain, Interaction.company_id.is_(None)))
        if not matches:
            return []
        statement = (
            select(Interaction)
            .where(Interaction.contact_id.is_(None), or_(*matches))
            .order_by(Interaction.occurred_at, Interaction.id)
        )
        return list((await self.session.execute(statement)).scalars())

    async def move_interactions(self, from_ids: Sequence[str], to_id: str) -> list[Interaction]:
        statement = select(Interaction).where(Interaction.contact_id.in_(list(from_ids)))
        rows = list((await self.session.execute(statement)).scalars())
        for row in rows:
            row.contact_id = to_id
        await self.session.flush()
        return rows

    async def claim_state(self, key: str, value: dict[str, Any]) -> bool:
        """Record a one-time fact; False when it was recorded before (by anyone)."""
        insert_ = postgresql.insert if self._dialect() == "postgresql" else sqlite.insert
        statement = (
            insert_(ServiceState)
            .values(key=key, value=value, updated_at=utcnow())
            .on_conflict_do_nothing(index_elements=[ServiceState.key])
            .returning(ServiceState.key)
        )
        return (await self.session.execute(statement)).scalar_one_or_none() is not None

    async def get_manager(self, manager_id: str) -> Manager | None:
        return await self.session.get(Manager, manager_id)


def _listed(model: type[Contact] | type[Company], include_archived: bool) -> Select[Any]:
    statement = select(model)
    if not include_archived:
        statement = statement.where(model.archived_at.is_(None))
    return statement


def _with_name_tokens(
    statement: Select[Any], model: type[Contact] | type[Company], tokens: Sequence[str]
) -> Select[Any]:
    """Every token is part of the name key."""
    for token in tokens:
        statement = statement.where(model.name_key.contains(token, autoescape=True))
    return statement
