"""`vip-pipeline bench --scenario shards`: bank-L run with 1, 2, 4 and 8 client shards (issue #13).

bank-L: `generate-sample --clients 50000 --months 3 --full-balances --txns-per-account-month 20 --no-bad-rows`
(fixed seed and end date, generated once into <dir>/bankL-<clients>-<months>). Each shard count is a separate
`vip-pipeline run --shards N` process on its own database, staging directory and DAGSTER_HOME, with the
in-process executor: every step runs in that process, so its peak RSS (os.wait4) bounds the largest step's.
The published tables of every N are compared with N = 1's (equal to the last bit, run columns aside).

With `--engine dask` the runs execute on a local Dask cluster of two single-threaded worker processes (the
`VIP_EXECUTOR=dask` path, as production runs it on a cluster): each step then runs in a worker, and its own peak
RSS — reset before the step, read after it (`engine.py`) — is read back from the run's engine events. The
largest step's peak is issue #13's target (≤ 1.25 GB with 8 shards on bank-L).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from vip_pipeline.bench import _run, cached_sample


STAGES = ("read", "validate", "metrics", "publish")


def _bank_l(root: Path, clients: int, months: int, progress: Callable[[str], None]) -> Path:
    label = f"bank-L ({clients} clients, {months} months, full daily balances)"
    options = dict(clients=clients, months=months, seed=42, bad_rows=False)
    return cached_sample(root / f"bankL-{clients}-{months}", label, progress, False, **options) / "landing"


def _same_tables(first: Path, other: Path) -> bool:
    """Every published table of two runs equal to the last bit (the columns naming the run aside)."""
    import pandas as pd

    from vip_pipeline.contracts.tables import TABLES
    from vip_pipeline.storage.warehouse import Warehouse

    a, b = Warehouse(f"sqlite:///{first}"), Warehouse(f"sqlite:///{other}")
    for name in TABLES:
        x, y = a.read(name), b.read(name)
        drop = [c for c in x.columns if c in {"run_id", "rejected_at", "loaded_at", "recorded_at"}]
        x, y = (f.drop(columns=drop) for f in (x, y))
        x, y = (f.sort_values(list(f.columns), ignore_index=True) for f in (x, y))
        try:
            pd.testing.assert_frame_equal(x, y, check_exact=True)
        except AssertionError:
            return False
    return True


@contextmanager
def _local_dask(workers: int = 2) -> Iterator[dict[str, str]]:
    """A Dask cluster of `workers` single-threaded worker processes on this machine; yields the run's env."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        yield {"VIP_EXECUTOR": "dask", "VIP_DASK_SCHEDULER": cluster.scheduler_address}


def _largest_steps(dagster_home: Path) -> dict:
    """The latest run's largest step by peak RSS, and the largest shard step, from its engine events."""
    from dagster import DagsterInstance

    from vip_pipeline.engine import step_costs

    with DagsterInstance.from_config(str(dagster_home)) as instance:
        (run,) = instance.get_runs(limit=1)
        costs = step_costs(instance, run.run_id)
    if not costs:
        return {}
    largest = max(costs, key=lambda step: costs[step]["peak_rss_mb"])
    shard_steps = [step for step in costs if "_shard_" in step]
    shard = max(shard_steps, key=lambda step: costs[step]["peak_rss_mb"]) if shard_steps else None
    return {
        "largest_step": largest,
        "largest_step_peak_rss_mb": costs[largest]["peak_rss_mb"],
        "largest_step_rss_at_start_mb": costs[largest]["rss_at_start_mb"],
        "largest_shard_step": shard,
        "largest_shard_step_peak_rss_mb": costs[shard]["peak_rss_mb"] if shard else None,
        "steps": costs,
    }


def run_shard_benchmark(
    root: Path,
    clients: int = 50_000,
    months: int = 3,
    shard_counts: tuple[int, ...] = (1, 2, 4, 8),
    progress: Callable[[str], None] = print,
    engine: str = "in_process",
) -> int:
    root.mkdir(parents=True, exist_ok=True)
    landing = _bank_l(root, clients, months, progress)
    results = {}
    # every N's tables are compared with one shard's: this run's, or an earlier run's left in <dir>/shards-1
    prefix = "shards" if engine == "in_process" else f"{engine}-shards"
    reference = root / "shards-1" / "vip.db"
    if 1 not in shard_counts and not reference.exists():
        raise SystemExit(f"no one-shard run to compare with ({reference}): include 1 in --shards")
    with _local_dask() if engine == "dask" else nullcontext({}) as env:
        for n in shard_counts:
            work = root / f"{prefix}-{n}"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir()
            progress(f"bank-L with {n} shard(s), {engine} …")
            result = _run(landing, work, ["--shards", str(n)], env)
            if n == 1 and not reference.exists():
                reference = work / "vip.db"
            result["same_tables_as_1"] = (
                True if work / "vip.db" == reference else _same_tables(reference, work / "vip.db")
            )
            if engine == "dask":
                result.update(_largest_steps(work / "dagster_home"))
            results[n] = result
            progress(f"  {n} shard(s): {result['wall_s']} s, peak RSS {result['peak_rss_mb']:,} MB, "
                     f"tables equal to 1 shard: {result['same_tables_as_1']}")  # fmt: skip
    lines = [
        f"| shards ({engine}) | wall (s) | peak RSS of the run process (MB) | largest step: peak RSS (MB) | "
        "read / validate / metrics / publish (s) | = 1 shard |",
        "|---:|---:|---:|---|---|:---:|",
    ]
    for n, r in results.items():
        stages = " / ".join(str(round(r["stages"].get(k, {}).get("seconds", 0))) for k in STAGES)
        stages = "in the workers (not timed)" if engine == "dask" else stages
        same = "yes" if r["same_tables_as_1"] else "NO"
        step = (
            f"{r['largest_step_peak_rss_mb']:,.0f} ({r['largest_step']}, from "
            f"{r['largest_step_rss_at_start_mb']:,.0f}); shard step {r['largest_shard_step_peak_rss_mb'] or 0:,.0f}"
            if r.get("largest_step")
            else "= the run's (in-process)"
        )
        lines.append(f"| {n} | {r['wall_s']} | {r['peak_rss_mb']:,} | {step} | {stages} | {same} |")
    (root / f"{prefix}-report.json").write_text(json.dumps({str(n): r for n, r in results.items()}, indent=2))
    (root / f"{prefix}-report.md").write_text("\n".join(lines) + "\n")
    progress("\n".join(lines))
    return 0 if all(r["same_tables_as_1"] for r in results.values()) else 1
