"""What the page reads, as view models: the inbox, its counters and the team.

Reads go through the features' repositories and the report of `reports` where they exist (so
the page and the API count the same way); the few queries they lack are here, on the
SQLAlchemy models. A contact's card and timeline, identifying and search: `contacts`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.activities import ActivityFilter, ActivityRepository, domain
from crm_store.activities import presets as presets_api
from crm_store.core import Activity, Company, Contact, Interaction, Manager, Preset, Principal
from crm_store.directory import contact_name
from crm_store.people import PeopleRepository
from crm_store.reports import ManagerReport, manager_report
from crm_store.web import counts, present
from crm_store.web.i18n import _, current_locale

ALL = "all"
UNASSIGNED = "unassigned"


@dataclass(frozen=True)
class PresetButton:
    code: str
    label: str
    closes: bool


@dataclass(frozen=True)
class Who:
    """Who an activity or interaction is with: a contact (and company), else the raw point."""

    contact_id: str | None
    contact_name: str | None
    company_id: str | None
    company_name: str | None
    counterpart: str | None

    @property
    def point_text(self) -> str:
        return present.counterpart_text(self.counterpart)

    @property
    def point_type(self) -> str:
        return present.counterpart_type(self.counterpart)

    @property
    def point_href(self) -> str:
        return present.counterpart_href(self.counterpart)


@dataclass(frozen=True)
class InboxItem:
    id: str
    kind: str
    state: str
    who: Who
    what: dict[str, str]
    count: int
    opened_at: datetime
    last_at: datetime
    due_at: datetime | None
    overdue: bool
    preset: str | None
    preset_label: str | None
    note: str | None
    assignee_id: str | None
    assignee_name: str | None
    disposition: str | None
    reasons: list[dict[str, str]]
    presets: list[PresetButton]
    prefill: tuple[str, str] = ("", "")
    """First and last name for "create contact", from a mail's display name."""
    tags: list[str] = field(default_factory=list)
    """The classifier's tags on the last interaction."""
    bounce: dict[str, Any] | None = None
    """A reply whose address bounced for good (`Activity.bounce`)."""
    version: str = ""
    """What changes when the item does (a status, one more interaction): the live inbox
    compares it."""

    @property
    def bounce_text(self) -> str:
        if not self.bounce:
            return ""
        reason = present.bounce_reason(self.bounce)
        address = self.bounce.get("address")
        if not address:
            text = _("Mail to this address bounced for good: a reply to it goes nowhere.")
        else:
            text = _(
                "Mail to %(address)s bounced for good: a reply to it goes nowhere.",
                address=address,
            )
        return f"{text} {reason}" if reason else text

    @property
    def kind_label(self) -> str:
        return present.kind_label(self.kind)


@dataclass(frozen=True)
class PlanLine:
    label: str
    done: int
    target: int

    @property
    def text(self) -> str:
        return _(
            "%(done)s of %(target)s",
            done=present.number(self.done),
            target=present.number(self.target),
        )


@dataclass(frozen=True)
class Counters:
    open: int
    """Cards (clients), as the inbox lists them."""
    overdue: int
    done_today: int | None
    """Items the manager closed by hand today (a preset), not those that closed by themselves."""
    auto_share: str
    plan: list[PlanLine] = field(default_factory=list)
    due_today: int = 0
    done_auto: int | None = None
    """Items of the manager that closed by themselves today (a later call, a reply)."""


@dataclass(frozen=True)
class TeamRow:
    manager_id: str
    name: str
    counters: Counters


# -- lookups ---------------------------------------------------------------------------------


async def by_id(session: AsyncSession, model: Any, ids: Iterable[str | None]) -> dict[str, Any]:
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    rows = await session.execute(select(model).where(model.id.in_(wanted)))
    return {row.id: row for row in rows.scalars()}


