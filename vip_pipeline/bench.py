"""`vip-pipeline bench`: full-history, nightly and correction runs on the bank-M dataset, with wall time, rows/s
and peak RSS.

bank-M: 5,000 clients, ~14k accounts, 24 months, a balance row for every open account every day,
~20 transactions per account-month. It is generated once into <dir>/bankM-<months> and cached; the last
business day is held back so that the nightly scenario can "land" it. Every run is a separate
`vip-pipeline run` process on a persistent Dagster instance (DAGSTER_HOME in the work directory, as a
data engineer runs it), so peak RSS is that process's own (os.wait4); the peak of its whole process tree (the
worker processes of months run side by side included) is sampled every 0.2 s as the sum of their PSS.
Correction: one month's balances 12 months back restated (three accounts' last balance of the month),
then `vip-pipeline run --month` of that month, timed against the full run.
Queued nightly: a running `dagster-daemon` dequeues `refresh_month` runs and forks them from its warm process
(vip_pipeline/launcher.py): a first run after the daemon starts (nothing new; it starts the warm process), then
the nightly, timed from its enqueueing to its end.
Baseline: after each full run, the same metrics and decisions as one hand-written DuckDB SQL pass over the same
files (`vip_pipeline.baseline`, 2 threads, no validation), in its own process, measured the same way; the
ratio full run ÷ baseline is the figure to compare across machines.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

END_DATE = date(2026, 11, 27)  # a Friday: the held-back day is a full business day


def cached_sample(home: Path, label: str, progress: Callable[[str], None], hold_back_last_day: bool, **options) -> Path:
    """`generate_sample` (full daily balances, 20 transactions per account-month, END_DATE) into `<home>/landing`
    once; later calls reuse it (`<home>/ready`). With `hold_back_last_day`, the last day's files wait in
    `<home>/new_day` for the nightly scenarios."""
    from vip_pipeline.sample import generate_sample

    if (home / "ready").exists():
        return home
    shutil.rmtree(home, ignore_errors=True)
    progress(f"generating {label} into {home} …")
    started = time.perf_counter()
    summary = generate_sample(
        home / "landing", end_date=END_DATE, full_balances=True, txns_per_account_month=20, **options
    )
    if hold_back_last_day:
        (home / "new_day").mkdir()
        for extract in ("transactions", "balances", "fx_rates"):
            for path in (home / "landing").glob(f"{extract}_{END_DATE.isoformat()}.*"):
                path.rename(home / "new_day" / path.name)
    (home / "summary.json").write_text(json.dumps({"rows": summary["rows"]}, indent=2))
    (home / "ready").write_text(f"{time.perf_counter() - started:.1f}s\n")
    return home


def _dataset(root: Path, months: int, clients: int, progress: Callable[[str], None]) -> Path:
    """The cached landing directory of bank-M with `months` of history, last day held back in `<root>/new_day`."""
    label = f"bank-M ({clients} clients, {months} months, full daily balances)"
    options = dict(clients=clients, months=months, seed=7, daily_months=1, bad_rows=True)
    return cached_sample(root / f"bankM-{clients}-{months}", label, progress, True, **options)


def _process(cmd: list[str], env: dict | None = None, tree: dict | None = None) -> tuple[float, int, str]:
    """`cmd` run to its end in its own process: wall seconds, its own peak RSS in MB (os.wait4) and its output.
    With `tree` (a dict), also the peak of its whole process tree's memory, its worker processes included, as
    `tree["peak_pss_mb"]` (proportional set size: pages shared between processes are counted once)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    sampler = None
    if tree is not None:
        tree["peak_pss_mb"] = 0
        sampler = threading.Thread(target=_sample_tree, args=(proc, tree), daemon=True)
        sampler.start()
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if sampler is not None:
        sampler.join()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"benchmark run failed:\n{output}")
    return wall, round(usage.ru_maxrss / 1024), output


def _sample_tree(proc: subprocess.Popen, tree: dict) -> None:
    """Every 0.2 s until `proc` ends: the sum of the PSS of it and its descendants, keeping the peak."""
    while proc.returncode is None and Path(f"/proc/{proc.pid}").exists():
        total, pids = 0, [proc.pid]
        while pids:
            pid = pids.pop()
            try:
                rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
                total += int(re.search(r"^Pss:\s+(\d+) kB", rollup, re.M)[1])
                for task in Path(f"/proc/{pid}/task").iterdir():
                    pids += [int(c) for c in (task / "children").read_text().split()]
            except (OSError, TypeError):  # the process ended meanwhile, or is a zombie (no mappings)
                continue
        tree["peak_pss_mb"] = max(tree["peak_pss_mb"], round(total / 1024))
        time.sleep(0.2)


