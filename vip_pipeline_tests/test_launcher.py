"""The preforked run launcher: runs forked from a warm process, which follows the code on disk, can be terminated
and is watched by run monitoring. The pipeline's own launches go through it in test_ui.py (webserver) and in the
queued nightly of the bench; here a small job in a file of its own, so the code can be changed between runs."""

from __future__ import annotations

import json
import os
import pstats
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus
from dagster._core.code_pointer import FileCodePointer
from dagster._core.definitions.reconstruct import ReconstructableJob, ReconstructableRepository
from dagster._core.launcher import LaunchRunContext
from dagster._core.launcher.base import WorkerStatus

from vip_pipeline.instance import local_instance_config, prepare_local_instance
from vip_pipeline.jobs import range_tags
from vip_pipeline.launcher import PROFILE_DIR, WORKER_TAG, PreforkedRunLauncher
from vip_pipeline.storage.warehouse import Warehouse
from vip_pipeline_tests.tiny_bank import write_tiny_bank
from vip_pipeline_tests.ui_support import REPO_ROOT, clean_env, stop_process_group, venv_bin

CODE = """
import os, time
from pathlib import Path
from dagster import Definitions, in_process_executor, job, op

@op(config_schema={{"sleep": float}})
def write(context):
    time.sleep(context.op_config["sleep"])
    Path(os.environ["LAUNCHER_TEST_OUT"], context.run_id).write_text(f"{version} {{os.getpid()}} {{os.getppid()}}")

@job(executor_def=in_process_executor)
def hello():
    write()

defs = Definitions(jobs=[hello])
"""


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(local_instance_config(home, queue=False))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("LAUNCHER_TEST_OUT", str(tmp_path))
    (tmp_path / "defs.py").write_text(CODE.format(version="v1"))
    return tmp_path


def _launch(instance: DagsterInstance, code_dir: Path, sleep: float = 0.0):
    pointer = FileCodePointer(str(code_dir / "defs.py"), "defs", str(code_dir))
    recon = ReconstructableJob(ReconstructableRepository(pointer, executable_path=sys.executable), "hello")
    run = instance.create_run_for_job(
        recon.get_definition(),
        run_config={"ops": {"write": {"config": {"sleep": sleep}}}},
        job_code_origin=recon.get_python_origin(),
    )
    instance.run_launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
    return instance.get_run_by_id(run.run_id)


def _wait(
    instance: DagsterInstance, run_id: str, until=lambda run: run.is_finished, timeout: float = 60.0, why=lambda: ""
):
    deadline = time.monotonic() + timeout
    while not until(run := instance.get_run_by_id(run_id)):
        assert time.monotonic() < deadline, f"run {run_id} still {run.status}\n{why()}"
        time.sleep(0.1)
    return run


def test_runs_are_forked_from_one_warm_process_until_the_code_changes(home):
    with DagsterInstance.get() as instance:
        launcher = instance.run_launcher
        assert isinstance(launcher, PreforkedRunLauncher)
        try:
            outputs = []
            for version in ("v1", "v1", "v2"):
                if version == "v2":  # the code changes on disk between two runs
                    (home / "defs.py").write_text(CODE.format(version="v2"))
                run = _launch(instance, home)
                worker = json.loads(run.tags[WORKER_TAG])
                assert _wait(instance, run.run_id).status == DagsterRunStatus.SUCCESS
                text, pid, parent = (home / run.run_id).read_text().split()
                assert int(pid) == worker["pid"] != os.getpid()  # the run ran in the forked process the tag names
                outputs.append((text, int(parent)))
                started = [e.message for e in instance.all_logs(run.run_id) if "Started process" in (e.message or "")]
                assert started == [f"Started process for run (pid: {pid})."]
            (first, warm), (second, same_warm), (changed, new_warm) = outputs
            assert (first, second, changed) == ("v1", "v1", "v2")
            assert warm == same_warm != new_warm  # the warm process is reused, and replaced when the code changed
        finally:
            launcher.dispose()


def test_with_a_profile_directory_each_forked_run_writes_its_profile_there(home, monkeypatch):
    """VIP_PROFILE_RUNS_DIR in the launcher's environment: the run's cProfile, named after the run, includes the op."""
    monkeypatch.setenv(PROFILE_DIR, str(home / "profiles"))
    (home / "profiles").mkdir()
    with DagsterInstance.get() as instance:
        try:
            run = _launch(instance, home)
            assert _wait(instance, run.run_id).status == DagsterRunStatus.SUCCESS
        finally:
            instance.run_launcher.dispose()
    profiled = {name for _file, _line, name in pstats.Stats(str(home / "profiles" / f"{run.run_id}.prof")).stats}
    assert {"write", "_execute_run_command_body"} <= profiled


def test_a_forked_run_can_be_terminated_and_a_vanished_worker_is_reported_failed(home):
    with DagsterInstance.get() as instance:
        launcher = instance.run_launcher
        try:
            run = _launch(instance, home, sleep=60.0)
            _wait(instance, run.run_id, until=lambda r: r.status == DagsterRunStatus.STARTED)
            assert launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING
            assert launcher.terminate(run.run_id)
            assert _wait(instance, run.run_id, timeout=30).status == DagsterRunStatus.CANCELED
            assert not (home / run.run_id).exists()
            deadline = time.monotonic() + 10
            while launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING:
                assert time.monotonic() < deadline
                time.sleep(0.1)
            assert launcher.check_run_worker_health(run).status == WorkerStatus.FAILED
            assert not launcher.terminate(run.run_id)  # finished: nothing to terminate
        finally:
            launcher.dispose()


