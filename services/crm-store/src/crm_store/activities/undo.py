"""Undoing a status: the person who clicked a preset puts the activity back as it was, for a few
minutes (`StorePolicy.undo_window_s`), as long as nothing changed it since. The audit log holds
what each click replaced (`service.restorable`), so nothing else is stored; the undo is audited
too, and the classifier is told to forget the feedback that click gave.

The caller commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.activities import domain
from crm_store.activities.repository import ActivityRepository
from crm_store.activities.service import STATUS_SET, activity_record
from crm_store.core import (
    SOURCE,
    Activity,
    AuditEntry,
    Interaction,
    Principal,
    actor_of,
    audit_entry,
    utcnow,
)
from switchboard_shared.cloudevents import KafkaRecord, deterministic_id, encode
from switchboard_shared.events import ActivityState, Feedback
from switchboard_shared.problems import Problem
from switchboard_shared.topics import CRM_FEEDBACK

STATUS_UNDONE = "status_undone"
STATUS_CORRECTED = "status_corrected"
SINGLE_OPEN_KINDS = ("callback", "identify_contact")
"""Kinds of which a counterpart has at most one open (`OPEN_PER_COUNTERPART`)."""


def _step(entry: AuditEntry | None) -> domain.StatusStep | None:
    if entry is None or entry.action != STATUS_SET:
        return None
    return domain.StatusStep(
        actor=entry.actor,
        at=entry.at,
        preset=str(entry.changes.get("preset") or ""),
        state=str(entry.changes.get("state") or ""),
    )


def _restored(before: dict[str, Any]) -> dict[str, Any]:
    closed_at = before.get("closed_at")
    due = {}
    if "due_at" in before:  # older entries did not keep it, and their clicks did not change it
        due["due_at"] = datetime.fromisoformat(before["due_at"]) if before["due_at"] else None
    return {
        **due,
        "state": before.get("state") or ActivityState.OPEN.value,
        "preset": before.get("preset"),
        "note": before.get("note"),
        "assignee_id": before.get("assignee_id"),
        "closed_by": before.get("closed_by"),
        "close_reason": before.get("close_reason"),
        "closed_at": datetime.fromisoformat(closed_at) if closed_at else None,
    }


async def undo_status(
    session: AsyncSession,
    activity_id: str,
    actor: Principal,
    *,
    window_s: float,
    source: str = SOURCE,
) -> Activity:
    """Put the activity back as it was before the actor's last click on it."""
    repo = ActivityRepository(session)
    activity = await repo.get_activity(activity_id, for_update=True)
    if activity is None or not domain.can_see_activity(actor, activity.assignee_id):
        raise Problem(404, "Not found", "this item is not in your inbox")
    entry = await repo.last_status_entry(activity.id)
    if entry is not None and entry.action == STATUS_CORRECTED:
        raise Problem(409, "Cannot undo", "a supervisor corrected this status since")
    now = utcnow()
    refusal = domain.undo_refusal(
        _step(entry),
        actor=actor_of(actor),
        now=now,
        window_s=window_s,
        state=activity.state,
        preset=activity.preset,
    )
    if refusal is not None or entry is None:
        raise Problem(409, "Cannot undo", refusal or "there is no status change to undo")
    before = _restored(dict(entry.changes.get("before") or {}))
    reopens = activity.state != ActivityState.OPEN and before["state"] == ActivityState.OPEN
    if reopens and activity.kind in SINGLE_OPEN_KINDS and activity.counterpart is not None:
        newer = await repo.find_open_activity(activity.kind, activity.counterpart)
        if newer is not None:
            raise Problem(409, "Cannot undo", "a newer item for this client is open: use that")
    await repo.update_activity(activity, **before, updated_at=now)

    step = f"undo@{now.isoformat()}"
    records = [
        activity_record(
            activity,
            "reopened" if reopens else "status_set",
            interaction_id=None,
            step=step,
            source=source,
            at=now,
        )
    ]
    retracted = entry.changes.get("feedback")
    interaction = await repo.interaction_of(activity)
    if isinstance(retracted, str) and interaction is not None:
        records.append(retraction_record(activity, interaction, retracted, actor, source, now))
    await repo.add_outbox(records)
    await repo.audit(
        [
            audit_entry(
                actor,
                STATUS_UNDONE,
                "activity",
                activity.id,
                undoes=entry.id,
                preset=activity.preset,
                state=activity.state,
            )
        ]
    )
    return activity


def retraction_record(
    activity: Activity,
    interaction: Interaction,
    feedback_id: str,
    actor: Principal,
    source: str,
    at: datetime,
) -> KafkaRecord:
    """Feedback that withdraws the click's feedback: the classifier forgets its reports. Keyed
    as that feedback was, so it comes after it on the same partition."""
    data = Feedback(
        interaction_id=interaction.id,
        activity_id=activity.id,
        manager_id=actor.manager_id,
        preset="",
        overturns_classifier=False,
        retracts=feedback_id,
        at=at,
    )
    ce_id = deterministic_id("crm.feedback.retraction", feedback_id)
    key = interaction.counterpart or interaction.id
    return encode(CRM_FEEDBACK, data, id=ce_id, source=source, key=key, time=at)
