"""Signing in to the page with an e-mail address and a password (or single sign-on): managers
keep an argon2 hash of their password, administrators hand out single-use links to set one
(an invitation, a reset), failed sign-ins are counted for the lock-out, and page sessions may
belong to a manager rather than to a token.

Revision ID: 0007_page_sign_in
Revises: 0006_preset_channels
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_page_sign_in"
down_revision: str | None = "0006_preset_channels"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("managers") as table:
        table.add_column(sa.Column("password_hash", sa.String(255), nullable=True))
        table.add_column(sa.Column("password_set_at", TS, nullable=True))
    with op.batch_alter_table("page_sessions") as table:
        table.add_column(sa.Column("manager_id", sa.String(36), nullable=True))
        table.add_column(sa.Column("method", sa.String(16), nullable=False, server_default="token"))
        table.create_foreign_key(
            "fk_page_sessions_manager_id_managers",
            "managers",
            ["manager_id"],
            ["id"],
            ondelete="CASCADE",
        )
        table.create_index("ix_page_sessions_manager_id", ["manager_id"])
    op.create_table(
        "sign_in_links",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("manager_id", sa.String(36), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["manager_id"],
            ["managers.id"],
            name="fk_sign_in_links_manager_id_managers",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sign_in_links"),
        sa.UniqueConstraint("secret_sha256", name="uq_sign_in_links_secret_sha256"),
    )
    op.create_index("ix_sign_in_links_manager_id", "sign_in_links", ["manager_id"])
    op.create_table(
        "sign_in_failures",
        sa.Column("key", sa.String(80), nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("window_start", TS, nullable=False),
        sa.Column("locked_until", TS, nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_sign_in_failures"),
    )


def downgrade() -> None:
    op.drop_table("sign_in_failures")
    op.drop_index("ix_sign_in_links_manager_id", table_name="sign_in_links")
    op.drop_table("sign_in_links")
    with op.batch_alter_table("page_sessions") as table:
        table.drop_index("ix_page_sessions_manager_id")
        table.drop_constraint("fk_page_sessions_manager_id_managers", type_="foreignkey")
        table.drop_column("method")
        table.drop_column("manager_id")
    with op.batch_alter_table("managers") as table:
        table.drop_column("password_set_at")
        table.drop_column("password_hash")
