"""Run the whole pipeline through Dagster: validate every landed month, compute months in order, decide.

Order: (1) every extract is validated first, so a refused file stops the run before any metric is
published; (2) each month's balance state and metrics; (3) the client decisions for all complete months.
Each step is a Dagster run (`materialize`) on the instance of $DAGSTER_HOME when set (runs then show
in the UI), else on an ephemeral one.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import date

import pandas as pd
import sqlalchemy as sa
from dagster import AssetKey, DagsterInstance, materialize

from vip_pipeline.definitions import all_assets, build_resources
from vip_pipeline.landing.inventory import scan_landing
from vip_pipeline.partitions import first_month, partition_key
from vip_pipeline.storage.warehouse import Warehouse
from vip_pipeline.timing import TIMINGS

UNPARTITIONED_EXTRACTS = ["clients", "accounts", "fx_rates"]
MONTHLY_EXTRACTS = ["transactions", "balances", "client_pnl"]
MONTHLY_METRICS = ["balance_state", "monthly_account_activity", "monthly_client_metrics"]
DECISIONS = ["client_ltv", "vip_assessment", "client_segments"]


QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}  # the CLI prints its own progress


class PipelineFailed(Exception):
    """A step failed; the message says which and why (e.g. the refused file)."""


def _instance() -> DagsterInstance:
    return DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else DagsterInstance.ephemeral()


def _failure_message(result) -> str:
    messages = []
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            while error.cause is not None and "Failure" not in error.cls_name and error.cls_name != "MissingFxRate":
                error = error.cause
            text = re.sub(r"^[\w.]+(Error|Exception|Failure|Unavailable|Rejected|Rate): ", "", error.message.strip())
            messages.append(f"[{event.step_key}] {text}")
    return "\n  ".join(messages) or "a step failed (see the Dagster run logs)"


def materialise(
    selection: list[str],
    resources: dict,
    instance: DagsterInstance,
    partition: str | None = None,
    partition_range: tuple[str, str] | None = None,
) -> None:
    """One Dagster run of the selected assets (for a partition, or a range in one run); raises PipelineFailed."""
    tags = (
        {
            "dagster/asset_partition_range_start": partition_range[0],
            "dagster/asset_partition_range_end": partition_range[1],
        }
        if partition_range
        else None
    )
    result = materialize(
        all_assets,
        selection=[AssetKey(k) for k in selection],
        resources=resources,
        instance=instance,
        partition_key=partition,
        raise_on_error=False,
        run_config=QUIET,
        tags=tags,
    )
    if not result.success:
        where = f" ({partition[:7]})" if partition else ""
        raise PipelineFailed(f"{', '.join(selection)}{where}:\n  {_failure_message(result)}")


def run_pipeline(
    landing: str,
    database_url: str,
    staging_dir: str,
    progress: Callable[[str], None] = print,
    workers: int = 1,
    only_months: list[date] | None = None,
) -> list[date]:
    """Materialise every month in the landing directory (or only `only_months`, as the nightly job does)
    and everything downstream; returns the months materialised."""
    inventory = scan_landing(landing)
    if inventory.unrecognised:
        progress(
            f"warning: ignoring {len(inventory.unrecognised)} file(s) whose name does not follow the "
            f"contract: {', '.join(inventory.unrecognised)}"
        )
    early = [f.name for f in inventory.files if f.period_start < first_month() and f.extract != "fx_rates"]
    if early:
        raise PipelineFailed(
            f"file(s) before the first partition month {first_month():%Y-%m} (VIP_FIRST_MONTH): {', '.join(early)}"
        )
    months = inventory.months
    if not months:
        raise PipelineFailed(f"no transactions or balances files in {landing}")
    if only_months is not None:
        unknown = [m for m in only_months if m not in months]
        if unknown:
            raise PipelineFailed(f"no files landed for {', '.join(f'{m:%Y-%m}' for m in unknown)}")
        months = sorted(only_months)
    resources = build_resources(landing, database_url, staging_dir)
    instance = _instance()
    progress(f"{len(inventory.files)} files, months {months[0]:%Y-%m} … {months[-1]:%Y-%m}")

    def step(
        label: str, selection: list[str], partition: str | None = None, partition_range: tuple[str, str] | None = None
    ) -> None:
        started = time.perf_counter()
        materialise(selection, resources, instance, partition, partition_range)
        progress(f"  ✓ {label:<34} {time.perf_counter() - started:6.1f}s")

    progress("1/3 validating extracts")
    step("clients, accounts, fx_rates", UNPARTITIONED_EXTRACTS)
    if workers > 1 and len(months) > 1:
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            locations = (landing, database_url, staging_dir)
            _parallel(pool, "extracts", MONTHLY_EXTRACTS, months, locations, progress)
            progress("2/3 monthly metrics (balance states in order, then months in parallel)")
            for month in months:
                step(f"balance_state {month:%Y-%m}", ["balance_state"], partition_key(month))
            _parallel(pool, "metrics", MONTHLY_METRICS[1:], months, locations, progress)
    else:
        for month in months:
            step(f"extracts {month:%Y-%m}", MONTHLY_EXTRACTS, partition_key(month))
        progress("2/3 monthly metrics")
        for month in months:
            step(f"metrics {month:%Y-%m}", MONTHLY_METRICS, partition_key(month))
    progress("3/3 client decisions")
    step(
        "client_ltv, vip_assessment, segments",
        DECISIONS,
        partition_range=(partition_key(months[0]), partition_key(months[-1])),
    )
    return months


def _in_worker(selection: list[str], locations: tuple[str, str, str], partition: str) -> dict:
    """One Dagster run in a worker process; returns that run's stage timings."""
    TIMINGS.clear()
    started = time.perf_counter()
    materialise(selection, build_resources(*locations), _instance(), partition)
    return {"seconds": time.perf_counter() - started, "stages": dict(TIMINGS)}


