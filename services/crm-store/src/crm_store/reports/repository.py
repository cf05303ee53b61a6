"""The SQL of reports: counts per manager over a period, plan targets, the audit log."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Select, func, or_, select

from crm_store.core import Activity, AuditEntry, Interaction, PlanTarget, Store


class ReportRepository(Store):
    async def list_plan_targets(
        self, manager_ids: Iterable[str] | None, start: datetime, end: datetime
    ) -> list[PlanTarget]:
        """Targets whose period overlaps [start, end)."""
        statement = select(PlanTarget).where(
            PlanTarget.period_start < end, PlanTarget.period_end > start
        )
        if manager_ids is not None:
            statement = statement.where(PlanTarget.manager_id.in_(sorted(set(manager_ids))))
        statement = statement.order_by(PlanTarget.manager_id, PlanTarget.period_start)
        return list((await self.session.execute(statement)).scalars())

    async def count_by_manager(
        self,
        what: str,
        managers: Sequence[str],
        start: datetime,
        end: datetime,
        *,
        preset: str | None = None,
    ) -> dict[str, int]:
        """Per manager, how many of `what` happened in [start, end).

        interactions, auto_resolved (needed nobody), conversations (the manager's own acts:
        answered calls and messages they had, not a missed call, a mail waiting for them or
        what closed as nothing), opened, closed (done), closed_auto, closed_by_manager,
        canceled, status_set (presets picked, by `preset` when given), overdue (open now and
        past due at `end`).
        """
        if not managers:
            return {}
        i, a = Interaction, Activity
        statement: Select[str | None, int]
        match what:
            case "interactions" | "auto_resolved" | "conversations":
                statement = select(i.manager_id, func.count()).where(
                    i.manager_id.in_(managers), i.occurred_at >= start, i.occurred_at < end
                )
                if what == "auto_resolved":
                    statement = statement.where(i.disposition.in_(["auto_closed", "logged"]))
                if what == "conversations":
                    statement = statement.where(i.disposition.in_(["logged", "needs_status"]))
                statement = statement.group_by(i.manager_id)
            case "opened":
                statement = select(a.assignee_id, func.count()).where(
                    a.opened_at >= start, a.opened_at < end
                )
            case "closed" | "closed_auto" | "closed_by_manager" | "canceled":
                statement = select(a.assignee_id, func.count()).where(
                    a.closed_at >= start, a.closed_at < end
                )
                state = "canceled" if what == "canceled" else "done"
                statement = statement.where(a.state == state)
                if what == "closed_auto":
                    statement = statement.where(a.closed_by == "auto")
                if what == "closed_by_manager":
                    statement = statement.where(a.closed_by == "manager")
            case "status_set":
                statement = select(a.assignee_id, func.count()).where(
                    a.preset.is_not(None), a.updated_at >= start, a.updated_at < end
                )
                if preset is not None:
                    statement = statement.where(a.preset == preset)
                # a preset a person picked: not one an item took when it closed by itself
                statement = statement.where(or_(a.closed_by.is_(None), a.closed_by != "auto"))
            case "overdue":
                statement = select(a.assignee_id, func.count()).where(
                    a.state == "open", a.due_at.is_not(None), a.due_at < end
                )
            case _:
                raise ValueError(f"unknown measure {what!r}")
        if what not in ("interactions", "auto_resolved", "conversations"):
            statement = statement.where(a.assignee_id.in_(managers)).group_by(a.assignee_id)
        return {m: n for m, n in (await self.session.execute(statement)).all() if m}

    async def presets_used(
        self, managers: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, dict[str, int]]:
        if not managers:
            return {}
        statement = (
            select(Activity.assignee_id, Activity.preset, func.count())
            .where(
                Activity.assignee_id.in_(managers),
                Activity.preset.is_not(None),
                Activity.updated_at >= start,
                Activity.updated_at < end,
            )
            .group_by(Activity.assignee_id, Activity.preset)
        )
        out: dict[str, dict[str, int]] = {}
        for manager_id, preset, n in await self.session.execute(statement):
            if manager_id is not None and preset is not None:
                out.setdefault(manager_id, {})[preset] = n
        return out

    async def list_audit(
        self, entity: str | None, entity_id: str | None, limit: int, before: int | None
    ) -> list[AuditEntry]:
        statement = select(AuditEntry)
        if entity is not None:
            statement = statement.where(AuditEntry.entity == entity)
        if entity_id is not None:
            statement = statement.where(AuditEntry.entity_id == entity_id)
        if before is not None:
            statement = statement.where(AuditEntry.id < before)
        statement = statement.order_by(AuditEntry.id.desc()).limit(limit)
        return list((await self.session.execute(statement)).scalars())
