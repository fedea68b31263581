"""Economic groups and segment migrations: the group_assessment and segment_migrations tables, and the
clients' group_id and group_vip_eligible on client_segments (false for months decided before groups existed).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 10:45:41.895754

Frozen: write explicit operations here and never import the live contracts (vip_pipeline.contracts),
which keep changing after this revision. Views are not migrated here: they are recreated from
VIEWS in vip_pipeline/storage/warehouse.py after every upgrade.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "group_assessment",
        sa.Column("group_id", sa.String(length=64), nullable=False, comment="Economic group identifier."),
        sa.Column(
            "as_of_month", sa.Date(), nullable=False, comment="Complete month the decision is made for (its first day)."
        ),
        sa.Column("members", sa.BigInteger(), nullable=False, comment="Active clients of the group in the month."),
        sa.Column("group_ltv_usd", sa.Float(precision=53), nullable=False, comment="Σ members' LTV (USD)."),
        sa.Column(
            "group_ltv_rank",
            sa.BigInteger(),
            nullable=False,
            comment="Rank by group LTV among the month's groups, highest first, ties by group_id.",
        ),
        sa.Column(
            "products_used",
            sa.BigInteger(),
            nullable=False,
            comment="Distinct products across all members' accounts open in the month.",
        ),
        sa.Column("products_met", sa.Boolean(), nullable=False, comment="Criterion 1 on the group: products_used ≥ 4."),
        sa.Column(
            "annual_sales_usd",
            sa.Float(precision=53),
            nullable=True,
            comment="Σ members' annual sales (NULL when no member reports any).",
        ),
        sa.Column(
            "avg_monthly_settlement_turnover_usd",
            sa.Float(precision=53),
            nullable=False,
            comment="Σ members' average monthly settlement turnover (trailing 12).",
        ),
        sa.Column(
            "export_12m_usd",
            sa.Float(precision=53),
            nullable=False,
            comment="Σ members' exports over the trailing 12 months.",
        ),
        sa.Column(
            "adb_usd",
            sa.Float(precision=53),
            nullable=False,
            comment="Σ members' ADB (non-credit products) in the as-of month.",
        ),
        sa.Column(
            "scale_met",
            sa.Boolean(),
            nullable=False,
            comment="Criterion 2 on the sums, same thresholds as for a client.",
        ),
        sa.Column(
            "monopoly_met",
            sa.Boolean(),
            nullable=False,
            comment="Criterion 3: any member has the monopoly_position flag.",
        ),
        sa.Column(
            "strategic_met", sa.Boolean(), nullable=False, comment="Criterion 4: any member has the strategic flag."
        ),
        sa.Column(
            "turnover_growth",
            sa.Float(precision=53),
            nullable=True,
            comment="Members' summed settlement turnover, trailing 12 months vs the 12 before, −1; "
            "NULL with < 24 months from the group's first month or no turnover before.",
        ),
        sa.Column(
            "growth_met", sa.Boolean(), nullable=False, comment="Criterion 5 on the group: turnover_growth ≥ 25 %."
        ),
        sa.Column("criteria_met", sa.BigInteger(), nullable=False, comment="Criteria met by the group (0–5)."),
        sa.Column(
            "group_vip_eligible",
            sa.Boolean(),
            nullable=False,
            comment="criteria_met ≥ 3 and at least one member is not an individual.",
        ),
        sa.PrimaryKeyConstraint("group_id", "as_of_month"),
        comment="Each economic group with at least 2 active clients, assessed like one client on "
        "its active members (SPEC §1): group LTV and its rank, the 5 VIP criteria on the group, eligibility.",
    )
    with op.batch_alter_table("group_assessment", schema=None) as batch_op:
        batch_op.create_index(
            "ix_group_assessment_as_of_month_group_vip_eligible", ["as_of_month", "group_vip_eligible"], unique=False
        )

    op.create_table(
        "segment_migrations",
        sa.Column(
            "as_of_month", sa.Date(), nullable=False, comment="Complete month the decision is made for (its first day)."
        ),
        sa.Column("dimension", sa.String(length=64), nullable=False, comment="ltv_tier or category."),
        sa.Column(
            "from_value",
            sa.String(length=64),
            nullable=False,
            comment="Tier or category in the previous complete month, or new.",
        ),
        sa.Column(
            "to_value", sa.String(length=64), nullable=False, comment="Tier or category in the as-of month, or gone."
        ),
        sa.Column("clients", sa.BigInteger(), nullable=False, comment="Clients that made this transition."),
        sa.Column(
            "ltv_usd",
            sa.Float(precision=53),
            nullable=False,
            comment="Their LTV as of the month (for gone: as of the previous month).",
        ),
        sa.PrimaryKeyConstraint("as_of_month", "dimension", "from_value", "to_value"),
        comment="Movement between LTV tiers and between categories since the previous complete "
        "month: clients and their LTV per transition, `new` for clients not active then, "
        "`gone` for clients no longer active.",
    )
    with op.batch_alter_table("segment_migrations", schema=None) as batch_op:
        batch_op.create_index("ix_segment_migrations_dimension_as_of_month", ["dimension", "as_of_month"], unique=False)

    with op.batch_alter_table("client_segments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "group_id",
                sa.String(length=64),
                nullable=True,
                comment="The client's economic group (clients extract), NULL when not in a group.",
            )
        )
        batch_op.add_column(
            sa.Column(
                "group_vip_eligible",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
                comment="The client's group (≥ 2 active members) is VIP-eligible: the client counts as "
                "eligible for its category and action.",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("client_segments", schema=None) as batch_op:
        batch_op.drop_column("group_vip_eligible")
        batch_op.drop_column("group_id")

    with op.batch_alter_table("segment_migrations", schema=None) as batch_op:
        batch_op.drop_index("ix_segment_migrations_dimension_as_of_month")

    op.drop_table("segment_migrations")
    with op.batch_alter_table("group_assessment", schema=None) as batch_op:
        batch_op.drop_index("ix_group_assessment_as_of_month_group_vip_eligible")

    op.drop_table("group_assessment")
