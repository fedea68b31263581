"""Helpers for the UI tests: the real `dagster-webserver` in a throwaway DAGSTER_HOME, its GraphQL API
(standard library only) and headless Chromium from Debian's `chromium` package."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def venv_bin(name: str) -> str:
    """A console script of the interpreter running the tests (the project's .venv), else from PATH."""
    for candidate in (Path(sys.executable).parent / name, REPO_ROOT / ".venv" / "bin" / name):
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found next to {sys.executable}, in {REPO_ROOT / '.venv'}, or on PATH")
    return found


def clean_env(**overrides: str) -> dict[str, str]:
    """The current environment without the pipeline's own settings (VIP_*) and DAGSTER_HOME, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIP_") and k != "DAGSTER_HOME"}
    env.update(overrides)
    return env


def _signal_group(pgid: int, sig: signal.Signals) -> bool:
    try:
        os.killpg(pgid, sig)
        return True
    except ProcessLookupError:  # the whole group is gone
        return False


def stop_process_group(proc: subprocess.Popen, grace: float = 15.0) -> None:
    """SIGTERM the process group (the leader was started with start_new_session, so pgid == pid), wait up
    to `grace` seconds for the leader, then SIGKILL whatever is left of the group (children included)."""
    if proc.poll() is None and _signal_group(proc.pid, signal.SIGTERM):
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    _signal_group(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


class GraphQLError(AssertionError):
    pass


class Webserver:
    """`dagster-webserver -w workspace.yaml` from the repository root, in its own process group."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [venv_bin("dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(self.port)],
            cwd=REPO_ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def log_tail(self, chars: int = 4000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def wait_ready(self, timeout: float = 120.0, interval: float = 0.5) -> None:
        """Until /server_info answers and the code location has loaded (bounded polling)."""
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dagster-webserver exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/server_info", timeout=5) as response:
                    info = json.load(response)
                status = self.location_status()
                if status == "LOADED":
                    self.server_info = info
                    return
                last = f"code location status {status}"
            except (urllib.error.URLError, ConnectionError, TimeoutError, GraphQLError, ValueError) as exc:
                last = repr(exc)
            time.sleep(interval)
        raise TimeoutError(f"dagster-webserver not ready after {timeout:.0f}s ({last}):\n{self.log_tail()}")

    def location_status(self) -> str:
        data = self.graphql("""{ workspaceOrError { __typename ... on Workspace { locationEntries {
            name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }""")
        entries = data["workspaceOrError"].get("locationEntries") or []
        for entry in entries:
            error = entry["locationOrLoadError"]
            if error and error["__typename"] == "PythonError":
                raise RuntimeError(f"code location {entry['name']} failed to load: {error['message']}")
        if not entries:
            return "NO_LOCATION"
        self.location = entries[0]["name"]
        return entries[0]["loadStatus"]

    def graphql(self, query: str, variables: dict | None = None, timeout: float = 30.0) -> dict:
        """POST /graphql; returns `data`, raises GraphQLError when the answer has errors."""
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as exc:
            raise GraphQLError(f"HTTP {exc.code}: {exc.read()[:2000]!r}") from exc
        if answer.get("errors"):
            raise GraphQLError(json.dumps(answer["errors"], indent=1)[:4000])
        return answer["data"]

    def stop(self) -> None:
        try:
            stop_process_group(self.proc)
        finally:
            self._log.close()


def find_chromium() -> str | None:
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    return shutil.which("chromium")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def screenshot(
    chromium: str, url: str, out: Path | None, user_data_dir: Path, timeout: float = 90.0
) -> subprocess.CompletedProcess:
    """Headless Chromium renders `url` (15 s of virtual time for the UI's queries and layout) into `out`; without
    `out`, its stdout is the rendered DOM (what a user sees without clicking anything)."""
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
           f"--user-data-dir={user_data_dir}", "--window-size=1600,1000", "--virtual-time-budget=15000",
           f"--screenshot={out}" if out else "--dump-dom", url]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_process_group(proc, grace=5)
        output, _ = proc.communicate()
        raise TimeoutError(f"chromium did not finish within {timeout:.0f}s: {output.decode(errors='replace')[-2000:]}")
    finally:
        stop_process_group(proc, grace=5)  # also any renderer/GPU helper left behind
    return subprocess.CompletedProcess(cmd, proc.returncode, output.decode(errors="replace"), "")
