"""Tables of page sign-in: the links that set a password, and the failed sign-ins the lock-out
counts (a manager's password hash is a column of `managers`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from crm_store.core.models import Base, utcnow


class SignInLink(Base):
    """A single-use link that lets a manager set their password: an invitation or a reset by
    an administrator. Only the SHA-256 of its secret is kept; a newer link of the same manager
    replaces the older (`used_at` or `expires_at` end it)."""

    __tablename__ = "sign_in_links"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    manager_id: Mapped[str] = mapped_column(
        ForeignKey("managers.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(16))
    """`invitation` or `reset`."""
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class SignInFailures(Base):
    """Failed sign-ins counted per key (an account's e-mail address, hashed, or a client
    address) within a window; past the limit the key is locked until `locked_until`."""

    __tablename__ = "sign_in_failures"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime]
    locked_until: Mapped[datetime | None]
