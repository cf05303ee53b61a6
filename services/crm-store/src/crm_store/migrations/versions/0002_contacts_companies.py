"""Companies, contacts and their points, company domains, plan targets, the audit log;
interactions and activities linked to them; tombstones in the outbox.

Revision ID: 0002_contacts_companies
Revises: 0001_initial
Create Date: 2025-01-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0002_contacts_companies"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OPEN_CALLBACK = "kind = 'callback' AND state = 'open'"
OPEN_PER_COUNTERPART = "state = 'open' AND kind IN ('callback', 'identify_contact')"
ACTIVE_CONTACT_POINT = "active AND contact_id IS NOT NULL"
ACTIVE_COMPANY_POINT = "active AND contact_id IS NULL"


def upgrade() -> None:
    op.create_table(
        "companies",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("name_key", sa.String(300), nullable=False),
        sa.Column("owner_id", sa.String(36), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("archived_at", TS, nullable=True),
        sa.Column("merged_into_id", sa.String(36), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["managers.id"], name="fk_companies_owner_id_managers"
        ),
        sa.ForeignKeyConstraint(
            ["merged_into_id"], ["companies.id"], name="fk_companies_merged_into_id_companies"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_companies"),
    )
    op.create_index("ix_companies_name_key", "companies", ["name_key"])
    op.create_table(
        "contacts",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("first_name", sa.String(200), nullable=False),
        sa.Column("last_name", sa.String(200), nullable=False),
        sa.Column("name_key", sa.String(400), nullable=False),
        sa.Column("title", sa.String(200), nullable=True),
        sa.Column("company_id", sa.String(36), nullable=True),
        sa.Column("owner_id", sa.String(36), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("archived_at", TS, nullable=True),
        sa.Column("merged_into_id", sa.String(36), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name="fk_contacts_company_id_companies"
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["managers.id"], name="fk_contacts_owner_id_managers"
        ),
        sa.ForeignKeyConstraint(
            ["merged_into_id"], ["contacts.id"], name="fk_contacts_merged_into_id_contacts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_contacts"),
    )
    op.create_index("ix_contacts_name_key", "contacts", ["name_key"])
    op.create_index("ix_contacts_company_id", "contacts", ["company_id"])
    op.create_index("ix_contacts_owner_id", "contacts", ["owner_id"])
    op.create_table(
        "contact_points",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("type", sa.String(8), nullable=False),
        sa.Column("value", sa.String(320), nullable=False),
        sa.Column("raw", sa.String(320), nullable=True),
        sa.Column("contact_id", sa.String(36), nullable=True),
        sa.Column("company_id", sa.String(36), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name="fk_contact_points_contact_id_contacts"
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name="fk_contact_points_company_id_companies"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_contact_points"),
    )
    op.create_index("ix_contact_points_value", "contact_points", ["value"])
    op.create_index("ix_contact_points_contact_id", "contact_points", ["contact_id"])
    op.create_index("ix_contact_points_company_id", "contact_points", ["company_id"])
    op.create_index(
        "uq_contact_points_active_contact",
        "contact_points",
        ["value", "contact_id"],
        unique=True,
        postgresql_where=sa.text(ACTIVE_CONTACT_POINT),
        sqlite_where=sa.text(ACTIVE_CONTACT_POINT),
    )
    op.create_index(
        "uq_contact_points_active_company",
        "contact_points",
        ["value", "company_id"],
        unique=True,
        postgresql_where=sa.text(ACTIVE_COMPANY_POINT),
        sqlite_where=sa.text(ACTIVE_COMPANY_POINT),
    )
    op.create_table(
        "company_domains",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("domain", sa.String(255), nullable=False),
        sa.Column("company_id", sa.String(36), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name="fk_company_domains_company_id_companies"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_company_domains"),
    )
    op.create_index("ix_company_domains_domain", "company_domains", ["domain"])
    op.create_index("ix_company_domains_company_id", "company_domains", ["company_id"])
    op.create_index(
        "uq_company_domains_active_domain",
        "company_domains",
        ["domain"],
        unique=True,
        postgresql_where=sa.text("active"),
        sqlite_where=sa.text("active"),
    )
    op.create_table(
        "plan_targets",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("manager_id", sa.String(36), nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("preset", sa.String(64), nullable=True),
        sa.Column("target", sa.Integer(), nullable=False),
        sa.Column("period_start", TS, nullable=False),
        sa.Column("period_end", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["manager_id"], ["managers.id"], name="fk_plan_targets_manager_id_managers"
        ),
        sa.ForeignKeyConstraint(
            ["preset"], ["presets.code"], name="fk_plan_targets_preset_presets"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_plan_targets"),
    )
    op.create_index("ix_plan_targets_manager_id", "plan_targets", ["manager_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("actor_role", sa.String(32), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("entity_id", sa.String(255), nullable=False),
        sa.Column("changes", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_entity", "audit_log", ["entity", "entity_id", "id"])
    op.create_table(
        "service_state",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", JSON, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_service_state"),
    )

    with op.batch_alter_table("interactions") as batch:
        batch.add_column(sa.Column("status", sa.String(16), nullable=True))
        batch.add_column(sa.Column("linked_id", sa.String(255), nullable=True))
        batch.add_column(sa.Column("domain", sa.String(255), nullable=True))
        batch.add_column(sa.Column("contact_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("company_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("link", sa.String(16), nullable=False, server_default="none"))
        batch.add_column(sa.Column("candidates", JSON, nullable=False, server_default="[]"))
        batch.create_foreign_key(
            "fk_interactions_contact_id_contacts", "contacts", ["contact_id"], ["id"]
        )
        batch.create_foreign_key(
            "fk_interactions_company_id_companies", "companies", ["company_id"], ["id"]
        )
        batch.create_index("ix_interactions_linked_id", ["linked_id"])
        batch.create_index("ix_interactions_domain", ["domain"])
        batch.create_index("ix_interactions_contact_id", ["contact_id"])
        batch.create_index("ix_interactions_company_id", ["company_id"])
    # The defaults only filled existing rows; the application always sets both.
    with op.batch_alter_table("interactions") as batch:
        batch.alter_column("link", server_default=None)
        batch.alter_column("candidates", server_default=None)

    op.drop_index("uq_activities_open_callback", table_name="activities")
    op.drop_index("ix_activities_assignee_state", table_name="activities")
    with op.batch_alter_table("activities") as batch:
        batch.add_column(sa.Column("contact_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("company_id", sa.String(36), nullable=True))
        batch.create_foreign_key(
            "fk_activities_contact_id_contacts", "contacts", ["contact_id"], ["id"]
        )
        batch.create_foreign_key(
            "fk_activities_company_id_companies", "companies", ["company_id"], ["id"]
        )
        batch.create_index("ix_activities_contact_id", ["contact_id"])
        batch.create_index("ix_activities_inbox", ["assignee_id", "state", "opened_at", "id"])
        batch.create_index("ix_activities_state_opened", ["state", "opened_at", "id"])
    op.create_index(
        "uq_activities_open_per_counterpart",
        "activities",
        ["kind", "counterpart"],
        unique=True,
        postgresql_where=sa.text(OPEN_PER_COUNTERPART),
        sqlite_where=sa.text(OPEN_PER_COUNTERPART),
    )

    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("value", existing_type=sa.LargeBinary(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("value", existing_type=sa.LargeBinary(), nullable=False)
    op.drop_index("uq_activities_open_per_counterpart", table_name="activities")
    with op.batch_alter_table("activities") as batch:
        batch.drop_index("ix_activities_state_opened")
        batch.drop_index("ix_activities_inbox")
        batch.drop_index("ix_activities_contact_id")
        batch.drop_constraint("fk_activities_company_id_companies", type_="foreignkey")
        batch.drop_constraint("fk_activities_contact_id_contacts", type_="foreignkey")
        batch.drop_column("company_id")
        batch.drop_column("contact_id")
    op.create_index("ix_activities_assignee_state", "activities", ["assignee_id", "state"])
    op.create_index(
        "uq_activities_open_callback",
        "activities",
        ["counterpart"],
        unique=True,
        postgresql_where=sa.text(OPEN_CALLBACK),
        sqlite_where=sa.text(OPEN_CALLBACK),
    )
    with op.batch_alter_table("interactions") as batch:
        for index in ("company_id", "contact_id", "domain", "linked_id"):
            batch.drop_index(f"ix_interactions_{index}")
        batch.drop_constraint("fk_interactions_company_id_companies", type_="foreignkey")
        batch.drop_constraint("fk_interactions_contact_id_contacts", type_="foreignkey")
        for column in ("candidates", "link", "company_id", "contact_id", "domain", "linked_id"):
            batch.drop_column(column)
        batch.drop_column("status")
    for table in (
        "service_state",
        "audit_log",
        "plan_targets",
        "company_domains",
        "contact_points",
        "contacts",
        "companies",
    ):
        op.drop_table(table)
