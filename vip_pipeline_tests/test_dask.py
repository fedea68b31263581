"""`refresh_month` on a real Dask cluster (dagster-dask): two workers on loopback, four client shards.

The published tables must equal the in-process run's; the steps must have run in the workers' processes;
a worker killed in the middle of a shard step must not leave anything half-published.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from dagster import DagsterEventType, DagsterInstance

from vip_pipeline.engine import _release_memory, _reset_peak_rss, peak_rss_mb, step_costs
from vip_pipeline.runner import PipelineFailed, run_pipeline
from vip_pipeline_tests.dask_cluster import DaskCluster
from vip_pipeline_tests.shard_support import assert_same_tables, published, two_month_sample


@pytest.fixture
def cluster(tmp_path):
    cluster = DaskCluster(tmp_path / "dask")
    yield cluster
    cluster.stop()


@pytest.fixture
def on_dask(monkeypatch, cluster):
    monkeypatch.setenv("VIP_EXECUTOR", "dask")
    monkeypatch.setenv("VIP_DASK_SCHEDULER", cluster.address)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # the run's instance is then <staging>/.dagster
    return cluster


def reference_tables(landing: Path, tmp_path: Path) -> dict:
    """The same landing directory run in-process (4 shards, as the Dask run)."""
    url = f"sqlite:///{tmp_path / 'in-process.db'}"
    old = os.environ.pop("VIP_EXECUTOR", None)
    try:
        run_pipeline(str(landing), url, str(tmp_path / "staging-in-process"), progress=lambda _: None, shards=4)
    finally:
        if old is not None:
            os.environ["VIP_EXECUTOR"] = old
    return published(url)


def step_events(staging: Path, event_type: DagsterEventType) -> list:
    """(run id, step key, pid) of every event of the type recorded on the run's instance."""
    with DagsterInstance.local_temp(tempdir=str(staging.resolve() / ".dagster")) as instance:
        found = []
        for run in instance.get_runs():
            for entry in instance.all_logs(run.run_id, of_type=event_type):
                found.append((run.run_id, entry.dagster_event.step_key, entry.dagster_event.pid))
        return found


def test_peak_rss_is_reset_before_a_step_and_read_after_it():
    _release_memory()
    _reset_peak_rss()  # earlier tests in this process may have peaked higher than what follows
    before = peak_rss_mb()
    block = np.ones(40_000_000)  # 305 MB, touched
    during = peak_rss_mb()
    del block
    _reset_peak_rss()
    after = peak_rss_mb()
    assert during - before >= 290, (before, during)
    assert after < during - 290, (during, after)  # the high-water mark came down to the current size


def test_four_shards_on_two_dask_workers_publish_what_in_process_publishes(tmp_path, on_dask):
    landing = two_month_sample(tmp_path / "landing")
    url, staging = f"sqlite:///{tmp_path / 'dask.db'}", tmp_path / "staging"
    months = run_pipeline(str(landing), url, str(staging), progress=lambda _: None, shards=4)
    assert len(months) == 2
    assert_same_tables(reference_tables(landing, tmp_path), published(url))
    started = step_events(staging, DagsterEventType.STEP_START)
    shard_steps = {step: pid for _, step, pid in started if "monthly_metrics.metrics_shard_" in step}
    assert sorted(shard_steps) == [f"monthly_metrics.metrics_shard_{k}_of_4" for k in range(4)]
    assert {pid for _, _, pid in started} <= on_dask.worker_pids, (started, on_dask.worker_pids)
    assert os.getpid() not in {pid for _, _, pid in started}
    with DagsterInstance.local_temp(tempdir=str(staging.resolve() / ".dagster")) as instance:
        (run,) = instance.get_runs()
        peaks = step_costs(instance, run.run_id)  # every step's peak memory, measured in the worker that ran it
    assert set(peaks) == {step for _, step, _ in started}
    assert {cost["pid"] for cost in peaks.values()} <= on_dask.worker_pids
    assert all(100 < cost["rss_at_start_mb"] <= cost["peak_rss_mb"] < 4096 for cost in peaks.values()), peaks


@pytest.mark.parametrize("allowed_failures", [3, 0], ids=["dask-reruns-the-step", "the-run-fails"])
def test_a_worker_killed_in_a_shard_step_leaves_nothing_half_published(tmp_path, monkeypatch, allowed_failures):
    """The first shard step to start blocks (`dask_hold.py`) and its worker is SIGKILLed mid-step. With the
    scheduler's default retries, Dask re-runs the step on the other worker and the run succeeds; with none,
    the run fails naming the lost worker, every published month is whole, and a re-run completes."""
    claim = tmp_path / "held-step"
    cluster = DaskCluster(tmp_path / "dask", hold_claim=claim, allowed_failures=allowed_failures)
    try:
        monkeypatch.setenv("VIP_EXECUTOR", "dask")
        monkeypatch.setenv("VIP_DASK_SCHEDULER", cluster.address)
        monkeypatch.delenv("DAGSTER_HOME", raising=False)
        landing = two_month_sample(tmp_path / "landing", clients=400)
        url, staging = f"sqlite:///{tmp_path / 'dask.db'}", tmp_path / "staging"
        outcome: dict = {}

        def run():
            try:
                run_pipeline(str(landing), url, str(staging), progress=lambda _: None, shards=4)
                outcome["ok"] = True
            except PipelineFailed as exc:
                outcome["failed"] = str(exc)

        runner = threading.Thread(target=run)
        runner.start()
        deadline = time.monotonic() + 300
        while not (claim.exists() and claim.read_text()) and runner.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert claim.exists(), f"no shard step started on a worker: {outcome}\n{cluster.logs()}"
        pid, held = claim.read_text().split()
        cluster.kill_worker(int(pid))  # SIGKILL, while the step sleeps in its body
        runner.join(timeout=600)
        assert not runner.is_alive(), "the run did not end after its worker was killed"
        started = step_events(staging, DagsterEventType.STEP_START)
        victim = next(s for _, s, p in started if p == int(pid) and s.endswith(f".{held}"))  # started on the victim
        done = {(s, p) for _, s, p in step_events(staging, DagsterEventType.STEP_SUCCESS)}
        assert (victim, int(pid)) not in done
        expected = reference_tables(landing, tmp_path)
        if allowed_failures:
            assert outcome.get("ok"), (outcome, cluster.logs())
            assert any(s == victim and p != int(pid) for s, p in done), (victim, done)
        else:
            assert "KilledWorker" in outcome.get("failed", ""), outcome
            assert_whole_months_or_none(published(url), expected)
            run_pipeline(str(landing), url, str(staging), progress=lambda _: None, shards=4)
        assert_same_tables(expected, published(url))
    finally:
        cluster.stop()


def assert_whole_months_or_none(actual: dict, expected: dict) -> None:
    """Every month of the two monthly tables is either absent or has exactly the reference's rows."""
    for table in ("monthly_account_activity", "monthly_client_metrics"):
        for month, rows in actual[table].groupby("month"):
            assert len(rows) == (expected[table]["month"] == month).sum(), (table, month)
