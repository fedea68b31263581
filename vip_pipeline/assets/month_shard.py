"""One client shard's months: its balance-state chain and its rows of the two monthly tables, as a step.

The monthly metrics asset fans out into one such step per shard (`sharding.py`), so an executor can run
them on different workers. A shard step walks the run's months in order, carrying its accounts' balance
state from month to month; it reads only its accounts' rows of the validated extracts (pyarrow filters on
the staged Parquet) and the shared snapshots, and writes its rows per (month, shard) to the staging
directory. It returns a small manifest (what it computed or skipped, where it ran); the collecting step
checks and publishes each month. Nothing is published here.
"""

import os
import socket

import pandas as pd
from dagster import Failure, In, Nothing, OpExecutionContext, Out, op

from vip_pipeline.assets.month_inputs import MonthInputs, month_period, opening_state, refuse_months_without_data
from vip_pipeline.metrics.activity import compute_month
from vip_pipeline.metrics.balances import carry_forward_state, open_in_period
from vip_pipeline.metrics.fx import MissingFxRate
from vip_pipeline.parallel import map_months
from vip_pipeline.resources import LandingResource, MetricRulesResource, StagingResource, WarehouseResource
from vip_pipeline.sharding import accounts_of_shard, part, part_key
from vip_pipeline.storage.staging import StagingStore
from vip_pipeline.timing import stage

ACTIVITY, CLIENT_METRICS, STATE = "monthly_account_activity", "monthly_client_metrics", "balance_state"
# The upstream assets a shard reads (Nothing inputs: the data is in staging, the edges order the steps).
EMPTY_STATE = pd.DataFrame(
    {
        "account_id": pd.Series(dtype=object),
        "balance_date": pd.Series(dtype="datetime64[ns]"),
        "balance": pd.Series(dtype=float),
    }
)
SHARD_INPUTS = ("accounts", "fx_rates", "balances", "transactions", "client_pnl", "previous_balance_state")


def read_part(store: StagingStore, shards: int, table: str, key: str, shard: int) -> pd.DataFrame | None:
    return store.read(part(shards, table), part_key(key, shard))


def shard_months(
    keys: list[str],
    store: StagingStore,
    landing: LandingResource,
    rules: MetricRulesResource,
    database_url: str,
    shard: int,
    shards: int,
) -> dict:
    """Compute (or skip, when its inputs did not change) each month of `keys` for one shard.

    The balance state is carried from month to month in order, here; the months to compute then need nothing of
    each other (each has its opening state) and run side by side (`parallel.map_months`). A missing FX rate stops
    the shard at that month: the manifest names it and lists only the months before it, so the collecting step
    publishes those and then fails with the currency and day, as an unsharded run does."""
    inventory = landing.inventory()
    accounts, fx = store.read("accounts"), store.read("fx_rates")
    if accounts is None or fx is None:
        raise Failure(allow_retries=False, description="accounts / fx_rates not materialised; load the snapshots first")
    refuse_months_without_data(inventory, keys)
    mine = accounts_of_shard(accounts, shard, shards)
    state = opening_state(store, inventory, keys[0])
    if state is not None and shards > 1:
        state = state[state["account_id"].isin(mine["account_id"])].reset_index(drop=True)
    months, todo, settings = {}, {}, rules.model_dump()
    inputs_of = {key: MonthInputs(store, key, mine, fx, (shard, shards)) for key in keys}
    # a month never computed will be: its latest balances, which carry the state, are found side by side first
    first_time = [k for k in keys if not store.path(part(shards, STATE), part_key(k, shard)).exists()]
    latest = dict(zip(first_time, map_months(latest_balances, [(inputs_of[k],) for k in first_time])))
    for key in keys:
        inputs = inputs_of[key]
        with stage("metrics"):  # what the month's metrics read: the month is computed again when it changed
            period = month_period(store, inventory, key, shards)
            # a month never computed is computed whatever it read: that is worked out beside it, in the pool
            marker = None if key in latest else inputs.fingerprint(state, period, settings, database_url)
        where = part_key(key, shard)
        months[key] = {"marker": marker, "status": "computed"}
        if (
            marker is not None
            and store.fingerprint(part(shards, CLIENT_METRICS), where) == marker
            and all(store.path(part(shards, t), where).exists() for t in (ACTIVITY, STATE))
        ):
            state = store.read(part(shards, STATE), where)
            months[key]["status"] = "unchanged"
            continue
        opening, idle = state, open_in_period(mine, period.month, period.end).empty
        with stage("metrics"):
            closing = latest[key] if key in latest else inputs.balances
            state = EMPTY_STATE if idle and state is None else carry_forward_state(state, closing)
        if idle:  # a shard without an open account this month
            with stage("metrics"):
                marker = months[key]["marker"] = marker or inputs.fingerprint(opening, period, settings, database_url)
            for table in (ACTIVITY, STATE, CLIENT_METRICS):
                frame = state if table == STATE else pd.DataFrame()
                store.write(part(shards, table), frame, where, marker if table == CLIENT_METRICS else None)
            continue
        todo[key] = (inputs, period, opening, state, marker, settings, database_url, rules.margin_rules())
    failed = None
    for key, (reason, marker) in zip(todo, map_months(compute_month_of_shard, list(todo.values()))):
        months[key]["marker"] = marker
        if reason is not None:
            failed = {"month": key, "reason": reason}
            months = {k: v for k, v in months.items() if k < key}
            break
    return {"shard": shard, "months": months, "failed": failed, "pid": os.getpid(), "host": socket.gethostname()}


