"""A supervisor corrects an outcome after the minutes to undo have passed: another preset on an
activity a person already gave one (a "Completed" that was really "Not interested", a "Spam"
that was a client). Audited with what it replaced; the classifier forgets the feedback of the
status it replaces and gets the corrected one. The caller commits.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.activities.repository import ActivityRepository
from crm_store.activities.service import (
    announce_status,
    fitting_preset,
    restorable,
)
from crm_store.activities.undo import SINGLE_OPEN_KINDS, STATUS_CORRECTED, retraction_record
from crm_store.core import SOURCE, Activity, Interaction, Principal, utcnow
from switchboard_shared.cloudevents import KafkaRecord
from switchboard_shared.events import ActivityState, ClosedBy
from switchboard_shared.problems import Problem


async def correct_status(
    session: AsyncSession,
    activity_id: str,
    preset_code: str,
    note: str | None,
    actor: Principal,
    *,
    source: str = SOURCE,
) -> Activity:
    """Replace the status a person set on the activity with another preset."""
    repo = ActivityRepository(session)
    activity = await repo.get_activity(activity_id, for_update=True)
    if activity is None:
        raise Problem(404, "Not found", f"no activity {activity_id}")
    entry = await repo.last_status_entry(activity.id)
    if entry is None or activity.preset is None:
        raise Problem(409, "Nothing to correct", "nobody set a status on it: set one instead")
    preset = await fitting_preset(repo, preset_code, activity.kind)
    reopens = activity.state != ActivityState.OPEN and not preset.closes
    single = activity.kind in SINGLE_OPEN_KINDS and activity.counterpart is not None
    if (
        reopens
        and single
        and await repo.find_open_activity(activity.kind, activity.counterpart or "") is not None
    ):
        raise Problem(409, "Cannot reopen", "a newer item for this client is open: set it there")

    now = utcnow()
    before = restorable(activity)
    changes: dict[str, Any] = {"preset": preset.code, "updated_at": now}
    if note is not None:
        changes["note"] = note
    if preset.closes:
        changes.update(
            state=ActivityState.DONE.value,
            closed_by=ClosedBy.MANAGER.value,
            close_reason=f"preset {preset.code} (corrected)",
            closed_at=activity.closed_at or now,
        )
    else:
        changes.update(
            state=ActivityState.OPEN.value, closed_by=None, close_reason=None, closed_at=None
        )
    await repo.update_activity(activity, **changes)

    step = f"correct:{preset.code}@{now.isoformat()}"
    change = "reopened" if reopens else ("closed" if preset.closes else "status_set")
    replaced = entry.changes.get("feedback")
    retract = None
    if isinstance(replaced, str):

        def retract(interaction: Interaction) -> KafkaRecord:
            return retraction_record(activity, interaction, replaced, actor, source, now)

    await announce_status(
        repo,
        activity,
        preset,
        actor,
        source,
        now,
        change=change,
        step=step,
        note=note,
        action=STATUS_CORRECTED,
        before=before,
        retract=retract,
    )
    return activity
