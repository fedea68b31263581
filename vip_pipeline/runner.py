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
from dagster import DagsterInstance, Definitions

from vip_pipeline import timing
from vip_pipeline.definitions import all_assets, build_resources
from vip_pipeline.instance import prepare_local_instance
from vip_pipeline.jobs import range_tags, refresh_month, refresh_range
from vip_pipeline.landing.inventory import scan_landing
from vip_pipeline.partitions import first_month
from vip_pipeline.contracts.tables import TABLES
from vip_pipeline.storage.warehouse import Warehouse

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}  # the CLI prints its own progress


class PipelineFailed(Exception):
    """A step failed; the message says which and why (e.g. the refused file)."""


def _instance() -> DagsterInstance:
    """The DAGSTER_HOME instance (the UI shows its runs; a new one gets the project's dagster.yaml), else an
    ephemeral one."""
    if not os.environ.get("DAGSTER_HOME"):
        return DagsterInstance.ephemeral()
    prepare_local_instance(os.environ["DAGSTER_HOME"])
    return DagsterInstance.get()


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
) -> None:
    """One run of `refresh_month` over [start, end]; raises PipelineFailed with the failing step's reason."""
    job = Definitions(
        assets=all_assets, jobs=[refresh_month], resources=build_resources(landing, database_url, staging_dir)
    ).get_job_def("refresh_month")
    with timing.reporting(progress):
        result = job.execute_in_process(
            instance=_instance(),
            run_config=QUIET,
            tags={**range_tags(start, end), "vip_pipeline/trigger": "cli", **(tags or {})},
            raise_on_error=False,
        )
    if not result.success:
        raise PipelineFailed(f"{start:%Y-%m} … {end:%Y-%m}:\n  {_failure_message(result)}")


def run_pipeline(
    landing: str,
    database_url: str,
    staging_dir: str,
    progress: Callable[[str], None] = print,
    only_months: list[date] | None = None,
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
    refresh(landing, database_url, staging_dir, start, end, progress)
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