def test_terminating_a_run_whose_worker_is_gone_marks_it_canceling_and_says_so(home):
    with DagsterInstance.get() as instance:
        pointer = FileCodePointer(str(home / "defs.py"), "defs", str(home))
        recon = ReconstructableJob(ReconstructableRepository(pointer, executable_path=sys.executable), "hello")
        gone = {"host": socket.gethostname(), "pid": 2**22 + 1}  # above the kernel's pid limit: no such process
        run = instance.create_run_for_job(
            recon.get_definition(),
            run_config={"ops": {"write": {"config": {"sleep": 0.0}}}},
            status=DagsterRunStatus.STARTED,
            tags={WORKER_TAG: json.dumps(gone)},
        )
        assert instance.run_launcher.check_run_worker_health(run).status == WorkerStatus.FAILED
        assert not instance.run_launcher.terminate(run.run_id)
        assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.CANCELING
        assert [e for e in instance.all_logs(run.run_id) if "not running on this host" in (e.message or "")]


def test_a_run_the_warm_process_cannot_load_is_launched_the_default_way_with_the_reason(home):
    (home / "defs.py").write_text("raise RuntimeError('broken code location')\n")
    with DagsterInstance.get() as instance:
        pointer = FileCodePointer(str(home / "defs.py"), "defs", str(home))
        recon = ReconstructableJob(ReconstructableRepository(pointer, executable_path=sys.executable), "hello")
        (home / "ok.py").write_text(CODE.format(version="v1"))
        good = ReconstructableJob(
            ReconstructableRepository(FileCodePointer(str(home / "ok.py"), "defs", str(home))), "hello"
        )
        run = instance.create_run_for_job(
            good.get_definition(),
            run_config={"ops": {"write": {"config": {"sleep": 0.0}}}},
            job_code_origin=recon.get_python_origin(),
        )
        with pytest.raises(Exception, match="requires a workspace"):  # the default way needs the UI's workspace
            instance.run_launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
        (event,) = [e for e in instance.all_logs(run.run_id) if "not forked" in (e.message or "")]
        assert "broken code location" in event.message and WORKER_TAG not in instance.get_run_by_id(run.run_id).tags
        instance.run_launcher.dispose()


def test_the_daemon_runs_a_queued_refresh_of_the_pipeline_forked_from_its_warm_process(tmp_path):
    """Production's path: `refresh_month` submitted to the run queue, dequeued by a real `dagster-daemon`, whose
    launcher forks it from the warm process; the run publishes the tiny bank's decisions."""
    home = tmp_path / "dagster_home"
    prepare_local_instance(home)  # the local instance, run queue included, its databases created once
    env = clean_env(
        DAGSTER_HOME=str(home),
        VIP_LANDING_DIR=str(write_tiny_bank(tmp_path / "landing")),
        VIP_DATABASE_URL=f"sqlite:///{tmp_path / 'vip.db'}",
        VIP_STAGING_DIR=str(tmp_path / "staging"),
    )
    code = ["-m", "vip_pipeline.definitions"]
    with (tmp_path / "daemon.log").open("w") as log:
        daemon = subprocess.Popen(
            [venv_bin("dagster-daemon"), "run", *code], cwd=REPO_ROOT, env=env, stdout=log, stderr=log,
            start_new_session=True,
        )  # fmt: skip
    try:
        tags = json.dumps(range_tags(date(2024, 2, 1), date(2024, 3, 1)))
        launch = [venv_bin("dagster"), "job", "launch", *code, "-j", "refresh_month", "--tags", tags]
        subprocess.run(launch, cwd=REPO_ROOT, env=env, check=True, capture_output=True, timeout=120)
        with DagsterInstance.from_config(str(home)) as instance:
            (run,) = instance.get_runs()
            run = _wait(instance, run.run_id, timeout=180, why=lambda: _daemon_state(daemon, tmp_path / "daemon.log"))
            assert run.status == DagsterRunStatus.SUCCESS, _daemon_state(daemon, tmp_path / "daemon.log")
            worker = json.loads(run.tags[WORKER_TAG])
            started = [e.message for e in instance.all_logs(run.run_id) if "Started process" in (e.message or "")]
            assert started == [f"Started process for run (pid: {worker['pid']})."]
            assert not [e for e in instance.all_logs(run.run_id) if "not forked" in (e.message or "")]
    finally:
        stop_process_group(daemon)
    segments = Warehouse(env["VIP_DATABASE_URL"]).read("client_segments")
    decided = sorted(zip(segments["as_of_month"].dt.strftime("%Y-%m"), segments["client_id"]))
    assert decided == [("2024-02", "c1"), ("2024-02", "c2"), ("2024-03", "c1"), ("2024-03", "c2")]


def _daemon_state(daemon: subprocess.Popen, log: Path) -> str:
    """What a failure shows of the daemon: whether it still runs, and the end of its log."""
    return f"dagster-daemon exit code: {daemon.poll()}\n{log.read_text()[-6000:]}"
