"""Monthly metrics per partition: the carried-forward balance state, account activity and client metrics."""

from datetime import date

import pandas as pd
from dagster import (
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    Output,
    asset,
    multi_asset,
)

from vip_pipeline import checks
from vip_pipeline.assets.metadata import check_results, failed_checks, preview, table_spec
from vip_pipeline.constants import MONTHLY
from vip_pipeline.contracts.tables import MONTHLY_ACCOUNT_ACTIVITY, MONTHLY_CLIENT_METRICS
from vip_pipeline.landing.inventory import Inventory, month_end
from vip_pipeline.metrics.activity import MonthPeriod, compute_month
from vip_pipeline.metrics.balances import carry_forward_state
from vip_pipeline.metrics.fx import MissingFxRate
from vip_pipeline.partitions import monthly_partitions, partition_key, previous_month
from vip_pipeline.resources import (
    DATABASE_RETRY,
    LandingResource,
    MetricRulesResource,
    StagingResource,
    WarehouseResource,
)
from vip_pipeline.timing import stage


def opening_state(
    context: AssetExecutionContext, staging: StagingResource, inventory: Inventory
) -> pd.DataFrame | None:
    """The balance state at the end of the previous month (None before the first month of data)."""
    month = date.fromisoformat(context.partition_key)
    if not inventory.for_month("transactions", month) and not inventory.for_month("balances", month):
        raise Failure(
            allow_retries=False, description=f"no transactions or balances landed for {month:%Y-%m}: nothing to compute"
        )
    previous = (pd.Timestamp(month) - pd.DateOffset(months=1)).date()
    state = staging.store.read("balance_state", partition_key(previous))
    if state is None and any(m < month for m in inventory.months):
        raise Failure(
            allow_retries=False,
            description=(
                f"balance_state for {previous:%Y-%m} is not materialised: months are carried forward in order, "
                f"materialise {previous:%Y-%m} (and earlier) first"
            ),
        )
    return state


@asset(
    group_name=MONTHLY,
    io_manager_key="staging_io_manager",
    partitions_def=monthly_partitions,
    deps=[AssetDep("balance_state", partition_mapping=previous_month)],
)
def balance_state(
    context: AssetExecutionContext, landing: LandingResource, staging: StagingResource, balances: pd.DataFrame
) -> Output:
    """Latest known end-of-day balance per account at the end of the month (a small chain that carries
    balances forward across months, so the heavy monthly work can run in parallel)."""
    state = carry_forward_state(opening_state(context, staging, landing.inventory()), balances)
    return Output(state, metadata={"dagster/row_count": len(state)})


ACTIVITY, CLIENT_METRICS = "monthly_account_activity", "monthly_client_metrics"
MONTHLY_CHECKS = [
    AssetCheckSpec("unique_key", asset=ACTIVITY, blocking=True, description="One row per account and month."),
    AssetCheckSpec(
        "adb_within_daily_range",
        asset=ACTIVITY,
        blocking=True,
        description="ADB lies within [min, max] end-of-day balance of the period.",
    ),
    AssetCheckSpec(
        "fx_coverage",
        asset=ACTIVITY,
        blocking=True,
        description="Every USD amount converted: a rate at most 7 days old existed for every needed day.",
    ),
    AssetCheckSpec("unique_key", asset=CLIENT_METRICS, blocking=True, description="One row per client and month."),
    AssetCheckSpec(
        "reconciles_with_accounts",
        asset=CLIENT_METRICS,
        blocking=True,
        description="Client turnover and modelled margin equal the sum of their accounts.",
    ),
]


