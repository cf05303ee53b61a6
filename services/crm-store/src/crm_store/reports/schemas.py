"""Bodies of the report, plan-target and audit routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from crm_store.core import (
    Body,
    Out,
)

Metric = Literal["interactions", "activities_closed", "preset"]


class PlanTargetIn(Body):
    manager_id: str
    metric: Metric = Field(
        description="Only the manager's own acts count: `interactions`, the conversations "
        "they had (answered calls and messages; not a missed call, a mail waiting for them or "
        "what closed by itself); `activities_closed`, the items they closed (not one that closed "
        "by itself or was marked handled); `preset`, the named preset picked by a person"
    )
    preset: str | None = None
    target: int = Field(ge=1, le=1_000_000)
    period_start: AwareDatetime
    period_end: AwareDatetime

    @model_validator(mode="after")
    def _checked(self) -> Self:
        if self.period_end <= self.period_start:
            raise ValueError("period_end must be after period_start")
        if (self.metric == "preset") != (self.preset is not None):
            raise ValueError("preset is required for metric `preset`, and only for it")
        return self


class PlanTargetOut(Out):
    id: str
    manager_id: str
    metric: str
    preset: str | None
    target: int
    period_start: datetime
    period_end: datetime
    created_at: datetime


class PlanProgress(BaseModel):
    id: str
    metric: str
    preset: str | None
    target: int
    done: int
    progress: str = Field(description='"5 of 10"')
    period_start: datetime
    period_end: datetime


class ActivityCounts(BaseModel):
    opened: int = 0
    closed: int = 0
    closed_auto: int = 0
    closed_by_manager: int = 0
    canceled: int = 0
    overdue: int = 0


class ManagerReport(BaseModel):
    manager_id: str
    name: str
    interactions: int
    auto_resolved: int = Field(description="Interactions that needed nobody")
    auto_resolved_share: float | None
    activities: ActivityCounts
    presets: dict[str, int]
    plan: list[PlanProgress]


class ReportOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from")
    to: datetime
    managers: list[ManagerReport]


class AuditOut(Out):
    id: int
    at: datetime
    actor: str
    actor_role: str
    action: str
    entity: str
    entity_id: str
    changes: dict[str, Any]
