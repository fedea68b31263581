"""Monthly metrics: the carried-forward balance state, account activity and client metrics, and the client panel.

A run over a range of months walks it in order in one step, carrying the balance state from month to
month. A month whose inputs (its opening state, its extracts, the accounts and FX rates it reads, the
rules) did not change since it was published is left as it is: that is where a correction stops.
"""

import hashlib
from datetime import date
from functools import cached_property

import pandas as pd
from dagster import (
    AssetDep,
    AssetExecutionContext,
    AssetSpec,
    Failure,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableSchema,
    asset,
    multi_asset,
)

from vip_pipeline import checks
from vip_pipeline.assets.extracts import SINGLE_RUN
from vip_pipeline.assets.metadata import (
    blocking_check,
    catalog,
    carried,
    evaluate,
    monthly_check_results,
    per_month,
    table_spec,
    verdict,
)
from vip_pipeline.constants import MONTHLY
from vip_pipeline.contracts.tables import MONTHLY_ACCOUNT_ACTIVITY, MONTHLY_CLIENT_METRICS
from vip_pipeline.decisions.panel import next_panel
from vip_pipeline.landing.inventory import Inventory, month_end
from vip_pipeline.metrics.activity import MonthPeriod, compute_month
from vip_pipeline.metrics.balances import carry_forward_state, open_in_period
from vip_pipeline.metrics.fx import MissingFxRate
from vip_pipeline.partitions import monthly_partitions, partition_key, previous_month
from vip_pipeline.resources import (
    DATABASE_RETRY,
    LandingResource,
    MetricRulesResource,
    StagingResource,
    WarehouseResource,
)
from vip_pipeline.storage.fingerprints import accounts_as_seen, fingerprint, frame_digest
from vip_pipeline.storage.staging import StagingStore
from vip_pipeline.timing import report, stage

ACTIVITY, CLIENT_METRICS = "monthly_account_activity", "monthly_client_metrics"
EXTRACTS_OF_A_MONTH = ("transactions", "balances", "client_pnl")
ACCOUNT_COLUMNS = ["account_id", "client_id", "product", "currency", "opened_on", "closed_on"]

MONTHLY_CHECKS = [
    blocking_check(checks.unique_key, ACTIVITY, "One row per account and month.", monthly_partitions),
    blocking_check(
        checks.adb_within_daily_range,
        ACTIVITY,
        "ADB lies within [min, max] end-of-day balance of the period.",
        monthly_partitions,
    ),
    blocking_check(
        checks.fx_coverage,
        ACTIVITY,
        "Every USD amount converted: a rate at most 7 days old existed for every needed day.",
        monthly_partitions,
    ),
    blocking_check(checks.unique_key, CLIENT_METRICS, "One row per client and month.", monthly_partitions),
    blocking_check(
        checks.reconciles_with_accounts,
        CLIENT_METRICS,
        "Client turnover and modelled margin equal the sum of their accounts.",
        monthly_partitions,
    ),
]

BALANCE_STATE = AssetSpec(
    "balance_state",
    group_name=MONTHLY,
    description="Latest known end-of-day balance per account at the end of the month: carries balances forward "
    "across months (each month reads the previous month's state).",
    deps=["balances", AssetDep("balance_state", partition_mapping=previous_month)],
    metadata={
        "dagster/column_schema": TableSchema(
            columns=[
                TableColumn("account_id", "string", description="Account identifier."),
                TableColumn("balance_date", "date", description="Day of the latest balance row up to month end."),
                TableColumn("balance", "float", description="That balance, account currency."),
            ]
        )
    },
    kinds={"pandas", "parquet"},
    **catalog(MONTHLY, "balance_state"),
)


def previous_key(key: str) -> str:
    return partition_key((pd.Timestamp(key) - pd.DateOffset(months=1)).date())


def opening_state(store: StagingStore, inventory: Inventory, key: str) -> pd.DataFrame | None:
    """The balance state at the end of the month before `key` (None before the first month of data)."""
    month = date.fromisoformat(key)
    state = store.read("balance_state", previous_key(key))
    if state is None and any(m < month for m in inventory.months):
        raise Failure(
            allow_retries=False,
            description=(
                f"balance_state for {previous_key(key)[:7]} is not materialised: months are carried forward in "
                f"order, materialise {previous_key(key)[:7]} (and earlier) first"
            ),
        )
    return state


