"""The local Dagster instance: a new DAGSTER_HOME gets the project's dagster.yaml, and the pooled SQLite event
log records a run that another process (the webserver) reads back, month by month."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as db
from dagster import (
    AssetCheckEvaluation,
    AssetKey,
    AssetRecordsFilter,
    DagsterEvent,
    DagsterEventType,
    DagsterInstance,
    StaticPartitionsDefinition,
)
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluationPlanned
from dagster._core.errors import DagsterInvariantViolationError
from dagster._core.events import AssetMaterializationPlannedData
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from vip_pipeline.instance import (
    EVENT_BATCH_SIZE,
    LOCAL_DATABASES,
    OPEN_DATABASES,
    PREFORKED_LAUNCHER,
    PooledSqliteEventLogStorage,
    local_instance_config,
    open_local_instance,
    prepare_local_instance,
)
from vip_pipeline.runner import run_pipeline
from vip_pipeline.storage.migrate import MIGRATIONS
from vip_pipeline_tests.tiny_bank import write_tiny_bank


def test_a_new_dagster_home_gets_the_project_config_and_an_existing_one_is_kept(tmp_path):
    prepare_local_instance(tmp_path / "new")
    prepare_local_instance(tmp_path / "new")  # again: nothing changes
    assert (tmp_path / "new" / "dagster.yaml").read_text() == local_instance_config(tmp_path / "new")
    for home in (tmp_path / "nested" / "home", tmp_path / "empty"):  # a missing parent, an existing empty directory
        (tmp_path / "empty").mkdir(exist_ok=True)
        prepare_local_instance(home)
        assert (home / "dagster.yaml").read_text() == local_instance_config(home)
    # its databases exist with their tables before a daemon and a launch open the home at once
    for db_file, table in zip(LOCAL_DATABASES, ("runs", "event_logs", "jobs"), strict=True):
        with sqlite3.connect(tmp_path / "new" / db_file) as conn:
            assert conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone(), db_file
    with DagsterInstance.from_config(str(tmp_path / "new")) as instance:  # Dagster accepts the file as written
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        assert instance.event_log_storage._base_dir == str((tmp_path / "new" / "storage").resolve())
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert instance.run_coordinator.dequeue_interval_seconds == 1
        assert type(instance.run_launcher).__name__ == "PreforkedRunLauncher"
    # one an older vip-pipeline wrote (no run launcher, no queue) is brought up to date, still without a queue
    (tmp_path / "older").mkdir()
    older = local_instance_config(tmp_path / "older", queue=False).replace(PREFORKED_LAUNCHER, "")
    assert "run_launcher" not in older
    (tmp_path / "older" / "dagster.yaml").write_text(older)
    prepare_local_instance(tmp_path / "older")
    assert (tmp_path / "older" / "dagster.yaml").read_text() == local_instance_config(tmp_path / "older", queue=False)
    (tmp_path / "own").mkdir()
    (tmp_path / "own" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    prepare_local_instance(tmp_path / "own")
    assert (tmp_path / "own" / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"
    assert not (tmp_path / "own" / "history").exists()  # someone else's instance is not opened


def test_a_run_opens_its_local_instance_once(tmp_path, monkeypatch):
    """A new home's instance is the one that created its databases; an existing home's is opened once."""
    opened = []
    parent = DagsterInstance.from_config

    def counted(home, *args, **kwargs):
        opened.append(Path(home).name)
        return parent(home, *args, **kwargs)

    monkeypatch.setattr(DagsterInstance, "from_config", staticmethod(counted))
    for _ in range(2):  # new, then existing
        with open_local_instance(tmp_path / "home") as instance:
            assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
            assert all((tmp_path / "home" / db_file).exists() for db_file in LOCAL_DATABASES)
    assert opened == ["home", "home"]


def test_dagsters_migration_scripts_are_read_once_and_others_each_time(tmp_path):
    """Dagster reads its ≈ 90 migration scripts for every SQLite database it opens or creates; they are read once
    per process. The warehouse's migrations (or anyone else's) are read each time, as Alembic does."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from dagster._core.storage.runs.sqlite import sqlite_run_storage
    from dagster._core.storage.sql import get_alembic_config

    dagsters = get_alembic_config(sqlite_run_storage.__file__)
    assert ScriptDirectory.from_config(dagsters) is ScriptDirectory.from_config(dagsters)
    assert ScriptDirectory.from_config(dagsters).get_current_head()  # the scripts themselves
    ours = Config()
    ours.set_main_option("script_location", str(MIGRATIONS))
    first, again = ScriptDirectory.from_config(ours), ScriptDirectory.from_config(ours)
    assert first is not again and first.get_current_head() == again.get_current_head()
    # two runs' event databases created in one process: both at Dagster's latest revision
    storage = PooledSqliteEventLogStorage(str(tmp_path))
    for run in ("run-a", "run-b"):
        storage.store_event(_planned(run, "2024-01-01"))
        with sqlite3.connect(tmp_path / f"{run}.db") as conn:
            assert conn.execute("select version_num from alembic_version").fetchone() == (
                ScriptDirectory.from_config(dagsters).get_current_head(),
            )
    storage.dispose()


