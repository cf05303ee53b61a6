"""Addresses that bounce for good, and what a bounce is linked to.

A contact point carries the permanent failure that marked it undeliverable (when, the RFC 3463
status, the remote server's answer, the bounce's interaction). An interaction keeps its
message's Message-ID (indexed, to find the message a bounce returns) and its thread; an
activity keeps the bounce that hit its thread. Existing mail gets both from its payload.

Revision ID: 0005_undeliverable_addresses
Revises: 0004_token_lifecycle
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0005_undeliverable_addresses"
down_revision: str | None = "0004_token_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(JSONB(), "postgresql")

BACKFILL = {
    "postgresql": (
        "UPDATE interactions SET message_id = left(payload->'mail'->>'message_id', 998), "
        "thread_id = left(payload->'mail'->>'thread_id', 998) WHERE kind = 'mail'"
    ),
    "sqlite": (
        "UPDATE interactions SET "
        "message_id = substr(json_extract(payload, '$.mail.message_id'), 1, 998), "
        "thread_id = substr(json_extract(payload, '$.mail.thread_id'), 1, 998) "
        "WHERE kind = 'mail'"
    ),
}


def upgrade() -> None:
    with op.batch_alter_table("contact_points") as table:
        table.add_column(sa.Column("undeliverable_at", TS, nullable=True))
        table.add_column(sa.Column("undeliverable_status", sa.String(16), nullable=True))
        table.add_column(sa.Column("undeliverable_diagnostic", sa.String(500), nullable=True))
        table.add_column(sa.Column("undeliverable_interaction_id", sa.String(255), nullable=True))
    with op.batch_alter_table("interactions") as table:
        table.add_column(sa.Column("message_id", sa.String(998), nullable=True))
        table.add_column(sa.Column("thread_id", sa.String(998), nullable=True))
    with op.batch_alter_table("activities") as table:
        table.add_column(sa.Column("bounce", JSON, nullable=True))
    op.execute(BACKFILL[op.get_context().dialect.name])
    op.create_index("ix_interactions_message_id", "interactions", ["message_id"])


def downgrade() -> None:
    op.drop_index("ix_interactions_message_id", table_name="interactions")
    with op.batch_alter_table("activities") as table:
        table.drop_column("bounce")
    with op.batch_alter_table("interactions") as table:
        table.drop_column("thread_id")
        table.drop_column("message_id")
    with op.batch_alter_table("contact_points") as table:
        table.drop_column("undeliverable_interaction_id")
        table.drop_column("undeliverable_diagnostic")
        table.drop_column("undeliverable_status")
        table.drop_column("undeliverable_at")
