"""What the page reads about contacts, as view models: a contact's card and timeline, the queue
of numbers and addresses to identify, and contact search."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.activities import ActivityFilter, ActivityRepository, domain
from crm_store.core import Activity, Company, Contact, Interaction, Point, Principal, Role
from crm_store.directory import (
    CompanyInput,
    DirectoryRepository,
    contact_name,
    create_company,
    linking,
    undeliverable_of,
)
from crm_store.interactions import InteractionFilter, InteractionRepository
from crm_store.people import PeopleRepository
from crm_store.web import present
from crm_store.web.i18n import _
from crm_store.web.queries import Who, by_id, manager_names

# -- a contact's timeline --------------------------------------------------------------------


@dataclass(frozen=True)
class BouncedAddress:
    email: str
    since: datetime
    reason: str


@dataclass(frozen=True)
class ContactCard:
    id: str
    name: str
    title: str | None
    company_id: str | None
    company_name: str | None
    phones: list[str]
    emails: list[str]
    """The addresses to write to (not those that bounced)."""
    owner_name: str | None
    archived: bool
    bounced: list[BouncedAddress] = field(default_factory=list)

    @property
    def unreachable(self) -> bool:
        """Every address bounced and there is no number: the owner must find another way."""
        return bool(self.bounced) and not self.emails and not self.phones


@dataclass(frozen=True)
class ActivityLine:
    id: str
    kind: str
    state: str
    preset_label: str | None
    closed_by: str | None
    close_reason: str | None
    note: str | None
    count: int

    @property
    def kind_label(self) -> str:
        return present.kind_label(self.kind)

    @property
    def state_label(self) -> str:
        return present.state_label(self.state)


@dataclass(frozen=True)
class TimelineEntry:
    id: str
    kind: str
    occurred_at: datetime
    direction: str
    counterpart_text: str
    what: dict[str, str]
    disposition: str
    disposition_label: str
    tags: list[str]
    reasons: list[dict[str, str]]
    manager_name: str | None
    activities: list[ActivityLine]


async def contact_card(session: AsyncSession, contact: Contact) -> ContactCard:
    repo = DirectoryRepository(session)
    points = await repo.active_points(contact_ids=[contact.id])
    if contact.archived_at is not None:
        points = await repo.points_of(contact_ids=[contact.id])
    company = await repo.get_company(contact.company_id) if contact.company_id else None
    people = PeopleRepository(session)
    owner = await people.get_manager(contact.owner_id) if contact.owner_id else None
    phones = [p.value for p in points if p.type == linking.PointType.PHONE]
    emails = [
        p.value for p in points if p.type == linking.PointType.EMAIL and p.undeliverable_at is None
    ]
    bounced = [
        BouncedAddress(u.email, u.since, present.bounce_reason(u.model_dump()))
        for u in undeliverable_of(points)
    ]
    return ContactCard(
        id=contact.id,
        name=contact_name(contact) or _("(no name)"),
        title=contact.title,
        company_id=company.id if company else None,
        company_name=company.name if company else None,
        phones=[present.counterpart_text(v) for v in dict.fromkeys(phones)],
        emails=list(dict.fromkeys(emails)),
        owner_name=owner.name if owner else None,
        archived=contact.archived_at is not None,
        bounced=bounced,
    )


async def timeline(
    session: AsyncSession,
    who: Principal,
    contact: Contact,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[TimelineEntry], str | None]:
    """Every call and message of the contact, newest first, with the classifier's decision and
    reasons, and the activities each one opened (for the roles that may read activities; a
    manager sees their own and unassigned ones). Raises `InvalidCursorError`."""
    repo = ActivityRepository(session)
    page = await InteractionRepository(session).list_interactions(
        InteractionFilter(contact_id=contact.id), limit=limit, cursor=cursor
    )
    activities: list[Activity] = []
    if who.role in domain.ACTIVITY_READERS:
        visible_to = (who.manager_id or "") if who.role is Role.MANAGER else None
        found = await repo.list_activities(
            ActivityFilter(contact_id=contact.id, visible_to_manager=visible_to), limit=200
        )
        activities = found.items
    labels = {
        p.code: present.preset_label(p) for p in await repo.list_presets(include_inactive=True)
    }
    by_interaction: dict[str, list[ActivityLine]] = {}
    for a in activities:
        by_interaction.setdefault(a.interaction_id, []).append(
            ActivityLine(
                id=a.id,
                kind=a.kind,
                state=a.state,
                preset_label=labels.get(a.preset or ""),
                closed_by=a.closed_by,
                close_reason=a.close_reason,
                note=a.note,
                count=a.count,
            )
        )
    names = await manager_names(session)
    entries = [
        TimelineEntry(
            id=i.id,
            kind=i.kind,
            occurred_at=i.occurred_at,
            direction=i.direction,
            counterpart_text=present.counterpart_text(i.counterpart),
            what=present.what_happened(i.kind, i.payload),
            disposition=i.disposition,
            disposition_label=present.disposition_label(i.disposition),
            tags=list(i.tags),
            reasons=present.reasons_text(i.reasons),
            manager_name=names.get(i.manager_id or ""),
            activities=by_interaction.get(i.id, []),
        )
        for i in page.items
    ]
    return entries, page.next_cursor


# -- numbers and addresses to identify -------------------------------------------------------


@dataclass(frozen=True)
class IdentifyItem:
    id: str
    who: Who
    what: dict[str, str]
    last_at: datetime
    count: int
    prefill: tuple[str, str]
    opened_at: datetime
    taken_by: str | None
    """The colleague who took the call or whose mailbox got the message."""


async def identify_queue(
    session: AsyncSession, *, limit: int = 50, cursor: str | None = None
) -> tuple[list[IdentifyItem], str | None]:
    """Open `identify_contact` activities, longest waiting first: who talked or wrote to us
    that no contact has, who took it and what was said or written; not the activity's notes."""
    repo = ActivityRepository(session)
    page = await repo.list_activities(
        ActivityFilter(state="open", kind="identify_contact", urgent_first=True),
        limit=limit,
        cursor=cursor,
    )
    names = await manager_names(session) if page.items else {}
    interactions: dict[str, Interaction] = await by_id(
        session, Interaction, (a.last_interaction_id for a in page.items)
    )
    items = []
    for a in page.items:
        last = interactions.get(a.last_interaction_id)
        payload: dict[str, Any] = last.payload if last is not None else {}
        items.append(
            IdentifyItem(
                id=a.id,
                who=Who(None, None, None, None, a.counterpart),
                what=present.what_happened(last.kind if last else "", payload),
                last_at=a.last_occurred_at,
                count=a.count,
                prefill=present.sender_name(payload),
                opened_at=a.opened_at,
                taken_by=names.get(a.assignee_id or ""),
            )
        )
    return items, page.next_cursor


