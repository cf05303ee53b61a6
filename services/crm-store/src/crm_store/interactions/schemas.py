"""Bodies of the interactions and timeline routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from crm_store.activities import ActivityOut
from crm_store.core import (
    Out,
)
from crm_store.directory import ContactOut


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
    thread_id: str | None = Field(
        default=None,
        description="A message's thread; a bounce takes the thread of the message it returns",
    )


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
