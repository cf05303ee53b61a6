"""Everything open in one manager's inbox, marked as handled at once with a reason (back from a
holiday, the clients were served another way). Not a judgment on any item: canceled rather than
done, so neither plan counters nor the classifier's feedback count it. "Who is this?" stays: it
closes by identifying. A bounded batch per call; the caller commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.activities.repository import ActivityRepository
from crm_store.activities.service import cancel_all
from crm_store.core import Activity, Principal
from switchboard_shared.events import ActivityKind, ClosedBy

MAX_HANDLED = 500


async def mark_all_handled(
    session: AsyncSession,
    assignee_id: str,
    reason: str,
    actor: Principal,
    now: datetime,
    *,
    limit: int = MAX_HANDLED,
) -> list[Activity]:
    """Cancel up to `limit` of the manager's open items (oldest first); returns them."""
    statement = (
        select(Activity)
        .where(Activity.assignee_id == assignee_id, Activity.state == "open")
        .where(Activity.kind != ActivityKind.IDENTIFY_CONTACT.value)
        .order_by(Activity.opened_at, Activity.id)
        .limit(limit)
        .with_for_update()
    )
    handled = list((await session.execute(statement)).scalars())
    await cancel_all(
        ActivityRepository(session),
        handled,
        reason=f"marked as handled: {reason}",
        closed_by=ClosedBy.MANAGER,
        actor=actor,
        action="marked_handled",
        now=now,
    )
    return handled
