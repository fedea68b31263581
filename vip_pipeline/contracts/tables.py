"""The published tables (SPEC §4): columns with SQL types and descriptions, keys, indexes and value rules.

One definition drives the SQL DDL (SQLAlchemy), the pandera schema every frame is validated against right
before it is published (`storage.warehouse`), the column schema the Dagster UI shows and the data-contract
document.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandera.pandas as pa
import sqlalchemy as sa

SQL_TYPES = {
    "str": sa.String(64),
    "text": sa.Text(),
    "date": sa.Date(),
    "timestamp": sa.DateTime(timezone=True),
    "int": sa.BigInteger(),
    "float": sa.Float(precision=53),
    "bool": sa.Boolean(),
}
PANDAS_TYPES = {
    "str": "object",
    "text": "object",
    "date": "datetime64[ns]",
    "timestamp": "datetime64[ns, UTC]",
    "int": "int64",
    "float": "float64",
    "bool": "bool",
}


TIERS = ("most_valuable", "strategic", "workhorse", "ballast")
CATEGORIES = ("key", "vip", "corporate", "mass")
ACTIONS = ("approach", "watch", "review")
DIMENSIONS = ("ltv_tier", "category")


@dataclass(frozen=True)
class C:
    name: str
    kind: str
    description: str
    nullable: bool = False
    values: tuple[str, ...] = ()  # allowed values (NULL aside)
    minimum: float | None = None  # inclusive bounds
    maximum: float | None = None
    finite: bool = False  # a float that must not be NaN or ±inf

    def checks(self) -> list[pa.Check]:
        """The column's value rules as named pandera checks (NULL passes: nullability is the column's)."""
        checks = []
        if self.values:
            checks.append(
                pa.Check.isin(self.values, error=f"not_allowed:{self.name}", description=", ".join(self.values))
            )
        if self.minimum is not None:
            checks.append(
                pa.Check.ge(self.minimum, error=f"below_minimum:{self.name}", description=f"≥ {self.minimum:g}")
            )
        if self.maximum is not None:
            checks.append(
                pa.Check.le(self.maximum, error=f"above_maximum:{self.name}", description=f"≤ {self.maximum:g}")
            )
        if self.finite:
            checks.append(
                pa.Check(
                    lambda s: np.isfinite(s),
                    ignore_na=False,
                    name="finite",
                    error=f"not_finite:{self.name}",
                    description="finite",
                )
            )
        return checks


@dataclass(frozen=True)
class TableContract:
    name: str
    description: str
    columns: tuple[C, ...]
    primary_key: tuple[str, ...] = ()
    indexes: tuple[tuple[str, ...], ...] = ()
    partition_column: str | None = None  # rows of one partition are replaced together

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def sql_table(self, metadata: sa.MetaData) -> sa.Table:
        cols = [
            sa.Column(
                c.name,
                SQL_TYPES[c.kind],
                nullable=c.nullable,
                comment=c.description,
                primary_key=c.name in self.primary_key,
            )
            for c in self.columns
        ]
        idx = [sa.Index(f"ix_{self.name}_{'_'.join(i)}", *i) for i in self.indexes]
        return sa.Table(self.name, metadata, *cols, *idx, comment=self.description)

    def pandera_schema(self) -> pa.DataFrameSchema:
        """What a frame must be to be published: the contract's types, non-null columns (the key among them),
        a unique key, the value rules. Validated after the frame is cast (`storage.warehouse.conform`)."""
        columns = {
            c.name: pa.Column(
                "Int64" if c.kind == "int" and c.nullable else PANDAS_TYPES[c.kind],
                checks=c.checks(),
                nullable=c.nullable,
                description=c.description,
                title=c.name,
            )
            for c in self.columns
        }
        return pa.DataFrameSchema(
            columns,
            unique=list(self.primary_key) or None,
            strict=True,
            name=self.name,
            description=self.description,
        )


def _money(name: str, what: str) -> C:
    return C(name, "float", what)


MONTH = C("month", "date", "Month, identified by its first day.")
AS_OF = C("as_of_month", "date", "Complete month the decision is made for (its first day).")

MONTHLY_ACCOUNT_ACTIVITY = TableContract(
    name="monthly_account_activity",
    description="One row per account and month in which the account is open on at least one day of the period.",
    primary_key=("account_id", "month"),
    indexes=(("month",), ("client_id", "month")),
    partition_column="month",
    columns=(
        C("account_id", "str", "Account identifier."),
        MONTH,
        C("client_id", "str", "Owner of the account."),
        C("product", "str", "Account product."),
        C("currency", "str", "Account currency (ISO 4217)."),
        C("period_end", "date", "Last day of the period: month end, or the latest data day for the month in progress."),
        C("days_in_period", "int", "Days from the month's first day to period_end.", minimum=1, maximum=31),
        C("is_complete_month", "bool", "A balances extract exists for the month's last day or later."),
        C("closing_balance", "float", "End-of-day balance on period_end (account currency)."),
        C("adb", "float", "Average daily balance over the period (account currency).", finite=True),
        C("adb_usd", "float", "Average daily balance, each day converted at that day's rate (USD).", finite=True),
        C("min_balance", "float", "Lowest end-of-day balance in the period (account currency)."),
        C("max_balance", "float", "Highest end-of-day balance in the period (account currency)."),
        C("credit_turnover", "float", "Sum of credits booked in the period (account currency)."),
        _money("credit_turnover_usd", "Credits, each at its booking day's rate (USD)."),
        C("debit_turnover", "float", "Sum of debits booked in the period (account currency)."),
        _money("debit_turnover_usd", "Debits, each at its booking day's rate (USD)."),
        C("txn_count", "int", "Transactions booked in the period."),
        _money("fee_income_usd", "Debits with txn_type fee (USD)."),
        _money("interest_income_usd", "Debits with txn_type interest: interest the client pays (USD)."),
        _money("interest_expense_usd", "Credits with txn_type interest: interest paid to the client (USD)."),
        _money("funding_value_usd", "adb_usd × ftp_rate × days_in_period / 365 (negative for credit balances)."),
        _money("servicing_cost_usd", "cost_per_account_month + cost_per_transaction × txn_count."),
        _money("revenue_usd", "fee + interest income + max(funding value, 0)."),
        _money("cost_usd", "interest expense + max(−funding value, 0) + servicing cost."),
        _money("margin_usd", "revenue − cost."),
    ),
)

MONTHLY_CLIENT_METRICS = TableContract(
    name="monthly_client_metrics",
    description="One row per client and month in which it has an account open.",
    primary_key=("client_id", "month"),
    indexes=(("month",),),
    partition_column="month",
    columns=(
        C("client_id", "str", "Client identifier."),
        MONTH,
        C("is_complete_month", "bool", "A balances extract exists for the month's last day or later."),
        _money(
            "settlement_turnover_usd", "Credits on current accounts without interest and own-account transfers (USD)."
        ),
        _money("credit_turnover_usd", "Credits on all accounts (USD)."),
        _money("debit_turnover_usd", "Debits on all accounts (USD)."),
        C("adb_usd", "float", "Σ adb_usd of accounts whose product is not a credit product.", finite=True),
        C("credit_adb_usd", "float", "Σ adb_usd of loan, overdraft, credit_line and leasing accounts.", finite=True),
        _money("export_usd", "Credits with purpose export (USD)."),
        C("products_used", "int", "Distinct products among the client's accounts open in the month."),
        C("txn_count", "int", "Transactions booked in the month."),
        _money("revenue_usd", "Revenue (modelled, or from client_pnl)."),
        _money("cost_usd", "Cost (modelled, or from client_pnl)."),
        _money("margin_usd", "revenue − cost."),
        C(
            "margin_source",
            "str",
            "modelled, or client_pnl when the bank's P&L extract replaced it.",
            values=("modelled", "client_pnl"),
        ),
    ),
)

CLIENT_LTV = TableContract(
    name="client_ltv",
    description="Lifetime value of every active client as of every complete month.",
    primary_key=("client_id", "as_of_month"),
    indexes=(("as_of_month",),),
    partition_column="as_of_month",
    columns=(
        C("client_id", "str", "Client identifier."),
        AS_OF,
        C(
            "first_month",
            "date",
            "First month with an open account; NULL for a client without accounts.",
            nullable=True,
        ),
        C("tenure_months", "int", "Months from first_month to as_of_month inclusive (0 without accounts)."),
        _money("revenue_usd", "Revenue over the whole tenure (USD)."),
        _money("cost_usd", "Cost over the whole tenure (USD)."),
        _money("ltv_usd", "Σ monthly margin up to as_of_month (USD)."),
        _money("avg_monthly_margin_usd", "ltv_usd ÷ tenure_months."),
        C("margin_mean_12m_usd", "float", "Mean monthly margin over the last 12 months of the tenure.", nullable=True),
        C("margin_std_12m_usd", "float", "Population std of the monthly margin over the same months.", nullable=True),
        C("margin_cv", "float", "std ÷ mean of the 12-month margin; NULL when the mean is ≤ 0.", nullable=True),
    ),
)

VIP_ASSESSMENT = TableContract(
    name="vip_assessment",
    description="The five VIP criteria with their measures, met flags and eligibility, per client and complete month.",
    primary_key=("client_id", "as_of_month"),
    indexes=(("as_of_month", "vip_eligible"),),
    partition_column="as_of_month",
    columns=(
        C("client_id", "str", "Client identifier."),
        AS_OF,
        C("client_type", "str", "corporate, sme, bank or individual (individuals are never eligible)."),
        C("products_used", "int", "Distinct products among accounts open in the as-of month."),
        C("products_met", "bool", "Criterion 1: products_used ≥ 4."),
        C("annual_sales_usd", "float", "Annual sales from client master data.", nullable=True),
        _money(
            "avg_monthly_settlement_turnover_usd", "Average monthly settlement turnover over the trailing 12 months."
        ),
        _money("export_12m_usd", "Exports over the trailing 12 months (USD)."),
        C("adb_usd", "float", "Client ADB (non-credit products) in the as-of month.", finite=True),
        C("scale_met", "bool", "Criterion 2: any of sales > 5M, turnover > 500k, exports > 5M, ADB > 100k."),
        C("monopoly_met", "bool", "Criterion 3: monopoly_position flag."),
        C("strategic_met", "bool", "Criterion 4: strategic flag."),
        C(
            "turnover_growth",
            "float",
            "Trailing 12-month settlement turnover vs the 12 months before, −1; NULL with < 24 months.",
            nullable=True,
        ),
        C("growth_met", "bool", "Criterion 5: turnover_growth ≥ 25 %."),
        C("criteria_met", "int", "Number of criteria met (0–5).", minimum=0, maximum=5),
        C("vip_eligible", "bool", "criteria_met ≥ 3 and not an individual."),
    ),
)

CLIENT_SEGMENTS = TableContract(
    name="client_segments",
    description="Service category, LTV tier and recommended action per active client and complete month (history).",
    primary_key=("client_id", "as_of_month"),
    indexes=(("as_of_month", "category"), ("as_of_month", "ltv_tier")),
    partition_column="as_of_month",
    columns=(
        C("client_id", "str", "Client identifier."),
        AS_OF,
        C("name", "text", "Client name."),
        C("client_type", "str", "corporate, sme, bank or individual."),
        C("related_party", "str", "none, subsidiary, shareholder or affiliate."),
        C("category", "str", "key, vip, corporate or mass (first matching rule).", values=CATEGORIES),
        C("ltv_tier", "str", "most_valuable, strategic, workhorse or ballast.", values=TIERS),
        _money("ltv_usd", "Lifetime value as of the month (USD)."),
        C("ltv_rank", "int", "Rank by LTV among active clients, highest first, ties by client_id."),
        C("criteria_met", "int", "VIP criteria met (0–5).", minimum=0, maximum=5),
        C("vip_eligible", "bool", "VIP-eligible."),
        C("previous_category", "str", "Category in the previous complete month.", nullable=True, values=CATEGORIES),
        C("previous_ltv_tier", "str", "LTV tier in the previous complete month.", nullable=True, values=TIERS),
        C("service_model", "str", "How the client is served today (vip, standard, mass)."),
        C("recommended_action", "str", "approach, watch, review, or NULL.", nullable=True, values=ACTIONS),
        C("group_id", "str", "The client's economic group (clients extract), NULL when not in a group.", nullable=True),
        C(
            "group_vip_eligible",
            "bool",
            "The client's group (≥ 2 active members) is VIP-eligible: the client counts as eligible for its "
            "category and action.",
        ),
    ),
)

GROUP_ASSESSMENT = TableContract(
    name="group_assessment",
    description="Each economic group with at least 2 active clients, assessed like one client on its active members "
    "(SPEC §1): group LTV and its rank, the 5 VIP criteria on the group, eligibility.",
    primary_key=("group_id", "as_of_month"),
    indexes=(("as_of_month", "group_vip_eligible"),),
    partition_column="as_of_month",
    columns=(
        C("group_id", "str", "Economic group identifier."),
        AS_OF,
        C("members", "int", "Active clients of the group in the month."),
        _money("group_ltv_usd", "Σ members' LTV (USD)."),
        C("group_ltv_rank", "int", "Rank by group LTV among the month's groups, highest first, ties by group_id."),
        C("products_used", "int", "Distinct products across all members' accounts open in the month."),
        C("products_met", "bool", "Criterion 1 on the group: products_used ≥ 4."),
        C("annual_sales_usd", "float", "Σ members' annual sales (NULL when no member reports any).", nullable=True),
        _money("avg_monthly_settlement_turnover_usd", "Σ members' average monthly settlement turnover (trailing 12)."),
        _money("export_12m_usd", "Σ members' exports over the trailing 12 months."),
        C("adb_usd", "float", "Σ members' ADB (non-credit products) in the as-of month.", finite=True),
        C("scale_met", "bool", "Criterion 2 on the sums, same thresholds as for a client."),
        C("monopoly_met", "bool", "Criterion 3: any member has the monopoly_position flag."),
        C("strategic_met", "bool", "Criterion 4: any member has the strategic flag."),
        C(
            "turnover_growth",
            "float",
            "Members' summed settlement turnover, trailing 12 months vs the 12 before, −1; NULL with < 24 months "
            "from the group's first month or no turnover before.",
            nullable=True,
        ),
        C("growth_met", "bool", "Criterion 5 on the group: turnover_growth ≥ 25 %."),
        C("criteria_met", "int", "Criteria met by the group (0–5).", minimum=0, maximum=5),
        C("group_vip_eligible", "bool", "criteria_met ≥ 3 and at least one member is not an individual."),
    ),
)

SEGMENT_MIGRATIONS = TableContract(
    name="segment_migrations",
    description="Movement between LTV tiers and between categories since the previous complete month: clients and "
    "their LTV per transition, `new` for clients not active then, `gone` for clients no longer active.",
    primary_key=("as_of_month", "dimension", "from_value", "to_value"),
    indexes=(("dimension", "as_of_month"),),
    partition_column="as_of_month",
    columns=(
        AS_OF,
        C("dimension", "str", "ltv_tier or category.", values=DIMENSIONS),
        C("from_value", "str", "Tier or category in the previous complete month, or new."),
        C("to_value", "str", "Tier or category in the as-of month, or gone."),
        C("clients", "int", "Clients that made this transition."),
        _money("ltv_usd", "Their LTV as of the month (for gone: as of the previous month)."),
    ),
)

REJECTED_ROWS = TableContract(
    name="rejected_rows",
    description="Every extract row that broke the contract: its file, row number, failed rule(s) and original values.",
    primary_key=("source_file", "row_number"),
    indexes=(("extract",), ("run_id",)),
    columns=(
        C("extract", "str", "Extract name."),
        C("source_file", "str", "File name in the landing directory."),
        C("row_number", "int", "Data row in the file (1 = first row after the header)."),
        C("rule", "text", "Failed rule(s), '; '-separated."),
        C("raw_record", "text", "The original values (JSON, or the raw line when it could not be split)."),
        C("run_id", "str", "Dagster run that loaded the file."),
        C("rejected_at", "timestamp", "When the row was rejected (UTC)."),
    ),
)

LOAD_AUDIT = TableContract(
    name="load_audit",
    description="One row per landed file, from its latest load: rows read = accepted + rejected, whether the file "
    "was refused, and when it was delivered.",
    indexes=(("run_id",), ("source_file",)),
    columns=(
        C("run_id", "str", "Dagster run that loaded the file."),
        C("extract", "str", "Extract name."),
        C("source_file", "str", "File name in the landing directory."),
        C("rows_read", "int", "Rows read from the file."),
        C("rows_accepted", "int", "Rows that passed every rule."),
        C("rows_rejected", "int", "Rows kept in rejected_rows (including re-delivered duplicates)."),
        C("rows_redelivered", "int", "Rejected rows that exactly repeat an accepted row (re-delivery)."),
        C("status", "str", "accepted, refused (blocks publication) or superseded (older snapshot)."),
        C("note", "text", "Why a file was refused, or what was ignored."),
        C("loaded_at", "timestamp", "When the file was loaded (UTC)."),
        C("rows_superseded", "int", "Accepted rows whose key a later delivery carried with other values."),
        C(
            "delivered_at",
            "timestamp",
            "When this version of the file was delivered: its modification time (UTC); NULL for loads "
            "recorded before delivery times were kept.",
            nullable=True,
        ),
    ),
)

SUPERSEDED_VALUES = TableContract(
    name="superseded_values",
    description="Every value a newer delivery replaced: a later file carrying a key already delivered "
    "(kind superseded), or a file re-sent under the same name with other values (kind restated).",
    indexes=(("extract", "month"), ("new_source_file",), ("old_source_file",), ("run_id",)),
    columns=(
        C("extract", "str", "Extract name."),
        C("month", "date", "The month of the data (first day)."),
        C(
            "kind",
            "str",
            "superseded (a later file carries the key), restated (the same file re-sent with other values) or "
            "withdrawn (the file is no longer in the landing directory).",
        ),
        C("key", "text", "The key's values (JSON)."),
        C("old_source_file", "str", "The file the replaced value came from."),
        C(
            "old_row_number",
            "int",
            "Its data row in that file (NULL for a restated file: the old version is gone).",
            nullable=True,
        ),
        C("old_record", "text", "The replaced values (JSON)."),
        C("new_source_file", "str", "The file whose value now counts.", nullable=True),
        C(
            "new_record",
            "text",
            "The values that now count (JSON); NULL when the re-sent file no longer has the key.",
            nullable=True,
        ),
        C("run_id", "str", "Dagster run that recorded it."),
        C("recorded_at", "timestamp", "When it was recorded (UTC)."),
    ),
)

TABLES: dict[str, TableContract] = {
    t.name: t
    for t in (
        MONTHLY_ACCOUNT_ACTIVITY,
        MONTHLY_CLIENT_METRICS,
        CLIENT_LTV,
        VIP_ASSESSMENT,
        CLIENT_SEGMENTS,
        GROUP_ASSESSMENT,
        SEGMENT_MIGRATIONS,
        REJECTED_ROWS,
        LOAD_AUDIT,
        SUPERSEDED_VALUES,
    )
}
