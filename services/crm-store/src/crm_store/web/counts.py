"""Open work counted as the inbox shows it: in cards, one per client (everything open for one
contact, else one number or address; a withheld caller's items each apart), so "Open" on the
inbox, on the team view and the number of cards listed are the same number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, distinct, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.core import Activity
from crm_store.web import present


@dataclass(frozen=True)
class CardCounts:
    open: int = 0
    overdue: int = 0
    """Cards with an item past its due time."""
    due_today: int = 0
    """Cards with an item due later today (UTC)."""


def card_key() -> ColumnElement[str]:
    """The SQL twin of `cards.card_key`: the contact, else the number or address, else the
    activity itself."""
    return func.coalesce(
        literal("contact:") + Activity.contact_id,
        literal("point:") + Activity.counterpart,
        literal("activity:") + Activity.id,
    )


def _measures(now: datetime) -> tuple[ColumnElement[int], ...]:
    key = card_key()
    end_of_day = present.start_of_day(now) + timedelta(days=1)
    late = and_(Activity.due_at.is_not(None), Activity.due_at < now)
    today = and_(Activity.due_at >= now, Activity.due_at < end_of_day)
    return (
        func.count(distinct(key)),
        func.count(distinct(case((late, key), else_=None))),
        func.count(distinct(case((today, key), else_=None))),
    )


async def cards_by_assignee(session: AsyncSession, now: datetime) -> dict[str | None, CardCounts]:
    """Per assignee (None: unassigned), the cards of their open items."""
    statement = (
        select(Activity.assignee_id, *_measures(now))
        .where(Activity.state == "open")
        .group_by(Activity.assignee_id)
    )
    rows = await session.execute(statement)
    return {row[0]: _counts(row[1], row[2], row[3]) for row in rows.all()}


async def cards_in_inbox(session: AsyncSession, scope: str | None, now: datetime) -> CardCounts:
    """The cards of one inbox: a manager's (their own and the unassigned items, one card for a
    client who has both), the unassigned ones (`scope` "" ), or everything (`scope` None)."""
    statement = select(*_measures(now)).where(Activity.state == "open")
    if scope == "":
        statement = statement.where(Activity.assignee_id.is_(None))
    elif scope is not None:
        statement = statement.where(
            or_(Activity.assignee_id == scope, Activity.assignee_id.is_(None))
        )
    row = (await session.execute(statement)).one()
    return _counts(row[0], row[1], row[2])


def _counts(n: int | None, late: int | None, today: int | None) -> CardCounts:
    return CardCounts(open=int(n or 0), overdue=int(late or 0), due_today=int(today or 0))
