"""One card per client: everything open for one counterpart (a call back, an outcome to pick,
"who is this?", a reply) is one card in the inbox, with the latest interaction, how many
interactions it holds, what is needed in words, and the presets that fit.

A card is keyed by the contact when the activities are linked to one (all their numbers and
addresses), else by the number or address; a withheld caller's items stay apart (nothing says
two withheld calls are the same person). A preset clicked on a card is applied to each of its
activities the preset fits (`routes.set_status`); "who is this?" stays until it is identified.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.activities import ActivityFilter, ActivityRepository
from crm_store.core import Activity
from crm_store.web import present
from crm_store.web.i18n import N_
from crm_store.web.queries import InboxItem, PresetButton, Who, inbox_items

# The most a card gathers, and the most ids a click on it may carry: a number with hundreds of
# open items still renders one bounded card.
MAX_PER_CARD = 20
# What a card asks first: its element id and its first line follow this order.
KIND_ORDER = {"callback": 0, "reply": 1, "log_outcome": 2, "identify_contact": 3}
IDENTIFY = "identify_contact"


@dataclass(frozen=True)
class Card:
    items: list[InboxItem]
    """The card's open activities, what it asks first at the head."""

    @property
    def primary(self) -> InboxItem:
        return self.items[0]

    @property
    def id(self) -> str:
        return self.primary.id

    @property
    def others(self) -> list[str]:
        return [i.id for i in self.items[1:]]

    @property
    def who(self) -> Who:
        return next((i.who for i in self.items if i.who.contact_id), self.primary.who)

    @property
    def latest(self) -> InboxItem:
        return max(self.items, key=lambda i: i.last_at)

    @property
    def needs(self) -> list[tuple[str, str]]:
        """What the card asks, in words, each once: (kind, "Call back"), (kind, "Who is this?")."""
        out: dict[str, str] = {}
        for item in self.items:
            out.setdefault(item.kind, item.kind_label)
        return list(out.items())

    @property
    def why(self) -> str:
        """Why the card asks what it asks first, in words."""
        first = self.primary
        return present.why_text(first.kind, first.tags, first.who.counterpart)

    @property
    def count(self) -> int:
        """Interactions on the card. "Who is this?" folds the same conversations that opened
        an outcome or a reply, so it is not added to them."""
        acts = sum(i.count for i in self.items if i.kind != IDENTIFY)
        return max([acts, *(i.count for i in self.items if i.kind == IDENTIFY)])

    @property
    def overdue(self) -> bool:
        return any(i.overdue for i in self.items)

    @property
    def due_at(self) -> datetime | None:
        return min((i.due_at for i in self.items if i.due_at is not None), default=None)

    @property
    def identify(self) -> InboxItem | None:
        return next((i for i in self.items if i.kind == IDENTIFY), None)

    @property
    def presets(self) -> list[PresetButton]:
        """The presets that fit at least one of the card's items, in the admin's order."""
        seen: dict[str, PresetButton] = {}
        for item in self.items:
            for preset in item.presets:
                seen.setdefault(preset.code, preset)
        order = [p.code for item in self.items for p in item.presets]
        return sorted(seen.values(), key=lambda p: order.index(p.code))

    @property
    def assignee_name(self) -> str | None:
        return next((i.assignee_name for i in self.items if i.assignee_name), None)

    @property
    def preset_label(self) -> str | None:
        return next((i.preset_label for i in self.items if i.preset_label), None)

    @property
    def note(self) -> str | None:
        return next((i.note for i in self.items if i.note), None)

    @property
    def key(self) -> str:
        """Who the card is about (the contact, else the number or address): the live inbox
        matches a card before and after a change by it. Never sent to the browser."""
        if self.who.contact_id:
            return f"contact:{self.who.contact_id}"
        if self.primary.who.counterpart:
            return f"point:{self.primary.who.counterpart}"
        return f"activity:{self.id}"

    @property
    def ids(self) -> list[str]:
        return [i.id for i in self.items]

    @property
    def version(self) -> str:
        """Changes when any of its items does: the page's `data-version`."""
        text = "\n".join(f"{i.id}:{i.version}" for i in self.items)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def with_ids(self) -> str:
        """The other items' ids, as the card's form sends them (one field, spaces between)."""
        return " ".join(self.others)


def card_key(activity: Activity) -> str:
    if activity.contact_id:
        return f"contact:{activity.contact_id}"
    if activity.counterpart:
        return f"point:{activity.counterpart}"
    return f"activity:{activity.id}"