def latest_balances(inputs: MonthInputs) -> pd.DataFrame:
    """The latest balance row of each account in the month: carried after the opening state, it is the closing one
    (`carry_forward_state`, whose latest row per account is the same either way)."""
    with stage("metrics"):
        return carry_forward_state(None, inputs.balances)


def compute_month_of_shard(
    inputs: MonthInputs, period, opening, state, marker: str | None, settings: dict, database_url: str, margin_rules
) -> tuple[str | None, str]:
    """One (month, shard): its two monthly tables from its opening state, staged with its closing state, the
    client metrics last (marked with `marker`, what the month read: that marks the month done; None: worked out
    here). Returns why it stopped (None when it did not), and the marker."""
    with stage("metrics"):
        marker = marker or inputs.fingerprint(opening, period, settings, database_url)
    try:
        with stage("metrics") as timed:
            timed.rows = len(inputs.balances) + len(inputs.txns)
            metrics = compute_month(
                period, inputs.accounts, opening, inputs.balances, inputs.txns, inputs.fx, inputs.pnl,
                margin_rules, settings["max_fx_age_days"],
            )  # fmt: skip
    except MissingFxRate as exc:
        return f"{inputs.key[:7]}: FX rate missing: {exc}", marker
    store, (shard, shards) = inputs.store, inputs.shard
    where = part_key(inputs.key, shard)
    with stage("publish"):  # staged for the publishing step
        store.write(part(shards, ACTIVITY), metrics.account_activity, where)
        store.write(part(shards, STATE), state, where)
        store.write(part(shards, CLIENT_METRICS), metrics.client_metrics, where, marker)
    return None, marker


def shard_step(shard: int, shards: int):
    """The op of shard `shard` of `shards` (built when the definitions load: a fixed fan-out)."""

    @op(
        name=f"metrics_shard_{shard}_of_{shards}",
        ins={name: In(Nothing) for name in SHARD_INPUTS},
        out=Out(dict, description="Manifest: per month, the shard's input fingerprint and computed/unchanged."),
        description=f"Balance state and monthly rows of the clients in shard {shard} of {shards}, month by month.",
        tags={"vip_pipeline/shard": str(shard)},
    )
    def compute_shard(
        context: OpExecutionContext,
        landing: LandingResource,
        staging: StagingResource,
        warehouse: WarehouseResource,
        metric_rules: MetricRulesResource,
    ) -> dict:
        manifest = shard_months(
            context.partition_keys, staging.store, landing, metric_rules, warehouse.warehouse.url, shard, shards
        )
        computed = [k[:7] for k, m in manifest["months"].items() if m["status"] == "computed"]
        context.log.info(
            f"shard {shard}/{shards} on {manifest['host']} pid {manifest['pid']}: computed {computed or 'none'}"
        )
        return manifest

    return compute_shard
