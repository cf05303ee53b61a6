"""Units of work of crm-store. They stage changes and outbox records; the caller commits."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_store import domain
from crm_store.domain import ActivityView, Close, Fold, ManagerView, Open, Principal
from crm_store.models import Activity, Interaction, utcnow
from crm_store.repository import Repository
from switchboard_shared.cloudevents import KafkaRecord, deterministic_id, encode
from switchboard_shared.events import (
    ActivityChanged,
    ActivityKind,
    ActivityState,
    ClosedBy,
    Disposition,
    Feedback,
    InteractionClassified,
    InteractionLinked,
    Tag,
)
from switchboard_shared.problems import Problem
from switchboard_shared.topics import CRM_ACTIVITIES, CRM_FEEDBACK, CRM_INTERACTIONS

SOURCE = "crm-store"


@dataclass
class RecordResult:
    interaction_id: str
    duplicate: bool = False
    opened: list[str] = field(default_factory=list)
    folded: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    published: int = 0
    """Outbox records staged."""


async def record_interaction(
    session: AsyncSession, event: InteractionClassified, *, source: str = SOURCE
) -> RecordResult:
    """Store a classified interaction and act on it; a redelivered one changes nothing."""
    repo = Repository(session)
    result = RecordResult(event.interaction_id)
    if await repo.get_interaction(event.interaction_id) is not None:
        result.duplicate = True
        return result

    managers = [
        ManagerView(m.id, m.email, tuple(m.extensions), m.active)
        for m in await repo.list_managers(active_only=True)
    ]
    assignee_id = domain.choose_assignee(event, managers)
    if not await repo.insert_interaction(_interaction_values(event, assignee_id)):
        result.duplicate = True
        return result

    thread_id = event.mail.thread_id if event.mail is not None else None
    open_now = await repo.open_activities_for(domain.related_counterparts(event), thread_id)
    views = [_view(a) for a in open_now]
    records: list[KafkaRecord] = []

    def announce(activity: Activity, change: str) -> None:
        records.append(
            _activity_record(
                activity,
                change,
                interaction_id=event.interaction_id,
                step=event.interaction_id,
                source=source,
            )
        )

    for decision in domain.decide(event, views, assignee_id=assignee_id):
        match decision:
            case Close():
                activity = await _close(repo, decision, event)
                if activity is not None:
                    result.closed.append(activity.id)
                    announce(activity, "closed")
            case Fold():
                activity, change = await _fold(repo, decision, event)
                (result.folded if change == "repeated" else result.opened).append(activity.id)
                announce(activity, change)
            case Open():
                activity, change = await _open(repo, decision, event)
                (result.folded if change == "repeated" else result.opened).append(activity.id)
                announce(activity, change)

    records.append(_linked_record(event, assignee_id, source))
    await repo.add_outbox(records)
    result.published = len(records)
    return result


async def set_status(
    session: AsyncSession,
    activity_id: str,
    preset_code: str,
    note: str | None,
    actor: Principal,
    *,
    source: str = SOURCE,
) -> Activity:
    """A person picks a preset for an activity; closing presets close it."""
    repo = Repository(session)
    activity = await repo.get_activity(activity_id, for_update=True)
    if activity is None or not domain.can_see_activity(actor, activity.assignee_id):
        raise Problem(404, "Not found", f"no activity {activity_id}")
    if not domain.can_set_status(actor, activity.assignee_id):
        raise Problem(403, "Forbidden", f"role {actor.role.value} cannot set statuses")
    if activity.state != ActivityState.OPEN:
        raise Problem(409, "Activity is closed", f"activity {activity_id} is {activity.state}")
    preset = await repo.get_preset(preset_code)
    if preset is None or not preset.active:
        raise Problem(422, "Unknown preset", f"no active preset {preset_code!r}", field="preset")
    if not domain.preset_applies(preset.kinds, activity.kind):
        raise Problem(
            422,
            "Preset does not apply",
            f"preset {preset_code!r} does not apply to {activity.kind} activities",
            field="preset",
        )

    now = utcnow()
    changes: dict[str, Any] = {
        "preset": preset.code,
        "assignee_id": domain.takes_on_status(actor, activity.assignee_id),
        "updated_at": now,
    }
    if note is not None:
        changes["note"] = note
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
    interaction = await repo.get_interaction(activity.last_interaction_id)
    records = [
        _activity_record(activity, change, interaction_id=None, step=step, source=source, at=now)
    ]
    if interaction is not None:
        records.append(
            _feedback_record(activity, interaction, preset.overturns, actor, source, now)
        )
    await repo.add_outbox(records)
    return activity


# -- applying decisions ------------------------------------------------------------------


async def _close(
    repo: Repository, decision: Close, event: InteractionClassified
) -> Activity | None:
    activity = await repo.get_activity(decision.activity_id, for_update=True)
    if activity is None or activity.state != ActivityState.OPEN:
        return None  # someone closed it in the meantime
    await repo.update_activity(
        activity,
        state=ActivityState.DONE.value,
        closed_by=ClosedBy.AUTO.value,
        close_reason=decision.reason,
        closed_at=event.occurred_at,
        updated_at=utcnow(),
    )
    await repo.link(activity.id, event.interaction_id)
    return activity


async def _fold(
    repo: Repository, decision: Fold, event: InteractionClassified
) -> tuple[Activity, str]:
    activity = await repo.get_activity(decision.activity_id, for_update=True)
    if activity is None:
        raise LookupError(f"activity {decision.activity_id} vanished")
    if activity.state != ActivityState.OPEN:
        # Closed since we looked: this interaction needs its own activity.
        reopen = Open(
            ActivityKind(activity.kind), event.counterpart, activity.thread_id, decision.assignee_id
        )
        return await _open(repo, reopen, event)
    await repo.update_activity(
        activity,
        count=activity.count + 1,
        last_interaction_id=event.interaction_id,
        last_occurred_at=max(activity.last_occurred_at, event.occurred_at),
        assignee_id=activity.assignee_id or decision.assignee_id,
        updated_at=utcnow(),
    )
    await repo.link(activity.id, event.interaction_id)
    return activity, "repeated"


async def _open(
    repo: Repository, decision: Open, event: InteractionClassified
) -> tuple[Activity, str]:
    now = utcnow()
    activity = Activity(
        id=deterministic_id("crm.activity.id", event.interaction_id, decision.kind.value),
        kind=decision.kind.value,
        state=ActivityState.OPEN.value,
        counterpart=decision.counterpart,
        thread_id=decision.thread_id,
        interaction_id=event.interaction_id,
        last_interaction_id=event.interaction_id,
        last_occurred_at=event.occurred_at,
        count=1,
        assignee_id=decision.assignee_id,
        opened_at=event.occurred_at,
        updated_at=now,
    )
    if not await repo.add_activity(activity):
        # Another consumer opened the counterpart's callback first: fold into that one.
        existing = None
        if decision.counterpart is not None:
            existing = await repo.find_open_activity(decision.kind.value, decision.counterpart)
        if existing is None:
            raise RuntimeError(f"could not open a {decision.kind.value} activity")
        return await _fold(repo, Fold(existing.id, decision.assignee_id), event)
    await repo.link(activity.id, event.interaction_id)
    return activity, "opened"


# -- rows and records --------------------------------------------------------------------


def _direction(event: InteractionClassified) -> str:
    if event.call is not None:
        return event.call.direction.value
    if event.mail is not None:
        return event.mail.direction.value
    return "unknown"


def _interaction_values(event: InteractionClassified, manager_id: str | None) -> dict[str, Any]:
    return {
        "id": event.interaction_id,
        "kind": event.kind.value,
        "occurred_at": event.occurred_at,
        "counterpart": event.counterpart,
        "direction": _direction(event),
        "disposition": event.disposition.value,
        "tags": [t.value for t in event.tags],
        "reasons": [r.model_dump(mode="json") for r in event.reasons],
        "payload": event.model_dump(mode="json", by_alias=True),
        "agent": event.call.agent if event.call is not None else None,
        "manager_id": manager_id,
    }


def _view(activity: Activity) -> ActivityView:
    return ActivityView(
        id=activity.id,
        kind=ActivityKind(activity.kind),
        counterpart=activity.counterpart,
        last_occurred_at=activity.last_occurred_at,
        thread_id=activity.thread_id,
        assignee_id=activity.assignee_id,
    )


def _activity_record(
    activity: Activity,
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
        assignee_id=activity.assignee_id,
        preset=activity.preset,
        closed_by=ClosedBy(activity.closed_by) if activity.closed_by else None,
        reason=activity.close_reason,
        count=activity.count,
        changed_at=now,
    )
    ce_id = deterministic_id("crm.activity", activity.id, change, step)
    return encode(CRM_ACTIVITIES, data, id=ce_id, source=source, key=activity.id, time=now)


def _linked_record(
    event: InteractionClassified, manager_id: str | None, source: str
) -> KafkaRecord:
    data = InteractionLinked(
        interaction_id=event.interaction_id,
        kind=event.kind,
        occurred_at=event.occurred_at,
        counterpart=event.counterpart,
        direction=_direction(event),
        tags=list(event.tags),
        disposition=event.disposition,
        manager_id=manager_id,
    )
    ce_id = deterministic_id("crm.interaction", event.interaction_id)
    key = event.counterpart or event.interaction_id
    return encode(CRM_INTERACTIONS, data, id=ce_id, source=source, key=key)


def _feedback_record(
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
