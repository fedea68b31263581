"""Reliability: a run killed mid-publish, a database that is down or read-only, BI readers during a
publish, re-runs, and input that tries to escape its contract (SPEC §3–§4).

Runs go through the real CLI (`python -m vip_pipeline.cli run`) in a subprocess with its own process
group, killed in `finally`. Two sample banks (generate_sample: 300 clients, 4 months) are made once
per module: `old` and `new` (FX rates × 1.02 and one extra client with an account), so every month of
every published table differs between them. Their clean runs (one database each, per backend) are
the references; every other database starts as a copy of the `old` reference.

Some runs use `pausing_cli.py` (written below): the same CLI with a pause right after a row insert,
*inside* the publishing transaction, so a kill or a reader lands exactly there (instrumentation only:
the code under test is unchanged). Every case and its outcome is listed in docs/reliability.md.
"""

from __future__ import annotations

import csv
import io
import os
import queue
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd
import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from vip_pipeline.contracts.tables import TABLES
from vip_pipeline.runner import run_pipeline
from vip_pipeline.sample import generate_sample
from vip_pipeline.storage.warehouse import Warehouse, make_engine, redact
from vip_pipeline_tests.tiny_bank import FILES, write_tiny_bank

MONTHLY = ["monthly_account_activity", "monthly_client_metrics"]  # one transaction per month
DECISIONS = ["client_ltv", "vip_assessment", "client_segments"]  # one transaction for all three
PUBLISHED = MONTHLY + DECISIONS
MONTHS = ["2024-03", "2024-04", "2024-05", "2024-06"]  # the sample banks' months; 2024-06 is in progress
RUN_COLUMNS = ("run_id", "rejected_at", "loaded_at")  # differ on every run by design
TIMEOUT_S = 180  # no single subprocess may take longer

PAUSING_CLI = '''\
"""vip_pipeline.cli with a pause after a row insert, inside the publishing transaction (test instrumentation)."""
import os, sys, time
from vip_pipeline.storage import warehouse

PUBLISHED = {"monthly_account_activity", "monthly_client_metrics", "client_ltv", "vip_assessment", "client_segments"}
target = os.environ.get("VIP_TEST_PAUSE_AT", "")        # "<table>:<n>": hang after the n-th insert into <table>
each = float(os.environ.get("VIP_TEST_PAUSE_EACH", "0"))  # pause after every insert into a published table
calls = {}
real_insert = warehouse.Warehouse._insert
terminal = os.fdopen(os.dup(1), "w", buffering=1)  # the run sends Dagster's own output to a log: not the markers


def paused_insert(self, conn, contract, frame):
    written = real_insert(self, conn, contract, frame)
    calls[contract.name] = n = calls.get(contract.name, 0) + 1
    if target == f"{contract.name}:{n}":
        print(f"@@hang inside transaction after insert #{n} into {contract.name}", file=terminal, flush=True)
        time.sleep(120)
    elif each and contract.name in PUBLISHED:
        print(f"@@pause inside transaction after insert #{n} into {contract.name}", file=terminal, flush=True)
        time.sleep(each)
    return written


warehouse.Warehouse._insert = paused_insert
from vip_pipeline.cli import main  # noqa: E402

sys.exit(main())
'''


# ----------------------------------------------------------------------------------------------
# subprocesses
# ----------------------------------------------------------------------------------------------

def child_env(**extra: str) -> dict[str, str]:
    """The test environment without VIP_* / DAGSTER_HOME (so a developer's settings cannot leak in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIP_") and k != "DAGSTER_HOME"}
    env.update(extra)
    return env


class Child:
    """A subprocess in its own process group; stdout+stderr collected line by line with arrival times."""

    def __init__(self, cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None):
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=env or child_env(), cwd=cwd, start_new_session=True, bufsize=1)
        self.lines: list[tuple[float, str]] = []
        self._queue: queue.Queue = queue.Queue()
        self._pump = threading.Thread(target=self._read, daemon=True)
        self._pump.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append((time.monotonic(), line))
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float) -> bool:
        """True as soon as a line containing `text` arrives; False on exit or timeout."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=min(left, 1.0))
            except queue.Empty:
                continue
            if line is None:
                return False
            if text in line:
                return True
        return False

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def wait(self, timeout: float = TIMEOUT_S) -> int:
        try:
            rc = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.returncode is None:
                self.kill()
                self.proc.wait(timeout=30)
        self._pump.join(timeout=10)
        return rc

    @property
    def output(self) -> str:
        return "".join(line for _, line in self.lines)

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc) -> None:
        self.kill()  # the whole process group, whether or not it already finished
        if self.proc.returncode is None:
            self.proc.wait(timeout=30)
        self._pump.join(timeout=10)


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "vip_pipeline.cli", *args]