def _baseline(landing: Path, work: Path, full: dict) -> dict:
    """The hand-written DuckDB SQL pass over the same files, and the full run's wall ÷ its wall."""
    cmd = [sys.executable, "-m", "vip_pipeline.baseline", "--landing", str(landing), "--out", str(work / "baseline")]
    wall, peak_rss_mb, output = _process(cmd)
    rows = json.loads(output.strip().splitlines()[-1])["rows"]
    ratio = full["wall_s"] / max(round(wall, 1), 1e-9)
    return {"wall_s": round(wall, 1), "peak_rss_mb": peak_rss_mb, "rows": rows, "full_over_baseline": round(ratio, 2)}


def _run(landing: Path, work: Path, extra: list[str], env: dict[str, str] | None = None) -> dict:
    """One `vip-pipeline run` in its own process (with `env` added to ours): wall time, peak RSS and per-stage
    timings."""
    timings = work / f"timings-{time.time_ns()}.json"
    cmd = [
        sys.executable,
        "-m",
        "vip_pipeline.cli",
        "run",
        "--landing",
        str(landing),
        "--database-url",
        f"sqlite:///{work / 'vip.db'}",
        "--staging-dir",
        str(work / "staging"),
        "--timings",
        str(timings),
        "--quiet",
        *extra,
    ]
    (work / "dagster_home").mkdir(exist_ok=True)
    tree: dict = {}
    env = {**os.environ, **(env or {}), "DAGSTER_HOME": str(work / "dagster_home")}
    wall, peak_rss_mb, output = _process(cmd, env, tree)
    computed = re.search(r"monthly metrics\s+(\d+) month\(s\) computed, (\d+) unchanged", output)
    return {
        "wall_s": round(wall, 1),
        "peak_rss_mb": peak_rss_mb,
        "peak_tree_pss_mb": tree["peak_pss_mb"],
        "stages": json.loads(timings.read_text()),
        "months_computed": int(computed[1]) if computed else None,
        "months_unchanged": int(computed[2]) if computed else None,
    }


def _nightly(home: Path, work: Path) -> dict:
    """Land the held-back day and refresh its month (and everything downstream)."""
    for path in (home / "new_day").iterdir():
        shutil.copy2(path, home / "landing" / path.name)
    try:
        return _run(home / "landing", work, ["--month", f"{END_DATE:%Y-%m}"])
    finally:
        for path in (home / "new_day").iterdir():
            (home / "landing" / path.name).unlink(missing_ok=True)


def _queued_nightly(home: Path, work: Path) -> dict:
    """The nightly as production runs it: `refresh_month` runs submitted to the instance's run queue, dequeued by a
    running `dagster-daemon` and launched in processes of their own. A first run (the month before and the last
    month, nothing new) starts the daemon's warm process; then the held-back day is landed and the nightly over
    the same months submitted. Wall = a run's enqueueing to its end, from the run's record, split into queue,
    process start and the run itself; `dagster job launch` (which loads the code location to submit) is timed
    apart: a schedule or sensor in the daemon submits without it."""
    _run(home / "landing", work, [])  # the state before the day (the in-process nightly had landed it)
    env = {
        **os.environ,
        "DAGSTER_HOME": str(work / "dagster_home"),
        "VIP_LANDING_DIR": str(home / "landing"),
        "VIP_DATABASE_URL": f"sqlite:///{work / 'vip.db'}",  # as `_run` passes them: same fingerprints
        "VIP_STAGING_DIR": str(work / "staging"),
    }
    code = ["-m", "vip_pipeline.definitions"]
    bin_dir = Path(sys.executable).parent
    with (work / "daemon.log").open("w") as log:
        daemon = subprocess.Popen([bin_dir / "dagster-daemon", "run", *code], env=env, stdout=log, stderr=log)
    try:
        first = _queued_run(env, code, work)
        for path in (home / "new_day").iterdir():
            shutil.copy2(path, home / "landing" / path.name)
        nightly = _queued_run(env, code, work)
    finally:
        daemon.terminate()
        daemon.wait()
        for path in (home / "new_day").iterdir():
            (home / "landing" / path.name).unlink(missing_ok=True)
    return {**nightly, "first_run": first}