# -- contact search --------------------------------------------------------------------------


@dataclass(frozen=True)
class ContactHit:
    id: str
    name: str
    company_name: str | None
    points: list[str]


async def search_contacts(
    session: AsyncSession, query: str, region: str, *, limit: int = 20
) -> list[ContactHit]:
    """By a number or address in any format, else by name words."""
    repo = DirectoryRepository(session)
    text = query.strip()
    if not text:
        return []
    point = linking.email_point(text) if "@" in text else linking.phone_point(text, region)
    if point is not None:
        rows, _cursor = await repo.list_contacts(
            point_values=sorted(linking.point_forms(point)), limit=limit
        )
    else:
        tokens = linking.search_tokens(text)
        if not tokens:
            return []
        rows, _cursor = await repo.list_contacts(tokens=tokens, limit=limit)
        rows += await _people_at(repo, tokens, limit - len(rows), {c.id for c in rows})
    points = await repo.active_points(contact_ids=[c.id for c in rows])
    companies: dict[str, Company] = await by_id(session, Company, (c.company_id for c in rows))
    return [
        ContactHit(
            id=c.id,
            name=contact_name(c) or _("(no name)"),
            company_name=getattr(companies.get(c.company_id or ""), "name", None),
            points=[point_text(p) for p in points if p.contact_id == c.id],
        )
        for c in rows
    ]


# A company name matches at most this many companies, each giving its people.
MAX_COMPANIES_SEARCHED = 5


async def _people_at(
    repo: DirectoryRepository, tokens: Sequence[str], room: int, found: set[str]
) -> list[Contact]:
    """The people of the companies whose name matches (a company name found nothing before)."""
    if room <= 0:
        return []
    companies, _cursor = await repo.list_companies(tokens=tokens, limit=MAX_COMPANIES_SEARCHED)
    out: list[Contact] = []
    for company in companies:
        people, _cursor = await repo.list_contacts(company_id=company.id, limit=room)
        for person in people:
            if person.id not in found and len(out) < room:
                found.add(person.id)
                out.append(person)
    return out


async def contact_points(session: AsyncSession, contact_id: str) -> list[Point]:
    return await DirectoryRepository(session).active_points(contact_ids=[contact_id])


async def company_named(
    session: AsyncSession, name: str, owner_id: str | None, who: Principal
) -> Company | None:
    """The company typed on "Create contact": the one with that name (as names are compared:
    case, spaces and legal forms aside), else a new one owned by `owner_id`; None for none."""
    if not name:
        return None
    found = await DirectoryRepository(session).named(Company, linking.company_key(name))
    existing = [c for c in found if c.archived_at is None]
    if existing:
        return existing[0]
    return await create_company(session, CompanyInput(name=name, owner_id=owner_id), who)


def point_text(point: Point) -> str:
    """A search hit's number or address, and a warning when mail to it bounces."""
    text = present.counterpart_text(point.value)
    if point.undeliverable_at:
        return _("%(point)s (bounces, do not write)", point=text)
    return text