def test_a_cli_run_is_recorded_in_the_pooled_event_log_as_dagster_records_it_and_read_back_by_a_fresh_instance(
    tmp_path, monkeypatch
):
    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    landing = write_tiny_bank(tmp_path / "landing")
    run_pipeline(str(landing), f"sqlite:///{tmp_path / 'vip.db'}", str(tmp_path / "staging"), progress=lambda _: None)

    # another process's view: a new instance from the same DAGSTER_HOME
    with DagsterInstance.from_config(str(home)) as reader:
        assert isinstance(reader.event_log_storage, PooledSqliteEventLogStorage)
        (run,) = reader.get_runs()
        assert run.job_name == "refresh_month" and reader.get_run_stats(run.run_id).steps_failed == 0
        months = ["2024-02-01", "2024-03-01"]
        wanted = AssetRecordsFilter(asset_key=AssetKey("monthly_client_metrics"), asset_partitions=months)
        records = reader.fetch_materializations(wanted, limit=10).records
        assert sorted(r.partition_key for r in records) == months
        events = [r.event_log_entry for r in reader.get_records_for_run(run.run_id, ascending=True).records]
    # Dagster's own SQLite event log, given the same events one by one, writes the same rows: the batches stored
    # in bulk and the held-back check evaluations change nothing in either database
    stock = SqliteEventLogStorage(str(tmp_path / "stock"))
    for event in events:
        stock.store_event(event)
    stock.dispose()
    kinds = {e.dagster_event_type.value for e in events if e.is_dagster_event}
    assert {"ASSET_MATERIALIZATION_PLANNED", "ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION"} <= kinds
    for name in ("index.db", f"{run.run_id}.db"):
        ours, theirs = _rows(home / "storage" / name), _rows(tmp_path / "stock" / name)
        assert ours == theirs and len(ours["asset_check_executions"] if name == "index.db" else ours["event_logs"]) > 20


def _rows(path: Path) -> dict[str, list[tuple]]:
    """Every table's rows, in id order, without the columns a database fills in with its own clock."""
    with sqlite3.connect(path) as conn:
        tables = [name for (name,) in conn.execute("select name from sqlite_master where type = 'table'")]
        rows = {}
        for table in tables:
            clock = {"create_timestamp", "update_timestamp", "migration_completed"}
            columns = [c[1] for c in conn.execute(f'pragma table_info("{table}")') if c[1] not in clock]
            select = ", ".join(f'"{c}"' for c in columns)
            rows[table] = conn.execute(f'select {select} from "{table}" order by 1').fetchall()
    return rows


def test_the_pool_keeps_a_bounded_number_of_databases_open(tmp_path):
    storage = PooledSqliteEventLogStorage(str(tmp_path))
    for run in range(OPEN_DATABASES + 5):
        with storage.run_connection(f"run-{run:02d}") as conn:
            conn.exec_driver_sql("select 1")
    assert len(storage._engines) == OPEN_DATABASES
    assert "run-00" not in storage._engines and f"run-{OPEN_DATABASES + 4:02d}" in storage._engines
    storage.dispose()
    assert not storage._engines


