"""A manager who leaves, in one step: deactivated (their tokens revoked, their page sessions
ended) and what they look after handed to a chosen colleague: the contacts and companies they
own, their open activities and their plan targets still running. Their history stays: every
interaction keeps the manager who handled it then, closed activities keep who closed them, and
ended plan targets keep their figures. One unit of work: the route commits it all or nothing;
each reassigned activity is announced on `crm.activities.v1` (`change: reassigned`) through the
outbox, as every other activity change is, and the whole is audited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.activities import ActivityRepository, activity_record
from crm_store.core import (
    SOURCE,
    Activity,
    Company,
    Contact,
    PlanTarget,
    Principal,
    audit_entry,
    invalid,
    utcnow,
)
from crm_store.people.repository import PeopleRepository
from crm_store.people.service import change_manager
from switchboard_shared.problems import Problem

REASSIGNED = "reassigned"


@dataclass
class HandOver:
    """What moved from the departing manager to the colleague."""

    manager_id: str
    successor_id: str
    contacts: list[str] = field(default_factory=list)
    companies: list[str] = field(default_factory=list)
    activities: list[str] = field(default_factory=list)
    plan_targets: list[str] = field(default_factory=list)


async def _moved(
    session: AsyncSession, model: type[Contact] | type[Company], old: str, new: str, now: datetime
) -> list[str]:
    ids = list(
        (
            await session.execute(select(model.id).where(model.owner_id == old).order_by(model.id))
        ).scalars()
    )
    if ids:
        await session.execute(
            update(model).where(model.id.in_(ids)).values(owner_id=new, updated_at=now)
        )
    return ids


async def hand_over(
    session: AsyncSession, manager_id: str, successor_id: str, who: Principal
) -> HandOver:
    people = PeopleRepository(session)
    manager = await people.get_manager(manager_id)
    if manager is None:
        raise Problem(404, "Not found", f"no manager {manager_id}")
    if successor_id == manager_id:
        raise invalid("successor_id", "choose a colleague other than the one who leaves")
    successor = await people.get_manager(successor_id)
    if successor is None:
        raise invalid("successor_id", "no such manager")
    if not successor.active:
        raise invalid("successor_id", "this colleague is deactivated")
    now = utcnow()
    result = HandOver(manager_id, successor_id)
    if manager.active:  # revokes their tokens, which ends their page sessions
        await change_manager(session, manager_id, {"active": False}, who)
    result.contacts = await _moved(session, Contact, manager_id, successor_id, now)
    result.companies = await _moved(session, Company, manager_id, successor_id, now)
    result.activities = await _reassign_open(session, manager_id, successor_id, who, now)
    targets = (
        await session.execute(
            select(PlanTarget)
            .where(PlanTarget.manager_id == manager_id, PlanTarget.period_end > now)
            .order_by(PlanTarget.id)
        )
    ).scalars()
    for target in targets:
        target.manager_id = successor_id
        result.plan_targets.append(target.id)
    await people.audit(
        [
            audit_entry(
                who,
                "handed_over",
                "manager",
                manager_id,
                successor_id=successor_id,
                contacts=result.contacts,
                companies=result.companies,
                activities=result.activities,
                plan_targets=result.plan_targets,
            )
        ]
    )
    await session.flush()
    return result


async def _reassign_open(
    session: AsyncSession, old: str, new: str, who: Principal, now: datetime
) -> list[str]:
    """The departing manager's open activities, now the colleague's: announced and audited."""
    activities = list(
        (
            await session.execute(
                select(Activity)
                .where(Activity.assignee_id == old, Activity.state == "open")
                .order_by(Activity.opened_at, Activity.id)
                .with_for_update()
            )
        ).scalars()
    )
    repo = ActivityRepository(session)
    for activity in activities:
        await repo.update_activity(activity, assignee_id=new, updated_at=now)
    step = f"{REASSIGNED}:{new}@{now.isoformat()}"
    await repo.add_outbox(
        [
            activity_record(a, REASSIGNED, interaction_id=None, step=step, source=SOURCE, at=now)
            for a in activities
        ]
    )
    await repo.audit(
        [
            audit_entry(who, REASSIGNED, "activity", a.id, assignee_before=old, assignee_after=new)
            for a in activities
        ]
    )
    return [a.id for a in activities]
