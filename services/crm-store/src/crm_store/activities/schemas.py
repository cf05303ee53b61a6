"""Bodies of the activities and presets routes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Self

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from crm_store.core import (
    Body,
    Name200,
    Out,
    PresetCode,
    Text200,
)
from switchboard_shared.events import (
    ActivityKind,
    ActivityState,
    ClosedBy,
    Disposition,
    InteractionKind,
)


class BounceOut(BaseModel):
    """Mail to the client on this activity's thread bounced for good: answering there goes
    nowhere until the client gives another address (or writes again from this one)."""

    address: str
    status: str | None = None
    diagnostic: str | None = None
    interaction_id: str = Field(description="The bounce")
    at: datetime


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
    bounce: BounceOut | None = Field(
        default=None, description="Set on an open `reply` whose thread's mail bounced for good"
    )


class ActivityPage(BaseModel):
    items: list[ActivityOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end"
    )


class StatusIn(Body):
    preset: str = Field(min_length=1, max_length=64)
    note: str | None = Field(default=None, max_length=4000)
    due_at: AwareDatetime | None = Field(
        default=None,
        description="For a preset that keeps the item open (Call back later): when it is due "
        "again, in the future and within a year",
    )


class PresetOut(Out):
    code: str
    label: str
    kinds: list[ActivityKind]
    closes: bool
    overturns: list[Disposition]
    position: int
    active: bool
    channels: list[InteractionKind]
    labels: dict[str, str] = Field(description="The label per locale; `label` is the English one")


CHANNELS_HELP = "Which cards offer it: those of calls, of e-mails, or both"
Locale = Literal["en", "pl", "lv", "lt", "ms", "ta"]
LABELS_HELP = (
    "The label per locale code (en, pl, lv, lt, ms, ta); the page shows the user's locale's, "
    "else `label`. A blank label is dropped"
)


class PresetIn(Body):
    code: PresetCode
    label: Text200
    kinds: list[ActivityKind] = Field(min_length=1)
    closes: bool = False
    overturns: list[Disposition] = Field(
        default_factory=list, description="Dispositions this preset says the classifier got wrong"
    )
    position: int | None = Field(default=None, description="Defaults to after the last one")
    active: bool = True
    channels: list[InteractionKind] = Field(
        default_factory=lambda: list(InteractionKind), min_length=1, description=CHANNELS_HELP
    )
    labels: dict[Locale, Name200] = Field(default_factory=dict, description=LABELS_HELP)


class PresetPatch(Body):
    label: Text200 | None = None
    kinds: list[ActivityKind] | None = Field(default=None, min_length=1)
    closes: bool | None = None
    overturns: list[Disposition] | None = None
    position: int | None = None
    active: bool | None = None
    channels: list[InteractionKind] | None = Field(
        default=None, min_length=1, description=CHANNELS_HELP
    )
    labels: dict[Locale, Name200] | None = Field(
        default=None, description=f"{LABELS_HELP}. Replaces every locale's label"
    )

    @model_validator(mode="after")
    def no_nulls(self) -> Self:
        nulls = sorted(name for name in self.model_fields_set if getattr(self, name) is None)
        if nulls:
            raise ValueError(f"cannot be null: {', '.join(nulls)}")
        return self


class PresetOrderIn(Body):
    codes: list[PresetCode] = Field(
        min_length=1, max_length=200, description="Presets in their new order; others follow"
    )


class MarkHandledIn(Body):
    reason: str = Field(min_length=1, max_length=500, description="Why, for the audit log")
    assignee_id: str | None = Field(
        default=None,
        max_length=64,
        description="Whose inbox: yours when omitted (supervisors and admins name a manager)",
    )


class MarkHandledOut(BaseModel):
    handled: int = Field(description="Items canceled (at most 500 per call: call again)")
