"""`/api/v1/activities` (a manager's own and unassigned ones; everyone's for supervisors) and
`/api/v1/presets`. Writes commit here, at the edge. Who may call what is `core.policy.ROUTES`,
enforced by `core.auth.GuardedRoute` before a route's body is read."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, status

from crm_store.activities import domain, presets, service
from crm_store.activities.bulk import mark_all_handled
from crm_store.activities.correct import correct_status
from crm_store.activities.repository import ActivityFilter, ActivityRepository
from crm_store.activities.schemas import (
    ActivityOut,
    ActivityPage,
    MarkHandledIn,
    MarkHandledOut,
    PresetIn,
    PresetOrderIn,
    PresetOut,
    PresetPatch,
    StatusIn,
)
from crm_store.activities.undo import undo_status
from crm_store.core import (
    MAX_PAGE,
    Activity,
    Authorized,
    InvalidCursorError,
    Preset,
    Principal,
    SessionDep,
    SettingsDep,
    feature_router,
    invalid,
    utcnow,
)
from crm_store.metrics import ACTIVITY_CHANGES
from switchboard_shared.events import ActivityKind, ActivityState
from switchboard_shared.problems import Problem

router = feature_router()


# -- activities ------------------------------------------------------------------------------


def _activity_filter(
    who: Principal,
    state: ActivityState | None,
    kind: ActivityKind | None,
    assignee: str | None,
    contact_id: str | None = None,
) -> ActivityFilter:
    visible_to = None if who.role in domain.SEES_ALL_ACTIVITIES else (who.manager_id or "")
    assignee_id: str | None = None
    unassigned = assignee == "unassigned"
    if assignee == "me":
        if who.manager_id is None:
            raise invalid("assignee", "this token belongs to no manager")
        assignee_id = who.manager_id
    elif assignee and not unassigned:
        if visible_to is not None and assignee != visible_to:
            raise Problem(403, "Forbidden", "managers see their own and unassigned activities")
        assignee_id = assignee
    return ActivityFilter(
        state=state.value if state else None,
        kind=kind.value if kind else None,
        assignee_id=assignee_id,
        unassigned=unassigned,
        visible_to_manager=visible_to,
        contact_id=contact_id,
    )


@router.get("/activities", response_model=ActivityPage, tags=["activities"])
async def list_activities(
    session: SessionDep,
    who: Authorized,
    state: ActivityState | None = None,
    kind: ActivityKind | None = None,
    assignee: Annotated[
        str | None, Query(description="`me`, `unassigned` or a manager id", max_length=64)
    ] = None,
    contact_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> ActivityPage:
    where = _activity_filter(who, state, kind, assignee, contact_id)
    try:
        page = await ActivityRepository(session).list_activities(where, limit=limit, cursor=cursor)
    except InvalidCursorError as exc:
        raise invalid("cursor", str(exc)) from exc
    items = [ActivityOut.model_validate(a) for a in page.items]
    return ActivityPage(items=items, next_cursor=page.next_cursor)


@router.get("/activities/{activity_id}", response_model=ActivityOut, tags=["activities"])
async def get_activity(activity_id: str, session: SessionDep, who: Authorized) -> Activity:
    activity = await ActivityRepository(session).get_activity(activity_id)
    if activity is None or not domain.can_see_activity(who, activity.assignee_id):
        raise Problem(404, "Not found", f"no activity {activity_id}")
    return activity


@router.post("/activities/mark-handled", response_model=MarkHandledOut, tags=["activities"])
async def mark_activities_handled(
    body: MarkHandledIn, session: SessionDep, who: Authorized
) -> MarkHandledOut:
    """Everything open in one manager's inbox is handled (back from a holiday): canceled with
    the reason, audited; "Who is this?" items stay, and unassigned ones are not touched."""
    assignee = body.assignee_id or who.manager_id
    if who.role not in domain.SEES_ALL_ACTIVITIES and assignee != who.manager_id:
        raise Problem(403, "Forbidden", "managers mark their own inbox only")
    if assignee is None:
        raise invalid("assignee_id", "name whose inbox")
    handled = await mark_all_handled(session, assignee, body.reason, who, utcnow())
    await session.commit()
    for activity in handled:
        ACTIVITY_CHANGES.labels(activity.kind, "canceled", "manager").inc()
    return MarkHandledOut(handled=len(handled))


@router.post("/activities/{activity_id}/correct", response_model=ActivityOut, tags=["activities"])
async def correct_activity_status(
    activity_id: str, body: StatusIn, session: SessionDep, who: Authorized
) -> Activity:
    """A supervisor replaces the status a person set (after the minutes to undo): audited, and
    the classifier's feedback is corrected too."""
    activity = await correct_status(session, activity_id, body.preset, body.note, who)
    await session.commit()
    ACTIVITY_CHANGES.labels(activity.kind, "status_corrected", "supervisor").inc()
    return activity


@router.post("/activities/{activity_id}/undo", response_model=ActivityOut, tags=["activities"])
async def undo_activity_status(
    activity_id: str, session: SessionDep, settings: SettingsDep, who: Authorized
) -> Activity:
    """Put the activity back as it was before your last status on it: within
    `CRM_STORE_UNDO_MIN` minutes, while nothing changed it since (409 otherwise, saying why)."""
    activity = await undo_status(session, activity_id, who, window_s=settings.undo_min * 60)
    await session.commit()
    ACTIVITY_CHANGES.labels(activity.kind, "status_undone", "manager").inc()
    return activity


@router.post("/activities/{activity_id}/status", response_model=ActivityOut, tags=["activities"])
async def set_activity_status(
    activity_id: str, body: StatusIn, session: SessionDep, who: Authorized
) -> Activity:
    activity = await service.set_status(
        session, activity_id, body.preset, body.note, who, due_at=body.due_at
    )
    await session.commit()
    change = "status_set" if activity.state == ActivityState.OPEN else "closed"
    ACTIVITY_CHANGES.labels(activity.kind, change, "manager").inc()
    return activity


# -- presets ---------------------------------------------------------------------------------


@router.get("/presets", response_model=list[PresetOut], tags=["presets"])
async def list_presets(
    session: SessionDep, who: Authorized, include_inactive: bool = False
) -> list[Preset]:
    return await ActivityRepository(session).list_presets(include_inactive=include_inactive)


@router.post(
    "/presets", response_model=PresetOut, status_code=status.HTTP_201_CREATED, tags=["presets"]
)
async def create_preset(body: PresetIn, session: SessionDep, who: Authorized) -> Preset:
    preset = await presets.add_preset(session, body.model_dump(mode="json"), who)
    await session.commit()
    return preset


@router.put("/presets/order", response_model=list[PresetOut], tags=["presets"])
async def reorder_presets(
    body: PresetOrderIn, session: SessionDep, who: Authorized
) -> list[Preset]:
    """Put the presets in this order; the ones not named keep theirs, after them."""
    ordered = await presets.reorder_presets(session, body.codes, who)
    await session.commit()
    return ordered


@router.patch("/presets/{code}", response_model=PresetOut, tags=["presets"])
async def update_preset(
    code: str, body: PresetPatch, session: SessionDep, who: Authorized
) -> Preset:
    """Rename, relabel, move or retire (`active: false`; presets are never deleted, so the
    history keeps its labels)."""
    changes: dict[str, Any] = body.model_dump(mode="json", exclude_unset=True)
    preset = await presets.change_preset(session, code, changes, who)
    await session.commit()
    return preset
