"""Monthly metrics: the carried-forward balance state, account activity and client metrics, and the client panel.

A run over a range of months computes them in N client shards (`VIP_SHARDS`, `sharding.py`): one step per
shard walks the months in order, carrying its accounts' balance state (`month_shard.py`), and one step then
checks and publishes each month of all shards in one transaction. A month whose inputs (its opening state,
its extracts, the accounts and FX rates it reads, the rules) did not change since it was published is left
as it is: that is where a correction stops.
"""

from dataclasses import dataclass

import pandas as pd
from dagster import (
    AssetDep,
    AssetExecutionContext,
    AssetsDefinition,
    AssetSpec,
    Failure,
    GraphDefinition,
    GraphIn,
    GraphOut,
    In,
    MaterializeResult,
    MetadataValue,
    Nothing,
    Out,
    TableColumn,
    TableSchema,
    asset,
    graph,
    op,
)

from vip_pipeline import checks
from vip_pipeline.assets.extracts import SINGLE_RUN
from vip_pipeline.assets.fanout import graph_asset
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
from vip_pipeline.assets.month_inputs import month_period, previous_key, refuse_months_without_data
from vip_pipeline.assets.month_shard import read_part, shard_step
from vip_pipeline.constants import MONTHLY
from vip_pipeline.contracts.tables import MONTHLY_ACCOUNT_ACTIVITY, MONTHLY_CLIENT_METRICS, TABLES
from vip_pipeline.decisions.panel import next_panel
from vip_pipeline.metrics.activity import MonthPeriod
from vip_pipeline.parallel import imap_months
from vip_pipeline.partitions import monthly_partitions, previous_month
from vip_pipeline.resources import DATABASE_RETRY, LandingResource, StagingResource, WarehouseResource
from vip_pipeline.sharding import shard_count
from vip_pipeline.storage.fingerprints import fingerprint, frame_digest
from vip_pipeline.storage.staging import StagingStore
from vip_pipeline.storage.warehouse import PublishRefused, checked_frame
from vip_pipeline.timing import report, stage

ACTIVITY, CLIENT_METRICS = "monthly_account_activity", "monthly_client_metrics"

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


MONTHLY_SPECS = [
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
]

# Asset deps as graph inputs: the name a shard step sees, the asset, and its partition mapping.
GRAPH_INPUTS = {
    "accounts": ("accounts", None),
    "fx_rates": ("fx_rates", None),
    "balances": ("balances", None),
    "transactions": ("transactions", None),
    "client_pnl": ("client_pnl", None),
    "previous_balance_state": ("balance_state", previous_month),
}
CHECK_OUTPUTS = {spec.get_python_identifier(): spec for spec in MONTHLY_CHECKS}


def _metrics_graph(shards: int) -> GraphDefinition:
    """The graph: N shard steps (one per client shard, fixed when the definitions load), then one step that
    checks and publishes each month of all shards together."""
    steps = [shard_step(k, shards) for k in range(shards)]
    publish = publish_step(shards)

    def body(accounts, fx_rates, balances, transactions, client_pnl, previous_balance_state):
        upstream = dict(
            accounts=accounts,
            fx_rates=fx_rates,
            balances=balances,
            transactions=transactions,
            client_pnl=client_pnl,
            previous_balance_state=previous_balance_state,
        )
        manifests = {f"shard_{k}": step(**upstream) for k, step in enumerate(steps)}
        return dict(zip(PUBLISH_OUTPUTS, publish(**manifests)))

    return graph(
        name="monthly_metrics",
        ins={name: GraphIn() for name in GRAPH_INPUTS},
        out={name: GraphOut() for name in PUBLISH_OUTPUTS},
        description=monthly_metrics_asset.__doc__,
    )(body)


def monthly_metrics_asset(shards: int) -> AssetsDefinition:
    """Balance state, account activity and client metrics over the run's months, computed in N client shards.

    A graph-backed multi-asset (`AssetsDefinition.from_graph`): its three assets, their deps (with the balance
    state's own previous month), checks, partitions and single-run backfill policy are those of one
    multi-asset, so N = 1 shows the same asset graph as ever; only the steps inside fan out."""
    return graph_asset(_metrics_graph(shards), MONTHLY_SPECS, GRAPH_INPUTS, MONTHLY_CHECKS, MONTHLY)


