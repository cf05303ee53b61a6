"""Tables of crm-store, portable across SQLite and PostgreSQL.

Ids are UUID strings, lists are JSON (JSONB on PostgreSQL), times are UTC and always read back
timezone-aware. Changing a table here needs a migration in `migrations/versions/`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JsonType = JSON().with_variant(JSONB(), "postgresql")
OutboxId = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER only
# One open callback / identify_contact per counterpart; withheld (NULL) callers never collide.
OPEN = "state = 'open'"
OPEN_PER_COUNTERPART = "state = 'open' AND kind IN ('callback', 'identify_contact')"
ACTIVE_CONTACT_POINT = "active AND contact_id IS NOT NULL"
ACTIVE_COMPANY_POINT = "active AND contact_id IS NULL"
ACTIVE = "active"


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; pass a timezone-aware value")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime()}


class Manager(Base):
    __tablename__ = "managers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    extensions: Mapped[list[str]] = mapped_column(JsonType, default=list)
    phones: Mapped[list[str]] = mapped_column(JsonType, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    """argon2id of the page password; None: no password (not yet invited, or reset)."""
    password_set_at: Mapped[datetime | None]
    aliases: Mapped[list[str]] = mapped_column(JsonType, default=list, server_default=text("'[]'"))
    """More addresses of the manager (a shared mailbox, an old address) besides `email`."""


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    manager_id: Mapped[str | None] = mapped_column(ForeignKey("managers.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    """Recorded at most once a minute per token (`access.LAST_USED_EVERY`)."""


class PageSession(Base):
    """A signed-in browser. Its cookie holds a random secret stored here only as a SHA-256; the
    session lives as long as its token (revoked, expired or deactivated ends it) or `expires_at`.
    A session opened with the bootstrap admin token has no token row: it keeps that token's
    SHA-256, so changing `CRM_STORE_BOOTSTRAP_ADMIN_TOKEN` ends it. A session opened with a
    password or single sign-on has no token either: it belongs to its manager (`manager_id`),
    and deactivating the manager or resetting their password ends it."""

    __tablename__ = "page_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    token_id: Mapped[str | None] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="CASCADE"), index=True
    )
    bootstrap_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    manager_id: Mapped[str | None] = mapped_column(
        ForeignKey("managers.id", ondelete="CASCADE"), index=True
    )
    method: Mapped[str] = mapped_column(String(16), default="token", server_default="token")
    """How it was opened: `token`, `password` or `oidc`."""


class Preset(Base):
    __tablename__ = "presets"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    kinds: Mapped[list[str]] = mapped_column(JsonType, default=list)
    closes: Mapped[bool] = mapped_column(Boolean, default=False)
    overturns: Mapped[list[str]] = mapped_column(JsonType, default=list)
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    channels: Mapped[list[str]] = mapped_column(
        JsonType, default=lambda: ["call", "mail"], server_default=text('\'["call", "mail"]\'')
    )
    """Which interactions' cards offer it: `call`, `mail`."""
    labels: Mapped[dict[str, str]] = mapped_column(
        JsonType, default=dict, server_default=text("'{}'")
    )
    """The label per locale code (`pl`, `ta`, ...); `label` is the English one and the fallback."""


