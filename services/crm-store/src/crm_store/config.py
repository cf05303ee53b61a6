"""crm-store settings (`CRM_STORE_*`) and the policy they give the rules (`store_policy`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Self
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from switchboard_shared.events import ActivityKind
from switchboard_shared.settings import (
    ServiceSettings,
    empty_is_unset,
    refuse_development_secret,
    refuse_placeholder,
)
from switchboard_shared.settings.groups import OutcomeSettings


@dataclass(frozen=True)
class DuePolicy:
    """How long each kind may stay open before it counts as overdue."""

    hours: Mapping[ActivityKind, float] = field(
        default_factory=lambda: {
            ActivityKind.CALLBACK: 4.0,
            ActivityKind.REPLY: 24.0,
            ActivityKind.LOG_OUTCOME: 24.0,
            ActivityKind.IDENTIFY_CONTACT: 72.0,
        }
    )

    def due_at(self, kind: ActivityKind, opened_at: datetime) -> datetime | None:
        hours = self.hours.get(kind)
        return None if hours is None else opened_at + timedelta(hours=hours)


@dataclass(frozen=True)
class StorePolicy:
    """What the rules need from the settings."""

    own_domains: tuple[str, ...] = ()
    due: DuePolicy = field(default_factory=DuePolicy)
    activity_horizon: timedelta = timedelta(hours=72)
    """Imported history older than this (when stored) opens no activity and folds into none."""
    callback_min_talk_s: float = 10.0
    """An answered call closes a callback only when longer (`activities.domain.SHORT_CALL_S`)."""
    outcomes: OutcomeSettings = field(default_factory=OutcomeSettings)
    """When an answered conversation asks for an outcome (the administrator's policy)."""
    group_owners: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Ring group, queue or number -> the manager (id or e-mail) a missed call to it goes to
    when the client has no owner."""


DEFAULT_POLICY = StorePolicy()
MAX_GROUP_OWNERS = 1000
MAX_GROUP_LEN = 128
MAX_OWNER_LEN = 320


def parse_group_owners(value: object) -> object:
    """`600=anna@example.com,queue-support=<manager id>` from the environment, bounded; a group
    named twice is refused (which owner was meant?)."""
    if not isinstance(value, str):
        return value
    name = "CRM_STORE_GROUP_OWNERS"
    items = [part.strip() for part in value.split(",") if part.strip()]
    if len(items) > MAX_GROUP_OWNERS:
        raise ValueError(f"{name}: at most {MAX_GROUP_OWNERS} groups, got {len(items)}")
    owners: dict[str, str] = {}
    for item in items:
        group, sep, owner = (part.strip() for part in item.partition("="))
        if not sep or not group or not owner:
            raise ValueError(f"{name}: expected group=manager, got {item[:200]!r}")
        if len(group) > MAX_GROUP_LEN or len(owner) > MAX_OWNER_LEN:
            raise ValueError(f"{name}: group or manager too long in {item[:200]!r}")
        if group in owners:
            raise ValueError(f"{name}: group {group!r} is given twice")
        owners[group] = owner
    return owners


def parse_domains(value: object) -> object:
    """`example.com, example.org` from the environment: folded, at most 100."""
    if not isinstance(value, str):
        return value
    domains = [d.strip().lower().lstrip("@") for d in value.split(",") if d.strip()]
    if len(domains) > 100 or any(len(d) > 253 or "." not in d for d in domains):
        raise ValueError("CRM_STORE_OIDC_EMAIL_DOMAINS: up to 100 domains like example.com")
    return domains


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def secure_or_loopback(url: str) -> bool:
    """https://, or http:// on this machine (a development or test provider)."""
    parsed = urlsplit(url)
    host = (parsed.hostname or "").lower()
    return parsed.scheme == "https" or (parsed.scheme == "http" and host in LOOPBACK_HOSTS)


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CRM_STORE_", extra="ignore")

    port: int = 8004
    database_url: str = "sqlite+aiosqlite:///var/crm.db"
    bootstrap_admin_token: str | None = Field(default=None, min_length=16)
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Larger request bodies are refused (413) before they are read",
    )
    max_inflight_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1024,
        description="Request body bytes held at once, all requests together; past it: 503 "
        "(retry shortly)",
    )
    docs_enabled: bool = Field(
        default=True, description="Serve Swagger UI at /docs (from local files); off: none"
    )
    page_session_h: float = Field(
        default=12.0, gt=0, le=24 * 30, description="How long a page sign-in lasts at most"
    )
    bootstrap_admin_email: str | None = Field(
        default=None,
        max_length=320,
        description="An administrator with this e-mail address is created at start if missing; "
        "while they have no password, each start writes a link to set one in the log",
    )
    public_url: str | None = Field(
        default=None,
        max_length=300,
        description="The page's address as people reach it (https://crm.example.com); "
        "invitation and reset links start with it (default: the address asked, or 127.0.0.1)",
    )
    invitation_h: float = Field(
        default=72.0, gt=0, le=24 * 30, description="How long an invitation link works"
    )
    reset_link_h: float = Field(
        default=24.0, gt=0, le=24 * 30, description="How long a password reset link works"
    )
    sign_in_max_failures: int = Field(
        default=5, ge=1, le=1000, description="Failed sign-ins that lock an account"
    )
    sign_in_address_max_failures: int = Field(
        default=50, ge=1, le=100_000, description="Failed sign-ins that lock a client address"
    )
    sign_in_window_min: float = Field(
        default=15.0, gt=0, le=24 * 60, description="The window failures are counted in"
    )
    sign_in_lock_min: float = Field(
        default=15.0, gt=0, le=24 * 60, description="How long a lock-out lasts"
    )
    oidc_issuer: str | None = Field(
        default=None,
        max_length=300,
        description="Single sign-on: the OpenID Connect issuer (https://accounts.google.com, "
        "https://login.microsoftonline.com/<tenant>/v2.0); unset: no single sign-on",
    )
    oidc_client_id: str | None = Field(default=None, max_length=300)
    oidc_client_secret: str | None = Field(default=None, max_length=500)
    oidc_email_domains: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated e-mail domains single sign-on accepts (empty: any domain "
        "of an active manager's address)",
    )
    oidc_label: str = Field(
        default="single sign-on",
        max_length=60,
        description="What the sign-in button names: `Google`, `Microsoft`...",
    )
    consumer_group: str = "crm-store"
    max_attempts: int = Field(
        default=5, ge=1, description="Tries before a message is dead-lettered"
    )
    outbox_interval_s: float = Field(default=0.5, gt=0)
    outbox_retention_h: float = Field(
        default=168.0, ge=0, description="How long published outbox rows are kept"
    )
    consumer_batch_size: int = Field(
        default=1000, ge=1, le=10_000, description="Records stored per transaction at most"
    )
    consumer_batch_timeout_ms: int = Field(
        default=50,
        ge=1,
        le=10_000,
        description="How long a poll waits for records when none are there (a batch is what "
        "has arrived, never waited for); after an empty poll the consumer rests as long again",
    )
    consumer_fetch_wait_ms: int = Field(
        default=50,
        ge=1,
        le=10_000,
        description="How long the broker may hold a fetch while the partitions have no new "
        "records; it bounds how late an idle consumer sees a record (the client's 500 ms "
        "default made each record wait a quarter of a second on average)",
    )
    history_batch_size: int = Field(
        default=200,
        ge=1,
        le=10_000,
        description="Imported history records stored per transaction at most; a live record "
        "waits at most for the one history batch in hand",
    )
    activity_horizon_h: float = Field(
        default=72.0,
        gt=0,
        description="Imported history older than this opens no activity (it is stored, linked, "
        "and may close what was open before it)",
    )
    gauges_interval_s: float = Field(
        default=30.0, gt=0, description="How often open/overdue activity gauges are refreshed"
    )
    callback_due_h: float = Field(default=4.0, gt=0, description="A callback is overdue after")
    reply_due_h: float = Field(default=24.0, gt=0)
    log_outcome_due_h: float = Field(default=24.0, gt=0)
    identify_contact_due_h: float = Field(default=72.0, gt=0)
    log_outcome_expire_h: float = Field(
        default=72.0,
        ge=0,
        description="An outcome request nobody answered expires into 'no outcome recorded' "
        "after this many hours (0: never)",
    )
    undo_min: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="How long the person who set a status may undo it (minutes)",
    )
    callback_min_talk_s: float = Field(
        default=10.0,
        ge=0,
        description="An answered call closes the client's callback only when its talk is longer "
        "(a voicemail box or a 5-second call reached nobody)",
    )
    rules_path: Path | None = Field(
        default=None,
        description="The classifier's rules file (CLASSIFIER_RULES_PATH), which the admin "
        "preview of a classification change replays; unset: the default rules shipped",
    )
    group_owners: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="group=manager pairs, comma-separated: a missed call to the ring group, "
        "queue or number `group` (what the caller dialled) goes to that manager (id or "
        "e-mail) when the client has no owner",
    )

    _empty_is_unset = field_validator(
        "bootstrap_admin_token",
        "bootstrap_admin_email",
        "public_url",
        "oidc_issuer",
        "oidc_client_id",
        "oidc_client_secret",
        mode="before",
    )(empty_is_unset)
    _oidc_domains = field_validator("oidc_email_domains", mode="before")(parse_domains)
    _group_owners = field_validator("group_owners", mode="before")(parse_group_owners)

    def store_policy(self) -> StorePolicy:
        hours = {
            ActivityKind.CALLBACK: self.callback_due_h,
            ActivityKind.REPLY: self.reply_due_h,
            ActivityKind.LOG_OUTCOME: self.log_outcome_due_h,
            ActivityKind.IDENTIFY_CONTACT: self.identify_contact_due_h,
        }
        return StorePolicy(
            own_domains=tuple(self.common.own_domains),
            due=DuePolicy(hours),
            activity_horizon=timedelta(hours=self.activity_horizon_h),
            callback_min_talk_s=self.callback_min_talk_s,
            group_owners=MappingProxyType(dict(self.group_owners)),
        )

    @field_validator("bootstrap_admin_token")
    @classmethod
    def _no_placeholder(cls, value: str | None) -> str | None:
        return refuse_placeholder("CRM_STORE_BOOTSTRAP_ADMIN_TOKEN", value)

    @field_validator("oidc_client_secret")
    @classmethod
    def _no_placeholder_oidc(cls, value: str | None) -> str | None:
        return refuse_placeholder("CRM_STORE_OIDC_CLIENT_SECRET", value)

    @model_validator(mode="after")
    def _oidc_whole(self) -> Self:
        given = [self.oidc_issuer, self.oidc_client_id, self.oidc_client_secret]
        if any(given) and not all(given):
            raise ValueError(
                "single sign-on needs CRM_STORE_OIDC_ISSUER, CRM_STORE_OIDC_CLIENT_ID and "
                "CRM_STORE_OIDC_CLIENT_SECRET together"
            )
        if self.oidc_issuer and not secure_or_loopback(self.oidc_issuer):
            raise ValueError("CRM_STORE_OIDC_ISSUER must be an https:// address")
        return self

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id and self.oidc_client_secret)

    @model_validator(mode="after")
    def _no_development_token(self) -> Self:
        name = "CRM_STORE_BOOTSTRAP_ADMIN_TOKEN"
        refuse_development_secret(name, self.bootstrap_admin_token, self.common)
        return self
