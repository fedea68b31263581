"""`refresh_month` on a real Dask cluster (dagster-dask): two workers on loopback, four client shards.

The published tables must equal the in-process run's; the steps must have run in the workers' processes;
a worker killed in the middle of a shard step must not leave anything half-published.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance

from vip_pipeline.runner import PipelineFailed, run_pipeline
from vip_pipeline.storage.warehouse import Warehouse
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


def test_a_worker_killed_in_a_shard_step_leaves_nothing_half_published_and_a_rerun_completes(tmp_path, on_dask):
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
    victim = None
    deadline = time.monotonic() + 300
    while victim is None and runner.is_alive() and time.monotonic() < deadline:
        if any((staging / ".dagster" / "history" / "runs").glob("*-*.db")):  # the run's event log exists
            try:
                started = step_events(staging, DagsterEventType.STEP_START)
            except Exception as exc:  # noqa: BLE001 - the run is still creating its instance's storage: look again
                outcome["polling"] = repr(exc)
                started = []
            running = [(s, p) for _, s, p in started if "_shard_" in s]
            if running:
                victim = running[0]
                on_dask.kill_worker(victim[1])  # SIGKILL, in the middle of the shard step
        time.sleep(0.05)
    runner.join(timeout=600)
    print("fault test:", victim, {k: v[:300] for k, v in outcome.items() if isinstance(v, str)}, outcome.get("ok"))
    assert victim is not None, f"no shard step seen on a worker: {outcome}"
    done = {(s, p) for _, s, p in step_events(staging, DagsterEventType.STEP_SUCCESS)}
    assert victim not in done, "the killed worker finished its step: the fault came too late"
    expected = reference_tables(landing, tmp_path)
    if "failed" in outcome:  # failed with a clear message: nothing half-published, then a re-run completes
        assert "monthly_metrics" in outcome["failed"] or "worker" in outcome["failed"].lower(), outcome["failed"]
        assert_whole_months_or_none(url, expected)
        on_dask.workers.append(on_dask._start("worker-again", "worker", on_dask.address, "--nthreads", "1",
                                              "--no-nanny", "--no-dashboard"))  # fmt: skip
        run_pipeline(str(landing), url, str(staging), progress=lambda _: None, shards=4)
    else:  # dask rescheduled the step on the other worker and the run succeeded
        assert outcome.get("ok"), outcome
        assert (victim[0], victim[1]) not in done
        assert any(s == victim[0] and p != victim[1] for s, p in done), (victim, done)
    assert_same_tables(expected, published(url))


def assert_whole_months_or_none(url: str, expected: dict) -> None:
    """Every month of the two monthly tables is either absent or exactly the reference's."""
    wh = Warehouse(url)
    for table in ("monthly_account_activity", "monthly_client_metrics"):
        actual = published(url)[table]
        for month, rows in actual.groupby("month"):
            reference = expected[table][expected[table]["month"] == month]
            assert len(rows) == len(reference), (table, month)
    assert wh is not None
