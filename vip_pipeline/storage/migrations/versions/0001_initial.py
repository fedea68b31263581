"""The schema of the seven published tables when migrations were introduced (what create_all made).

Revision ID: 0001
Revises: (none, the first revision)
Create Date: 2026-11-30 10:31:06.662298

Frozen: write explicit operations here and never import the live contracts (vip_pipeline.contracts),
which keep changing after this revision. Views are not migrated here: they are recreated from
VIEWS in vip_pipeline/storage/warehouse.py after every upgrade.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "client_ltv",
        sa.Column("client_id", sa.String(length=64), nullable=False, comment="Client identifier."),
        sa.Column(
            "as_of_month", sa.Date(), nullable=False, comment="Complete month the decision is made for (its first day)."
        ),
        sa.Column(
            "first_month",
            sa.Date(),
            nullable=True,
            comment="First month with an open account; NULL for a client without accounts.",
        ),
        sa.Column(
            "tenure_months",
            sa.BigInteger(),
            nullable=False,
            comment="Months from first_month to as_of_month inclusive (0 without accounts).",
        ),
        sa.Column(
            "revenue_usd", sa.Float(precision=53), nullable=False, comment="Revenue over the whole tenure (USD)."
        ),
        sa.Column("cost_usd", sa.Float(precision=53), nullable=False, comment="Cost over the whole tenure (USD)."),
        sa.Column(
            "ltv_usd", sa.Float(precision=53), nullable=False, comment="Σ monthly margin up to as_of_month (USD)."
        ),
        sa.Column("avg_monthly_margin_usd", sa.Float(precision=53), nullable=False, comment="ltv_usd ÷ tenure_months."),
        sa.Column(
            "margin_mean_12m_usd",
            sa.Float(precision=53),
            nullable=True,
            comment="Mean monthly margin over the last 12 months of the tenure.",
        ),
        sa.Column(
            "margin_std_12m_usd",
            sa.Float(precision=53),
            nullable=True,
            comment="Population std of the monthly margin over the same months.",
        ),
        sa.Column(
            "margin_cv",
            sa.Float(precision=53),
            nullable=True,
            comment="std ÷ mean of the 12-month margin; NULL when the mean is ≤ 0.",
        ),
        sa.PrimaryKeyConstraint("client_id", "as_of_month"),
        comment="Lifetime value of every active client as of every complete month.",
    )
    op.create_index("ix_client_ltv_as_of_month", "client_ltv", ["as_of_month"], unique=False)

    op.create_table(
        "client_segments",
        sa.Column("client_id", sa.String(length=64), nullable=False, comment="Client identifier."),
        sa.Column(
            "as_of_month", sa.Date(), nullable=False, comment="Complete month the decision is made for (its first day)."
        ),
        sa.Column("name", sa.Text(), nullable=False, comment="Client name."),
        sa.Column("client_type", sa.String(length=64), nullable=False, comment="corporate, sme, bank or individual."),
        sa.Column(
            "related_party", sa.String(length=64), nullable=False, comment="none, subsidiary, shareholder or affiliate."
        ),
        sa.Column(
            "category",
            sa.String(length=64),
            nullable=False,
            comment="key, vip, corporate or mass (first matching rule).",
        ),
        sa.Column(
            "ltv_tier", sa.String(length=64), nullable=False, comment="most_valuable, strategic, workhorse or ballast."
        ),
        sa.Column("ltv_usd", sa.Float(precision=53), nullable=False, comment="Lifetime value as of the month (USD)."),
        sa.Column(
            "ltv_rank",
            sa.BigInteger(),
            nullable=False,
            comment="Rank by LTV among active clients, highest first, ties by client_id.",
        ),
        sa.Column("criteria_met", sa.BigInteger(), nullable=False, comment="VIP criteria met (0–5)."),
        sa.Column("vip_eligible", sa.Boolean(), nullable=False, comment="VIP-eligible."),
        sa.Column(
            "previous_category", sa.String(length=64), nullable=True, comment="Category in the previous complete month."
        ),
        sa.Column(
            "previous_ltv_tier", sa.String(length=64), nullable=True, comment="LTV tier in the previous complete month."
        ),
        sa.Column(
            "service_model",
            sa.String(length=64),
            nullable=False,
            comment="How the client is served today (vip, standard, mass).",
        ),
        sa.Column(
            "recommended_action", sa.String(length=64), nullable=True, comment="approach, watch, review, or NULL."
        ),
        sa.PrimaryKeyConstraint("client_id", "as_of_month"),
        comment="Service category, LTV tier and recommended action per active client and complete month (history).",
    )
    op.create_index(
        "ix_client_segments_as_of_month_category", "client_segments", ["as_of_month", "category"], unique=False
    )
    op.create_index(
        "ix_client_segments_as_of_month_ltv_tier", "client_segments", ["as_of_month", "ltv_tier"], unique=False
    )

    op.create_table(
        "load_audit",
        sa.Column("run_id", sa.String(length=64), nullable=False, comment="Dagster run that loaded the file."),
        sa.Column("extract", sa.String(length=64), nullable=False, comment="Extract name."),
        sa.Column("source_file", sa.String(length=64), nullable=False, comment="File name in the landing directory."),
        sa.Column("rows_read", sa.BigInteger(), nullable=False, comment="Rows read from the file."),
        sa.Column("rows_accepted", sa.BigInteger(), nullable=False, comment="Rows that passed every rule."),
        sa.Column(
            "rows_rejected",
            sa.BigInteger(),
            nullable=False,
            comment="Rows kept in rejected_rows (including re-delivered duplicates).",
        ),
        sa.Column(
            "rows_redelivered",
            sa.BigInteger(),
            nullable=False,
            comment="Rejected rows that exactly repeat an accepted row (re-delivery).",
        ),
        sa.Column(
            "status",
            sa.String(length=64),
            nullable=False,
            comment="accepted, refused (blocks publication) or superseded (older snapshot).",
        ),
        sa.Column("note", sa.Text(), nullable=False, comment="Why a file was refused, or what was ignored."),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False, comment="When the file was loaded (UTC)."),
        comment="One row per file per load: rows read = accepted + rejected, and whether the file was refused.",
    )
    op.create_index("ix_load_audit_run_id", "load_audit", ["run_id"], unique=False)
    op.create_index("ix_load_audit_source_file", "load_audit", ["source_file"], unique=False)

    op.create_table(
        "monthly_account_activity",
        sa.Column("account_id", sa.String(length=64), nullable=False, comment="Account identifier."),
        sa.Column("month", sa.Date(), nullable=False, comment="Month, identified by its first day."),
        sa.Column("client_id", sa.String(length=64), nullable=False, comment="Owner of the account."),
        sa.Column("product", sa.String(length=64), nullable=False, comment="Account product."),
        sa.Column("currency", sa.String(length=64), nullable=False, comment="Account currency (ISO 4217)."),
        sa.Column(
            "period_end",
            sa.Date(),
            nullable=False,
            comment="Last day of the period: month end, or the latest data day for the month in progress.",
        ),
        sa.Column(
            "days_in_period", sa.BigInteger(), nullable=False, comment="Days from the month's first day to period_end."
        ),
        sa.Column(
            "is_complete_month",
            sa.Boolean(),
            nullable=False,
            comment="A balances extract exists for the month's last day or later.",
        ),
        sa.Column(
            "closing_balance",
            sa.Float(precision=53),
            nullable=False,
            comment="End-of-day balance on period_end (account currency).",
        ),
        sa.Column(
            "adb",
            sa.Float(precision=53),
            nullable=False,
            comment="Average daily balance over the period (account currency).",
        ),
        sa.Column(
            "adb_usd",
            sa.Float(precision=53),
            nullable=False,
            comment="Average daily balance, each day converted at that day's rate (USD).",
        ),
        sa.Column(
            "min_balance",
            sa.Float(precision=53),
            nullable=False,
            comment="Lowest end-of-day balance in the period (account currency).",
        ),
        sa.Column(
            "max_balance",
            sa.Float(precision=53),
            nullable=False,
            comment="Highest end-of-day balance in the period (account currency).",
        ),
        sa.Column(
            "credit_turnover",
            sa.Float(precision=53),
            nullable=False,
            comment="Sum of credits booked in the period (account currency).",
        ),
        sa.Column(
            "credit_turnover_usd",
            sa.Float(precision=53),
            nullable=False,
            comment="Credits, each at its booking day's rate (USD).",
        ),
        sa.Column(
            "debit_turnover",
            sa.Float(precision=53),
            nullable=False,
            comment="Sum of debits booked in the period (account currency).",
        ),
        sa.Column(
            "debit_turnover_usd",
            sa.Float(precision=53),
            nullable=False,
            comment="Debits, each at its booking day's rate (USD).",
        ),
        sa.Column("txn_count", sa.BigInteger(), nullable=False, comment="Transactions booked in the period."),
        sa.Column("fee_income_usd", sa.Float(precision=53), nullable=False, comment="Debits with txn_type fee (USD)."),
        sa.Column(
            "interest_income_usd",
            sa.Float(precision=53),
            nullable=False,
            comment="Debits with txn_type interest: interest the client pays (USD).",
        ),
        sa.Column(
            "interest_expense_usd",
            sa.Float(precision=53),
            nullable=False,
            comment="Credits with txn_type interest: interest paid to the client (USD).",
        ),
        sa.Column(
            "funding_value_usd",
            sa.Float(precision=53),
            nullable=False,
            comment="adb_usd × ftp_rate × days_in_period / 365 (negative for credit balances).",
        ),
        sa.Column(
            "servicing_cost_usd",
            sa.Float(precision=53),
            nullable=False,
            comment="cost_per_account_month + cost_per_transaction × txn_count.",
        ),
        sa.Column(
            "revenue_usd",
            sa.Float(precision=53),
            nullable=False,
            comment="fee + interest income + max(funding value, 0).",
        ),
        sa.Column(
            "cost_usd",
            sa.Float(precision=53),
            nullable=False,
            comment="interest expense + max(−funding value, 0) + servicing cost.",
        ),
        sa.Column("margin_usd", sa.Float(precision=53), nullable=False, comment="revenue − cost."),
        sa.PrimaryKeyConstraint("account_id", "month"),
        comment="One row per account and month in which the account is open on at least one day of the period.",
    )
    op.create_index(
        "ix_monthly_account_activity_client_id_month", "monthly_account_activity", ["client_id", "month"], unique=False
    )
    op.create_index("ix_monthly_account_activity_month", "monthly_account_activity", ["month"], unique=False)

    op.create_table(
        "monthly_client_metrics",
        sa.Column("client_id", sa.String(length=64), nullable=False, comment="Client identifier."),
        sa.Column("month", sa.Date(), nullable=False, comment="Month, identified by its first day."),
        sa.Column(
            "is_complete_month",
            sa.Boolean(),
            nullable=False,
            comment="A balances extract exists for the month's last day or later.",
        ),
        sa.Column(
            "settlement_turnover_usd",
            sa.Float(precision=53),
            nullable=False,
            comment="Credits on current accounts without interest and own-account transfers (USD).",
        ),
        sa.Column(
            "credit_turnover_usd", sa.Float(precision=53), nullable=False, comment="Credits on all accounts (USD)."
        ),
        sa.Column(
            "debit_turnover_usd", sa.Float(precision=53), nullable=False, comment="Debits on all accounts (USD)."
        ),
        sa.Column(
            "adb_usd",
            sa.Float(precision=53),
            nullable=False,
            comment="Σ adb_usd of accounts whose product is not a credit product.",
        ),
        sa.Column(
            "credit_adb_usd",
            sa.Float(precision=53),
            nullable=False,
            comment="Σ adb_usd of loan, overdraft, credit_line and leasing accounts.",
        ),
        sa.Column("export_usd", sa.Float(precision=53), nullable=False, comment="Credits with purpose export (USD)."),
        sa.Column(
            "products_used",
            sa.BigInteger(),
            nullable=False,
            comment="Distinct products among the client's accounts open in the month.",
        ),
        sa.Column("txn_count", sa.BigInteger(), nullable=False, comment="Transactions booked in the month."),
        sa.Column(
            "revenue_usd", sa.Float(precision=53), nullable=False, comment="Revenue (modelled, or from client_pnl)."
        ),
        sa.Column("cost_usd", sa.Float(precision=53), nullable=False, comment="Cost (modelled, or from client_pnl)."),
        sa.Column("margin_usd", sa.Float(precision=53), nullable=False, comment="revenue − cost."),
        sa.Column(
            "margin_source",
            sa.String(length=64),
            nullable=False,
            comment="modelled, or client_pnl when the bank's P&L extract replaced it.",
        ),
        sa.PrimaryKeyConstraint("client_id", "month"),
        comment="One row per client and month in which it has an account open.",
    )
    op.create_index("ix_monthly_client_metrics_month", "monthly_client_metrics", ["month"], unique=False)

    op.create_table(
        "rejected_rows",
        sa.Column("extract", sa.String(length=64), nullable=False, comment="Extract name."),
        sa.Column("source_file", sa.String(length=64), nullable=False, comment="File name in the landing directory."),
        sa.Column(
            "row_number",
            sa.BigInteger(),
            nullable=False,
            comment="Data row in the file (1 = first row after the header).",
        ),
        sa.Column("rule", sa.Text(), nullable=False, comment="Failed rule(s), '; '-separated."),
        sa.Column(
            "raw_record",
            sa.Text(),
            nullable=False,
            comment="The original values (JSON, or the raw line when it could not be split).",
        ),
        sa.Column("run_id", sa.String(length=64), nullable=False, comment="Dagster run that loaded the file."),
        sa.Column(
            "rejected_at", sa.DateTime(timezone=True), nullable=False, comment="When the row was rejected (UTC)."
        ),
        sa.PrimaryKeyConstraint("source_file", "row_number"),
        comment="Every extract row that broke the contract: its file, row number, failed rule(s) and original values.",
    )
    op.create_index("ix_rejected_rows_extract", "rejected_rows", ["extract"], unique=False)
    op.create_index("ix_rejected_rows_run_id", "rejected_rows", ["run_id"], unique=False)

    op.create_table(
        "vip_assessment",
        sa.Column("client_id", sa.String(length=64), nullable=False, comment="Client identifier."),
        sa.Column(
            "as_of_month", sa.Date(), nullable=False, comment="Complete month the decision is made for (its first day)."
        ),
        sa.Column(
            "client_type",
            sa.String(length=64),
            nullable=False,
            comment="corporate, sme, bank or individual (individuals are never eligible).",
        ),
        sa.Column(
            "products_used",
            sa.BigInteger(),
            nullable=False,
            comment="Distinct products among accounts open in the as-of month.",
        ),
        sa.Column("products_met", sa.Boolean(), nullable=False, comment="Criterion 1: products_used ≥ 4."),
        sa.Column(
            "annual_sales_usd", sa.Float(precision=53), nullable=True, comment="Annual sales from client master data."
        ),
        sa.Column(
            "avg_monthly_settlement_turnover_usd",
            sa.Float(precision=53),
            nullable=False,
            comment="Average monthly settlement turnover over the trailing 12 months.",
        ),
        sa.Column(
            "export_12m_usd",
            sa.Float(precision=53),
            nullable=False,
            comment="Exports over the trailing 12 months (USD).",
        ),
        sa.Column(
            "adb_usd",
            sa.Float(precision=53),
            nullable=False,
            comment="Client ADB (non-credit products) in the as-of month.",
        ),
        sa.Column(
            "scale_met",
            sa.Boolean(),
            nullable=False,
            comment="Criterion 2: any of sales > 5M, turnover > 500k, exports > 5M, ADB > 100k.",
        ),
        sa.Column("monopoly_met", sa.Boolean(), nullable=False, comment="Criterion 3: monopoly_position flag."),
        sa.Column("strategic_met", sa.Boolean(), nullable=False, comment="Criterion 4: strategic flag."),
        sa.Column(
            "turnover_growth",
            sa.Float(precision=53),
            nullable=True,
            comment="Trailing 12-month settlement turnover vs the 12 months before, −1; NULL with < 24 months.",
        ),
        sa.Column("growth_met", sa.Boolean(), nullable=False, comment="Criterion 5: turnover_growth ≥ 25 %."),
        sa.Column("criteria_met", sa.BigInteger(), nullable=False, comment="Number of criteria met (0–5)."),
        sa.Column("vip_eligible", sa.Boolean(), nullable=False, comment="criteria_met ≥ 3 and not an individual."),
        sa.PrimaryKeyConstraint("client_id", "as_of_month"),
        comment="The five VIP criteria with their measures, met flags and eligibility, per client and complete month.",
    )
    op.create_index(
        "ix_vip_assessment_as_of_month_vip_eligible", "vip_assessment", ["as_of_month", "vip_eligible"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_vip_assessment_as_of_month_vip_eligible", table_name="vip_assessment")
    op.drop_table("vip_assessment")
    op.drop_index("ix_rejected_rows_run_id", table_name="rejected_rows")
    op.drop_index("ix_rejected_rows_extract", table_name="rejected_rows")
    op.drop_table("rejected_rows")
    op.drop_index("ix_monthly_client_metrics_month", table_name="monthly_client_metrics")
    op.drop_table("monthly_client_metrics")
    op.drop_index("ix_monthly_account_activity_month", table_name="monthly_account_activity")
    op.drop_index("ix_monthly_account_activity_client_id_month", table_name="monthly_account_activity")
    op.drop_table("monthly_account_activity")
    op.drop_index("ix_load_audit_source_file", table_name="load_audit")
    op.drop_index("ix_load_audit_run_id", table_name="load_audit")
    op.drop_table("load_audit")
    op.drop_index("ix_client_segments_as_of_month_ltv_tier", table_name="client_segments")
    op.drop_index("ix_client_segments_as_of_month_category", table_name="client_segments")
    op.drop_table("client_segments")
    op.drop_index("ix_client_ltv_as_of_month", table_name="client_ltv")
    op.drop_table("client_ltv")
