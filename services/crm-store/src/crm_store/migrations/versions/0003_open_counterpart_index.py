"""Open activities by counterpart: the index the consumer's batch lookup needs.

The old (kind, counterpart, state) index cannot serve `counterpart IN (...)` without a kind,
so each batch scanned every open activity.

Revision ID: 0003_open_counterpart_index
Revises: 0002_contacts_companies
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_open_counterpart_index"
down_revision: str | None = "0002_contacts_companies"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "state = 'open'"


def upgrade() -> None:
    op.create_index(
        "ix_activities_open_counterpart",
        "activities",
        ["counterpart", "kind"],
        postgresql_where=sa.text(OPEN),
        sqlite_where=sa.text(OPEN),
    )
    op.drop_index("ix_activities_open_lookup", table_name="activities")


def downgrade() -> None:
    op.create_index("ix_activities_open_lookup", "activities", ["kind", "counterpart", "state"])
    op.drop_index("ix_activities_open_counterpart", table_name="activities")