def _queued_run(env: dict[str, str], code: list[str], work: Path) -> dict:
    """Submit one `refresh_month` run over the month before the last and the last month, and wait for its end."""
    from dagster import DagsterInstance

    from vip_pipeline.jobs import range_tags

    month = END_DATE.replace(day=1)
    tags = range_tags((month - timedelta(days=1)).replace(day=1), month)
    started = time.perf_counter()
    launch = [Path(sys.executable).parent / "dagster", "job", "launch", *code, "-j", "refresh_month"]
    subprocess.run([*launch, "--tags", json.dumps(tags)], env=env, check=True, capture_output=True)
    submitting = time.perf_counter() - started
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        run = instance.get_runs(limit=1)[0]
        while not (run := instance.get_run_by_id(run.run_id)).is_finished:
            time.sleep(0.1)
        stats = instance.get_run_stats(run.run_id)
    if not run.is_success:
        raise RuntimeError(f"queued run {run.run_id} ended {run.status}; see {work / 'daemon.log'}")
    return {
        "wall_s": round(stats.end_time - stats.enqueued_time, 1),
        "launch_command_s": round(submitting, 1),
        "queue_s": round(stats.launch_time - stats.enqueued_time, 1),
        "process_start_s": round(stats.start_time - stats.launch_time, 1),
        "run_s": round(stats.end_time - stats.start_time, 1),
    }


def _correction(home: Path, work: Path, months_back: int = 12) -> dict:
    """Restate one month's balances `months_back` months before the last (three accounts' last balance of the
    month, +1,000,000), refresh from that month, then put the original file back (as a new delivery)."""
    import pandas as pd

    month = (pd.Timestamp(END_DATE).replace(day=1) - pd.DateOffset(months=months_back)).date()
    path = next((home / "landing").glob(f"balances_{month:%Y-%m}.*"))
    original = work / f"original-{path.name}"
    shutil.copy2(path, original)
    try:
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str)
        last = frame.sort_values("balance_date").groupby("account_id").tail(1).index[:3]
        frame.loc[last, "balance"] = (frame.loc[last, "balance"].astype(float) + 1_000_000).map("{:.2f}".format)
        frame.to_parquet(path, index=False) if path.suffix == ".parquet" else frame.to_csv(path, index=False)
        result = _run(home / "landing", work, ["--month", f"{month:%Y-%m}"])
    finally:
        shutil.copy2(original, path)
        os.utime(path)  # the original is delivered again, later than the restatement
    return {**result, "restated": path.name}


def _table(name: str, result: dict) -> list[str]:
    """The stage table of a run. Stage seconds of months run side by side are each worker's, summed; the
    `overlap` (the seconds they ran at the same time) is taken off, so Σ stages is time on the run's clock."""
    stages = dict(result["stages"])
    overlap = stages.pop("overlap", {"seconds": 0.0})["seconds"]
    staged = sum(s["seconds"] for s in stages.values()) - overlap
    tree = f", whole process tree {result['peak_tree_pss_mb']} MB (PSS)" if "peak_tree_pss_mb" in result else ""
    lines = [
        f"### {name}: wall {result['wall_s']} s, peak RSS {result['peak_rss_mb']} MB{tree}",
        "",
        "| stage | seconds | rows | rows/s |",
        "|---|---:|---:|---:|",
    ]
    for stage, s in stages.items():
        rate = f"{s['rows'] / s['seconds']:,.0f}" if s["seconds"] > 0 else "–"
        lines.append(f"| {stage} | {s['seconds']:.1f} | {s['rows']:,} | {rate} |")
    if overlap:
        lines.append(f"| *− months side by side (counted in two workers above)* | −{overlap:.1f} | | |")
    overhead = result["wall_s"] - staged
    lines.append(
        f"| *Σ stages / the rest (start-up, Dagster)* | {staged:.1f} / {overhead:.1f} | | "
        f"{overhead / max(result['wall_s'], 1e-9):.0%} of the wall |"
    )
    return lines + [""]


