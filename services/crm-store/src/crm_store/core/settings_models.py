"""The table of the settings an administrator edits in the admin area."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from crm_store.core.models import Base, JsonType, utcnow


class Setting(Base):
    """One group of the settings an administrator edits (`switchboard_shared.settings.groups`):
    the values in force, their version and who changed them. Published on `crm.settings.v1`."""

    __tablename__ = "settings"

    group: Mapped[str] = mapped_column(String(32), primary_key=True)
    values: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    changed_by: Mapped[str] = mapped_column(String(80))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
