"""Settings an administrator edits on the page (classification, outcomes, telephony): one row
per group with its values, version and who changed it; published on `crm.settings.v1`.

Revision ID: 0009_settings
Revises: 0006_preset_channels
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0009_settings"
down_revision: str | None = "0008_admin_people"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "settings",
        sa.Column("group", sa.String(32), primary_key=True),
        sa.Column("values", JSON, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("changed_by", sa.String(80), nullable=False),
        sa.Column("changed_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("settings")
