"""Bodies of the settings routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from crm_store.core import Body


class SettingsOut(BaseModel):
    group: str
    values: dict[str, Any] = Field(description="The values in force (the defaults if unsaved)")
    version: int = Field(description="0 while nobody saved the group")
    changed_by: str | None = None
    changed_at: datetime | None = None


class SettingsIn(Body):
    values: dict[str, Any] = Field(
        description="The whole group (fields left out take their defaults)", max_length=64
    )
    version: int | None = Field(
        default=None,
        ge=0,
        description="The version the change was made on; 409 if the group was saved since",
    )


class PreviewIn(Body):
    values: dict[str, Any] = Field(description="Proposed classification settings", max_length=64)


class TallyOut(BaseModel):
    calls: int
    calls_auto_closed: int
    messages: int
    messages_auto_closed: int


class ExampleOut(BaseModel):
    interaction_id: str
    kind: str
    occurred_at: datetime
    counterpart: str | None
    before: str
    after: str
    rule: str


class PreviewOut(BaseModel):
    days: int
    since: datetime
    current: TallyOut = Field(description="Re-classified with the settings in force")
    proposed: TallyOut = Field(description="Re-classified with the proposed settings")
    changed: int = Field(description="Interactions whose disposition would differ")
    examples: list[ExampleOut]
    truncated: bool = Field(description="Only the latest interactions were replayed")
