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