def _parallel(
    pool: ProcessPoolExecutor,
    label: str,
    selection: list[str],
    months: list[date],
    locations: tuple[str, str, str],
    progress: Callable[[str], None],
) -> None:
    """Months in parallel; the first failure cancels what has not started and is raised."""
    futures = {pool.submit(_in_worker, selection, locations, partition_key(m)): m for m in months}
    try:
        for future in as_completed(futures):
            done = future.result()
            for name, timed in done["stages"].items():
                TIMINGS[name].seconds += timed.seconds
                TIMINGS[name].rows += timed.rows
            progress(f"  ✓ {label} {futures[future]:%Y-%m}{'':<26} {done['seconds']:6.1f}s")
    except BaseException:
        for future in futures:
            future.cancel()
        raise


def summarise(database_url: str) -> str:
    """Row counts per published table, the current segment distribution and the rejections."""
    wh = Warehouse(database_url)
    wh.ensure_schema()
    lines = ["Published tables:"]
    for name in (
        "monthly_account_activity",
        "monthly_client_metrics",
        "client_ltv",
        "vip_assessment",
        "client_segments",
        "rejected_rows",
        "load_audit",
    ):
        lines.append(f"  {name:<26} {wh.count(name):>10,} rows")
    with wh.engine.connect() as conn:
        current = pd.read_sql(sa.text("SELECT * FROM client_segments_current"), conn)
        prospects = pd.read_sql(sa.text("SELECT recommended_action FROM vip_prospects"), conn)
        rejected = pd.read_sql(sa.select(wh.tables["rejected_rows"].c.extract, wh.tables["rejected_rows"].c.rule), conn)
    if len(current):
        lines.append(
            f"\nClient segments as of {pd.Timestamp(current['as_of_month'].iloc[0]):%Y-%m} "
            f"({len(current)} active clients):"
        )
        table = pd.crosstab(current["ltv_tier"], current["category"], margins=True, margins_name="total")
        lines += ["  " + line for line in table.to_string().splitlines()]
        actions = current["recommended_action"].value_counts()
        lines.append(
            "  actions: "
            + ", ".join(f"{k} {v}" for k, v in actions.items())
            + f"  (vip_prospects view: {len(prospects)} rows)"
        )
    if len(rejected):
        lines.append(f"\nRejected rows: {len(rejected)}")
        counts = rejected.groupby(["extract", "rule"]).size()
        lines += [f"  {e:<13} {r:<60} {n}" for (e, r), n in counts.items()]
    else:
        lines.append("\nRejected rows: 0")
    return "\n".join(lines)
