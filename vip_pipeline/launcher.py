"""A run launcher that forks each run from a warm process instead of starting a new interpreter.

Dagster's `DefaultRunLauncher` asks the code server to start every run in a new interpreter
(multiprocessing "spawn"): Dagster, pandas, pandera and SQLAlchemy are imported and the definitions
built again before the first step, 2.4–2.8 s of a nightly run that does ~5 s of work.
`PreforkedRunLauncher` keeps one process per code location that has all of that loaded (started by
the first launch, then kept), and forks each run from it: the run starts with the code loaded, in a
process of its own, as before (its own pid, memory returned when it ends, an engine event naming
the pid). When a module of the code location changes on disk, the next launch starts a fresh one.
If the warm process cannot serve a run (another kind of code location, an interpreter without this
package), the run is launched the default way, and an engine event says why.
"""

from __future__ import annotations

import cProfile
import importlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import traceback
from pathlib import Path

from dagster import DagsterInstance, DagsterRun
from dagster._core.launcher import LaunchRunContext
from dagster._core.launcher.base import CheckRunHealthResult, WorkerStatus
from dagster._core.launcher.default_run_launcher import DefaultRunLauncher
from dagster._core.origin import RepositoryPythonOrigin
from dagster._serdes import ConfigurableClassData, deserialize_value, serialize_value

WORKER_TAG = "vip_pipeline/run_worker"  # {"host": …, "pid": …} of the forked run process
START_TIMEOUT_S = 120.0  # loading the code location in the warm process
FORK_TIMEOUT_S = 30.0
# Set in the environment of the daemon (or webserver): each forked run writes its cProfile there, <run id>.prof.
PROFILE_DIR = "VIP_PROFILE_RUNS_DIR"
# Imported lazily by a run (pandas' Parquet engine, the SQL dialects, Dagster's run entry point): loaded once,
# before any fork.
PRELOAD = (
    "pyarrow.parquet",
    "pandas.io.parquet",
    "sqlalchemy.dialects.sqlite",
    "sqlalchemy.dialects.postgresql",
    "dagster._cli.api",
)


class PreforkedRunLauncher(DefaultRunLauncher):
    """Launch runs by forking them from a warm process per code location (see the module docstring)."""

    def __init__(self, inst_data: ConfigurableClassData | None = None):
        super().__init__(inst_data)
        self._warm: dict[str, WarmProcess] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> PreforkedRunLauncher:
        return cls(inst_data=inst_data)

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        try:
            pid = self._fork(run)
        except Exception as error:  # the default way still works: say why it was taken
            self._instance.report_engine_event(
                f"Run not forked from a warm process ({error}); starting a new one.", run, cls=self.__class__
            )
            super().launch_run(context)
            return
        self._instance.add_run_tags(run.run_id, {WORKER_TAG: json.dumps({"host": socket.gethostname(), "pid": pid})})
        self._run_ids.add(run.run_id)

    def _fork(self, run: DagsterRun) -> int:
        origin = run.job_code_origin.repository_origin if run.job_code_origin else None
        if not isinstance(origin, RepositoryPythonOrigin):
            raise ValueError("the run has no Python code origin")
        key = serialize_value(origin)
        request = {"run_id": run.run_id, "instance_ref": serialize_value(self._instance.get_ref())}
        with self._lock:
            for _attempt in range(2):  # a stale or dead warm process is replaced once
                warm = self._warm.get(key)
                if warm is None or not warm.alive():
                    warm = self._warm[key] = WarmProcess(origin)
                reply = warm.request(request)
                if "pid" in reply:
                    return int(reply["pid"])
                warm.close()
                del self._warm[key]
            raise RuntimeError(f"the warm process answered {reply}")

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if not run or run.is_finished:
            return False
        if WORKER_TAG not in run.tags:  # launched the default way
            return super().terminate(run_id)
        self._instance.report_run_canceling(run)
        pid = _local_worker(run)
        try:
            if pid is None:
                raise ProcessLookupError
            os.kill(pid, signal.SIGINT)  # the run stops at its next step boundary, as Dagster's own termination
        except ProcessLookupError:
            self._instance.report_engine_event(
                f"Run worker {run.tags[WORKER_TAG]} is not running on this host: nothing to interrupt.",
                run,
                cls=self.__class__,
            )
            return False
        return True

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        if WORKER_TAG not in run.tags:
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, "not launched by a fork")
        if _local_worker(run) is not None:
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        worker = json.loads(run.tags[WORKER_TAG])
        if worker["host"] != socket.gethostname():
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, f"run worker on {worker['host']}")
        return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker process {worker['pid']} is gone")

    def dispose(self) -> None:
        with self._lock:
            for warm in self._warm.values():
                warm.close()
            self._warm.clear()


