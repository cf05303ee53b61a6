"""Units of work on activities: a person sets a status (a preset), which may close the activity
and tells the classifier whether it was right. And what the other features share about an
activity: its plain-data row (the consumer's bulk path), its view for the decisions, closing it
and the event that says it changed. They stage changes and outbox records; the caller commits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.activities import domain
from crm_store.activities.domain import ActivityView, Close
from crm_store.activities.repository import ActivityRepository
from crm_store.core import (
    SOURCE,
    Activity,
    Interaction,
    Preset,
    Principal,
    audit_entry,
    invalid,
    utcnow,
)
from switchboard_shared.cloudevents import KafkaRecord, deterministic_id, encode
from switchboard_shared.events import (
    ActivityChanged,
    ActivityKind,
    ActivityState,
    ClosedBy,
    Disposition,
    Feedback,
    Tag,
)
from switchboard_shared.problems import Problem
from switchboard_shared.topics import CRM_ACTIVITIES, CRM_FEEDBACK


@dataclass
class ActivityRow:
    """An activity row as the batch path handles it: plain data, written back in bulk."""

    id: str
    kind: str
    state: str
    counterpart: str | None
    thread_id: str | None
    interaction_id: str
    last_interaction_id: str
    last_occurred_at: datetime
    count: int
    assignee_id: str | None
    opened_at: datetime
    updated_at: datetime
    contact_id: str | None = None
    company_id: str | None = None
    preset: str | None = None
    note: str | None = None
    closed_by: str | None = None
    close_reason: str | None = None
    closed_at: datetime | None = None
    due_at: datetime | None = None
    bounce: dict[str, Any] | None = None

    def row(self) -> dict[str, Any]:
        return dict(self.__dict__)


AnyActivity = Activity | ActivityRow


async def set_status(
    session: AsyncSession,
    activity_id: str,
    preset_code: str,
    note: str | None,
    actor: Principal,
    *,
    source: str = SOURCE,
    due_at: datetime | None = None,
) -> Activity:
    """A person picks a preset for an activity; closing presets close it. `due_at` (a preset
    that keeps it open, e.g. "Call back later" at 15:00) makes it due then: the inbox sorts
    it there and shows it overdue after."""
    repo = ActivityRepository(session)
    activity = await repo.get_activity(activity_id, for_update=True)
    if activity is None or not domain.can_see_activity(actor, activity.assignee_id):
        raise Problem(404, "Not found", f"no activity {activity_id}")
    if not domain.can_set_status(actor, activity.assignee_id):
        raise Problem(403, "Forbidden", f"role {actor.role.value} cannot set statuses")
    if activity.state != ActivityState.OPEN:
        raise Problem(409, "Activity is closed", f"activity {activity_id} is {activity.state}")
    preset = await fitting_preset(repo, preset_code, activity.kind)

    now = utcnow()
    if due_at is not None:
        check_due(due_at, now, closes=preset.closes)
    before = restorable(activity)
    changes: dict[str, Any] = {
        "preset": preset.code,
        "assignee_id": domain.takes_on_status(actor, activity.assignee_id),
        "updated_at": now,
    }
    if note is not None:
        changes["note"] = note
    if due_at is not None:
        changes["due_at"] = due_at
    if preset.closes:
        changes.update(
            state=ActivityState.DONE.value,
            closed_by=ClosedBy.MANAGER.value,
            close_reason=f"preset {preset.code}",
            closed_at=now,
        )
    await repo.update_activity(activity, **changes)

    change = "closed" if preset.closes else "status_set"
    step = f"{preset.code}@{now.isoformat()}"
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
        action=STATUS_SET,
        before=before,
    )
    return activity


async def announce_status(
    repo: ActivityRepository,
    activity: Activity,
    preset: Preset,
    actor: Principal,
    source: str,
    now: datetime,
    *,
    change: str,
    step: str,
    note: str | None,
    action: str,
    before: dict[str, Any],
    retract: Callable[[Interaction], KafkaRecord] | None = None,
) -> None:
    """What a preset set (or corrected) on an activity announces: the change on
    crm.activities.v1, the feedback the classifier learns from (after the retraction of the one
    it replaces, if any) and the audit entry."""
    records = [
        activity_record(activity, change, interaction_id=None, step=step, source=source, at=now)
    ]
    interaction = await repo.interaction_of(activity)
    feedback_id = None
    if interaction is not None:
        if retract is not None:
            records.append(retract(interaction))
        feedback = feedback_record(activity, interaction, preset.overturns, actor, source, now)
        feedback_id = feedback_id_of(feedback)
        records.append(feedback)
    await repo.add_outbox(records)
    entry = audit_entry(
        actor,
        action,
        "activity",
        activity.id,
        preset=preset.code,
        state=activity.state,
        note=note,
        before=before,
        feedback=feedback_id,
    )
    await repo.audit([entry])


async def fitting_preset(repo: ActivityRepository, code: str, kind: str) -> Preset:
    """The active preset of that code, if it may be set on an activity of that kind."""
    preset = await repo.get_preset(code)
    if preset is None or not preset.active:
        raise Problem(422, "Unknown preset", f"no active preset {code!r}", field="preset")
    if not domain.preset_applies(preset.kinds, kind):
        raise Problem(
            422,
            "Preset does not apply",
            f"preset {code!r} does not apply to {kind} activities",
            field="preset",
        )
    refusal = domain.closes_without_identifying(kind, preset.closes, preset.overturns)
    if refusal is not None:
        raise Problem(409, "Identify the contact first", refusal, field="preset")
    return preset


async def cancel_all(
    repo: ActivityRepository,
    activities: Sequence[Activity],
    *,
    reason: str,
    closed_by: ClosedBy,
    actor: Principal | None,
    action: str,
    now: datetime,
) -> None:
    """Cancel these activities with a reason (nothing was done, nothing is left to do): each is
    published as `canceled` and audited as `action`."""
    for activity in activities:
        await repo.update_activity(
            activity,
            state=ActivityState.CANCELED.value,
            closed_by=closed_by.value,
            close_reason=reason,
            closed_at=now,
            updated_at=now,
        )
    step = f"{action}@{now.isoformat()}"
    await repo.add_outbox(
        [
            activity_record(a, "canceled", interaction_id=None, step=step, source=SOURCE, at=now)
            for a in activities
        ]
    )
    await repo.audit(
        [audit_entry(actor, action, "activity", a.id, reason=reason) for a in activities]
    )


STATUS_SET = "status_set"
DUE_WITHIN = timedelta(days=366)


def check_due(due_at: datetime, now: datetime, *, closes: bool) -> None:
    """A time to call back at: for a preset that keeps the item open, later than now (a minute
    of slack for the clock), within a year."""
    if closes:
        raise invalid("due_at", "only a status that keeps the item open takes a time")
    if due_at < now - timedelta(minutes=1):
        raise invalid("due_at", "pick a time in the future")
    if due_at > now + DUE_WITHIN:
        raise invalid("due_at", "pick a time within a year")


RESTORABLE = ("state", "preset", "note", "assignee_id", "closed_by", "close_reason", "closed_at")


def restorable(activity: Activity) -> dict[str, Any]:
    """What a status change replaces, as JSON: an undo puts it back."""
    out: dict[str, Any] = {name: getattr(activity, name) for name in RESTORABLE}
    out["closed_at"] = activity.closed_at.isoformat() if activity.closed_at else None
    out["due_at"] = activity.due_at.isoformat() if activity.due_at else None
    return out


def feedback_id_of(record: KafkaRecord) -> str | None:
    return record.headers.get("ce_id")


def activity_view(activity: AnyActivity, call_keys: Iterable[str] = ()) -> ActivityView:
    return ActivityView(
        id=activity.id,
        kind=ActivityKind(activity.kind),
        counterpart=activity.counterpart,
        last_occurred_at=activity.last_occurred_at,
        thread_id=activity.thread_id,
        assignee_id=activity.assignee_id,
        call_keys=frozenset(call_keys),
    )


def close_activity(activity: AnyActivity, decision: Close, at: datetime) -> None:
    activity.state = decision.state.value
    activity.closed_by = ClosedBy.AUTO.value
    activity.close_reason = decision.reason
    activity.closed_at = at
    activity.updated_at = utcnow()


def activity_record(
    activity: AnyActivity,
    change: str,
    *,
    interaction_id: str | None,
    step: str,
    source: str,
    at: datetime | None = None,
) -> KafkaRecord:
    """`step` makes the ce_id unique per change: the interaction id, or the status set."""
    now = at or utcnow()
    data = ActivityChanged(
        activity_id=activity.id,
        kind=ActivityKind(activity.kind),
        state=ActivityState(activity.state),
        change=change,
        interaction_id=interaction_id,
        counterpart=activity.counterpart,
        contact_id=activity.contact_id,
        assignee_id=activity.assignee_id,
        preset=activity.preset,
        closed_by=ClosedBy(activity.closed_by) if activity.closed_by else None,
        reason=activity.close_reason,
        count=activity.count,
        changed_at=now,
    )
    ce_id = deterministic_id("crm.activity", activity.id, change, step)
    return encode(CRM_ACTIVITIES, data, id=ce_id, source=source, key=activity.id, time=now)


def feedback_record(
    activity: Activity,
    interaction: Interaction,
    overturns: list[str],
    actor: Principal,
    source: str,
    at: datetime,
) -> KafkaRecord:
    known_tags = {t.value for t in Tag}
    data = Feedback(
        interaction_id=interaction.id,
        activity_id=activity.id,
        manager_id=actor.manager_id,
        preset=activity.preset or "",
        classifier_disposition=Disposition(interaction.disposition),
        classifier_tags=[Tag(t) for t in interaction.tags if t in known_tags],
        overturns_classifier=domain.overturns_classifier(overturns, interaction.disposition),
        at=at,
    )
    ce_id = deterministic_id("crm.feedback", activity.id, activity.preset or "", at.isoformat())
    key = interaction.counterpart or interaction.id
    return encode(CRM_FEEDBACK, data, id=ce_id, source=source, key=key, time=at)
