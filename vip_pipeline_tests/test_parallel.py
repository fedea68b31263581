"""Months side by side (`parallel.map_months`): the results of running in order, the workers' stage timings
added to the run's, and in order where a pool cannot help or is not allowed."""

from __future__ import annotations

import gc
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from concurrent.futures.process import BrokenProcessPool

from vip_pipeline.parallel import imap_months, map_months, month_workers
from vip_pipeline.timing import TIMINGS, stage


def counted(n: int, rows: int) -> tuple[int, int]:
    """A task: n², and the pid it ran in; `rows` rows in the test stage."""
    with stage("parallel-test") as timed:
        timed.rows = rows
    return n * n, os.getpid()


def test_the_months_run_in_worker_processes_in_order_and_their_stage_rows_are_the_runs(monkeypatch):
    monkeypatch.setenv("VIP_MONTH_WORKERS", "2")
    before = TIMINGS["parallel-test"].rows
    results = map_months(counted, [(n, 10 * n) for n in range(1, 7)])
    assert [square for square, _ in results] == [1, 4, 9, 16, 25, 36]
    pids = {pid for _, pid in results}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    # forked by the fork server, not by this process (which has Dagster's threads in a run)
    assert os.getpid() not in set(map_months(parent, [(k,) for k in range(4)]))
    assert TIMINGS["parallel-test"].rows - before == 10 + 20 + 30 + 40 + 50 + 60


def test_one_worker_or_one_task_runs_in_this_process(monkeypatch):
    monkeypatch.setenv("VIP_MONTH_WORKERS", "1")
    assert map_months(counted, [(2, 0), (3, 0)]) == [(4, os.getpid()), (9, os.getpid())]
    monkeypatch.setenv("VIP_MONTH_WORKERS", "2")
    assert map_months(counted, [(5, 0)]) == [(25, os.getpid())]
    assert map_months(counted, []) == []


def _in_a_daemon(queue) -> None:
    queue.put((os.getpid(), map_months(counted, [(2, 0), (3, 0), (4, 0), (5, 0)])))


def test_a_daemon_process_such_as_a_dask_worker_runs_its_months_in_order(monkeypatch):
    """A daemon process may not start children: its months run in it."""
    monkeypatch.setenv("VIP_MONTH_WORKERS", "2")
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    daemon = context.Process(target=_in_a_daemon, args=(queue,), daemon=True)
    daemon.start()
    pid, results = queue.get(timeout=60)
    daemon.join(60)
    assert results == [(4, pid), (9, pid), (16, pid), (25, pid)]


def test_vip_month_workers_defaults_to_the_usable_cores_and_is_validated(monkeypatch):
    monkeypatch.delenv("VIP_MONTH_WORKERS", raising=False)
    assert month_workers() == len(os.sched_getaffinity(0))
    monkeypatch.setenv("VIP_MONTH_WORKERS", "3")
    assert month_workers() == 3
    for bad in ("0", "two"):
        monkeypatch.setenv("VIP_MONTH_WORKERS", bad)
        with pytest.raises(ValueError, match="VIP_MONTH_WORKERS"):
            month_workers()


def test_the_workers_do_not_run_the_runs_entry_script_again(tmp_path):
    """A script without an `if __name__ == "__main__"` guard (the reliability test's CLI wrapper is one) starts
    the pool: it runs once, and its months are computed in workers."""
    lines = run_script(
        tmp_path,
        "print('script ran', flush=True)\n"
        "results = map_months(counted, [(1, 0), (2, 0), (3, 0), (4, 0)])\n"
        "print([square for square, _ in results], os.getpid() in {pid for _, pid in results})\n",
    )
    assert lines == ["script ran", "[1, 4, 9, 16] False"]


def run_script(tmp_path: Path, body: str) -> list[str]:
    """`body` as a script of its own (no main guard) in a new process with 2 month workers: its output lines."""
    script = tmp_path / "script.py"
    script.write_text(
        "import os\n"
        "from vip_pipeline.parallel import map_months\n"
        "from vip_pipeline_tests.test_parallel import counted\n" + body
    )
    env = {**os.environ, "VIP_MONTH_WORKERS": "2", "PYTHONPATH": str(Path(__file__).parents[1])}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def dies(n: int) -> int:
    """A task whose worker dies on 2 (as one killed or out of memory)."""
    if n == 2:
        os._exit(3)
    return n


