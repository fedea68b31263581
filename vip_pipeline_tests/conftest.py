"""Shared fixtures: a throwaway PostgreSQL server (Debian's `postgresql` package) and database URLs.

The server runs as the `postgres` user (when the tests run as root) from a temp directory on a free
loopback port. If it cannot start, tests that need it FAIL (never skip): CI must prove PostgreSQL works.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest


# The partitions start at VIP_FIRST_MONTH, else at the first month of the default landing directory
# (partitions.py): fix it, so that a developer's data/landing cannot change what the tests see.
os.environ.setdefault("VIP_FIRST_MONTH", "2015-01-01")

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    found = found or ([shutil.which(name)] if shutil.which(name) else [])
    if not found:
        pytest.fail(f"PostgreSQL's {name} not found: install Debian's postgresql package (see .ci/run)")
    return found[-1]


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class PostgresServer:
    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="vip-pg-"))
        self.port = _free_port()
        data = self.dir / "data"
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run([_pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
        self._run([_pg_bin("pg_ctl"), "-D", str(data), "-l", str(self.dir / "log"), "-w", "-t", "60", "-o",
                   f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off", "start"])
        self.data = data

    def _run(self, cmd: list[str]) -> None:
        done = subprocess.run(_as_postgres(cmd), capture_output=True, text=True)
        if done.returncode != 0:
            log = (self.dir / "log").read_text() if (self.dir / "log").exists() else ""
            pytest.fail(f"PostgreSQL could not start: {' '.join(cmd)}\n{done.stdout}\n{done.stderr}\n{log}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        import psycopg

        name = f"vip_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        subprocess.run(_as_postgres([_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server():
    server = PostgresServer()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A fresh, empty PostgreSQL database on the throwaway server."""
    return postgres_server.create_database()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'vip.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path) -> str:
    """Both embedded SQLite and the real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'vip.db'}"
    return request.getfixturevalue("postgres_server").create_database()


def pytest_collection_modifyitems(items):
    """Tests on the throwaway PostgreSQL server carry the `postgres` marker: `pytest -m "not postgres"` skips them."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        callspec = getattr(item, "callspec", None)
        on_database_url = callspec is not None and callspec.params.get("database_url") == "postgres"
        if "postgres_server" in names or on_database_url:
            item.add_marker(pytest.mark.postgres)