def run_args(landing: Path, url: str, staging: Path, *more: str) -> list[str]:
    return ["run", "--landing", str(landing), "--database-url", url, "--staging-dir", str(staging), *more]


def run_cli(args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[int, str, float]:
    with Child(cli(*args), env, cwd) as child:
        rc = child.wait()
        return rc, child.output, time.monotonic() - child.started


def living_in_group(pgid: int, wait_s: float = 10.0) -> list[int]:
    """Processes of the process group that are still alive (zombies excluded), after up to `wait_s`."""
    deadline = time.monotonic() + wait_s
    while True:
        alive = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                alive.append(int(stat.parent.name))
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------------------------
# databases: connect, clone, snapshot
# ----------------------------------------------------------------------------------------------

def is_postgres(url: str) -> bool:
    return url.startswith("postgresql")


@contextmanager
def connect(url: str):
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


@contextmanager
def pg_admin(url: str):
    u = sa.make_url(url)
    with psycopg.connect(host=u.host, port=u.port, user="postgres", dbname="postgres", autocommit=True) as conn:
        yield conn


def pg_new_database(url_on_server: str, prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with pg_admin(url_on_server) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return sa.make_url(url_on_server).set(database=name).render_as_string(hide_password=False)


def sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def clone_database(source: str, target: str) -> None:
    """Make `target` (the test's empty database) an exact copy of `source`."""
    if is_postgres(source):
        src, dst = sa.make_url(source).database, sa.make_url(target).database
        with pg_admin(target) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                         "AND pid <> pg_backend_pid()", (src,))
            conn.execute(f'DROP DATABASE IF EXISTS "{dst}"')
            conn.execute(f'CREATE DATABASE "{dst}" TEMPLATE "{src}"')
    else:
        with sqlite3.connect(sqlite_path(source)) as s, sqlite3.connect(sqlite_path(target)) as d:
            s.backup(d)


def _cell(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def table_rows(url: str, table: str, exclude: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(partition month 'YYYY-MM' or '', row as a CSV line) for every row, in primary-key order."""
    contract = TABLES[table]
    columns = [c for c in contract.column_names if c not in exclude]
    order = contract.primary_key or ("source_file", "extract", "rows_read", "status")
    part = contract.partition_column
    with connect(url) as conn:
        result = conn.exec_driver_sql(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {', '.join(order)}")
        rows = result.fetchall()
    out = []
    for row in rows:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="").writerow([_cell(v) for v in row])
        out.append((str(row[columns.index(part)])[:7] if part else "", buffer.getvalue()))
    return out


def snapshot(url: str) -> dict[str, list[tuple[str, str]]]:
    return {t: table_rows(url, t) for t in PUBLISHED}


def csv_text(url: str, table: str, exclude: tuple[str, ...] = ()) -> str:
    """`SELECT * FROM table ORDER BY key` as CSV text (header + rows)."""
    columns = [c for c in TABLES[table].column_names if c not in exclude]
    return "\n".join([",".join(columns), *(line for _, line in table_rows(url, table, exclude))]) + "\n"


def by_month(rows: list[tuple[str, str]]) -> dict[str, list[str]]:
    months: dict[str, list[str]] = {}
    for month, line in rows:
        months.setdefault(month, []).append(line)
    return months


def assert_old_or_new(url: str, old: dict, new: dict) -> dict[str, str]:
    """Every month is entirely old or entirely new, never a mix: in the monthly tables (and the same in
    both, which share one transaction) and in the decision tables (the same in all three, one transaction).
    Returns {'2024-05': state, 'decisions 2024-05': state, …} with state 'old' or 'new'."""
    now = snapshot(url)
    states: dict[str, str] = {}
    for group, tables in (("", MONTHLY), ("decisions ", DECISIONS)):
        months = sorted(set(by_month(old[tables[0]])) | set(by_month(new[tables[0]])))
        for month in months:
            seen = set()
            for table in tables:
                rows = by_month(now[table]).get(month, [])
                o, n = by_month(old[table]).get(month, []), by_month(new[table]).get(month, [])
                if rows == o:
                    seen.add("old")
                elif rows == n:
                    seen.add("new")
                else:
                    pytest.fail(f"{table} {month} is neither the old nor the new month: {len(rows)} rows, "
                                f"{len(set(rows) & set(o))} of the old {len(o)}, {len(set(rows) & set(n))} of "
                                f"the new {len(n)}")
            assert len(seen) == 1, f"{month}: {tables} disagree ({seen}) although written in one transaction"
            states[group + month] = seen.pop()
        extra = set(by_month(now[tables[0]])) - set(months)
        assert not extra, f"{tables[0]}: unexpected months {extra}"
    return states


def assert_nothing_lost(url: str) -> dict[str, int]:
    """load_audit: read = accepted + rejected for every file and load; for the latest load of each file,
    rejected_rows holds exactly rows_rejected rows (rows_redelivered of them re-deliveries)."""
    with connect(url) as conn:
        audit = pd.read_sql(sa.text("SELECT source_file, rows_read, rows_accepted, rows_rejected, rows_redelivered, "
                                    "status, loaded_at FROM load_audit"), conn)
        rejected = pd.read_sql(sa.text("SELECT source_file, row_number, rule FROM rejected_rows"), conn)
    assert len(audit), "load_audit is empty"
    unbalanced = audit[audit["rows_read"] != audit["rows_accepted"] + audit["rows_rejected"]]
    assert unbalanced.empty, f"read != accepted + rejected:\n{unbalanced}"
    audit["loaded_at"] = pd.to_datetime(audit["loaded_at"], utc=True, format="mixed")
    latest = audit.sort_values("loaded_at", kind="stable").groupby("source_file").tail(1)
    assert set(rejected["source_file"]) <= set(latest["source_file"]), "rejected rows of a file never audited"
    per_file = rejected.groupby("source_file")
    for a in latest.itertuples():
        rows = per_file.get_group(a.source_file) if a.source_file in per_file.groups else rejected.iloc[:0]
        assert len(rows) == a.rows_rejected, (a, len(rows))
        assert (rows["rule"] == "duplicate_redelivered").sum() == a.rows_redelivered, a
    return {"read": int(latest["rows_read"].sum()), "accepted": int(latest["rows_accepted"].sum()),
            "rejected": int(latest["rows_rejected"].sum()), "rejected_rows": len(rejected)}


# ----------------------------------------------------------------------------------------------
# the two sample banks and their reference databases (module-wide, built once per backend)
# ----------------------------------------------------------------------------------------------

def change_results(landing: Path) -> None:
    """A data change that alters every month: FX rates × 1.02, plus a new client with a USD account
    open since 2023-11-15 (one more row per month in both monthly tables and per as-of month)."""
    for f in sorted(landing.glob("fx_rates_*.csv")):
        rows = list(csv.DictReader(f.open(encoding="utf-8")))
        for r in rows:
            r["usd_per_unit"] = f"{float(r['usd_per_unit']) * 1.02:.6f}"
        with f.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["rate_date", "currency", "usd_per_unit"], lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    clients = max(landing.glob("clients_*.csv"))
    accounts = max(landing.glob("accounts_*.csv"))
    assert clients.read_text(encoding="utf-8").endswith("\n") and accounts.read_text(encoding="utf-8").endswith("\n")
    new_rows = {
        clients: dict(client_id="ZZ00001", name="Reliability Test Co", client_type="corporate", related_party="none",
                      industry="testing", region="Sofia", onboarded_on="2023-11-15", annual_sales_usd="2500000",
                      monopoly_position="false", strategic="false", service_model="standard"),
        accounts: dict(account_id="ZZA00001", client_id="ZZ00001", product="current", currency="USD",
                       opened_on="2023-11-15"),
    }
    for path, row in new_rows.items():
        header = path.read_text(encoding="utf-8").splitlines()[0].split(",")
        with path.open("a", encoding="utf-8", newline="") as fh:
            csv.DictWriter(fh, fieldnames=header, lineterminator="\n").writerow(row)


@dataclass
class Banks:
    root: Path
    old: Path
    new: Path
    pausing_cli: Path


@pytest.fixture(scope="module")
def banks(tmp_path_factory) -> Banks:
    root = tmp_path_factory.mktemp("banks")
    old, new = root / "old", root / "new"
    generate_sample(old, clients=300, months=len(MONTHS), seed=7, end_date=date(2024, 6, 20))
    shutil.copytree(old, new)
    change_results(new)
    pausing = root / "pausing_cli.py"
    pausing.write_text(PAUSING_CLI, encoding="utf-8")
    return Banks(root, old, new, pausing)


@dataclass
class Reference:
    old_url: str
    new_url: str
    old_staging: Path
    old: dict
    new: dict


@dataclass
class References:
    banks: Banks
    cache: dict[str, Reference] = field(default_factory=dict)

    def get(self, database_url: str) -> Reference:
        """Clean runs of the old and the new bank, each into its own database of the backend of `database_url`."""
        kind = "postgres" if is_postgres(database_url) else "sqlite"
        if kind not in self.cache:
            base = self.banks.root / f"ref-{kind}"
            base.mkdir()
            if kind == "postgres":
                urls = [pg_new_database(database_url, "vip_ref_old"), pg_new_database(database_url, "vip_ref_new")]
            else:
                urls = [f"sqlite:///{base / 'old.db'}", f"sqlite:///{base / 'new.db'}"]
            children = [Child(cli(*run_args(landing, url, base / f"staging-{which}", "--quiet")), cwd=base)
                        for landing, url, which in zip((self.banks.old, self.banks.new), urls, ("old", "new"))]
            try:
                for child in children:
                    assert child.wait() == 0, child.output
            finally:
                for child in children:
                    child.__exit__()
            old, new = snapshot(urls[0]), snapshot(urls[1])
            for table in PUBLISHED:  # the change must be visible in every month of every table
                o, n = by_month(old[table]), by_month(new[table])
                assert set(o) == set(n) == (set(MONTHS) if table in MONTHLY else set(MONTHS[:-1])), table
                assert all(o[m] != n[m] and len(o[m]) < len(n[m]) for m in o), table
            self.cache[kind] = Reference(urls[0], urls[1], base / "staging-old", old, new)
        return self.cache[kind]


@pytest.fixture(scope="module")
def references(banks) -> References:
    return References(banks)


def start_from_old(ref: Reference, database_url: str, tmp_path: Path) -> Path:
    """The test's database becomes a copy of the old reference; returns a copy of its staging directory."""
    clone_database(ref.old_url, database_url)
    staging = tmp_path / "staging"
    shutil.copytree(ref.old_staging, staging)
    assert snapshot(database_url) == ref.old
    return staging


# ----------------------------------------------------------------------------------------------
# 1. a run killed mid-publish
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class KillPoint:
    what: str
    trigger: str = ""  # kill `delay` s after a line containing this arrives ("": `delay` s after start)
    delay: float = 0.0
    hang_in: str = ""  # "month" / "second month": inside the first / second month still old; "decisions": inside
    # the decisions transaction


KILL_POINTS = [  # in this order, on one database and staging directory that start as the old reference
    KillPoint("3 s after start (import or validation: load_audit / rejected_rows being written)", delay=3.0),
    KillPoint("inside the transaction of the second month still old: the month before it already new", "@@hang",
              hang_in="second month"),
    KillPoint("inside the transaction of the first month still old: activity replaced, client metrics not yet",
              "@@hang", hang_in="month"),
    KillPoint("inside the decisions transaction: client_ltv replaced, vip_assessment and client_segments not yet",
              "@@hang", hang_in="decisions"),
]


def test_kill_mid_publish_leaves_each_month_entirely_old_or_new(database_url, references, banks, tmp_path):
    ref = references.get(database_url)
    staging = start_from_old(ref, database_url, tmp_path)
    args = run_args(banks.new, database_url, staging, "--quiet")
    log = []
    for point in KILL_POINTS:
        before = assert_old_or_new(database_url, ref.old, ref.new)
        cmd, env, must_stay = cli(*args), child_env(), []
        if point.hang_in in ("month", "second month"):  # months are published in order; months already new
            # are unchanged since their last run and skipped, so the n-th insert is the n-th month still old
            nth = 1 if point.hang_in == "month" else 2
            old_months = [m for m in MONTHS if before[m] == "old"]
            assert len(old_months) >= nth, f"no month left to interrupt: {before}"
            must_stay = [old_months[nth - 1]]
            env["VIP_TEST_PAUSE_AT"] = f"monthly_account_activity:{nth}"
        elif point.hang_in == "decisions":
            must_stay = [f"decisions {m}" for m in MONTHS[:-1]]
            assert all(before[m] == "old" for m in must_stay), before
            env["VIP_TEST_PAUSE_AT"] = "client_ltv:1"
        if point.hang_in:
            cmd = [sys.executable, str(banks.pausing_cli), *args]
        with Child(cmd, env, tmp_path) as child:
            hit = child.wait_for(point.trigger, timeout=120) if point.trigger else True
            time.sleep(point.delay)
            running = child.proc.poll() is None
            child.kill()
            rc = child.wait(60)
            assert not living_in_group(child.proc.pid), f"{point.what}: processes survived the kill"
        after = assert_old_or_new(database_url, ref.old, ref.new)  # never a partial month
        assert_nothing_lost(database_url)
        log.append((point.what, rc, after))
        print(f"killed {point.what}: rc {rc} after {time.monotonic() - child.started:.1f}s, states {after}")
        if point.hang_in:  # the transaction the kill interrupted left no trace
            assert hit and running and rc == -signal.SIGKILL, (point, rc, child.output)
            assert all(after[m] == "old" for m in must_stay), (point.what, before, after)
    # the kills really interrupted runs, and the runs before them really published something new
    assert sum(rc == -signal.SIGKILL for _, rc, _ in log) >= 3, log
    assert any("new" in states.values() and "old" in states.values() for _, _, states in log), log

    rc, out, _ = run_cli(args, cwd=tmp_path)  # an uninterrupted re-run repairs everything
    assert rc == 0, out
    assert snapshot(database_url) == ref.new
    assert_nothing_lost(database_url)


# ----------------------------------------------------------------------------------------------
# 2. database unreachable
# ----------------------------------------------------------------------------------------------

class DeadServer:
    """Accepts TCP connections and closes them at once, counting them: a database that is down."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


def test_unreachable_database_fails_fast_with_a_redacted_message_after_retrying(tmp_path):
    landing = write_tiny_bank(tmp_path / "landing")
    port = free_port()  # bound, then released: nothing listens there
    url = f"postgresql+psycopg://vip:s3cretPW@127.0.0.1:{port}/vip"
    dead = [DeadServer(), DeadServer()]
    runs = [
        (url, "1"),  # the closed port, retried once
        (f"postgresql+psycopg://vip:s3cretPW@127.0.0.1:{dead[0].port}/vip", "0"),  # no retry
        (f"postgresql+psycopg://vip:s3cretPW@127.0.0.1:{dead[1].port}/vip", "1"),  # one retry
    ]
    children = []
    try:
        for i, (u, retries) in enumerate(runs):
            env = child_env(VIP_DB_RETRIES=retries, VIP_DB_RETRY_DELAY_S="0.2")
            children.append(Child(cli(*run_args(landing, u, tmp_path / f"staging{i}")), env, tmp_path))
        results = [(child.wait(120), child.output, time.monotonic() - child.started) for child in children]
    finally:
        for child in children:
            child.__exit__()
        for d in dead:
            d.close()

    rc, out, seconds = results[0]
    assert rc == 1, out
    assert seconds < 60, f"took {seconds:.0f}s to give up"
    assert "unavailable" in out
    assert f"postgresql+psycopg://vip:***@127.0.0.1:{port}/vip" in out
    assert "Connection refused" in out  # the driver's reason, first line only
    assert "s3cretPW" not in out
    assert "Traceback" not in out
    assert "FAILED" in out
    for rc, out, _ in results[1:]:
        assert rc == 1 and "unavailable" in out and "s3cretPW" not in out and "Traceback" not in out, out
    # VIP_DB_RETRIES (read at import) took effect: with one retry, every failing step connects twice as often
    assert dead[0].connections >= 1
    assert dead[1].connections == 2 * dead[0].connections, (dead[0].connections, dead[1].connections)


# ----------------------------------------------------------------------------------------------
# 3. read-only target
# ----------------------------------------------------------------------------------------------

def test_read_only_database_fails_clearly_and_changes_nothing(tmp_path):
    """Tests run as root, where chmod does not stop writes; SQLite's `mode=ro` URI does."""
    landing = write_tiny_bank(tmp_path / "landing")
    db = tmp_path / "vip.db"
    url = f"sqlite:///{db}"
    run_pipeline(str(landing), url, str(tmp_path / "staging"), progress=lambda _: None)
    tables = [*PUBLISHED, "rejected_rows", "load_audit"]
    before = {t: csv_text(url, t) for t in tables}
    assert all(len(before[t].splitlines()) > 1 for t in [*PUBLISHED, "load_audit"])  # something to protect

    ro_url = f"sqlite:///file:{db}?mode=ro&uri=true"
    with pytest.raises(sqlite3.OperationalError, match="readonly"):  # the target really refuses writes
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as probe:
            probe.execute("DELETE FROM client_segments")
    (landing / "fx_rates_2024-03.csv").write_text(FILES["fx_rates_2024-03.csv"].replace("1.0\n", "1.5\n"))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    rc, out, seconds = run_cli(run_args(landing, ro_url, tmp_path / "staging"),
                               child_env(VIP_DB_RETRIES="1", VIP_DB_RETRY_DELAY_S="0.1"), cwd)
    assert rc == 1, out
    assert "not writable" in out and "readonly" in out, out
    assert "Traceback" not in out
    assert seconds < 60
    assert {t: csv_text(url, t) for t in tables} == before


def test_sqlite_uri_url_creates_no_stray_directory(tmp_path, monkeypatch):
    """make_engine creates the database's parent directory; for a `file:` URI it must not create
    `./file:/…` under the working directory."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    db = tmp_path / "data" / "vip.db"
    db.parent.mkdir()
    sqlite3.connect(db).close()
    make_engine(f"sqlite:///file:{db}?mode=ro&uri=true").dispose()
    assert sorted(p.name for p in cwd.iterdir()) == []


# ----------------------------------------------------------------------------------------------
# 4. BI readers while a run re-publishes
# ----------------------------------------------------------------------------------------------

SEGMENTS_QUERY = "SELECT count(*), sum(ltv_usd) FROM client_segments"
MONTHS_QUERY = "SELECT month, count(*), sum(margin_usd) FROM monthly_client_metrics GROUP BY month ORDER BY month"


class Reader:
    """Queries the database in a loop until told to stop (or 120 s), keeping every observation."""

    def __init__(self, url: str):
        self.url = url
        self.observations: list[tuple[float, float, tuple, dict]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _connect(self):
        if is_postgres(self.url):
            u = sa.make_url(self.url)
            return psycopg.connect(host=u.host, port=u.port, user=u.username, dbname=u.database, autocommit=True)
        return sqlite3.connect(sqlite_path(self.url), timeout=30, isolation_level=None)

    def observe_once(self, conn) -> tuple[tuple, dict]:
        segments = tuple(conn.execute(SEGMENTS_QUERY).fetchone())
        months = {str(m)[:7]: (n, s) for m, n, s in conn.execute(MONTHS_QUERY).fetchall()}
        return segments, months

    def _loop(self) -> None:
        deadline = time.monotonic() + 120
        try:
            conn = self._connect()
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(repr(exc))
            return
        try:
            while not self._stop.is_set() and time.monotonic() < deadline and len(self.observations) < 100_000:
                started = time.monotonic()
                try:
                    segments, months = self.observe_once(conn)
                except Exception as exc:  # noqa: BLE001 - any reader error fails the test
                    self.errors.append(repr(exc))
                    time.sleep(0.05)
                    continue
                self.observations.append((started, time.monotonic(), segments, months))
                time.sleep(0.005)
        finally:
            conn.close()

    def start(self) -> Reader:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def expected_observation(url: str) -> tuple[tuple, dict]:
    r = Reader(url)
    conn = r._connect()
    try:
        return r.observe_once(conn)
    finally:
        conn.close()


def classify(observed, old, new, what: str) -> str:
    """'old' or 'new': the count picks the state, the sum must then match it (float sums may differ in
    the last bits with the physical row order)."""
    for name, expected in (("old", old), ("new", new)):
        if observed[0] == expected[0]:
            assert observed[1] == pytest.approx(expected[1], rel=1e-9, abs=1e-6), (what, name, observed, expected)
            return name
    pytest.fail(f"{what}: {observed} is neither old {old} nor new {new}")


def test_readers_during_a_publish_see_old_or_new_never_a_mix(database_url, references, banks, tmp_path):
    ref = references.get(database_url)
    staging = start_from_old(ref, database_url, tmp_path)
    old, new = expected_observation(ref.old_url), expected_observation(ref.new_url)
    assert old[0][0] != new[0][0] and all(old[1][m][0] != new[1][m][0] for m in MONTHS)

    reader = Reader(database_url).start()
    time.sleep(0.3)
    env = child_env(VIP_TEST_PAUSE_EACH="0.25")  # the writer lingers inside every publishing transaction
    try:
        with Child([sys.executable, str(banks.pausing_cli), *run_args(banks.new, database_url, staging, "--quiet")],
                   env, tmp_path) as writer:
            rc = writer.wait(150)
    finally:
        reader.stop()
    assert rc == 0, writer.output
    assert not reader.errors, reader.errors[:5]

    pauses = [t for t, line in writer.lines if line.startswith("@@pause")]
    tables = [line.split()[-1] for _, line in writer.lines if line.startswith("@@pause")]
    assert sorted(t for t in tables if t in MONTHLY) == sorted(MONTHLY * len(MONTHS))  # a transaction per month
    decided = [t for t in tables if t in DECISIONS]  # one transaction, the complete months written chunk by chunk
    assert len(decided) >= 3 and all(decided.count(t) == len(decided) // 3 for t in DECISIONS)
    inside = mixed = 0
    states = []
    for started, ended, segments, months in reader.observations:
        seg = classify(segments, old[0], new[0], "client_segments")
        assert sorted(months) == MONTHS
        per_month = {m: classify(months[m], old[1][m], new[1][m], f"monthly_client_metrics {m}") for m in MONTHS}
        mixed += len(set(per_month.values())) == 2
        inside += any(p <= started and ended <= p + 0.25 for p in pauses)
        states.append((seg, per_month))
    assert len(reader.observations) >= 20
    assert states[0] == ("old", dict.fromkeys(MONTHS, "old"))
    assert mixed >= 1, "the reader never observed the run between two months"
    assert inside >= 10, f"only {inside} observations while a publishing transaction was open"
    final = expected_observation(database_url)
    assert classify(final[0], old[0], new[0], "final") == "new"
    assert all(classify(final[1][m], old[1][m], new[1][m], m) == "new" for m in MONTHS)
    assert snapshot(database_url) == ref.new


# ----------------------------------------------------------------------------------------------
# 5. idempotency
# ----------------------------------------------------------------------------------------------

def test_rerun_and_single_month_rerun_are_byte_identical(database_url, references, banks, tmp_path):
    """Published tables as `SELECT * … ORDER BY key` CSV text; rejected_rows without its run columns.
    load_audit is an append-only log (run ids, timestamps), so only its per-file counts are compared."""
    ref = references.get(database_url)
    staging = start_from_old(ref, database_url, tmp_path)
    first = {t: csv_text(ref.old_url, t) for t in PUBLISHED}
    first_rejected = csv_text(ref.old_url, "rejected_rows", RUN_COLUMNS)
    audit_columns = ("run_id", "loaded_at")
    first_audit = sorted(set(line for _, line in table_rows(ref.old_url, "load_audit", audit_columns)))
    for extra in ([], ["--month", "2024-04"]):
        rc, out, _ = run_cli(run_args(banks.old, database_url, staging, "--quiet", *extra), cwd=tmp_path)
        assert rc == 0, out
        for table in PUBLISHED:
            assert csv_text(database_url, table) == first[table], (extra, table)
        assert csv_text(database_url, "rejected_rows", RUN_COLUMNS) == first_rejected, extra
        # every load of a file recorded the same counts, status and note
        assert sorted(set(line for _, line in table_rows(database_url, "load_audit", audit_columns))) == first_audit
        assert_nothing_lost(database_url)


# ----------------------------------------------------------------------------------------------
# 6. security basics
# ----------------------------------------------------------------------------------------------

PASSWORD = "pw_XYZ_123"


def test_database_password_never_appears_in_the_cli_output(postgres_server, tmp_path):
    name = f"vip_owned_{uuid.uuid4().hex[:8]}"
    with pg_admin(postgres_server.url()) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'vip'").fetchone():
            conn.execute(f"CREATE ROLE vip LOGIN PASSWORD '{PASSWORD}'")
        conn.execute(f'CREATE DATABASE "{name}" OWNER vip')
    url = f"postgresql+psycopg://vip:{PASSWORD}@127.0.0.1:{postgres_server.port}/{name}"
    landing = write_tiny_bank(tmp_path / "landing")
    rc, out, _ = run_cli(run_args(landing, url, tmp_path / "staging"), cwd=tmp_path)  # with the summary
    assert rc == 0, out
    assert PASSWORD not in out
    assert f"postgresql+psycopg://vip:***@127.0.0.1:{postgres_server.port}/{name}" in out
    assert "Client segments as of 2024-03" in out
    with connect(postgres_server.url(name)) as conn:  # the run really used the URL's role
        owner = conn.exec_driver_sql("SELECT tableowner FROM pg_tables WHERE tablename = 'client_segments'").scalar()
        assert owner == "vip"
    for path in (tmp_path / "staging").rglob("*"):  # nor is it written to the staging area
        assert not path.is_file() or PASSWORD.encode() not in path.read_bytes(), path


@pytest.mark.parametrize("url, secret", [
    ("postgresql+psycopg://vip:pw_XYZ_123@db.bank.local:5432/vip", "pw_XYZ_123"),
    ("postgresql+psycopg://vip:p%40ss%3Aw%2Ford@db/vip", "p@ss:w/ord"),
    ("postgresql://u:s3cr3t@h/db?sslmode=require", "s3cr3t"),
    ("mssql+pyodbc://sa:Pa55w0rd!@server/db?driver=ODBC+Driver+18", "Pa55w0rd"),
    ("not a url but it has s3cretPW in it", "s3cretPW"),
])
def test_redact_hides_the_password(url, secret):
    shown = redact(url)
    assert secret not in shown
    assert secret.replace("@", "%40").replace(":", "%3A").replace("/", "%2F") not in shown
    if url.startswith("postgresql+psycopg"):
        assert secret not in repr(Warehouse(url))  # no connection is made


INJECTION_COLUMN = "amount; DROP TABLE client_segments;--"
INJECTION_NAME = "Robert'); DROP TABLE client_segments;-- \"Ltd\", 1=1"


def test_sql_like_column_names_and_values_are_only_data(database_url, tmp_path):
    files = dict(FILES)
    lines = files["transactions_2024-02.csv"].splitlines()
    files["transactions_2024-02.csv"] = "\n".join(
        [f"{lines[0]},{INJECTION_COLUMN}"] + [f"{line},'; DELETE FROM load_audit;--" for line in lines[1:]]) + "\n"
    files["clients_2024-03-31.csv"] = files["clients_2024-03-31.csv"].replace(
        "Alpha Energy", '"' + INJECTION_NAME.replace('"', '""') + '"')
    landing = write_tiny_bank(tmp_path / "landing", files)
    run_pipeline(str(landing), database_url, str(tmp_path / "staging"), progress=lambda _: None)

    with connect(database_url) as conn:
        inspector = sa.inspect(conn)
        assert set(inspector.get_table_names()) == {*TABLES, "alembic_version"}  # the migration revision
        assert {"client_segments_current", "vip_prospects"} <= set(inspector.get_view_names())
        for name, contract in TABLES.items():  # names come only from the contracts
            assert [c["name"] for c in inspector.get_columns(name)] == contract.column_names, name
        names = dict(conn.exec_driver_sql("SELECT DISTINCT client_id, name FROM client_segments").fetchall())
        note = conn.exec_driver_sql(
            "SELECT note FROM load_audit WHERE source_file = 'transactions_2024-02.csv'"
        ).scalar()
        txns = conn.exec_driver_sql("SELECT txn_count FROM monthly_account_activity "
                                    "WHERE account_id = 'A1' ORDER BY month").scalars().all()
    assert names == {"c1": INJECTION_NAME, "c2": "Beta Retail"}  # stored verbatim
    assert note == f"extra column(s) ignored: {INJECTION_COLUMN}"
    assert txns == [3, 1]
    assert_nothing_lost(database_url)


@pytest.mark.parametrize("where", ["client_name", "malformed_line"])
def test_copy_null_marker_in_data_is_stored_verbatim(database_url, tmp_path, where):
    r"""`\N` (PostgreSQL COPY's NULL marker; MySQL exports write it for NULL) is data like any other:
    a client named `\N` is published with that name; a landing line `\N` is a malformed row kept in
    rejected_rows with raw_record `\N`, and the night goes on."""
    files = dict(FILES)
    if where == "client_name":
        files["clients_2024-03-31.csv"] = files["clients_2024-03-31.csv"].replace("Beta Retail", "\\N")
    else:
        good = "".join(f"g{i},A1,2024-02-{1 + i % 28:02d},1,D,card,,,\n" for i in range(200))
        files["transactions_2024-02.csv"] = FILES["transactions_2024-02.csv"] + good + "\\N\n"
    landing = write_tiny_bank(tmp_path / "landing", files)
    rc, out, _ = run_cli(run_args(landing, database_url, tmp_path / "staging", "--quiet"),
                         child_env(VIP_DB_RETRIES="0"), tmp_path)  # a data error is not worth retrying
    assert rc == 0, out
    with connect(database_url) as conn:
        names = dict(conn.exec_driver_sql("SELECT DISTINCT client_id, name FROM client_segments").fetchall())
        rejected = conn.exec_driver_sql("SELECT source_file, row_number, raw_record FROM rejected_rows").fetchall()
    if where == "client_name":
        assert names == {"c1": "Alpha Energy", "c2": "\\N"}
    else:
        assert [tuple(r) for r in rejected] == [("transactions_2024-02.csv", 204, "\\N")]
    assert_nothing_lost(database_url)


def test_symlink_named_like_an_extract_is_never_followed(sqlite_url, tmp_path):
    landing = write_tiny_bank(tmp_path / "landing")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "t.csv").write_text(FILES["transactions_2024-03-04.csv"].replace("t4,A1,2024-03-04,10,C,interest",
                                                                              "evil,A1,2024-03-06,99999999,C,payment"))
    (outside / "c.csv").write_text(FILES["clients_2024-03-31.csv"].replace("Alpha Energy", "Evil Corp"))
    os.symlink(outside / "t.csv", landing / "transactions_2024-03-06.csv")
    os.symlink(outside / "c.csv", landing / "clients_2024-04-01.csv")  # would win as the latest snapshot
    os.symlink(outside, landing / "balances_2024-03-30.csv")  # a directory behind an extract name
    rc, out, _ = run_cli(run_args(landing, sqlite_url, tmp_path / "staging"), cwd=tmp_path)
    assert rc == 0, out
    assert "warning: ignoring 3 file(s)" in out
    for name in ("transactions_2024-03-06.csv", "clients_2024-04-01.csv", "balances_2024-03-30.csv"):
        assert name in out
    with connect(sqlite_url) as conn:
        files = set(conn.exec_driver_sql("SELECT source_file FROM load_audit").scalars())
        names = set(conn.exec_driver_sql("SELECT name FROM client_segments").scalars())
        txns = conn.exec_driver_sql("SELECT txn_count FROM monthly_account_activity "
                                    "WHERE account_id = 'A1' AND month = '2024-03-01'").scalar()
    assert files == set(FILES)
    assert names == {"Alpha Energy", "Beta Retail"}
    assert txns == 1
    assert_nothing_lost(sqlite_url)