def group(items: Sequence[InboxItem], activities: Sequence[Activity]) -> list[Card]:
    """Cards in the order their first item comes in `items`; each card's items by what it asks
    first, then newest."""
    keys = {a.id: card_key(a) for a in activities}
    grouped: dict[str, list[InboxItem]] = {}
    for item in items:
        grouped.setdefault(keys.get(item.id, f"activity:{item.id}"), []).append(item)
    return [_card(members) for members in grouped.values()]


def _card(items: Sequence[InboxItem]) -> Card:
    ordered = sorted(items, key=lambda i: (KIND_ORDER.get(i.kind, 9), -i.last_at.timestamp(), i.id))
    return Card(ordered[:MAX_PER_CARD])


def _in_scope(where: ActivityFilter) -> ColumnElement[bool] | None:
    if where.unassigned:
        return Activity.assignee_id.is_(None)
    if where.visible_to_manager is not None:
        return or_(Activity.assignee_id == where.visible_to_manager, Activity.assignee_id.is_(None))
    return None


async def companions(
    session: AsyncSession, where: ActivityFilter, shown: Sequence[Activity]
) -> list[Activity]:
    """The other open activities, in the same inbox, of the people `shown` is about: their
    card shows them even when they fall on another page of the listing."""
    contact_ids = sorted({a.contact_id for a in shown if a.contact_id})
    points = sorted({a.counterpart for a in shown if a.counterpart and not a.contact_id})
    people: list[ColumnElement[bool]] = []
    if contact_ids:
        people.append(Activity.contact_id.in_(contact_ids))
    if points:
        people.append(Activity.counterpart.in_(points))
    if not people:
        return []
    statement = select(Activity).where(
        Activity.state == "open",
        or_(*people),
        Activity.id.not_in(sorted(a.id for a in shown)),
    )
    if (scope := _in_scope(where)) is not None:
        statement = statement.where(scope)
    limit = MAX_PER_CARD * max(1, len(contact_ids) + len(points))
    statement = statement.order_by(Activity.opened_at.desc(), Activity.id).limit(limit)
    return list((await session.execute(statement)).scalars())


async def inbox_cards(
    session: AsyncSession,
    where: ActivityFilter,
    now: datetime,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Card], str | None]:
    """A page of the inbox as cards. Raises `InvalidCursorError` for a cursor this service did
    not make."""
    page = await ActivityRepository(session).list_activities(where, limit=limit, cursor=cursor)
    return await cards_of(session, where, page.items, now), page.next_cursor


# The inbox's filters: (value of `?show=`, label).
FILTERS = (
    ("", N_("Everything")),
    ("calls", N_("Calls")),
    ("mail", N_("E-mail")),
    ("overdue", N_("Overdue")),
)


def filtered(where: ActivityFilter, show: str | None, now: datetime) -> ActivityFilter:
    """The inbox's listing: most urgent first (overdue, then due soon, then the rest), narrowed
    to calls, e-mail or what is overdue."""
    return replace(
        where,
        urgent_first=True,
        channel={"calls": "call", "mail": "mail"}.get(show or ""),
        overdue_at=now if show == "overdue" else None,
    )


def with_ids(value: str, primary: str) -> list[str]:
    """The ids a card's form sent beside its own, at most `MAX_PER_CARD - 1`, each once."""
    out: list[str] = []
    for item in value.split():
        if item != primary and item not in out and len(item) <= 64:
            out.append(item)
    return out[: MAX_PER_CARD - 1]


async def cards_of(
    session: AsyncSession, where: ActivityFilter, activities: Sequence[Activity], now: datetime
) -> list[Card]:
    """The cards of a page of open activities, completed with their companions."""
    everything = [*activities, *await companions(session, where, activities)]
    return group(await inbox_items(session, everything, now), everything)


async def card_for(
    session: AsyncSession, ids: Sequence[str], now: datetime
) -> tuple[Card | None, list[Activity]]:
    """The card of these activities as it is now (its open ones), or None when all closed."""
    wanted = sorted(set(ids))[:MAX_PER_CARD]
    rows = await session.execute(select(Activity).where(Activity.id.in_(wanted)))
    activities = list(rows.scalars())
    still_open = [a for a in activities if a.state == "open"]
    if not still_open:
        return None, activities
    return _card(await inbox_items(session, still_open, now)), activities