def _local_worker(run: DagsterRun) -> int | None:
    """The pid of the run's forked process if it runs on this host and is still a forked run worker."""
    if WORKER_TAG not in run.tags:
        return None
    worker = json.loads(run.tags[WORKER_TAG])
    if worker["host"] != socket.gethostname():
        return None
    try:
        command = Path(f"/proc/{worker['pid']}/cmdline").read_bytes()
    except OSError:
        return None
    return int(worker["pid"]) if b"vip_pipeline.launcher" in command else None


class WarmProcess:
    """The launcher's side of one warm process: a pipe for requests, one JSON line back for each."""

    def __init__(self, origin: RepositoryPythonOrigin):
        working_directory = getattr(origin.code_pointer, "working_directory", None)
        self.process = subprocess.Popen(
            [origin.executable_path, "-m", "vip_pipeline.launcher", serialize_value(origin)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=working_directory or None,
        )
        self._buffer = b""
        ready = self._reply(START_TIMEOUT_S)
        if "ready" not in ready:
            self.close()
            raise RuntimeError(f"the warm process did not start: {ready}")

    def alive(self) -> bool:
        return self.process.poll() is None

    def request(self, message: dict) -> dict:
        try:
            self.process.stdin.write(json.dumps(message).encode() + b"\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            return {"error": "the warm process is gone"}
        return self._reply(FORK_TIMEOUT_S)

    def _reply(self, timeout: float) -> dict:
        out = self.process.stdout.fileno()
        while b"\n" not in self._buffer:
            readable, _, _ = select.select([out], [], [], timeout)
            chunk = os.read(out, 4096) if readable else b""
            if not chunk:
                return {"error": "no answer" if not readable else f"exited with {self.process.wait()}"}
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def close(self) -> None:
        if self.alive():
            self.process.stdin.close()  # the warm process ends at the end of its input
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def _code_root(origin: RepositoryPythonOrigin) -> Path:
    """The directory of the code location's top-level package (or of its file), as its modules' paths spell it."""
    module = getattr(origin.code_pointer, "module", None)
    if module:
        return Path(sys.modules[module.split(".")[0]].__file__).parent
    return Path(origin.code_pointer.python_file).parent


def _code_files(root: Path) -> dict[str, float]:
    """The modification times of the loaded modules under `root` (the code location's package)."""
    files = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if path and path.startswith(f"{root}{os.sep}"):
            try:
                files[path] = os.stat(path).st_mtime
            except OSError:
                files[path] = -1.0
    return files


def serve(serialized_origin: str) -> None:
    """The warm process: load the code location, then fork one run per request line until stdin ends."""
    from dagster._utils.hosted_user_process import recon_repository_from_origin

    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything the code prints goes to stderr, not into the replies
    origin = deserialize_value(serialized_origin, RepositoryPythonOrigin)
    try:
        recon_repository_from_origin(origin).get_definition()
        for module in PRELOAD:
            importlib.import_module(module)
        if os.environ.get("DAGSTER_HOME"):  # the instance's storage modules and schema scripts, loaded once
            with DagsterInstance.get():
                pass
    except Exception:
        replies.write(json.dumps({"error": traceback.format_exc()}) + "\n")
        return
    root = _code_root(origin)
    loaded = _code_files(root)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # finished runs are reaped by the kernel
    replies.write(json.dumps({"ready": os.getpid()}) + "\n")
    for line in sys.stdin:
        if _code_files(root) != loaded:
            replies.write(json.dumps({"stale": "the code changed on disk"}) + "\n")
            return
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            replies.close()
            _run_worker(request)
        replies.write(json.dumps({"pid": pid}) + "\n")


def _run_worker(request: dict) -> None:
    """The forked run: what `dagster api execute_run` does, in a process that already has the code."""
    from dagster._cli.api import _execute_run_command_body
    from dagster._core.instance import InstanceRef
    from dagster._utils.interrupts import capture_interrupts

    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    stdin = os.open(os.devnull, os.O_RDONLY)
    os.dup2(stdin, 0)
    os.close(stdin)
    code = 1
    profile_dir = os.environ.get(PROFILE_DIR)
    profiler = cProfile.Profile() if profile_dir else None
    try:
        with capture_interrupts():
            if profiler:
                profiler.enable()
            ref = deserialize_value(request["instance_ref"], InstanceRef)
            with DagsterInstance.from_ref(ref) as instance:
                code = _execute_run_command_body(request["run_id"], instance, lambda _event: None, True)
    except BaseException:
        traceback.print_exc()
    finally:
        if profiler:
            profiler.disable()
            profiler.dump_stats(Path(profile_dir, f"{request['run_id']}.prof"))
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    serve(sys.argv[1])