class MonthInputs:
    """Everything one month's metrics read, and the fingerprint that says whether they changed."""

    def __init__(self, store: StagingStore, key: str, accounts: pd.DataFrame, fx: pd.DataFrame):
        self.key = key
        missing = [name for name in EXTRACTS_OF_A_MONTH if not store.path(name, key).exists()]
        if missing:
            raise Failure(
                allow_retries=False,
                description=f"validated {', '.join(missing)} for {key[:7]} missing in staging; "
                "materialise the extracts first",
            )
        self.store = store
        self.extract_fingerprints = [store.fingerprint(name, key) for name in EXTRACTS_OF_A_MONTH]
        self.accounts, self.fx = accounts, fx

    def _read(self, name: str) -> pd.DataFrame:
        """A month's validated rows, without the file each came from (the metrics do not need it)."""
        return self.store.read(name, self.key).drop(columns="source_file", errors="ignore")

    @cached_property
    def balances(self) -> pd.DataFrame:
        return self._read("balances")

    @cached_property
    def txns(self) -> pd.DataFrame:
        return self._read("transactions")

    @cached_property
    def pnl(self) -> pd.DataFrame:
        return self._read("client_pnl")

    def period(self, inventory: Inventory) -> MonthPeriod:
        """The month's period; only a month still in progress reads its rows (for its latest day)."""
        month = date.fromisoformat(self.key)
        if inventory.is_complete(month) or inventory.has_data_after(month):
            return MonthPeriod.of(month, inventory.is_complete(month), month_end(month))
        days = pd.concat([self.balances["balance_date"], self.txns["booking_date"]])
        latest = days.max().date() if len(days) and pd.notna(days.max()) else None
        return MonthPeriod.of(month, False, latest)

    def opening_read(self, opening: pd.DataFrame | None, period: MonthPeriod) -> pd.DataFrame | None:
        """The part of the opening balance state the month reads: accounts open on a day of its period (a
        closed account's last balance stays in the state, but no later month uses it)."""
        if opening is None:
            return None
        open_accounts = open_in_period(self.accounts, period.month, period.end)["account_id"]
        return opening[opening["account_id"].isin(open_accounts)].reset_index(drop=True)

    def fingerprint(
        self, opening: pd.DataFrame | None, period: MonthPeriod, rules: MetricRulesResource, db: str
    ) -> str:
        first_rate_day = period.month - pd.Timedelta(days=rules.max_fx_age_days)
        fx = self.fx[(self.fx["rate_date"] >= first_rate_day) & (self.fx["rate_date"] <= period.end)]
        return fingerprint(
            opening=frame_digest(self.opening_read(opening, period)),
            extracts=self.extract_fingerprints,
            accounts=frame_digest(accounts_as_seen(self.accounts, period.end, ACCOUNT_COLUMNS)),
            fx=frame_digest(fx[["rate_date", "currency", "usd_per_unit"]]),
            period=[str(period.end), period.is_complete],
            rules=rules.model_dump(),
            warehouse=hashlib.sha1(db.encode()).hexdigest(),
        )