PUBLISH_OUTPUTS = [spec.key.to_user_string() for spec in MONTHLY_SPECS] + list(CHECK_OUTPUTS)


def publish_step(shards: int):
    """The collecting step: for each month in order, the shards' rows are checked together and published in
    one transaction; the balance state and client metrics of the whole bank are staged for the next step."""

    @op(
        name="publish",
        # one named input per shard, not a fan-in list: executors that run each step in its own process
        # (dagster-dask) load a named input from the IO manager, but pass a fan-in list as empty
        ins={f"shard_{k}": In(dict, description=f"The manifest of shard {k}.") for k in range(shards)},
        out={name: Out(Nothing) for name in PUBLISH_OUTPUTS},
        retry_policy=DATABASE_RETRY,
        description="Check and publish each month of every shard in one transaction (months in order).",
    )
    def publish_months(
        context: AssetExecutionContext,
        landing: LandingResource,
        staging: StagingResource,
        warehouse: WarehouseResource,
        **manifests: dict,
    ):
        ordered = [manifests[f"shard_{k}"] for k in range(shards)]
        yield from _publish(context, landing, staging, warehouse, ordered, shards)

    return publish_months


def _publish(context, landing, staging, warehouse, manifests: list[dict], shards: int):
    if sorted(m["shard"] for m in manifests) != list(range(shards)):
        got = [m["shard"] for m in manifests]
        raise Failure(
            allow_retries=False, description=f"publish received the manifests of shards {got}, not 0…{shards - 1}"
        )
    store, inventory = staging.store, landing.inventory()
    keys = context.partition_keys
    refuse_months_without_data(inventory, keys)
    failures = sorted((m["failed"]["month"], m["failed"]["reason"]) for m in manifests if m["failed"])
    computed, unchanged, evaluated, written = [], [], [], {ACTIVITY: 0, CLIENT_METRICS: 0}
    months = []  # (key, period, marker, unchanged?) of each month to publish or leave, in order
    for key in keys:
        if failures and key >= failures[0][0]:
            break
        with stage("publish"):  # whether the month is published as its shards computed it
            marker = fingerprint(shards=[m["months"][key]["marker"] for m in manifests])
            same = store.fingerprint(CLIENT_METRICS, key) == marker and store.path("balance_state", key).exists()
            months.append((key, month_period(store, inventory, key, shards), marker, same))
    # the workers gather, check and conform the next months while this process writes one to the database
    prepared = imap_months(prepare_month, [(store, shards, key, marker) for key, _, marker, same in months if not same])
    try:
        for key, period, marker, same in months:
            if same:
                unchanged.append(key[:7])
                evaluated += [(key, e) for e in carried(MONTHLY_CHECKS)]
                status = "unchanged since its last run"
                month_metadata(context, key, period, status, store.rows("balance_state", key), None, warehouse)
                continue
            month = next(prepared)
            evaluated += [(key, e) for e in month.evaluations]
            _, failure = verdict(month.evaluations, key[:7])
            if failure:
                yield from monthly_check_results(context, evaluated)
                raise failure
            with stage("publish") as timed, warehouse.publishing() as wh:
                if month.refused:
                    raise month.refused
                counts = wh.replace_partitions(month.tables, period.month.date(), checked=True)
                timed.rows = sum(counts.values())
            with stage("publish"):  # the month's staged frames, now that it is published (its marker says so)
                store.promote(f"{PUBLISHING}/balance_state", "balance_state", key)
                store.promote(f"{PUBLISHING}/{CLIENT_METRICS}", CLIENT_METRICS, key)
            month_metadata(context, key, period, "computed", month.state_rows, counts, warehouse)
            computed.append(key[:7])
            for name in written:
                written[name] += counts[name]
    finally:
        prepared.close()  # the months not prepared yet are not
    if failures:
        raise Failure(allow_retries=False, description=failures[0][1])
    where = {m["shard"]: f"{m['host']} (pid {m['pid']})" for m in manifests}
    context.log.info(
        f"months computed: {computed or 'none'}; unchanged since their last run: {unchanged or 'none'}; "
        f"{shards} shard(s) ran on {sorted(set(where.values()))}"
    )
    report(
        f"  ✓ monthly metrics          {len(computed):>4} month(s) computed, {len(unchanged)} unchanged since last run"
    )
    summary = {"months_computed": MetadataValue.json(computed), "months_unchanged": MetadataValue.json(unchanged)}
    if shards > 1:
        summary["shards"] = MetadataValue.json({str(k): v for k, v in where.items()})
    yield MaterializeResult(asset_key="balance_state", metadata=summary)
    for name, rows in written.items():
        yield MaterializeResult(asset_key=name, metadata={**summary, "rows_written_by_the_run": rows})
    yield from monthly_check_results(context, evaluated)