def test_a_table_found_in_the_index_is_remembered_and_a_missing_one_asked_again(tmp_path, monkeypatch):
    """Dagster asks whether the asset check tables exist before storing each check evaluation: a table found is not
    asked for again; a missing one is, each time (a migration may add it)."""
    storage = PooledSqliteEventLogStorage(str(tmp_path))
    asked = []
    parent = SqliteEventLogStorage.has_table

    def counted(self, name):
        asked.append(name)
        return parent(self, name)

    monkeypatch.setattr(SqliteEventLogStorage, "has_table", counted)
    assert all(storage.has_table("asset_check_executions") for _ in range(3))
    assert [storage.has_table("no_such_table") for _ in range(2)] == [False, False]
    assert asked == ["asset_check_executions", "no_such_table", "no_such_table"]
    with sqlite3.connect(tmp_path / "index.db") as conn:
        conn.execute("create table no_such_table (x)")
    assert storage.has_table("no_such_table") and asked[-1] == "no_such_table"
    storage.dispose()


def _planned(run_id: str, month: str) -> EventLogEntry:
    """The event Dagster stores when a run plans to materialise a month of monthly_client_metrics."""
    data = AssetMaterializationPlannedData(AssetKey("monthly_client_metrics"), partition=month)
    event = DagsterEvent.build_asset_materialization_planned_event("refresh_month", "publish", data)
    return EventLogEntry(None, "DEBUG", "", run_id, time.time(), "publish", "refresh_month", event)


def _checked(run_id: str, month: str | None, passed: bool = True, check: str = "unique_key") -> EventLogEntry:
    """An evaluation of one of monthly_client_metrics' checks for a month (None: the check is not partitioned)."""
    data = AssetCheckEvaluation(AssetKey("monthly_client_metrics"), check, passed, partition=month)
    event = DagsterEvent(DagsterEventType.ASSET_CHECK_EVALUATION.value, "refresh_month", event_specific_data=data)
    return EventLogEntry(None, "DEBUG", "", run_id, time.time(), "publish", "refresh_month", event)


def _check_planned(run_id: str, months: list[str] | None, check: str = "unique_key") -> EventLogEntry:
    """The event Dagster stores when a run plans to evaluate a check, for some months or unpartitioned."""
    subset = StaticPartitionsDefinition(months).subset_with_partition_keys(months) if months else None
    data = AssetCheckEvaluationPlanned(
        asset_key=AssetKey("monthly_client_metrics"), check_name=check, partitions_subset=subset
    )
    event = DagsterEvent(
        DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED.value, "refresh_month", event_specific_data=data
    )
    return EventLogEntry(None, "DEBUG", "", run_id, time.time(), "publish", "refresh_month", event)


def _check_history() -> list[tuple[str, list[EventLogEntry]]]:
    """Calls as Dagster makes them (`store_event` or `store_event_batch`): checks planned for two months and
    unpartitioned, evaluations of them (one failed, one month evaluated twice), one never planned and one outside
    any run, then an event after the evaluations."""
    months = ["2024-01-01", "2024-02-01"]
    return [
        ("batch", [_check_planned("run-a", months), _check_planned("run-a", None, "fx_coverage")]),
        ("event", [_checked("run-a", "2024-01-01", passed=False)]),
        ("event", [_checked("run-a", "2024-02-01")]),
        ("event", [_checked("run-a", "2024-02-01", passed=False)]),
        ("event", [_checked("run-a", None, check="fx_coverage")]),
        ("event", [_checked("run-a", "2024-03-01", check="never_planned")]),
        ("event", [_checked("", None, check="runless")]),
        ("event", [_checked("run-a", "2024-01-01", check="late")]),
        ("batch", [_planned("run-a", m) for m in months]),
    ]


def _stored_as_dagster_does(tmp_path: Path, history: list[tuple[str, list[EventLogEntry]]]) -> None:
    stock = SqliteEventLogStorage(str(tmp_path / "stock"))
    for _, events in history:
        for event in events:
            stock.store_event(event)
    stock.dispose()