@multi_asset(
    retry_policy=DATABASE_RETRY,
    group_name=MONTHLY,
    partitions_def=monthly_partitions,
    backfill_policy=SINGLE_RUN,
    check_specs=MONTHLY_CHECKS,
    specs=[
        BALANCE_STATE,
        table_spec(
            MONTHLY_ACCOUNT_ACTIVITY,
            MONTHLY,
            [
                "accounts",
                "fx_rates",
                "balances",
                "transactions",
                AssetDep("balance_state", partition_mapping=previous_month),
            ],
            lineage={
                "adb": [("balances", "balance"), ("balance_state", "balance")],
                "adb_usd": [("balances", "balance"), ("balance_state", "balance"), ("fx_rates", "usd_per_unit")],
                "closing_balance": [("balances", "balance"), ("balance_state", "balance")],
                "credit_turnover": [("transactions", "amount")],
                "debit_turnover": [("transactions", "amount")],
            },
        ),
        table_spec(
            MONTHLY_CLIENT_METRICS,
            MONTHLY,
            ["monthly_account_activity", "client_pnl", "accounts"],
            lineage={
                "adb_usd": [(ACTIVITY, "adb_usd")],
                "credit_adb_usd": [(ACTIVITY, "adb_usd")],
                "credit_turnover_usd": [(ACTIVITY, "credit_turnover_usd")],
                "debit_turnover_usd": [(ACTIVITY, "debit_turnover_usd")],
                "settlement_turnover_usd": [("transactions", "amount"), ("accounts", "client_id")],
                "export_usd": [("transactions", "amount"), ("transactions", "purpose")],
                "margin_usd": [(ACTIVITY, "margin_usd"), ("client_pnl", "revenue_usd"), ("client_pnl", "cost_usd")],
            },
        ),
    ],
)
def monthly_metrics(
    context: AssetExecutionContext,
    landing: LandingResource,
    staging: StagingResource,
    warehouse: WarehouseResource,
    metric_rules: MetricRulesResource,
):
    """The run's months in order: balance state, account activity and client metrics, each month published
    in one transaction after its checks passed; months whose inputs did not change are skipped."""
    store, inventory = staging.store, landing.inventory()
    accounts, fx = store.read("accounts"), store.read("fx_rates")
    if accounts is None or fx is None:
        raise Failure(allow_retries=False, description="accounts / fx_rates not materialised; load the snapshots first")
    keys = context.partition_keys
    empty = [k[:7] for k in keys if date.fromisoformat(k) not in inventory.months]
    if empty:
        raise Failure(
            allow_retries=False,
            description=f"no transactions or balances landed for {', '.join(empty)}: nothing to compute",
        )
    state = opening_state(store, inventory, keys[0])
    computed, unchanged, evaluated, written = [], [], [], {ACTIVITY: 0, CLIENT_METRICS: 0}
    for key in keys:
        inputs = MonthInputs(store, key, accounts, fx)
        period = inputs.period(inventory)
        marker = inputs.fingerprint(state, period, metric_rules, warehouse.warehouse.url)
        if store.fingerprint(CLIENT_METRICS, key) == marker and store.path("balance_state", key).exists():
            state = store.read("balance_state", key)
            unchanged.append(key[:7])
            evaluated += [(key, e) for e in carried(MONTHLY_CHECKS)]
            month_metadata(context, key, period, "unchanged since its last run", len(state), None, warehouse)
            continue
        metrics, month_checks = _compute(inputs, period, state, metric_rules)
        evaluated += [(key, e) for e in month_checks]
        _, failure = verdict(month_checks, key[:7])
        if failure:
            yield from monthly_check_results(context, evaluated)
            raise failure
        with stage("publish") as timed, warehouse.publishing() as wh:
            counts = wh.replace_partitions(
                {ACTIVITY: metrics.account_activity, CLIENT_METRICS: metrics.client_metrics}, period.month.date()
            )
            timed.rows = sum(counts.values())
        with stage("metrics"):
            state = carry_forward_state(state, inputs.balances)
        with stage("publish"):
            store.write("balance_state", state, key)
            store.write(CLIENT_METRICS, metrics.client_metrics, key, marker)
        month_metadata(context, key, period, "computed", len(state), counts, warehouse)
        computed.append(key[:7])
        for name in written:
            written[name] += counts[name]
    context.log.info(f"months computed: {computed or 'none'}; unchanged since their last run: {unchanged or 'none'}")
    report(
        f"  ✓ monthly metrics          {len(computed):>4} month(s) computed, {len(unchanged)} unchanged since last run"
    )
    summary = {"months_computed": MetadataValue.json(computed), "months_unchanged": MetadataValue.json(unchanged)}
    yield MaterializeResult(asset_key="balance_state", metadata=summary)
    for name, rows in written.items():
        yield MaterializeResult(asset_key=name, metadata={**summary, "rows_written_by_the_run": rows})
    yield from monthly_check_results(context, evaluated)


