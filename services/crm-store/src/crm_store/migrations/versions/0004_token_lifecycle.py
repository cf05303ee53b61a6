"""Tokens that expire and record their last use; page sessions kept on the server.

The page's cookie used to hold the API token itself; it now holds a session secret whose
SHA-256 is a row here, bound to the token it was opened with.

Revision ID: 0004_token_lifecycle
Revises: 0003_open_counterpart_index
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_token_lifecycle"
down_revision: str | None = "0003_open_counterpart_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as table:
        table.add_column(sa.Column("expires_at", TS, nullable=True))
        table.add_column(sa.Column("last_used_at", TS, nullable=True))
    op.create_table(
        "page_sessions",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("token_id", sa.String(36), nullable=True),
        sa.Column("bootstrap_sha256", sa.String(64), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["api_tokens.id"],
            name="fk_page_sessions_token_id_api_tokens",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_page_sessions"),
        sa.UniqueConstraint("secret_sha256", name="uq_page_sessions_secret_sha256"),
    )
    op.create_index("ix_page_sessions_token_id", "page_sessions", ["token_id"])
    op.create_index("ix_page_sessions_expires_at", "page_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_page_sessions_expires_at", table_name="page_sessions")
    op.drop_index("ix_page_sessions_token_id", table_name="page_sessions")
    op.drop_table("page_sessions")
    with op.batch_alter_table("api_tokens") as table:
        table.drop_column("last_used_at")
        table.drop_column("expires_at")
