"""Bodies of the contacts and companies routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from crm_store.core import (
    Body,
    Name200,
    Notes,
    PointText,
    Text200,
    no_nulls,
)

FieldKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
FieldValue = Annotated[str, StringConstraints(max_length=2000)] | int | float | None
FieldValues = Annotated[
    dict[FieldKey, FieldValue],
    Field(
        max_length=100,
        description="Values of the administrator's extra fields (`/api/v1/contact-fields`) by "
        "key: text, a number, a date (YYYY-MM-DD) or one of a choice field's values; null "
        "removes a value. On PATCH only the keys given change",
    ),
]
FIELDS_OUT = "Values of the extra fields by key (retired fields' values stay)"


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
    fields: FieldValues = Field(default_factory=dict)
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
    fields: FieldValues | None = None
    force: bool = False

    @model_validator(mode="after")
    def _checked(self) -> Self:
        no_nulls(self, "first_name", "last_name", "phones", "emails", "fields")
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
    fields: dict[str, Any] = Field(default_factory=dict, description=FIELDS_OUT)


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
    fields: FieldValues = Field(default_factory=dict)
    force: bool = False


class CompanyPatch(Body):
    name: Text200 | None = None
    domains: list[PointText] | None = Field(default=None, max_length=20)
    phones: list[PointText] | None = Field(default=None, max_length=20)
    emails: list[PointText] | None = Field(default=None, max_length=20)
    owner_id: str | None = None
    notes: Notes | None = None
    fields: FieldValues | None = None
    force: bool = False

    @model_validator(mode="after")
    def _checked(self) -> Self:
        no_nulls(self, "name", "domains", "phones", "emails", "fields")
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
    fields: dict[str, Any] = Field(default_factory=dict, description=FIELDS_OUT)


class CompanyPage(BaseModel):
    items: list[CompanyOut]
    next_cursor: str | None


# -- the administrator's extra fields -----------------------------------------------------------

FieldTypeName = Literal["text", "number", "date", "choice"]
Choice = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class ContactFieldIn(Body):
    entity: Literal["contact", "company"]
    key: FieldKey = Field(description="How the API names it in `fields`; never changes")
    label: Text200
    type: FieldTypeName = Field(description="Never changes: stored values were checked by it")
    choices: list[Choice] = Field(default_factory=list, max_length=50)
    max_length: int | None = Field(
        default=None, ge=1, le=2000, description="Text fields: at most this many characters"
    )
    position: int | None = Field(default=None, ge=0, le=1_000_000)


class ContactFieldPatch(Body):
    label: Text200 | None = None
    choices: list[Choice] | None = Field(default=None, max_length=50)
    max_length: int | None = Field(default=None, ge=1, le=2000)
    position: int | None = Field(default=None, ge=0, le=1_000_000)
    active: bool | None = Field(
        default=None, description="false retires the field: no new values, stored ones stay"
    )

    @model_validator(mode="after")
    def _checked(self) -> Self:
        no_nulls(self, "label", "choices", "position", "active")
        return self


class ContactFieldOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    entity: str
    key: str
    label: str
    type: str
    choices: list[str]
    max_length: int | None
    position: int
    active: bool
    created_at: datetime