@pytest.mark.parametrize("together", [True, False], ids=["stored-together", "fallback-one-by-one"])
def test_held_back_check_evaluations_leave_the_rows_dagster_leaves(tmp_path, monkeypatch, together):
    """Held-back evaluations, stored together or, when that fails, one by one as Dagster stores a failed batch,
    leave the same rows as Dagster's SQLite event log storing each at once: planned executions replaced (the last
    evaluation of a month wins), failures kept, an unplanned one added, ids in the order the events came."""
    history = _check_history()
    _stored_as_dagster_does(tmp_path, history)
    if not together:

        def refused(self, conn, evaluations):
            raise ValueError("cannot store them together")

        monkeypatch.setattr(PooledSqliteEventLogStorage, "_store_check_evaluations", refused)
    one_by_one = []  # evaluations stored with Dagster's logic, event by event
    parent = SqliteEventLogStorage.store_event

    def dagsters(self, event):
        if event.dagster_event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            one_by_one.append(event.dagster_event.event_specific_data.check_name)
        return parent(self, event)

    monkeypatch.setattr(SqliteEventLogStorage, "store_event", dagsters)
    ours = PooledSqliteEventLogStorage(str(tmp_path / "ours"))
    for call, events in history:
        ours.store_event_batch(events) if call == "batch" else ours.store_event(events[0])
    ours.dispose()
    for name in ("index.db", "run-a.db"):
        assert _rows(tmp_path / "ours" / name) == _rows(tmp_path / "stock" / name)
    statuses = [row[5] for row in _rows(tmp_path / "ours" / "index.db")["asset_check_executions"]]
    assert statuses == ["FAILED", "FAILED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED"]
    # together: all but the one outside a run (never held) and the last (held alone)
    assert len(one_by_one) == (2 if together else 7) and one_by_one[-2:] == ["runless", "late"]


def test_an_evaluation_of_a_check_planned_twice_fails_as_in_dagster(tmp_path):
    """Two planned executions of one check in a run are Dagster's invariant violation when the evaluation comes;
    held back, it is raised by the call that stores it (here the next read), and nothing of it is stored. The
    evaluation held with it is stored."""
    history = [("event", [_check_planned("run-a", None)]), ("event", [_check_planned("run-a", None)])]
    _stored_as_dagster_does(tmp_path, history)
    stock = SqliteEventLogStorage(str(tmp_path / "stock"))
    with pytest.raises(DagsterInvariantViolationError, match="Updated 2 rows"):
        stock.store_event(_checked("run-a", None))
    stock.dispose()
    ours = PooledSqliteEventLogStorage(str(tmp_path / "ours"))
    for _, (event,) in history:
        ours.store_event(event)
    ours.store_event(_checked("run-a", None))
    ours.store_event(_checked("run-a", "2024-01-01", check="never_planned"))
    with pytest.raises(DagsterInvariantViolationError, match="Updated 2 rows"):
        ours.get_records_for_run("run-a")
    stored = ours.get_records_for_run("run-a").records
    assert [r.event_log_entry.dagster_event.event_specific_data.check_name for r in stored[2:]] == ["never_planned"]
    ours.dispose()


def test_a_check_evaluation_is_held_back_only_until_the_next_event_or_read(tmp_path):
    storage = PooledSqliteEventLogStorage(str(tmp_path))
    storage.store_event(_planned("run-a", "2024-01-01"))
    storage.store_event(_checked("run-a", "2024-01-01"))
    with sqlite3.connect(tmp_path / "run-a.db") as conn:  # another process sees only the planned event yet
        assert conn.execute("select count(*) from event_logs").fetchone() == (1,)
    seen = []
    reader = threading.Thread(target=lambda: seen.append(len(storage.get_records_for_run("run-a").records)))
    reader.start()
    reader.join(10)
    assert seen == [2]  # a read on another thread stores it first
    storage.store_event(_checked("run-a", "2024-02-01"))
    storage.dispose()  # so does closing the storage
    with sqlite3.connect(tmp_path / "run-a.db") as conn:
        assert conn.execute("select count(*) from event_logs").fetchone() == (3,)


