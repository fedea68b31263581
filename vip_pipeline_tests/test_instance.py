"""The local Dagster instance: a new DAGSTER_HOME gets the project's dagster.yaml, and the pooled SQLite event
log records a run that another process (the webserver) reads back, month by month."""

from __future__ import annotations

import sqlite3

from dagster import AssetKey, AssetRecordsFilter, DagsterInstance
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from vip_pipeline.instance import (
    LOCAL_DATABASES,
    OPEN_DATABASES,
    PREFORKED_LAUNCHER,
    PooledSqliteEventLogStorage,
    local_instance_config,
    prepare_local_instance,
)
from vip_pipeline.runner import run_pipeline
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


def test_a_cli_run_is_recorded_in_the_pooled_event_log_and_read_back_by_a_fresh_instance(tmp_path, monkeypatch):
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