def _compute(inputs: MonthInputs, period: MonthPeriod, opening, metric_rules: MetricRulesResource):
    """One month's two tables and the evaluations of their checks."""
    try:
        with stage("metrics") as timed:
            timed.rows = len(inputs.balances) + len(inputs.txns)
            metrics = compute_month(
                period,
                inputs.accounts,
                opening,
                inputs.balances,
                inputs.txns,
                inputs.fx,
                inputs.pnl,
                metric_rules.margin_rules(),
                metric_rules.max_fx_age_days,
            )
    except MissingFxRate as exc:
        raise Failure(allow_retries=False, description=f"{inputs.key[:7]}: FX rate missing: {exc}") from exc
    activity, client_metrics = metrics.account_activity, metrics.client_metrics
    with stage("checks"):
        return metrics, [
            evaluate(ACTIVITY, checks.unique_key, activity, ["account_id", "month"]),
            evaluate(ACTIVITY, checks.adb_within_daily_range, activity),
            evaluate(ACTIVITY, checks.fx_coverage, activity),
            evaluate(CLIENT_METRICS, checks.unique_key, client_metrics, ["client_id", "month"]),
            evaluate(CLIENT_METRICS, checks.reconciles_with_accounts, activity, client_metrics),
        ]


def month_metadata(context, key: str, period: MonthPeriod, status: str, state_rows: int, counts, warehouse) -> None:
    """Each month's own row counts and period on its partition (a skipped month's counts from the warehouse)."""
    if counts is None:
        wh = warehouse.warehouse
        counts = {name: wh.counts_by_partition(name, [key]).get(key, 0) for name in (ACTIVITY, CLIENT_METRICS)}
    common = {
        "status": status,
        "period": f"{period.month:%Y-%m-%d} … {period.end:%Y-%m-%d}",
        "is_complete_month": period.is_complete,
    }
    per_month(context, "balance_state", key, {"dagster/row_count": state_rows, "status": status})
    for name in (ACTIVITY, CLIENT_METRICS):
        per_month(context, name, key, {**common, "dagster/row_count": counts[name]})


PANEL_CHECK = blocking_check(
    checks.ltv_carries_forward,
    "client_panel",
    "Every client's running LTV = last month's + this month's published margin; every client with metrics is in "
    "the panel.",
    monthly_partitions,
)


@asset(
    group_name=MONTHLY,
    partitions_def=monthly_partitions,
    backfill_policy=SINGLE_RUN,
    deps=[CLIENT_METRICS, AssetDep("client_panel", partition_mapping=previous_month)],
    check_specs=[PANEL_CHECK],
    kinds={"pandas", "parquet"},
    **catalog(MONTHLY, "client_panel"),
    metadata={
        "dagster/column_schema": TableSchema(
            columns=[
                TableColumn("client_id", "string", description="Client identifier."),
                TableColumn("month", "date", description="The month (first day)."),
                TableColumn("first_midx", "int", description="The client's first month with an open account."),
                TableColumn("tenure_months", "int", description="Months from the first month to this one."),
                TableColumn("margin_usd", "float", description="The month's margin (0 without activity)."),
                TableColumn("settlement_turnover_usd", "float", description="The month's settlement turnover."),
                TableColumn("ltv_usd", "float", description="Running LTV: Σ margin of the months up to this one."),
            ]
        )
    },
)
def client_panel(context: AssetExecutionContext, staging: StagingResource):
    """One row per client with history, per month: the month's measures and the running revenue, cost and LTV.
    Chained like the balance state, so a decision as of M reads a bounded window of it, never all history."""
    store = staging.store
    keys = context.partition_keys
    panel = store.read("client_panel", previous_key(keys[0]))
    evaluated = []
    for key in keys:
        with stage("panel") as timed:
            metrics = store.read(CLIENT_METRICS, key)
            if metrics is None:
                raise Failure(
                    allow_retries=False, description=f"monthly_client_metrics for {key[:7]} is not materialised"
                )
            previous, panel = panel, next_panel(panel, metrics, pd.Timestamp(key))
            timed.rows = len(panel)
        with stage("checks"):
            evaluation = evaluate("client_panel", checks.ltv_carries_forward, previous, metrics, panel)
        evaluated.append((key, evaluation))
        _, failure = verdict([evaluation], f"client_panel {key[:7]}")
        if failure:
            yield from monthly_check_results(context, evaluated)
            raise failure
        with stage("publish"):
            store.write("client_panel", panel, key)
        per_month(context, "client_panel", key, {"dagster/row_count": len(panel)})
    report(f"  ✓ client panel             {len(keys):>4} month(s) carried forward")
    yield MaterializeResult(metadata={"months": len(keys)})
    yield from monthly_check_results(context, evaluated)