class Interaction(Base):
    __tablename__ = "interactions"
    __table_args__ = (Index("ix_interactions_counterpart_occurred", "counterpart", "occurred_at"),)

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime]
    counterpart: Mapped[str | None] = mapped_column(String(320))
    direction: Mapped[str] = mapped_column(String(16))
    disposition: Mapped[str] = mapped_column(String(32))
    tags: Mapped[list[str]] = mapped_column(JsonType, default=list)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    payload: Mapped[dict[str, Any]] = mapped_column(JsonType)
    agent: Mapped[str | None] = mapped_column(String(200))
    manager_id: Mapped[str | None] = mapped_column(ForeignKey("managers.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str | None] = mapped_column(String(16))
    """The call's final status (answered, no_answer, ...); None for mail."""
    linked_id: Mapped[str | None] = mapped_column(String(255), index=True)
    """Shared by the legs of one call."""
    domain: Mapped[str | None] = mapped_column(String(255), index=True)
    """The registrable domain of an e-mail counterpart."""
    contact_id: Mapped[str | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    company_id: Mapped[str | None] = mapped_column(ForeignKey("companies.id"), index=True)
    link: Mapped[str] = mapped_column(String(16), default="none")
    """How it was linked: contact, ambiguous, company, domain or none."""
    candidates: Mapped[list[str]] = mapped_column(JsonType, default=list)
    """The contacts sharing the counterpart, when the link is ambiguous."""
    message_id: Mapped[str | None] = mapped_column(String(998), index=True)
    """A message's Message-ID: what a bounce returning it names."""
    thread_id: Mapped[str | None] = mapped_column(String(998))
    """A message's thread; a bounce takes the thread of the message it returns."""


class Activity(Base):
    __tablename__ = "activities"
    __table_args__ = (
        # The consumer looks up the open activities of hundreds of counterparts per batch.
        Index(
            "ix_activities_open_counterpart",
            "counterpart",
            "kind",
            postgresql_where=text(OPEN),
            sqlite_where=text(OPEN),
        ),
        Index("ix_activities_listing", "opened_at", "id"),
        Index("ix_activities_inbox", "assignee_id", "state", "opened_at", "id"),
        Index("ix_activities_state_opened", "state", "opened_at", "id"),
        Index(
            "uq_activities_open_per_counterpart",
            "kind",
            "counterpart",
            unique=True,
            postgresql_where=text(OPEN_PER_COUNTERPART),
            sqlite_where=text(OPEN_PER_COUNTERPART),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    counterpart: Mapped[str | None] = mapped_column(String(320))
    thread_id: Mapped[str | None] = mapped_column(String(998), index=True)
    interaction_id: Mapped[str] = mapped_column(ForeignKey("interactions.id"), index=True)
    last_interaction_id: Mapped[str] = mapped_column(ForeignKey("interactions.id"))
    last_occurred_at: Mapped[datetime]
    count: Mapped[int] = mapped_column(Integer, default=1)
    assignee_id: Mapped[str | None] = mapped_column(ForeignKey("managers.id"))
    preset: Mapped[str | None] = mapped_column(ForeignKey("presets.code"))
    note: Mapped[str | None] = mapped_column(Text)
    closed_by: Mapped[str | None] = mapped_column(String(16))
    close_reason: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    contact_id: Mapped[str | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    company_id: Mapped[str | None] = mapped_column(ForeignKey("companies.id"))
    bounce: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    """A reply waiting on a thread whose message bounced for good: the address, status,
    diagnostic, the bounce's interaction and when (`interactions.bounces`)."""


class ActivityInteraction(Base):
    """Every interaction folded into (or closing) an activity."""

    __tablename__ = "activity_interactions"

    activity_id: Mapped[str] = mapped_column(ForeignKey("activities.id"), primary_key=True)
    interaction_id: Mapped[str] = mapped_column(
        ForeignKey("interactions.id"), primary_key=True, index=True
    )
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxMessage(Base):
    """A Kafka record written in the same transaction as the change it announces."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index(
            "ix_outbox_pending",
            "id",
            postgresql_where=text("published_at IS NULL"),
            sqlite_where=text("published_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(OutboxId, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(255))
    key: Mapped[bytes | None] = mapped_column(LargeBinary)
    value: Mapped[bytes | None] = mapped_column(LargeBinary)
    """None is a tombstone (compacted topics)."""
    headers: Mapped[dict[str, str]] = mapped_column(JsonType, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]


class Company(Base):
    __tablename__ = "companies"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    name_key: Mapped[str] = mapped_column(String(300), index=True)
    """The name folded for duplicate checks (case, accents, punctuation, legal forms)."""
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("managers.id"))
    notes: Mapped[str | None] = mapped_column(Text)
    archived_at: Mapped[datetime | None]
    merged_into_id: Mapped[str | None] = mapped_column(ForeignKey("companies.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    fields: Mapped[dict[str, Any]] = mapped_column(
        JsonType, default=dict, server_default=text("'{}'")
    )
    """Values of the administrator's extra fields (`ContactField`), by key."""


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    first_name: Mapped[str] = mapped_column(String(200), default="")
    last_name: Mapped[str] = mapped_column(String(200), default="")
    name_key: Mapped[str] = mapped_column(String(400), index=True)
    title: Mapped[str | None] = mapped_column(String(200))
    company_id: Mapped[str | None] = mapped_column(ForeignKey("companies.id"), index=True)
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("managers.id"), index=True)
    notes: Mapped[str | None] = mapped_column(Text)
    archived_at: Mapped[datetime | None]
    merged_into_id: Mapped[str | None] = mapped_column(ForeignKey("contacts.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    fields: Mapped[dict[str, Any]] = mapped_column(
        JsonType, default=dict, server_default=text("'{}'")
    )
    """Values of the administrator's extra fields (`ContactField`), by key."""


class Point(Base):
    """A normalised phone number (E.164) or e-mail address of a contact or a company.

    A point belongs to a contact (contact_id) or directly to a company (company_id, for its
    switchboard number or info@ address). Archiving the owner deactivates its points; a point
    is unique per owner among active rows, and several contacts may share one (then it links
    the company only).
    """

    __tablename__ = "contact_points"
    __table_args__ = (
        Index(
            "uq_contact_points_active_contact",
            "value",
            "contact_id",
            unique=True,
            postgresql_where=text(ACTIVE_CONTACT_POINT),
            sqlite_where=text(ACTIVE_CONTACT_POINT),
        ),
        Index(
            "uq_contact_points_active_company",
            "value",
            "company_id",
            unique=True,
            postgresql_where=text(ACTIVE_COMPANY_POINT),
            sqlite_where=text(ACTIVE_COMPANY_POINT),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    type: Mapped[str] = mapped_column(String(8))
    value: Mapped[str] = mapped_column(String(320), index=True)
    raw: Mapped[str | None] = mapped_column(String(320))
    """As it was typed."""
    contact_id: Mapped[str | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    company_id: Mapped[str | None] = mapped_column(ForeignKey("companies.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    undeliverable_at: Mapped[datetime | None]
    """When mail to this address last failed for good (a permanent bounce); None: deliverable.
    A later message from the address clears it."""
    undeliverable_status: Mapped[str | None] = mapped_column(String(16))
    undeliverable_diagnostic: Mapped[str | None] = mapped_column(String(500))
    undeliverable_interaction_id: Mapped[str | None] = mapped_column(String(255))
    """The bounce that marked it."""


class CompanyDomain(Base):
    """A registrable e-mail domain of a company (never a free-mail or disposable one)."""

    __tablename__ = "company_domains"
    __table_args__ = (
        Index(
            "uq_company_domains_active_domain",
            "domain",
            unique=True,
            postgresql_where=text(ACTIVE),
            sqlite_where=text(ACTIVE),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    domain: Mapped[str] = mapped_column(String(255), index=True)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PlanTarget(Base):
    """A manager's goal for a period: "10 meetings scheduled in March"."""

    __tablename__ = "plan_targets"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    manager_id: Mapped[str] = mapped_column(ForeignKey("managers.id"), index=True)
    metric: Mapped[str] = mapped_column(String(32))
    preset: Mapped[str | None] = mapped_column(ForeignKey("presets.code"))
    target: Mapped[int] = mapped_column(Integer)
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ContactField(Base):
    """An extra field the administrator defines for contacts or companies (a birthday, a
    decision style). Retiring it (`active` false) keeps the values stored on the rows."""

    __tablename__ = "contact_fields"
    __table_args__ = (UniqueConstraint("entity", "key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    entity: Mapped[str] = mapped_column(String(16))
    """`contact` or `company`."""
    key: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(16))
    """`text`, `number`, `date` or `choice`."""
    choices: Mapped[list[str]] = mapped_column(JsonType, default=list)
    max_length: Mapped[int | None] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """Who changed what, when: every change through the API and every automatic one."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "entity", "entity_id", "id"),)

    id: Mapped[int] = mapped_column(OutboxId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(80))
    """`manager:<id>`, `token:<id>`, `bootstrap-admin` or `system`."""
    actor_role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(255))
    changes: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)


class ServiceState(Base):
    """Small facts the service keeps about itself (e.g. when the contact-point snapshot ran)."""

    __tablename__ = "service_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