def test_a_worker_that_dies_fails_the_step_and_the_next_step_gets_a_new_pool(monkeypatch):
    monkeypatch.setenv("VIP_MONTH_WORKERS", "2")
    with pytest.raises(BrokenProcessPool):
        map_months(dies, [(1,), (2,), (3,), (4,)])
    assert [square for square, _ in map_months(counted, [(4, 0), (5, 0)])] == [16, 25]


def test_a_few_months_run_in_order_until_the_run_has_a_pool(tmp_path):
    """In a new process: 3 tasks run in it (starting a pool costs more than they take); 4 start the pool; then
    2 use it."""
    lines = run_script(
        tmp_path,
        "for n in (3, 4, 2):\n"
        "    results = map_months(counted, [(k, 0) for k in range(n)])\n"
        "    print(n, os.getpid() in {pid for _, pid in results})\n",
    )
    assert lines == ["3 True", "4 False", "2 False"]


def parent(n: int) -> int:
    """A task: the pid of the process that forked its worker."""
    return os.getppid()


def test_a_run_of_many_months_starts_the_fork_server_before_its_first_month(tmp_path):
    """`start_early`: nothing for 12 months with one worker, nor for 3 months; for 4, the fork server is running
    before any month is mapped, and the months' workers are its children."""
    lines = run_script(
        tmp_path,
        "import multiprocessing.forkserver as fs\n"
        "from vip_pipeline.parallel import start_early\n"
        "from vip_pipeline_tests.test_parallel import parent\n"
        "os.environ['VIP_MONTH_WORKERS'] = '1'\n"
        "start_early(12)\n"
        "print('12 months, 1 worker', fs._forkserver._forkserver_pid is not None)\n"
        "os.environ['VIP_MONTH_WORKERS'] = '2'\n"
        "start_early(3)\n"
        "print(3, fs._forkserver._forkserver_pid is not None)\n"
        "start_early(4)\n"
        "server = fs._forkserver._forkserver_pid\n"
        "print(4, server is not None)\n"
        "print('workers of the server', set(map_months(parent, [(k,) for k in range(4)])) == {server})\n",
    )
    assert lines == ["12 months, 1 worker False", "3 False", "4 True", "workers of the server True"]


def frozen(n: int) -> int:
    """A task: how many objects its worker's collector passes over for good."""
    return gc.get_freeze_count()


def test_the_workers_collector_passes_over_what_they_started_with(monkeypatch):
    """Each worker freezes the objects it started with (the preloaded modules): the collection after each month
    looks at that month's objects only."""
    monkeypatch.setenv("VIP_MONTH_WORKERS", "2")
    assert all(count > 10_000 for count in map_months(frozen, [(k,) for k in range(4)]))


def slow(n: int, marks: str, seconds: float) -> tuple[int, float]:
    """A task: n, after `seconds`, leaving a mark that it started; and when it ended."""
    Path(marks, f"ran-{n}").touch()
    time.sleep(seconds)
    return n, time.time()


def test_imap_gives_each_month_when_it_is_done_and_closing_it_cancels_the_months_not_started(tmp_path, monkeypatch):
    """The publishing step writes a month while the workers prepare the next ones: the first result comes before the
    last month is done, in order; a step that stops (a failed check) leaves the months not started unstarted."""
    monkeypatch.setenv("VIP_MONTH_WORKERS", "2")
    map_months(counted, [(n, 0) for n in range(4)])  # the pool is up
    results = imap_months(slow, [(n, str(tmp_path), 0.15 * n) for n in range(6)])
    first, received = next(results), time.time()
    rest = list(results)
    assert [first[0], *(n for n, _ in rest)] == list(range(6))
    assert received < rest[-1][1]  # the last month (0.75 s) was still running when the first came back

    (tmp_path / "stopped").mkdir()
    stopped = imap_months(slow, [(n, str(tmp_path / "stopped"), 0.3) for n in range(1, 13)])
    assert next(stopped)[0] == 1
    stopped.close()
    time.sleep(3)  # all 12 would have started by now (2 workers, 1.8 s of work); those already queued end meanwhile
    ran = {int(p.name.split("-")[1]) for p in (tmp_path / "stopped").iterdir()}
    # running, and queued to the workers (2 + 3) when it closed, give or take a month on a busy machine
    assert 1 in ran and 12 not in ran and len(ran) <= 8
