"""Bodies of the managers and tokens routes."""

from __future__ import annotations

from datetime import datetime
from typing import Self

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from crm_store.core import (
    Body,
    Extension,
    Out,
    Role,
    Text200,
    TokenState,
    no_nulls,
)


class ManagerIn(Body):
    name: Text200
    email: str = Field(min_length=3, max_length=320)
    extensions: list[Extension] = Field(default_factory=list, max_length=50)
    phones: list[str] = Field(default_factory=list, max_length=20)
    role: Role = Role.MANAGER
    aliases: list[str] = Field(
        default_factory=list, max_length=20, description="More e-mail addresses of the manager"
    )


class ManagerOut(Out):
    id: str
    name: str
    email: str
    role: Role
    extensions: list[str]
    phones: list[str]
    active: bool
    created_at: datetime
    aliases: list[str] = Field(description="More e-mail addresses besides `email`")


class ManagerPatch(Body):
    name: Text200 | None = None
    email: str | None = Field(default=None, min_length=3, max_length=320)
    aliases: list[str] | None = Field(default=None, max_length=20)
    extensions: list[Extension] | None = Field(default=None, max_length=50)
    phones: list[str] | None = Field(default=None, max_length=20)
    role: Role | None = Field(
        default=None,
        description="A new role revokes the manager's tokens (and ends their page sessions): "
        "issue a new one",
    )
    active: bool | None = Field(
        default=None,
        description="false ends every token and page session of the manager at once; "
        "true lets them sign in again with new tokens (revoked tokens stay revoked)",
    )

    @model_validator(mode="after")
    def no_nulls(self) -> Self:
        no_nulls(self, "name", "active", "email", "aliases", "extensions", "phones", "role")
        return self


class HandOverIn(Body):
    successor_id: str = Field(
        min_length=1, max_length=64, description="The active colleague who takes everything over"
    )


class HandOverOut(Out):
    manager_id: str
    successor_id: str
    contacts: list[str] = Field(description="Contacts now owned by the colleague")
    companies: list[str]
    activities: list[str] = Field(description="Open activities now assigned to the colleague")
    plan_targets: list[str] = Field(description="Plan targets not yet ended, now the colleague's")


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


class SignInLinkOut(BaseModel):
    """A link that lets the manager set their page password: it works once, until
    `expires_at`."""

    manager_id: str
    purpose: str = Field(description="`invitation` or `reset`")
    url: str = Field(description="Shown once; only a hash of its secret is stored")
    expires_at: datetime