async def who_of(
    session: AsyncSession, rows: Sequence[tuple[str | None, str | None, str | None]]
) -> list[Who]:
    """(contact_id, company_id, counterpart) → Who, with names looked up in two queries."""
    contacts: dict[str, Contact] = await by_id(session, Contact, (r[0] for r in rows))
    company_ids = [r[1] or getattr(contacts.get(r[0] or ""), "company_id", None) for r in rows]
    companies: dict[str, Company] = await by_id(session, Company, company_ids)
    out = []
    for (contact_id, _name, counterpart), company_id in zip(rows, company_ids, strict=True):
        contact = contacts.get(contact_id or "")
        company = companies.get(company_id or "")
        out.append(
            Who(
                contact_id=contact.id if contact else None,
                contact_name=(contact_name(contact) or _("(no name)")) if contact else None,
                company_id=company.id if company else None,
                company_name=company.name if company else None,
                counterpart=counterpart,
            )
        )
    return out


def presets_for(presets: Sequence[Preset], kind: str, channel: str) -> list[PresetButton]:
    return [
        PresetButton(p.code, presets_api.label_in(p.labels, p.label, current_locale()), p.closes)
        for p in presets
        if p.active
        and domain.preset_applies(p.kinds, kind)
        and domain.preset_offered(p.channels, channel)
        and domain.closes_without_identifying(kind, p.closes, p.overturns) is None
    ]


async def preset_labels(session: AsyncSession) -> dict[str, str]:
    presets = await ActivityRepository(session).list_presets(include_inactive=True)
    locale = current_locale()
    return {p.code: presets_api.label_in(p.labels, p.label, locale) for p in presets}


async def manager_names(session: AsyncSession) -> dict[str, str]:
    return {m.id: m.name for m in await PeopleRepository(session).list_managers()}


async def active_managers(session: AsyncSession) -> list[Manager]:
    return await PeopleRepository(session).list_managers(active_only=True)


# -- the inbox -------------------------------------------------------------------------------


def inbox_filter(scope: str) -> ActivityFilter:
    """Open activities of a scope: a manager's inbox (their own and unassigned ones, as the
    manager sees it), only the unassigned ones, or everything."""
    if scope == ALL:
        return ActivityFilter(state="open")
    if scope == UNASSIGNED:
        return ActivityFilter(state="open", unassigned=True)
    return ActivityFilter(state="open", visible_to_manager=scope)


async def inbox(
    session: AsyncSession,
    where: ActivityFilter,
    now: datetime,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[InboxItem], str | None]:
    """Newest first. Raises `InvalidCursorError` for a cursor this service did not make."""
    repo = ActivityRepository(session)
    page = await repo.list_activities(where, limit=limit, cursor=cursor)
    return await inbox_items(session, page.items, now), page.next_cursor


async def newest_open(session: AsyncSession, where: ActivityFilter) -> str | None:
    """The id of the newest item of an inbox (the page's script polls it to offer new ones)."""
    page = await ActivityRepository(session).list_activities(where, limit=1)
    return page.items[0].id if page.items else None


async def inbox_items(
    session: AsyncSession, activities: Sequence[Activity], now: datetime
) -> list[InboxItem]:
    repo = ActivityRepository(session)
    interactions: dict[str, Interaction] = await by_id(
        session, Interaction, (a.last_interaction_id for a in activities)
    )
    whos = await who_of(session, [(a.contact_id, a.company_id, a.counterpart) for a in activities])
    presets = await repo.list_presets()
    labels = await preset_labels(session)
    names = await manager_names(session) if activities else {}
    items = []
    for activity, who in zip(activities, whos, strict=True):
        last = interactions.get(activity.last_interaction_id)
        payload: dict[str, Any] = last.payload if last is not None else {}
        items.append(
            InboxItem(
                id=activity.id,
                kind=activity.kind,
                state=activity.state,
                who=who,
                what=present.what_happened(last.kind if last else "", payload),
                count=activity.count,
                opened_at=activity.opened_at,
                last_at=activity.last_occurred_at,
                due_at=activity.due_at,
                overdue=activity.state == "open" and present.is_overdue(activity.due_at, now),
                preset=activity.preset,
                preset_label=labels.get(activity.preset or ""),
                note=activity.note,
                assignee_id=activity.assignee_id,
                assignee_name=names.get(activity.assignee_id or ""),
                disposition=last.disposition if last else None,
                reasons=present.reasons_text(last.reasons if last else []),
                presets=presets_for(
                    presets,
                    activity.kind,
                    domain.channel_of(last.kind if last else None, activity.counterpart),
                ),
                prefill=present.sender_name(payload),
                tags=[str(t) for t in (last.tags if last else [])],
                bounce=activity.bounce,
                version=present.version_of(activity),
            )
        )
    return items