@multi_asset(
    retry_policy=DATABASE_RETRY,
    group_name=MONTHLY,
    partitions_def=monthly_partitions,
    check_specs=MONTHLY_CHECKS,
    specs=[
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
        ),
        table_spec(MONTHLY_CLIENT_METRICS, MONTHLY, ["monthly_account_activity", "client_pnl"]),
    ],
)
def monthly_metrics(
    context: AssetExecutionContext,
    landing: LandingResource,
    staging: StagingResource,
    warehouse: WarehouseResource,
    metric_rules: MetricRulesResource,
):
    """Computes both monthly tables from the validated extracts and publishes them in one transaction."""
    month = date.fromisoformat(context.partition_key)
    key = context.partition_key
    store = staging.store
    inventory = landing.inventory()
    opening = opening_state(context, staging, inventory)
    accounts, fx = store.read("accounts"), store.read("fx_rates")
    balances, txns = store.read("balances", key), store.read("transactions", key)
    pnl = store.read("client_pnl", key)
    if any(f is None for f in (accounts, fx, balances, txns)):
        raise Failure(
            allow_retries=False,
            description=f"validated extracts for {key} are missing in staging; materialise the extracts first",
        )

    period = MonthPeriod.of(month, inventory.is_complete(month), _latest_day(month, inventory, balances, txns))
    try:
        with stage("metrics") as timed:
            timed.rows = len(balances) + len(txns)
            metrics = compute_month(
                period,
                accounts,
                opening,
                balances,
                txns,
                fx,
                pnl,
                metric_rules.margin_rules(),
                metric_rules.max_fx_age_days,
            )
    except MissingFxRate as exc:
        raise Failure(allow_retries=False, description=f"FX rate missing: {exc}") from exc
    activity, client_metrics = metrics.account_activity, metrics.client_metrics
    results = check_results(
        [
            (ACTIVITY, "unique_key", checks.unique_key(activity, ["account_id", "month"])),
            (ACTIVITY, "adb_within_daily_range", checks.adb_within_daily_range(activity)),
            (ACTIVITY, "fx_coverage", checks.usd_values_complete(activity)),
            (CLIENT_METRICS, "unique_key", checks.unique_key(client_metrics, ["client_id", "month"])),
            (
                CLIENT_METRICS,
                "reconciles_with_accounts",
                checks.clients_reconcile_with_accounts(activity, client_metrics),
            ),
        ]
    )
    if failed_checks(results):
        yield from results
        raise Failure(
            allow_retries=False, description=f"{key[:7]} not published: failed check(s) {failed_checks(results)}"
        )
    with stage("publish") as timed, warehouse.publishing() as wh:
        written = wh.replace_partitions({ACTIVITY: activity, CLIENT_METRICS: client_metrics}, month)
        timed.rows = sum(written.values())
    store.write(CLIENT_METRICS, client_metrics, key)  # the decisions' input, as published
    common = {"period": f"{period.month:%Y-%m-%d} … {period.end:%Y-%m-%d}", "is_complete_month": period.is_complete}
    yield MaterializeResult(
        asset_key="monthly_account_activity",
        metadata={
            **common,
            "dagster/row_count": written["monthly_account_activity"],
            "rows_in": len(balances) + len(txns),
        },
    )
    top = metrics.client_metrics.nlargest(10, "margin_usd")[
        ["client_id", "margin_usd", "settlement_turnover_usd", "adb_usd"]
    ]
    yield MaterializeResult(
        asset_key="monthly_client_metrics",
        metadata={
            **common,
            "dagster/row_count": written["monthly_client_metrics"],
            "margin_usd_total": MetadataValue.float(float(metrics.client_metrics["margin_usd"].sum())),
            "top_clients_by_margin": preview(top),
        },
    )
    yield from results


def _latest_day(month: date, inventory: Inventory, balances: pd.DataFrame, txns: pd.DataFrame) -> date | None:
    """The latest booking or balance day in the month's data, when the month is still in progress."""
    if inventory.is_complete(month) or inventory.has_data_after(month):
        return month_end(month)
    days = pd.concat([balances["balance_date"], txns["booking_date"]])
    return days.max().date() if len(days) and pd.notna(days.max()) else None