SORT_KEY = {ACTIVITY: "account_id", CLIENT_METRICS: "client_id", "balance_state": "account_id"}
PUBLISHING = "publishing"  # a month's frames staged by `prepare_month`, made the month's once it is published


@dataclass
class PreparedMonth:
    """A month ready to be written: its check evaluations and its two tables checked against their contracts (or
    why the contract refused them)."""

    evaluations: list
    tables: dict[str, pd.DataFrame]
    state_rows: int
    refused: PublishRefused | None = None


def prepare_month(store: StagingStore, shards: int, key: str, marker: str) -> PreparedMonth:
    """In a worker: a month's rows of every shard gathered and checked, its tables conformed and validated against
    their contracts, its balance state and client metrics staged under `PUBLISHING` (the client metrics marked
    with `marker`)."""
    parts = {t: gather(store, shards, t, key) for t in (ACTIVITY, CLIENT_METRICS, "balance_state")}
    activity, client_metrics, state = parts[ACTIVITY], parts[CLIENT_METRICS], parts["balance_state"]
    evaluations = month_evaluations(activity, client_metrics)
    if verdict(evaluations, key)[1] is not None:
        return PreparedMonth(evaluations, {}, len(state))
    with stage("publish"):
        try:
            tables = {name: checked_frame(TABLES[name], frame) for name, frame in parts.items() if name in TABLES}
        except PublishRefused as exc:
            return PreparedMonth(evaluations, {}, len(state), exc)
        store.write(f"{PUBLISHING}/balance_state", state, key)
        store.write(f"{PUBLISHING}/{CLIENT_METRICS}", client_metrics, key, marker)
    return PreparedMonth(evaluations, tables, len(state))


def gather(store: StagingStore, shards: int, table: str, key: str) -> pd.DataFrame:
    """A month's rows of every shard as one frame, in key order (one shard's frame as it is)."""
    with stage("publish"):  # reading the shards' staged rows back
        frames = [read_part(store, shards, table, key, k) for k in range(shards)]
    missing = [k for k, f in enumerate(frames) if f is None]
    if missing:
        raise Failure(allow_retries=False, description=f"{table} of {key[:7]}: shard(s) {missing} not staged")
    if shards == 1:
        return frames[0]
    kept = [f for f in frames if len(f)] or frames[:1]
    return pd.concat(kept, ignore_index=True).sort_values(SORT_KEY[table], kind="stable", ignore_index=True)


def month_evaluations(activity: pd.DataFrame, client_metrics: pd.DataFrame):
    """The evaluations of the monthly checks on a month about to be published."""
    with stage("checks"):
        return [
            evaluate(ACTIVITY, checks.unique_key, activity, ["account_id", "month"]),
            evaluate(ACTIVITY, checks.adb_within_daily_range, activity),
            evaluate(ACTIVITY, checks.fx_coverage, activity),
            evaluate(CLIENT_METRICS, checks.unique_key, client_metrics, ["client_id", "month"]),
            evaluate(CLIENT_METRICS, checks.reconciles_with_accounts, activity, client_metrics),
        ]


monthly_metrics = monthly_metrics_asset(shard_count())


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
            store.write("client_panel", panel, key, frame_digest(panel))  # the decisions' markers read it
        per_month(context, "client_panel", key, {"dagster/row_count": len(panel)})
    report(f"  ✓ client panel             {len(keys):>4} month(s) carried forward")
    yield MaterializeResult(metadata={"months": len(keys)})
    yield from monthly_check_results(context, evaluated)
