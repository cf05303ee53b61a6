"""Request and response bodies of the crm-store API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from crm_store.domain import Role
from switchboard_shared.events import ActivityKind, ActivityState, ClosedBy, Disposition

Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
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
    opened_at: datetime
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


class TokenIn(Body):
    manager_id: str | None = None
    role: Role | None = Field(default=None, description="Defaults to the manager's role")


class TokenOut(BaseModel):
    id: str
    token: str = Field(description="Shown once; only its SHA-256 is stored")
    manager_id: str | None
    role: Role
    created_at: datetime
