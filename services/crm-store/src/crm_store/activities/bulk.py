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
from crm_store.activities.service import activity_record
from crm_store.core import SOURCE, Activity, Principal, audit_entry
from switchboard_shared.events import ActivityKind, ActivityState, ClosedBy

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
    repo = ActivityRepository(session)
    why = f"marked as handled: {reason}"
    for activity in handled:
        await repo.update_activity(
            activity,
            state=ActivityState.CANCELED.value,
            closed_by=ClosedBy.MANAGER.value,
            close_reason=why,
            closed_at=now,
            updated_at=now,
        )
    step = f"handled@{now.isoformat()}"
    await repo.add_outbox(
        [
            activity_record(a, "canceled", interaction_id=None, step=step, source=SOURCE, at=now)
            for a in handled
        ]
    )
    await repo.audit(
        [audit_entry(actor, "marked_handled", "activity", a.id, reason=reason) for a in handled]
    )
    return handled
