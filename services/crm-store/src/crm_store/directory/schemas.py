"""Bodies of the contacts and companies routes."""

from __future__ import annotations

from datetime import datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from crm_store.core import (
    Body,
    Name200,
    Notes,
    PointText,
    Text200,
    no_nulls,
)


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
        no_nulls(self, "first_name", "last_name", "phones", "emails")
        return self


class UndeliverableOut(BaseModel):
    """An address that bounced for good: nobody should write to it until it writes to us."""

    email: str
    since: datetime = Field(description="When the bounce that marked it arrived")
    status: str | None = Field(description="RFC 3463 status, e.g. 5.1.1")
    diagnostic: str | None = Field(description="The remote server's answer")
    interaction_id: str | None = Field(description="The bounce, on the contact's timeline")


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
    preferred_email: str | None = Field(
        default=None,
        description="The address to write to: the first of `emails` that is not undeliverable",
    )
    undeliverable: list[UndeliverableOut] = Field(
        default_factory=list, description="Addresses of `emails` that bounced for good"
    )


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
        no_nulls(self, "name", "domains", "phones", "emails")
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
    undeliverable: list[UndeliverableOut] = Field(
        default_factory=list, description="Addresses of `emails` that bounced for good"
    )


class CompanyPage(BaseModel):
    items: list[CompanyOut]
    next_cursor: str | None