# -- counters --------------------------------------------------------------------------------


async def today_reports(
    session: AsyncSession, who: Principal, now: datetime
) -> dict[str, ManagerReport]:
    """The API's per-manager report for today so far (UTC): the same numbers as
    `GET /api/v1/reports/managers`, plan progress included."""
    start, end = present.report_window(now)
    report = await manager_report(session=session, who=who, from_=start, to=end)
    return {m.manager_id: m for m in report.managers}


def _plan(report: ManagerReport, preset_labels: dict[str, str]) -> list[PlanLine]:
    lines = []
    for p in report.plan:
        if p.metric == "preset":
            label = preset_labels.get(p.preset or "", p.preset or "")
        else:
            label = present.metric_label(p.metric)
        lines.append(PlanLine(label, p.done, p.target))
    return lines


def _share(reports: Iterable[ManagerReport]) -> str:
    listed = list(reports)
    handled = sum(r.interactions for r in listed)
    auto = sum(r.auto_resolved for r in listed)
    return present.share(auto, handled)


async def counters(session: AsyncSession, who: Principal, scope: str, now: datetime) -> Counters:
    """The numbers at the top of an inbox: open and overdue cards as listed below them (one
    per client); done today by hand, the share resolved automatically today and plan progress
    of the manager(s) in scope."""
    reports = await today_reports(session, who, now)
    labels = await preset_labels(session)
    if scope == ALL:
        cards = await counts.cards_in_inbox(session, None, now)
        return Counters(
            open=cards.open,
            overdue=cards.overdue,
            due_today=cards.due_today,
            done_today=sum(r.activities.closed_by_manager for r in reports.values()),
            done_auto=sum(r.activities.closed_auto for r in reports.values()),
            auto_share=_share(reports.values()),
        )
    if scope == UNASSIGNED:
        cards = await counts.cards_in_inbox(session, "", now)
        return Counters(
            open=cards.open,
            overdue=cards.overdue,
            due_today=cards.due_today,
            done_today=None,
            auto_share=present.NO_FIGURE,
        )
    cards = await counts.cards_in_inbox(session, scope, now)
    report = reports.get(scope)
    return Counters(
        open=cards.open,
        overdue=cards.overdue,
        due_today=cards.due_today,
        done_today=report.activities.closed_by_manager if report else 0,
        done_auto=report.activities.closed_auto if report else 0,
        auto_share=_share([report] if report else []),
        plan=_plan(report, labels) if report else [],
    )


async def team(session: AsyncSession, who: Principal, now: datetime) -> list[TeamRow]:
    """The counters of everyone who may hold activities (managers, supervisors, admins), by
    the cards of their assigned items; unassigned ones are counted apart
    (`counts.cards_by_assignee`)."""
    opened = await counts.cards_by_assignee(session, now)
    reports = await today_reports(session, who, now)
    labels = await preset_labels(session)
    rows = []
    for manager in await active_managers(session):
        report = reports.get(manager.id)
        if report is None or manager.role not in domain.STATUS_SETTERS:
            continue
        own = opened.get(manager.id, counts.CardCounts())
        rows.append(
            TeamRow(
                manager_id=manager.id,
                name=manager.name,
                counters=Counters(
                    open=own.open,
                    overdue=own.overdue,
                    due_today=own.due_today,
                    done_today=report.activities.closed_by_manager,
                    done_auto=report.activities.closed_auto,
                    auto_share=_share([report]),
                    plan=_plan(report, labels),
                ),
            )
        )
    return rows
