"""Presets say which channels they fit: "Wrong number" and "Call back later" are about calls and
are not offered on an e-mail; a new "Left a voicemail" preset records a call back that reached a
voicemail box (the callback stays open).

Revision ID: 0006_preset_channels
Revises: 0005_undeliverable_addresses
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0006_preset_channels"
down_revision: str | None = "0005_undeliverable_addresses"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")
BOTH = '["call", "mail"]'
CALLS_ONLY = ("wrong_number", "callback_later")
VOICEMAIL = {
    "code": "left_voicemail",
    "label": "Left a voicemail",
    "kinds": ["callback"],
    "closes": False,
    "overturns": [],
    "position": 45,  # after "Call back later" (40)
    "active": True,
    "channels": ["call"],
}

presets = sa.table(
    "presets",
    sa.column("code", sa.String),
    sa.column("label", sa.String),
    sa.column("kinds", JSON),
    sa.column("closes", sa.Boolean),
    sa.column("overturns", JSON),
    sa.column("position", sa.Integer),
    sa.column("active", sa.Boolean),
    sa.column("channels", JSON),
)


def upgrade() -> None:
    with op.batch_alter_table("presets") as table:
        table.add_column(
            sa.Column("channels", JSON, nullable=False, server_default=sa.text(f"'{BOTH}'"))
        )
    op.execute(presets.update().where(presets.c.code.in_(CALLS_ONLY)).values(channels=["call"]))
    taken = op.get_bind().execute(
        sa.select(presets.c.code).where(presets.c.code == VOICEMAIL["code"])
    )
    if taken.first() is None:  # an admin may have made one of that name already
        op.bulk_insert(presets, [VOICEMAIL])


def downgrade() -> None:
    with op.batch_alter_table("presets") as table:
        table.drop_column("channels")
