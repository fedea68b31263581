"""The one job: refresh a range of months (one month for the nightly run) and everything downstream, in one run.

Every partitioned asset has a single-run backfill policy and walks the run's months in order, so a full
load, a backfill, a correction's cascade and the nightly refresh are each one run of this job, executed in
one process (its steps are cheap to start there; months that did not change are skipped inside them).

The monthly metrics fan out into one step per client shard (`VIP_SHARDS`). With `VIP_EXECUTOR=dask` and
`VIP_DASK_SCHEDULER=tcp://host:port` the job runs its steps on that existing Dask cluster instead
(`dagster-dask`), so the shards of a month run on different workers; see deploy/README.md.
"""

from __future__ import annotations

from datetime import date

import os

from dagster import AssetSelection, ExecutorDefinition, define_asset_job, in_process_executor

from vip_pipeline.landing.inventory import Inventory
from vip_pipeline.partitions import monthly_partitions, partition_key

SERIAL_TAG = {"vip_pipeline/queue": "monthly"}  # deploy/dagster.yaml runs these one at a time, in order
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"

EXECUTORS = ("in_process", "dask")


def executor_from_env() -> tuple[str, str | None]:
    """($VIP_EXECUTOR or in_process, $VIP_DASK_SCHEDULER); an unknown executor or dask without a scheduler
    address is refused by name."""
    kind = (os.environ.get("VIP_EXECUTOR") or "in_process").strip()
    if kind not in EXECUTORS:
        raise ValueError(f"VIP_EXECUTOR must be one of {', '.join(EXECUTORS)}, not {kind!r}")
    scheduler = os.environ.get("VIP_DASK_SCHEDULER") or None
    if kind == "dask" and not scheduler:
        raise ValueError("VIP_EXECUTOR=dask needs VIP_DASK_SCHEDULER=tcp://host:port (an existing Dask scheduler)")
    return kind, scheduler


def executor_def(kind: str, scheduler: str | None = None) -> ExecutorDefinition:
    """The executor of `refresh_month`: in-process, or dagster-dask's on the existing scheduler `scheduler`
    (engine.py: its arguments sent opaquely, which partition-range runs need with current dask)."""
    if kind == "dask":
        from vip_pipeline.engine import opaque_dask_executor

        return opaque_dask_executor.configured({"cluster": {"existing": {"address": scheduler}}}, name="dask")
    return in_process_executor


def refresh_job(kind: str = "in_process", scheduler: str | None = None):
    """The `refresh_month` job on the given executor."""
    return define_asset_job(
        "refresh_month",
        selection=AssetSelection.all(),
        partitions_def=monthly_partitions,
        tags=SERIAL_TAG,
        executor_def=executor_def(kind, scheduler),
        description="Validate the months' extracts (and the snapshots), compute their metrics in order (in client "
        "shards), carry the client panel forward and decide every complete month. Launch it for a range (a "
        "backfill) from the first corrected month to the latest: months whose inputs did not change are skipped "
        "inside the steps.",
    )


refresh_month = refresh_job(*executor_from_env())


def refresh_range(inventory: Inventory, touched: list[date], snapshots_changed: bool = False) -> tuple[date, date]:
    """The months a refresh of `touched` recomputes: from the month before the first touched one (a new file can
    complete it) — or from the first month when a snapshot changed — to the latest landed month, because the
    balance state and the client panel carry every change forward."""
    months = inventory.months
    first = min(touched)
    earlier = [m for m in months if m < first]
    start = months[0] if snapshots_changed else (earlier[-1] if earlier else first)
    return start, max(months[-1], max(touched))


def range_tags(start: date, end: date) -> dict[str, str]:
    return {RANGE_START: partition_key(start), RANGE_END: partition_key(end)}
