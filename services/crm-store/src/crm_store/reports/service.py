"""Plan targets: the unit of work behind `POST /api/v1/plan-targets`. It stages the target and
its audit entry; the route commits. The reports themselves are reads (`repository`)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.activities import ActivityRepository
from crm_store.core import PlanTarget, Principal, audit_entry, invalid, utcnow
from crm_store.people import PeopleRepository
from crm_store.reports.repository import ReportRepository
from crm_store.reports.schemas import PlanTargetIn
from switchboard_shared.problems import Problem


async def add_plan_target(session: AsyncSession, body: PlanTargetIn, who: Principal) -> PlanTarget:
    repo = ReportRepository(session)
    if await PeopleRepository(session).get_manager(body.manager_id) is None:
        raise invalid("manager_id", "no such manager")
    if (
        body.preset is not None
        and await ActivityRepository(session).get_preset(body.preset) is None
    ):
        raise invalid("preset", "no such preset")
    target = PlanTarget(
        id=str(uuid.uuid4()),
        manager_id=body.manager_id,
        metric=body.metric,
        preset=body.preset,
        target=body.target,
        period_start=body.period_start,
        period_end=body.period_end,
        created_at=utcnow(),
    )
    await repo.add(target)
    await repo.audit(
        [audit_entry(who, "created", "plan_target", target.id, **body.model_dump(mode="json"))]
    )
    return target


async def remove_plan_target(session: AsyncSession, target_id: str, who: Principal) -> None:
    """A target set by mistake goes (audited with what it was); a target that ran its course
    stays for the history of the figures."""
    target = await session.get(PlanTarget, target_id)
    if target is None:
        raise Problem(404, "Not found", f"no plan target {target_id}")
    was = {
        "manager_id": target.manager_id,
        "metric": target.metric,
        "preset": target.preset,
        "target": target.target,
        "period_start": target.period_start.isoformat(),
        "period_end": target.period_end.isoformat(),
    }
    await session.delete(target)
    await ReportRepository(session).audit(
        [audit_entry(who, "deleted", "plan_target", target_id, before=was)]
    )


# What each plan metric counts: only the manager's own acts. Conversations they had (not a
# missed call, a mail waiting for them, or a wrong number that closed by itself); activities
# they closed (not a callback the later call closed by itself, not "mark all as handled");
# the named preset, picked by a person.
METRIC_MEASURES = {
    "interactions": "conversations",
    "activities_closed": "closed_by_manager",
    "preset": "status_set",
}


async def progress(session: AsyncSession, target: PlanTarget) -> int:
    """How many of the acts the target names the manager did in its period: the managers'
    counters ("5 of 10") and the admin area show the same figure."""
    counts = await ReportRepository(session).count_by_manager(
        METRIC_MEASURES[target.metric],
        [target.manager_id],
        target.period_start,
        target.period_end,
        preset=target.preset,
    )
    return counts.get(target.manager_id, 0)