def test_a_batch_of_events_is_one_transaction_per_database_and_stored_whole_or_not_at_all(tmp_path, monkeypatch):
    monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE", raising=False)
    storage = PooledSqliteEventLogStorage(str(tmp_path))
    assert os.environ["DAGSTER_EVENT_BATCH_SIZE"] == EVENT_BATCH_SIZE  # Dagster hands it batches from now on
    commits = []
    listener = lambda conn: commits.append(conn.engine.url.database)  # noqa: E731
    db.event.listen(db.Engine, "commit", listener)
    try:
        storage.store_event(_planned("run-a", "2023-12-01"))  # creates the run's database
        commits.clear()
        storage.store_event(_planned("run-a", "2024-01-01"))
        # the run's database and the index (where asset events are mirrored): one transaction each
        assert sorted(Path(c).name for c in commits) == ["index.db", "run-a.db"]
        commits.clear()
        months = [f"2024-{m:02d}-01" for m in range(2, 13)]
        storage.store_event_batch([_planned("run-a", m) for m in months])
        assert sorted(Path(c).name for c in commits) == ["index.db", "run-a.db"]  # not two per event
        assert len(storage.get_records_for_run("run-a").records) == 13
        commits.clear()
        storage.store_event(_checked("run-a", "2024-01-01"))  # Dagster writes a check evaluation in three
        storage.store_event(_checked("run-a", "2024-02-01"))
        assert commits == []  # held back until the next event or read
        assert len(storage.get_records_for_run("run-a").records) == 15
        # the two evaluations: one transaction in each database, then the read's own
        names = [Path(c).name for c in commits]
        assert sorted(names[:2]) == ["index.db", "run-a.db"] and names[2:] == ["run-a.db"]

        # the asset's entry from the batch's last event cannot be stored, after all its events are in both
        # databases: none of the batch is stored (Dagster then stores its events one by one)
        parent = SqlEventLogStorage._get_asset_entry_values

        def failing(self, event, event_id, timestamped):
            if event.dagster_event.event_specific_data.partition == "2024-12-01":
                raise ValueError("cannot store this event")
            return parent(self, event, event_id, timestamped)

        monkeypatch.setattr(SqlEventLogStorage, "_get_asset_entry_values", failing)
        with pytest.raises(ValueError, match="cannot store"):
            storage.store_event_batch([_planned("run-b", m) for m in months])
        assert storage.get_records_for_run("run-b").records == []  # not the months before it either
        planned = storage.get_latest_planned_materialization_info(AssetKey("monthly_client_metrics"))
        assert planned.run_id == "run-a"  # the index has nothing of run-b either
    finally:
        db.event.remove(db.Engine, "commit", listener)
        storage.dispose()


def test_a_column_found_in_the_asset_keys_table_is_remembered(tmp_path, monkeypatch):
    """Dagster reflects the asset keys table's columns before storing each asset event: a column found is not
    looked up again; a missing one is, each time."""
    storage = PooledSqliteEventLogStorage(str(tmp_path))
    asked = []
    parent = SqlEventLogStorage._has_asset_key_col_on_connection

    def counted(self, conn, name):
        asked.append(name)
        return parent(self, conn, name)

    monkeypatch.setattr(SqlEventLogStorage, "_has_asset_key_col_on_connection", counted)
    storage.store_event_batch([_planned("run-a", f"2024-{m:02d}-01") for m in range(1, 4)])
    assert asked == ["last_materialization_timestamp"]
    assert storage.has_asset_key_index_cols() and asked == ["last_materialization_timestamp"]
    assert [storage.has_asset_key_col("no_such_column") for _ in range(2)] == [False, False]
    assert asked[1:] == ["no_such_column", "no_such_column"]
    storage.dispose()


def test_a_reader_waits_for_a_batch_being_stored_and_then_sees_all_of_it(tmp_path, monkeypatch):
    """The batch's transactions belong to the thread storing it: a reader on another thread (the webserver's
    watcher) waits for it, then reads every event of it, never half of it through the writer's connection."""
    storage = PooledSqliteEventLogStorage(str(tmp_path))
    storage.store_event(_planned("run-a", "2023-12-01"))  # creates the databases
    inside, go_on = threading.Event(), threading.Event()
    parent = SqlEventLogStorage._get_asset_entry_values

    def slow(self, event, event_id, timestamped):
        inside.set()  # the batch's events are in the run's database and the index, not committed
        go_on.wait(10)
        return parent(self, event, event_id, timestamped)

    monkeypatch.setattr(SqlEventLogStorage, "_get_asset_entry_values", slow)
    batch = [_planned("run-a", m) for m in ("2024-01-01", "2024-02-01", "2024-03-01")]
    writer = threading.Thread(target=storage.store_event_batch, args=(batch,))
    writer.start()
    assert inside.wait(10)
    seen = []
    reader = threading.Thread(target=lambda: seen.append(len(storage.get_records_for_run("run-a").records)))
    reader.start()
    reader.join(0.5)
    assert reader.is_alive()  # waiting for the batch
    go_on.set()
    writer.join(10)
    reader.join(10)
    assert seen == [4]
    storage.dispose()
