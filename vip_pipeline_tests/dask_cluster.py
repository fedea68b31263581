"""A real Dask cluster on loopback for the engine tests: `dask scheduler` and worker processes from the venv.

Workers run without a nanny, so the process a test kills is the worker itself. A missing `dask` command
fails the test (CI must prove the engine works), it never skips.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DaskCluster:
    def __init__(self, workdir: Path, workers: int = 2, hold_claim: Path | None = None, allowed_failures: int = 3):
        """`workers` worker processes; with `hold_claim`, the first shard step blocks (`dask_hold.py`) after
        claiming that file. `allowed_failures`: how often the scheduler re-runs a task whose worker died."""
        self.dask = Path(sys.executable).parent / "dask"
        if not self.dask.exists():
            pytest.fail(f"{self.dask} not found: install the project with its dependencies (dagster-dask, distributed)")
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.address = f"tcp://127.0.0.1:{_free_port()}"
        port = self.address.rsplit(":", 1)[1]
        scheduler_env = {"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": str(allowed_failures)}
        self.scheduler = self._start(
            "scheduler", "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard", env=scheduler_env
        )
        hold = ["--preload", str(Path(__file__).with_name("dask_hold.py"))] if hold_claim else []
        worker_env = {"VIP_TEST_HOLD_CLAIM": str(hold_claim)} if hold_claim else {}
        self.workers = [
            self._start(f"worker-{i}", "worker", self.address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                        "--name", f"w{i}", "--local-directory", str(workdir / f"w{i}"), *hold, env=worker_env)
            for i in range(workers)
        ]  # fmt: skip
        self.wait_for_workers(workers)

    def _start(self, log: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        out = (self.workdir / f"{log}.log").open("w")
        return subprocess.Popen(
            [str(self.dask), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            env={**os.environ, **(env or {})},
        )

    def wait_for_workers(self, count: int, timeout: float = 90) -> None:
        from distributed import Client

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [p.args for p in [self.scheduler, *self.workers] if p.poll() is not None]
            if dead:
                pytest.fail(f"dask process exited: {dead}\n{self.logs()}")
            try:
                with Client(self.address, timeout=5) as client:
                    if len(client.scheduler_info()["workers"]) >= count:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        pytest.fail(f"the Dask cluster did not start {count} workers in {timeout:.0f}s\n{self.logs()}")

    @property
    def worker_pids(self) -> set[int]:
        return {p.pid for p in self.workers}

    def kill_worker(self, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.workdir.glob("*.log")))

    def stop(self) -> None:
        for process in [*self.workers, self.scheduler]:
            if process.poll() is None:
                process.terminate()
        for process in [*self.workers, self.scheduler]:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
