"""The admin area's plan targets: a goal per manager and period ("10 meetings scheduled in
March"), with the same counter the managers see on their inbox ("5 of 10"), counting only the
acts the target names. Registered on `routes.router`; the units of work are the API's
(`crm_store.reports`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.activities import ActivityRepository
from crm_store.core import PlanTarget, SessionDep, invalid, utcnow
from crm_store.people import PeopleRepository
from crm_store.reports import PlanTargetIn, ReportRepository
from crm_store.reports import service as plan_service
from crm_store.web import present
from crm_store.web.admin import admin_view, changer, done, field_errors, reader
from crm_store.web.forms import FormDep
from crm_store.web.i18n import N_, _
from crm_store.web.render import page
from crm_store.web.routes import Id, router
from crm_store.web.session import CurrentUser, PostingUser, User
from switchboard_shared.problems import Problem

NOTICES = {"added": N_("The target was added."), "removed": N_("The target was removed.")}
PRESET_METRIC = "preset:"


@dataclass(frozen=True)
class TargetRow:
    id: str
    manager: str
    what: str
    start: date
    last_day: date
    done: int
    target: int
    running: bool

    @property
    def progress(self) -> str:
        return _("%(done)s of %(target)s", done=self.done, target=self.target)


def _day(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise invalid(field, _("enter a date (YYYY-MM-DD)")) from exc


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


async def _metrics(session: AsyncSession) -> list[tuple[str, str]]:
    options = [(k, _(v)) for k, v in present.METRIC_LABELS.items()]
    for preset in await ActivityRepository(session).list_presets():
        options.append((PRESET_METRIC + preset.code, _("Preset: %(label)s", label=preset.label)))
    return options


async def _rows(session: AsyncSession, targets: list[PlanTarget]) -> list[TargetRow]:
    names = {m.id: m.name for m in await PeopleRepository(session).list_managers()}
    labels = {
        p.code: p.label
        for p in await ActivityRepository(session).list_presets(include_inactive=True)
    }
    now = utcnow()
    rows = []
    for t in targets:
        what = (
            labels.get(t.preset or "", t.preset or "")
            if t.metric == "preset"
            else _(present.METRIC_LABELS.get(t.metric, t.metric))
        )
        rows.append(
            TargetRow(
                id=t.id,
                manager=names.get(t.manager_id, t.manager_id),
                what=what,
                start=t.period_start.date(),
                last_day=(t.period_end - timedelta(seconds=1)).date(),
                done=await plan_service.progress(session, t),
                target=t.target,
                running=t.period_start <= now < t.period_end,
            )
        )
    return rows


async def _plan_page(
    session: AsyncSession, user: User, *, status: int = 200, **context: Any
) -> Response:
    now = utcnow()
    recent = now - timedelta(days=92)
    targets = await ReportRepository(session).list_plan_targets(
        None, recent, datetime(9999, 1, 1, tzinfo=UTC)
    )
    managers = await PeopleRepository(session).list_managers(active_only=True)
    month = now.date().replace(day=1)
    next_month = (month + timedelta(days=32)).replace(day=1)
    context.setdefault("notice", None)
    return page(
        "admin_plan.html",
        status=status,
        **admin_view(
            user,
            "/admin/plan",
            rows=await _rows(session, targets),
            managers=[(m.id, m.name) for m in managers],
            metrics=await _metrics(session),
            default_start=month.isoformat(),
            default_end=(next_month - timedelta(days=1)).isoformat(),
            **context,
        ),
    )


@router.get("/admin/plan")
async def plan_page(
    request: Request, session: SessionDep, user: CurrentUser, notice: str | None = None
) -> Response:
    reader(user)
    return await _plan_page(session, user, notice=_(NOTICES.get(notice or "", "")) or None)


@router.post("/admin/plan")
async def add_target(
    request: Request, session: SessionDep, user: PostingUser, form: FormDep
) -> Response:
    """The period is whole days, first to last (UTC); the last day counts."""
    changer(user)
    metric = form.get("metric", "")
    try:
        target = form.get("target", "").strip()
        if not target.isdigit():
            raise invalid("target", _("enter a whole number, at least 1"))
        first = _day(form.get("period_start", ""), "period_start")
        last = _day(form.get("period_end", ""), "period_end")
        if last < first:
            raise invalid("period_end", _("the last day is before the first"))
        body = PlanTargetIn.model_validate(
            {
                "manager_id": form.get("manager_id", "")[:64],
                "metric": "preset" if metric.startswith(PRESET_METRIC) else metric,
                "preset": metric.removeprefix(PRESET_METRIC)
                if metric.startswith(PRESET_METRIC)
                else None,
                "target": int(target),
                "period_start": _midnight(first),
                "period_end": _midnight(last + timedelta(days=1)),
            }
        )
        await plan_service.add_plan_target(session, body, user.principal)
    except (Problem, ValidationError) as exc:
        await session.rollback()
        return await _plan_page(
            session,
            user,
            status=exc.status if isinstance(exc, Problem) else 422,
            errors=field_errors(exc),
            values=form,
        )
    await session.commit()
    return done("/admin/plan", "added")


@router.post("/admin/plan/{target_id}/remove")
async def remove_target(
    request: Request, target_id: Id, session: SessionDep, user: PostingUser
) -> Response:
    changer(user)
    await plan_service.remove_plan_target(session, target_id, user.principal)
    await session.commit()
    return done("/admin/plan", "removed")