def run_benchmark(root: Path, clients: int = 5000, progress: Callable[[str], None] = print) -> int:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    report: dict[str, dict] = {}
    for months in (24, 12):
        home = _dataset(root, months, clients, progress)
        work = root / f"work-{clients}-{months}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        progress(f"[{months} months] full history run …")
        full = _run(home / "landing", work, [])
        progress(f"  wall {full['wall_s']} s, peak RSS {full['peak_rss_mb']} MB, tree {full['peak_tree_pss_mb']} MB")
        progress(f"[{months} months] baseline: the same metrics and decisions as one DuckDB SQL pass …")
        base = _baseline(home / "landing", work, full)
        progress(f"  wall {base['wall_s']} s, peak RSS {base['peak_rss_mb']} MB")
        progress(f"  full run ÷ baseline = {base['full_over_baseline']:.2f}")
        progress(f"[{months} months] nightly run (one new day landed) …")
        nightly = _nightly(home, work)
        progress(
            f"  wall {nightly['wall_s']} s, peak RSS {nightly['peak_rss_mb']} MB, tree {nightly['peak_tree_pss_mb']} MB"
        )
        report[f"full_{months}m"] = full
        report[f"nightly_{months}m"] = nightly
        report[f"baseline_{months}m"] = base
        report[f"rows_{months}m"] = json.loads((home / "summary.json").read_text())["rows"]
        if months == 24:
            progress("[24 months] correction: one month's balances 12 months back restated …")
            correction = _correction(home, work)
            progress(f"  wall {correction['wall_s']} s, months computed {correction['months_computed']}")
            report["correction_24m"] = correction
            progress("[24 months] nightly through the run queue (dagster-daemon launches the run) …")
            queued = _queued_nightly(home, work)
            progress(f"  wall {queued['wall_s']} s (queue {queued['queue_s']} s, start {queued['process_start_s']} s)")
            report["queued_nightly_24m"] = queued
    ratio = report["nightly_24m"]["wall_s"] / max(report["nightly_12m"]["wall_s"], 1e-9)
    fix = report["correction_24m"]
    lines = [
        f"## vip-pipeline bench ({clients} clients, {os.cpu_count()} cores, persistent DAGSTER_HOME)",
        "",
        f"bank-M 24 months: {report['rows_24m']}",
        "",
    ]
    lines += _table("(a) full history, 24 months", report["full_24m"])
    lines += [
        "### baseline: the same metrics and decisions as one hand-written DuckDB SQL pass (2 threads, no validation)",
        "",
        "| history | full run wall s | baseline wall s | baseline peak RSS MB | full ÷ baseline |",
        "|---|---:|---:|---:|---:|",
    ]
    for months in (24, 12):
        base = report[f"baseline_{months}m"]
        lines.append(
            f"| {months} months | {report[f'full_{months}m']['wall_s']} | {base['wall_s']} | {base['peak_rss_mb']} "
            f"| **{base['full_over_baseline']:.2f}** |"
        )
    lines.append("")
    lines += _table("(b) nightly, 24 months of history", report["nightly_24m"])
    lines += _table("(c) nightly, 12 months of history", report["nightly_12m"])
    lines.append(f"(c) nightly 24 months ÷ nightly 12 months = {ratio:.2f}")
    lines.append("")
    lines += _table(f"(d) correction of {fix['restated']} (12 months back), 24 months of history", fix)
    queued = report["queued_nightly_24m"]
    first = queued["first_run"]
    lines += [
        f"### (e) nightly through the run queue, 24 months of history: wall {queued['wall_s']} s",
        "",
        f"enqueued → finished, dequeued by `dagster-daemon`: queue {queued['queue_s']} s, run process start "
        f"{queued['process_start_s']} s (forked from the daemon's warm process), run {queued['run_s']} s; "
        f"in-process (b): {report['nightly_24m']['wall_s']} s. The daemon's first run, which starts the warm process "
        f"(imports, definitions), nothing new to do: wall {first['wall_s']} s, process start {first['process_start_s']}"
        f" s. Submitting with `dagster job launch` took {queued['launch_command_s']} s before the nightly (it loads "
        "the code location; the daemon's schedule and sensor submit without it).",
        "",
    ]
    lines.append(
        f"(d) months of metrics recomputed {fix['months_computed']}, unchanged {fix['months_unchanged']}; "
        f"correction ÷ full run = {fix['wall_s'] / max(report['full_24m']['wall_s'], 1e-9):.2f}"
    )
    text = "\n".join(lines)
    (root / "report.md").write_text(text + "\n")
    (root / "report.json").write_text(json.dumps(report, indent=2))
    progress("\n" + text)
    return 0
