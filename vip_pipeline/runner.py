"""`vip-pipeline run`: one run of the `refresh_month` job over the landed months, through Dagster.

The CLI only chooses the range and prints progress; Dagster orders the steps: the snapshots, then every
month's extracts (a refused file stops the run before any metric is published), then the months' metrics
in order, the client panel, and the decisions for every complete month. The run is recorded on the
instance of $DAGSTER_HOME when set (it then shows in the UI under the job's name), else on an ephemeral one.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from dagster import DagsterInstance, build_reconstructable_job, execute_job

from vip_pipeline import garbage, parallel, timing
from vip_pipeline.definitions import build_refresh_job
from vip_pipeline.instance import open_local_instance
from vip_pipeline.jobs import executor_from_env, range_tags, refresh_range
from vip_pipeline.landing.inventory import scan_landing
from vip_pipeline.partitions import first_month
from vip_pipeline.contracts.tables import TABLES
from vip_pipeline.sharding import shard_count
from vip_pipeline.storage.warehouse import Warehouse

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}  # the CLI prints its own progress


class PipelineFailed(Exception):
    """A step failed; the message says which and why (e.g. the refused file)."""


def _instance() -> DagsterInstance:
    """The DAGSTER_HOME instance (the UI shows its runs; a new one gets the project's dagster.yaml), else an
    ephemeral one."""
    if not os.environ.get("DAGSTER_HOME"):
        return DagsterInstance.ephemeral()
    return open_local_instance(os.environ["DAGSTER_HOME"])


def _failure_message(result) -> str:
    messages = []
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            while error.cause is not None and "Failure" not in error.cls_name and error.cls_name != "MissingFxRate":
                error = error.cause
            text = re.sub(r"^[\w.]+(Error|Exception|Failure|Unavailable|Rejected|Rate): ", "", error.message.strip())
            messages.append(f"[{event.step_key}] {text}")
    if not messages:  # the executor itself failed (e.g. a Dask worker lost too often): the run's own error
        for event in result.all_events:
            error = event.event_specific_data.error if event.is_run_failure and event.event_specific_data else None
            if error is not None:
                messages.append(f"[run] {error.cls_name}: {error.message.strip().splitlines()[0]}")
    return "\n  ".join(messages) or "a step failed (see the Dagster run logs)"


@contextmanager
def dagster_output_to(log: Path) -> Iterator[None]:
    """Send what Dagster itself prints while a run starts and runs (the instance's notices, the telemetry
    banner, warnings) to `log` instead of the terminal: the CLI prints its own progress. Works on the file
    descriptors, so output written by handlers that hold the original streams is caught too."""
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with log.open("a") as sink:
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def refresh(
    landing: str,
    database_url: str,
    staging_dir: str,
    start: date,
    end: date,
    progress: Callable[[str], None] = print,
    tags: dict[str, str] | None = None,
    shards: int | None = None,
) -> None:
    """One run of `refresh_month` over [start, end] with `shards` client shards (None: $VIP_SHARDS) on the
    executor of $VIP_EXECUTOR; raises PipelineFailed with the failing step's reason.

    In-process, the job runs in this process. On Dask, the steps run in the cluster's workers: they rebuild the
    job from the same arguments (a reconstructable job) and record their events on a persistent instance —
    $DAGSTER_HOME's, else one kept beside the staging directory, which every worker reaches."""
    kind, scheduler = executor_from_env()
    arguments = dict(
        landing_dir=landing,
        database_url=database_url,
        staging_dir=staging_dir,
        shards=shard_count() if shards is None else shards,
        executor=kind,
        scheduler=scheduler,
    )
    run_tags = {**range_tags(start, end), "vip_pipeline/trigger": "cli", **(tags or {})}
    with timing.reporting(progress):
        if kind == "in_process":
            parallel.start_early((end.year - start.year) * 12 + end.month - start.month + 1)
            job, instance = build_refresh_job(**arguments), _instance()
            garbage.resume_after_loading()
            result = job.execute_in_process(instance=instance, run_config=QUIET, tags=run_tags, raise_on_error=False)
            success, message = result.success, (None if result.success else _failure_message(result))
        else:
            job = build_reconstructable_job(
                "vip_pipeline.definitions", "build_refresh_job", reconstructable_kwargs=arguments
            )
            garbage.resume_after_loading()
            with (
                _persistent_instance(staging_dir) as instance,
                execute_job(job, instance=instance, run_config=QUIET, tags=run_tags, raise_on_error=False) as result,
            ):
                success, message = result.success, (None if result.success else _failure_message(result))
    if not success:
        raise PipelineFailed(f"{start:%Y-%m} … {end:%Y-%m}:\n  {message}")


@contextmanager
def _persistent_instance(staging_dir: str) -> Iterator[DagsterInstance]:
    """$DAGSTER_HOME's instance, else a persistent one in `<staging>/.dagster` (workers on other processes read
    the run and write its events there)."""
    if os.environ.get("DAGSTER_HOME"):
        with open_local_instance(os.environ["DAGSTER_HOME"]) as instance:
            yield instance
        return
    home = Path(staging_dir).resolve() / ".dagster"
    home.mkdir(parents=True, exist_ok=True)
    with DagsterInstance.local_temp(tempdir=str(home)) as instance:
        yield instance


def run_pipeline(
    landing: str,
    database_url: str,
    staging_dir: str,
    progress: Callable[[str], None] = print,
    only_months: list[date] | None = None,
    shards: int | None = None,
) -> list[date]:
    """Refresh every month in the landing directory (or, with `only_months`, those months and every later one,
    which their changes carry into); returns the months of the run."""
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
    start, end = months[0], months[-1]
    if only_months is not None:
        unknown = [m for m in only_months if m not in months]
        if unknown:
            raise PipelineFailed(f"no files landed for {', '.join(f'{m:%Y-%m}' for m in unknown)}")
        start, end = refresh_range(inventory, only_months)
    progress(f"{len(inventory.files)} files; one run of refresh_month over {start:%Y-%m} … {end:%Y-%m}")
    refresh(landing, database_url, staging_dir, start, end, progress, shards=shards)
    return [m for m in months if start <= m <= end]


def summarise(database_url: str) -> str:
    """Row counts per published table, the current segment distribution and the rejections."""
    wh = Warehouse(database_url)
    wh.ensure_schema()
    lines = ["Published tables:"]
    for name in TABLES:
        lines.append(f"  {name:<26} {wh.count(name):>10,} rows")
    with wh.engine.connect() as conn:
        current = pd.read_sql(sa.text("SELECT * FROM client_segments_current"), conn)
        prospects = pd.read_sql(sa.text("SELECT recommended_action, eligible_through_group FROM vip_prospects"), conn)
        groups = pd.read_sql(
            sa.text(
                "SELECT group_vip_eligible FROM group_assessment "
                "WHERE as_of_month = (SELECT MAX(as_of_month) FROM client_segments)"
            ),
            conn,
        )
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
        through = int(prospects["eligible_through_group"].astype(bool).sum())
        lines.append(
            f"  economic groups: {len(groups)} assessed, {int(groups['group_vip_eligible'].astype(bool).sum())} "
            f"VIP-eligible; {through} prospect(s) eligible only through their group"
        )
    if len(rejected):
        lines.append(f"\nRejected rows: {len(rejected)}")
        counts = rejected.groupby(["extract", "rule"]).size()
        lines += [f"  {e:<13} {r:<60} {n}" for (e, r), n in counts.items()]
    else:
        lines.append("\nRejected rows: 0")
    return "\n".join(lines)
