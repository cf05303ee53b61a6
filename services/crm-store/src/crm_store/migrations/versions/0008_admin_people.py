"""The administrator's sections: presets carry a label per locale; managers may have more
e-mail addresses than their sign-in one; contacts and companies carry the extra fields the
administrator defines (`contact_fields`), stored as JSON on the row so retiring a field keeps
what was filled in.

Revision ID: 0008_admin_people
Revises: 0006_preset_channels
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0008_admin_people"
down_revision: str | None = "0007_page_sign_in"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")
EMPTY_OBJECT = sa.text("'{}'")
EMPTY_LIST = sa.text("'[]'")


def upgrade() -> None:
    with op.batch_alter_table("presets") as table:
        table.add_column(sa.Column("labels", JSON, nullable=False, server_default=EMPTY_OBJECT))
    with op.batch_alter_table("managers") as table:
        table.add_column(sa.Column("aliases", JSON, nullable=False, server_default=EMPTY_LIST))
    for name in ("contacts", "companies"):
        with op.batch_alter_table(name) as table:
            table.add_column(sa.Column("fields", JSON, nullable=False, server_default=EMPTY_OBJECT))
    op.create_table(
        "contact_fields",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("entity", sa.String(16), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("choices", JSON, nullable=False),
        sa.Column("max_length", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_fields")),
        sa.UniqueConstraint("entity", "key", name=op.f("uq_contact_fields_entity_key")),
    )


def downgrade() -> None:
    op.drop_table("contact_fields")
    for name in ("contacts", "companies"):
        with op.batch_alter_table(name) as table:
            table.drop_column("fields")
    with op.batch_alter_table("managers") as table:
        table.drop_column("aliases")
    with op.batch_alter_table("presets") as table:
        table.drop_column("labels")
