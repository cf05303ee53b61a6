"""Walking skeleton: managers, tokens, presets, interactions, activities, outbox.

Revision ID: 0001_initial
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)
OPEN_CALLBACK = "kind = 'callback' AND state = 'open'"
PENDING = "published_at IS NULL"

ALL_KINDS = ["callback", "log_outcome", "reply", "identify_contact"]
PRESETS = [
    ("in_progress", "Taken into work", ALL_KINDS, False, []),
    ("completed", "Completed", ALL_KINDS, True, []),
    (
        "wrong_number",
        "Wrong number",
        ["callback", "log_outcome", "identify_contact"],
        True,
        ["needs_status", "callback"],
    ),
    ("callback_later", "Call back later", ["callback", "log_outcome"], False, []),
    ("not_interested", "Not interested", ["log_outcome", "callback", "reply"], True, []),
    ("meeting_scheduled", "Meeting scheduled", ["log_outcome", "callback", "reply"], True, []),
    ("spam", "Spam", ALL_KINDS, True, ["needs_status", "callback", "reply_needed"]),
]


def upgrade() -> None:
    op.create_table(
        "managers",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("extensions", JSON, nullable=False),
        sa.Column("phones", JSON, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_managers"),
        sa.UniqueConstraint("email", name="uq_managers_email"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("manager_id", sa.String(36), nullable=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["manager_id"], ["managers.id"], name="fk_api_tokens_manager_id_managers"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("token_sha256", name="uq_api_tokens_token_sha256"),
    )
    op.create_index("ix_api_tokens_manager_id", "api_tokens", ["manager_id"])
    presets = op.create_table(
        "presets",
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("kinds", JSON, nullable=False),
        sa.Column("closes", sa.Boolean(), nullable=False),
        sa.Column("overturns", JSON, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_presets"),
    )
    op.create_table(
        "interactions",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("counterpart", sa.String(320), nullable=True),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("disposition", sa.String(32), nullable=False),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("reasons", JSON, nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("agent", sa.String(200), nullable=True),
        sa.Column("manager_id", sa.String(36), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["manager_id"], ["managers.id"], name="fk_interactions_manager_id_managers"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_interactions"),
    )
    op.create_index(
        "ix_interactions_counterpart_occurred", "interactions", ["counterpart", "occurred_at"]
    )
    op.create_index("ix_interactions_manager_id", "interactions", ["manager_id"])
    op.create_table(
        "activities",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("counterpart", sa.String(320), nullable=True),
        sa.Column("thread_id", sa.String(998), nullable=True),
        sa.Column("interaction_id", sa.String(255), nullable=False),
        sa.Column("last_interaction_id", sa.String(255), nullable=False),
        sa.Column("last_occurred_at", TS, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("assignee_id", sa.String(36), nullable=True),
        sa.Column("preset", sa.String(64), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("closed_by", sa.String(16), nullable=True),
        sa.Column("close_reason", sa.Text(), nullable=True),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("closed_at", TS, nullable=True),
        sa.Column("due_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name="fk_activities_interaction_id_interactions",
        ),
        sa.ForeignKeyConstraint(
            ["last_interaction_id"],
            ["interactions.id"],
            name="fk_activities_last_interaction_id_interactions",
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["managers.id"], name="fk_activities_assignee_id_managers"
        ),
        sa.ForeignKeyConstraint(["preset"], ["presets.code"], name="fk_activities_preset_presets"),
        sa.PrimaryKeyConstraint("id", name="pk_activities"),
    )
    op.create_index("ix_activities_open_lookup", "activities", ["kind", "counterpart", "state"])
    op.create_index("ix_activities_listing", "activities", ["opened_at", "id"])
    op.create_index("ix_activities_assignee_state", "activities", ["assignee_id", "state"])
    op.create_index("ix_activities_thread_id", "activities", ["thread_id"])
    op.create_index("ix_activities_interaction_id", "activities", ["interaction_id"])
    op.create_index(
        "uq_activities_open_callback",
        "activities",
        ["counterpart"],
        unique=True,
        postgresql_where=sa.text(OPEN_CALLBACK),
        sqlite_where=sa.text(OPEN_CALLBACK),
    )
    op.create_table(
        "activity_interactions",
        sa.Column("activity_id", sa.String(36), nullable=False),
        sa.Column("interaction_id", sa.String(255), nullable=False),
        sa.Column("linked_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["activities.id"],
            name="fk_activity_interactions_activity_id_activities",
        ),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name="fk_activity_interactions_interaction_id_interactions",
        ),
        sa.PrimaryKeyConstraint("activity_id", "interaction_id", name="pk_activity_interactions"),
    )
    op.create_index(
        "ix_activity_interactions_interaction_id", "activity_interactions", ["interaction_id"]
    )
    op.create_table(
        "outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=True),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("headers", JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("published_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
    )
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["id"],
        postgresql_where=sa.text(PENDING),
        sqlite_where=sa.text(PENDING),
    )

    op.bulk_insert(
        presets,
        [
            {
                "code": code,
                "label": label,
                "kinds": kinds,
                "closes": closes,
                "overturns": overturns,
                "position": (n + 1) * 10,
                "active": True,
            }
            for n, (code, label, kinds, closes, overturns) in enumerate(PRESETS)
        ],
    )


def downgrade() -> None:
    for table in (
        "outbox",
        "activity_interactions",
        "activities",
        "interactions",
        "presets",
        "api_tokens",
        "managers",
    ):
        op.drop_table(table)
