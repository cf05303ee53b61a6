"""Request and response bodies of the crm-store API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from crm_store.access import TokenState
from crm_store.domain import Role
from switchboard_shared.events import ActivityKind, ActivityState, ClosedBy, Disposition

Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Name200 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
PointText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320)]
Notes = Annotated[str, StringConstraints(max_length=10_000)]
Extension = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
PresetCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,63}$")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ActivityOut(Out):
    id: str
    kind: ActivityKind
    state: ActivityState
    counterpart: str | None
    thread_id: str | None
    interaction_id: str
    last_interaction_id: str
    count: int
    assignee_id: str | None
    preset: str | None
    note: str | None
    closed_by: ClosedBy | None
    close_reason: str | None
    contact_id: str | None
    company_id: str | None
    opened_at: datetime
    last_occurred_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    due_at: datetime | None


class ActivityPage(BaseModel):
    items: list[ActivityOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end"
    )


class StatusIn(Body):
    preset: str = Field(min_length=1, max_length=64)
    note: str | None = Field(default=None, max_length=4000)


class PresetOut(Out):
    code: str
    label: str
    kinds: list[ActivityKind]
    closes: bool
    overturns: list[Disposition]
    position: int
    active: bool


class PresetIn(Body):
    code: PresetCode
    label: Text200
    kinds: list[ActivityKind] = Field(min_length=1)
    closes: bool = False
    overturns: list[Disposition] = Field(
        default_factory=list, description="Dispositions this preset says the classifier got wrong"
    )
    position: int = 0
    active: bool = True


class PresetPatch(Body):
    label: Text200 | None = None
    kinds: list[ActivityKind] | None = Field(default=None, min_length=1)
    closes: bool | None = None
    overturns: list[Disposition] | None = None
    position: int | None = None
    active: bool | None = None

    @model_validator(mode="after")
    def _no_nulls(self) -> Self:
        nulls = sorted(name for name in self.model_fields_set if getattr(self, name) is None)
        if nulls:
            raise ValueError(f"cannot be null: {', '.join(nulls)}")
        return self


class ManagerIn(Body):
    name: Text200
    email: str = Field(min_length=3, max_length=320)
    extensions: list[Extension] = Field(default_factory=list, max_length=50)
    phones: list[str] = Field(default_factory=list, max_length=20)
    role: Role = Role.MANAGER


class ManagerOut(Out):
    id: str
    name: str
    email: str
    role: Role
    extensions: list[str]
    phones: list[str]
    active: bool
    created_at: datetime


class ManagerPatch(Body):
    name: Text200 | None = None
    active: bool | None = Field(
        default=None,
        description="false ends every token and page session of the manager at once; "
        "true lets them sign in again with new tokens (revoked tokens stay revoked)",
    )

    @model_validator(mode="after")
    def _no_nulls(self) -> Self:
        _no_nulls(self, "name", "active")
        return self


class TokenIn(Body):
    manager_id: str | None = None
    role: Role | None = Field(default=None, description="Defaults to the manager's role")
    expires_in_days: int | None = Field(
        default=None, ge=1, le=3650, description="The token stops working after this many days"
    )
    expires_at: AwareDatetime | None = Field(
        default=None, description="The token stops working at this time (in the future)"
    )

    @model_validator(mode="after")
    def _one_expiry(self) -> Self:
        if self.expires_in_days is not None and self.expires_at is not None:
            raise ValueError("give expires_in_days or expires_at, not both")
        return self


class TokenOut(BaseModel):
    id: str
    token: str = Field(description="Shown once; only its SHA-256 is stored")
    manager_id: str | None
    role: Role
    created_at: datetime
    expires_at: datetime | None = None


class TokenInfo(BaseModel):
    """A token as listed: never its secret."""

    id: str
    manager_id: str | None
    manager_name: str | None
    role: Role
    state: TokenState
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None = Field(description="Recorded at most once a minute")
    revoked_at: datetime | None


def _no_nulls(model: BaseModel, *names: str) -> None:
    nulls = sorted(n for n in names if n in model.model_fields_set and getattr(model, n) is None)
    if nulls:
        raise ValueError(f"cannot be null: {', '.join(nulls)}")


# -- contacts and companies -------------------------------------------------------------------


class ContactIn(Body):
    first_name: Name200 = ""
    last_name: Name200 = ""
    title: Name200 | None = None
    company_id: str | None = None
    owner_id: str | None = Field(default=None, description="The manager who owns the contact")
    notes: Notes | None = None
    phones: list[PointText] = Field(
        default_factory=list, max_length=20, description="Any format; stored as E.164"
    )
    emails: list[PointText] = Field(default_factory=list, max_length=20)
    force: bool = Field(default=False, description="Save even when it looks like a duplicate")

    @model_validator(mode="after")
    def _named(self) -> Self:
        if not (self.first_name or self.last_name):
            raise ValueError("first_name or last_name is required")
        return self


class ContactPatch(Body):
    first_name: Name200 | None = None
    last_name: Name200 | None = None
    title: Name200 | None = None
    company_id: str | None = None
    owner_id: str | None = None
    notes: Notes | None = None
    phones: list[PointText] | None = Field(default=None, max_length=20)
    emails: list[PointText] | None = Field(default=None, max_length=20)
    force: bool = False

    @model_validator(mode="after")
    def _checked(self) -> Self:
        _no_nulls(self, "first_name", "last_name", "phones", "emails")
        return self


class ContactOut(BaseModel):
    id: str
    first_name: str
    last_name: str
    name: str
    title: str | None
    company_id: str | None
    owner_id: str | None
    phones: list[str]
    emails: list[str]
    notes: str | None
    archived_at: datetime | None
    merged_into_id: str | None
    created_at: datetime
    updated_at: datetime


class ContactPage(BaseModel):
    items: list[ContactOut]
    next_cursor: str | None


class MergeIn(Body):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: list[str] = Field(alias="from", min_length=1, max_length=50)


class CompanyIn(Body):
    name: Text200
    domains: list[PointText] = Field(
        default_factory=list, max_length=20, description="E-mail domains (not free-mail ones)"
    )
    phones: list[PointText] = Field(default_factory=list, max_length=20)
    emails: list[PointText] = Field(default_factory=list, max_length=20)
    owner_id: str | None = None
    notes: Notes | None = None
    force: bool = False


class CompanyPatch(Body):
    name: Text200 | None = None
    domains: list[PointText] | None = Field(default=None, max_length=20)
    phones: list[PointText] | None = Field(default=None, max_length=20)
    emails: list[PointText] | None = Field(default=None, max_length=20)
    owner_id: str | None = None
    notes: Notes | None = None
    force: bool = False

    @model_validator(mode="after")
    def _checked(self) -> Self:
        _no_nulls(self, "name", "domains", "phones", "emails")
        return self


class CompanyOut(BaseModel):
    id: str
    name: str
    domains: list[str]
    phones: list[str]
    emails: list[str]
    owner_id: str | None
    notes: str | None
    archived_at: datetime | None
    merged_into_id: str | None
    created_at: datetime
    updated_at: datetime


class CompanyPage(BaseModel):
    items: list[CompanyOut]
    next_cursor: str | None


# -- interactions -----------------------------------------------------------------------------


class InteractionOut(Out):
    id: str
    kind: str
    occurred_at: datetime
    direction: str
    counterpart: str | None
    disposition: str
    tags: list[str]
    reasons: list[dict[str, Any]]
    status: str | None
    agent: str | None
    linked_id: str | None
    manager_id: str | None
    contact_id: str | None
    company_id: str | None
    link: str = Field(description="contact, ambiguous, company, domain or none")
    candidates: list[str] = Field(description="Contacts sharing the counterpart (ambiguous)")


class InteractionDetail(InteractionOut):
    payload: dict[str, Any] = Field(description="The classified event as received")


class InteractionPage(BaseModel):
    items: list[InteractionOut]
    next_cursor: str | None


class Timeline(BaseModel):
    contact: ContactOut
    interactions: list[InteractionOut]
    activities: list[ActivityOut] = Field(
        description="The contact's activities the caller may read (as `GET /activities`), "
        "newest first"
    )
    next_cursor: str | None = Field(description="The next page of interactions")


# -- reports, plan targets, audit -------------------------------------------------------------

Metric = Literal["interactions", "activities_closed", "preset"]


class PlanTargetIn(Body):
    manager_id: str
    metric: Metric = Field(
        description="interactions handled, activities closed, or a preset picked (`preset`)"
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
