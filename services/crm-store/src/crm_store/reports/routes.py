"""The per-manager report with plan progress, plan targets and the audit log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Query, Response, status
from pydantic import AwareDatetime

from crm_store.core import (
    MAX_PAGE,
    Authorized,
    PlanTarget,
    Principal,
    Role,
    SessionDep,
    feature_router,
    invalid,
    utcnow,
)
from crm_store.people import PeopleRepository
from crm_store.reports import service
from crm_store.reports.repository import ReportRepository
from crm_store.reports.schemas import (
    ActivityCounts,
    AuditOut,
    ManagerReport,
    PlanProgress,
    PlanTargetIn,
    PlanTargetOut,
    ReportOut,
)

router = feature_router()

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]


# -- reports ------------------------------------------------------------------------------------


def _month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _reportable(who: Principal, manager_ids: list[str]) -> list[str]:
    """Managers see their own figures only; supervisors, admins and viewers see everyone's."""
    if who.role is Role.MANAGER:
        return [m for m in manager_ids if m == who.manager_id]
    return manager_ids


@router.get(
    "/reports/managers",
    response_model=ReportOut,
    response_model_by_alias=True,
    tags=["reports"],
)
async def manager_report(
    session: SessionDep,
    who: Authorized,
    from_: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    to: AwareDatetime | None = None,
) -> ReportOut:
    """Per manager: interactions, the share that needed nobody, activities opened, closed and
    overdue, presets used, and progress against plan targets ("5 of 10")."""
    now = utcnow()
    start = (from_ or _month_start(now)).astimezone(UTC)
    end = (to or now).astimezone(UTC)
    if end <= start:
        raise invalid("to", "must be after from")
    repo = ReportRepository(session)
    managers = {m.id: m for m in await PeopleRepository(session).list_managers()}
    ids = _reportable(who, sorted(managers))

    async def measure(what: str, preset: str | None = None) -> dict[str, int]:
        return await repo.count_by_manager(what, ids, start, end, preset=preset)

    interactions = await measure("interactions")
    auto = await measure("auto_resolved")
    opened, closed = await measure("opened"), await measure("closed")
    closed_auto, canceled = await measure("closed_auto"), await measure("canceled")
    overdue = await repo.count_by_manager("overdue", ids, start, min(end, now))
    presets = await repo.presets_used(ids, start, end)
    targets = await repo.list_plan_targets(ids, start, end)

    reports = []
    for manager_id in ids:
        handled = interactions.get(manager_id, 0)
        plan = []
        for target in (t for t in targets if t.manager_id == manager_id):
            done = await _progress(repo, target)
            plan.append(
                PlanProgress(
                    id=target.id,
                    metric=target.metric,
                    preset=target.preset,
                    target=target.target,
                    done=done,
                    progress=f"{done} of {target.target}",
                    period_start=target.period_start,
                    period_end=target.period_end,
                )
            )
        reports.append(
            ManagerReport(
                manager_id=manager_id,
                name=managers[manager_id].name,
                interactions=handled,
                auto_resolved=auto.get(manager_id, 0),
                auto_resolved_share=round(auto.get(manager_id, 0) / handled, 4)
                if handled
                else None,
                activities=ActivityCounts(
                    opened=opened.get(manager_id, 0),
                    closed=closed.get(manager_id, 0),
                    closed_auto=closed_auto.get(manager_id, 0),
                    closed_by_manager=closed.get(manager_id, 0) - closed_auto.get(manager_id, 0),
                    canceled=canceled.get(manager_id, 0),
                    overdue=overdue.get(manager_id, 0),
                ),
                presets=presets.get(manager_id, {}),
                plan=plan,
            )
        )
    return ReportOut(from_=start, to=end, managers=reports)


async def _progress(repo: ReportRepository, target: PlanTarget) -> int:
    return await service.progress(repo.session, target)


@router.get("/plan-targets", response_model=list[PlanTargetOut], tags=["reports"])
async def list_plan_targets(
    session: SessionDep,
    who: Authorized,
    manager_id: Annotated[str | None, Query(max_length=64)] = None,
    from_: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    to: AwareDatetime | None = None,
) -> list[PlanTarget]:
    repo = ReportRepository(session)
    start = from_ or datetime(1970, 1, 1, tzinfo=UTC)
    end = to or datetime(9999, 1, 1, tzinfo=UTC)
    wanted = (
        [manager_id]
        if manager_id
        else [m.id for m in await PeopleRepository(session).list_managers()]
    )
    return await repo.list_plan_targets(_reportable(who, wanted), start, end)


@router.post(
    "/plan-targets",
    response_model=PlanTargetOut,
    status_code=status.HTTP_201_CREATED,
    tags=["reports"],
)
async def create_plan_target(
    body: PlanTargetIn, session: SessionDep, who: Authorized
) -> PlanTarget:
    target = await service.add_plan_target(session, body, who)
    await session.commit()
    return target


@router.delete(
    "/plan-targets/{target_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["reports"]
)
async def delete_plan_target(target_id: str, session: SessionDep, who: Authorized) -> Response:
    """Remove a target set by mistake (audited with what it was)."""
    await service.remove_plan_target(session, target_id, who)
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- audit --------------------------------------------------------------------------------------


@router.get("/audit", response_model=list[AuditOut], tags=["audit"])
async def audit_log(
    session: SessionDep,
    who: Authorized,
    entity: Annotated[str | None, Query(max_length=32)] = None,
    entity_id: Annotated[str | None, Query(max_length=255)] = None,
    before: Annotated[int | None, Query(ge=1, description="Entries older than this id")] = None,
    limit: Limit = 50,
) -> list[AuditOut]:
    rows = await ReportRepository(session).list_audit(entity, entity_id, limit, before)
    return [AuditOut.model_validate(r) for r in rows]
