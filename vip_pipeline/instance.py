"""The local Dagster instance (a DAGSTER_HOME on disk, SQLite): its dagster.yaml and a faster event log.

Dagster's SQLite event log opens a new engine for every write and disposes of it: each event costs a
connection, a commit and a close, and closing the last connection of a WAL database checkpoints it with an
fsync. A one-month run writes about 200 events (a materialisation, check evaluation and planned event per
month and asset): measured on the sample, 8.5 s of a 19 s run went to those commits and closes.
`PooledSqliteEventLogStorage` keeps a few engines open (the index and the latest runs' databases) and
commits with `synchronous=NORMAL`, which in WAL mode loses at most the last events on a power cut, never
the database. It writes each event, and each batch of events, in one transaction per database. Batches are a
Dagster option (`DAGSTER_EVENT_BATCH_SIZE`) that this storage turns on for its process: a run's planned
materialisations and each partitioned output's materialisations are then stored together. Then the cost was
Dagster building statements event by event (1.3–1.7 ms an event), so a batch of asset events is stored in bulk,
as Dagster's PostgreSQL event log stores one, and a run's check evaluations, which Dagster hands over one at a
time, are held back until the next event or read and stored together. The rows are the ones Dagster's own
storage writes (test_instance compares them). A 24-month run's 1,233 events: 2.18 s, 1.76 s batched, 0.66 s in
bulk. Production uses PostgreSQL storage (deploy/dagster.yaml), where none of this applies.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import dagster
import sqlalchemy as db
from alembic.script import ScriptDirectory
from dagster import DagsterInstance
from dagster._core.errors import DagsterInvariantViolationError
from dagster._core.events import ASSET_EVENTS, DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.schema import (
    AssetCheckExecutionsTable,
    AssetKeyTable,
    SqlEventLogStorageTable,
)
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._serdes import ConfigurableClassData
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.pool import QueuePool

# Events stored in bulk (`_store_bulk`): each one's columns of the asset keys table, beside the last
# materialisation timestamp that every kind sets (when the table has that column).
ASSET_ENTRY_COLUMNS = {
    DagsterEventType.ASSET_MATERIALIZATION: {"last_materialization", "last_run_id"},
    DagsterEventType.ASSET_MATERIALIZATION_PLANNED: {"last_run_id"},
    DagsterEventType.ASSET_OBSERVATION: set(),
}
CHECK_EVALUATED = DagsterEventType.ASSET_CHECK_EVALUATION
CHECK_PLANNED = DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED
OPEN_DATABASES = 8  # the index, the running run's and a few recently read runs' databases (webserver)
EVENT_BATCH_SIZE = "1000"  # events Dagster may hold back before a batch ends (a batch ends with its last event)

LOCAL_INSTANCE = """\
# The local Dagster instance of vip_pipeline (written by vip-pipeline into a new DAGSTER_HOME).
# Event log in SQLite, with pooled connections (vip_pipeline/instance.py); production uses
# deploy/dagster.yaml (PostgreSQL) instead.
event_log_storage:
  module: vip_pipeline.instance
  class: PooledSqliteEventLogStorage
  config:
    base_dir: {storage}
{launcher}telemetry:
  enabled: false
"""

PREFORKED_LAUNCHER = """\
# Each run forked from a process with the code already loaded (vip_pipeline/launcher.py).
run_launcher:
  module: vip_pipeline.launcher
  class: PreforkedRunLauncher
"""

# Runs launched from the UI, the schedule or the sensor wait in the daemon's queue: refresh_month one at a time
# (it carries balances month to month), picked up within a second.
RUN_QUEUE = """\
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1
    tag_concurrency_limits:
      - key: vip_pipeline/queue
        value: monthly
        limit: 1
"""

# The SQLite databases of a local instance, as Dagster lays them out in DAGSTER_HOME.
LOCAL_DATABASES = ("history/runs.db", "storage/index.db", "schedules/schedules.db")


def local_instance_config(home: str | os.PathLike, queue: bool = True) -> str:
    """The dagster.yaml of a local instance in `home` (its event log where Dagster's default puts it)."""
    storage = Path(home).resolve() / "storage"
    return LOCAL_INSTANCE.format(storage=storage, launcher=PREFORKED_LAUNCHER) + (RUN_QUEUE if queue else "")


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's SQLite event log with pooled connections (see the module docstring)."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._engines: OrderedDict[str, db.Engine] = OrderedDict()
        self._tables: set[str] = set()
        self._columns: set[str] = set()  # of the asset keys table
        self._writing: tuple[int, ExitStack, dict[str, db.Connection]] | None = None  # (thread, its transactions)
        self._held: list[EventLogEntry] = []  # check evaluations not stored yet
        super().__init__(base_dir, inst_data)
        os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", EVENT_BATCH_SIZE)

    def store_event(self, event: EventLogEntry) -> None:
        """Store `event`; a run's asset check evaluation is held back until the next event, or the next read, and
        stored with the evaluations before it (`_flush`)."""
        if event.dagster_event_type == CHECK_EVALUATED and event.run_id:
            with self._db_lock:
                self._held.append(event)
            return
        self.store_event_batch([event])

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """Store the held evaluations, then `events`, each in one transaction per database they touch, committed
        when all are stored (when one fails, none is: Dagster then stores the batch's events one by one)."""
        with self._db_lock:
            self._flush()
            self._store(events)

    def _flush(self) -> None:
        """Store the held check evaluations (the caller holds the lock). When they cannot be stored together,
        each is stored on its own, as Dagster does with a batch; the first that cannot be is then raised."""
        if not self._held:  # every read asks
            return
        held, self._held = self._held, []
        try:
            self._store(held)
        except Exception:
            failed = None
            for event in held:
                try:
                    self._store([event], bulk=False)
                except Exception as error:
                    failed = failed or error
            if failed is not None:
                raise failed

    def _store(self, events: Sequence[EventLogEntry], bulk: bool = True) -> None:
        """Store `events` in one transaction per database (the caller holds the lock): in bulk when there are
        several and all are asset events or asset check events, else with Dagster's SQLite logic, event by event."""
        with ExitStack() as transactions:
            self._writing = (threading.get_ident(), transactions, {})
            try:
                if bulk and len(events) > 1 and all(self._in_bulk(event) for event in events):
                    self._store_bulk(events)
                else:
                    for event in events:
                        super().store_event(event)
            finally:
                self._writing = None

    def _in_bulk(self, event: EventLogEntry) -> bool:
        kind = event.dagster_event_type
        if kind in ASSET_ENTRY_COLUMNS:
            return event.get_dagster_event().asset_key is not None
        return kind in (CHECK_PLANNED, CHECK_EVALUATED) and bool(event.run_id) and self.supports_asset_checks

    def _store_bulk(self, events: Sequence[EventLogEntry]) -> None:
        """What Dagster's SQLite event log stores for these events, with one statement per table, not per event:
        the events in their runs' databases and mirrored in the index; there, the asset events' tags, each asset's
        latest entry, and the check executions (as Dagster's PostgreSQL event log stores a batch)."""
        rows = [self._event_to_row(event) for event in events]
        for run_id in dict.fromkeys(event.run_id for event in events):
            with self.run_connection(run_id) as conn:
                conn.execute(SqlEventLogStorageTable.insert(), [row for row in rows if row["run_id"] == run_id])
        with self.index_transaction() as conn:
            mirrored = SqlEventLogStorageTable.insert().returning(
                SqlEventLogStorageTable.c.id, sort_by_parameter_order=True
            )
            ids = conn.execute(mirrored, rows).scalars().all()
            stored = list(zip(events, ids, rows))
            assets = [(event, event_id) for event, event_id, _ in stored if event.dagster_event_type in ASSET_EVENTS]
            if assets:
                self._store_asset_event_tags(conn, [event for event, _ in assets], [event_id for _, event_id in assets])
                self._store_asset_entries(conn, assets)
            evaluations = [
                (event, event_id, row) for event, event_id, row in stored if event.dagster_event_type == CHECK_EVALUATED
            ]
            if evaluations:
                self._store_check_evaluations(conn, evaluations)
        for event, event_id, _ in stored:
            if event.dagster_event_type == CHECK_PLANNED:
                self.store_asset_check_event(event, event_id)

    def _store_asset_entries(self, conn: db.Connection, assets: list[tuple[EventLogEntry, int]]) -> None:
        """Each asset's row of the asset keys table as Dagster leaves it after storing the events one by one: every
        column from the latest event that sets it (a materialisation from the last one, not from all of them)."""
        timestamped = self._has_asset_key_index_cols_on_connection(conn)
        entries: dict[str, dict] = {}
        for event, event_id in reversed(assets):
            entry = entries.setdefault(event.get_dagster_event().asset_key.to_string(), {})
            columns = ASSET_ENTRY_COLUMNS[event.dagster_event_type] | (
                {"last_materialization_timestamp"} if timestamped else set()
            )
            if not columns <= entry.keys():
                for column, value in self._get_asset_entry_values(event, event_id, timestamped).items():
                    entry.setdefault(column, value)
        for asset_key in dict.fromkeys(event.get_dagster_event().asset_key.to_string() for event, _ in assets):
            values = entries[asset_key]  # new assets get their ids in the events' order
            if values:
                upsert = sqlite_insert(AssetKeyTable).values(asset_key=asset_key, **values)
                conn.execute(upsert.on_conflict_do_update(index_elements=[AssetKeyTable.c.asset_key], set_=values))

    def _store_check_evaluations(self, conn: db.Connection, evaluations: list[tuple[EventLogEntry, int, dict]]) -> None:
        """Each evaluation replaces its check's planned execution in its run, or is added when none was planned;
        more than one planned is an invariant violation (Dagster's `_update_asset_check_evaluation`)."""
        table = AssetCheckExecutionsTable
        latest = {}
        for event, event_id, row in evaluations:
            evaluation = event.get_dagster_event().event_specific_data
            latest[(evaluation.asset_key.to_string(), evaluation.check_name, event.run_id, evaluation.partition)] = (
                evaluation,
                {
                    "execution_status": (
                        AssetCheckExecutionRecordStatus.SUCCEEDED
                        if evaluation.passed
                        else AssetCheckExecutionRecordStatus.FAILED
                    ).value,
                    "evaluation_event": row["event"],
                    "evaluation_event_timestamp": row["timestamp"],
                    "evaluation_event_storage_id": event_id,
                    "materialization_event_storage_id": (
                        evaluation.target_materialization_data.storage_id
                        if evaluation.target_materialization_data
                        else None
                    ),
                    "partition": evaluation.partition,
                },
            )
        planned: dict[tuple, list[int]] = {}
        checks = db.tuple_(table.c.asset_key, table.c.check_name, table.c.run_id)
        query = db.select(table.c.id, table.c.asset_key, table.c.check_name, table.c.run_id, table.c.partition)
        for row in conn.execute(query.where(checks.in_({key[:3] for key in latest}))):
            planned.setdefault(tuple(row[1:]), []).append(row[0])
        updates, inserts = [], []
        for key, (evaluation, values) in latest.items():
            found = planned.get(key, [])
            if len(found) > 1:
                raise DagsterInvariantViolationError(
                    f"Updated {len(found)} rows for asset check evaluation {evaluation.asset_check_key} "
                    "as a result of duplicate AssetCheckPlanned events."
                )
            if found:
                updates.append({"planned_id": found[0], **values})
            else:
                inserts.append({"asset_key": key[0], "check_name": key[1], "run_id": key[2], **values})
        if updates:
            conn.execute(table.update().where(table.c.id == db.bindparam("planned_id")), updates)
        if inserts:
            conn.execute(table.insert(), inserts)

    def has_table(self, table_name: str) -> bool:
        """Whether the index database has the table. Dagster asks before storing every asset check evaluation, and
        answers on a new connection each time (0.7 ms; 0.3 s of a 24-month run's 480 check events). Its
        migrations add tables and never drop one: a table found is remembered."""
        if table_name not in self._tables and super().has_table(table_name):
            self._tables.add(table_name)
        return table_name in self._tables

    def _has_asset_key_col_on_connection(self, conn: db.Connection, column_name: str) -> bool:
        """Whether the asset keys table has the column: Dagster reflects the table's columns before storing every
        asset event (0.3 ms each). Found columns are remembered, like found tables."""
        if column_name not in self._columns and super()._has_asset_key_col_on_connection(conn, column_name):
            self._columns.add(column_name)
        return column_name in self._columns

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value) -> PooledSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> db.Engine:
        engine = self._engines.pop(shard, None)
        if engine is None:
            engine = db.create_engine(
                self.conn_string_for_shard(shard),
                poolclass=QueuePool,
                pool_size=1,
                max_overflow=2,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
            )
            db.event.listen(engine, "connect", _relaxed_sync)
        self._engines[shard] = engine
        while len(self._engines) > OPEN_DATABASES:
            self._engines.popitem(last=False)[1].dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[db.Connection]:
        writing = self._writing
        if writing is not None and writing[0] == threading.get_ident():  # inside store_event_batch
            _, transactions, connections = writing
            if shard not in connections:
                connections[shard] = transactions.enter_context(self._open(shard))
            yield connections[shard]
            return
        with self._db_lock:
            self._flush()
            with self._open(shard) as conn:
                yield conn

    @contextmanager
    def _open(self, shard: str) -> Iterator[db.Connection]:
        """A pooled connection to `shard` in a transaction (the caller holds the lock)."""
        engine = self._engine(shard)
        if shard not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(shard)
        with engine.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        with self._db_lock:
            self._flush()
        while self._engines:
            self._engines.popitem()[1].dispose()
        super().dispose()


def _relaxed_sync(dbapi_connection, _record) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def prepare_local_instance(home: str | os.PathLike) -> None:
    """Give a new DAGSTER_HOME the project's dagster.yaml and its SQLite databases. One an older vip-pipeline
    wrote gets the run launcher (and nothing else changes); a dagster.yaml written by anyone else is left as it
    is. The databases are created here, by one process: Dagster creates a missing database's tables when it
    opens the instance, and two processes opening a new home at once (a daemon and a `dagster job launch`) can
    both try, and one of them fails ("table jobs already exists")."""
    created = _prepare(home)
    if created is not None:
        created.dispose()


def open_local_instance(home: str | os.PathLike) -> DagsterInstance:
    """The instance of DAGSTER_HOME `home`, prepared (`prepare_local_instance`): a new home's is the instance that
    created its databases, not a second one opened after it."""
    return _prepare(home) or DagsterInstance.from_config(str(Path(home).resolve()))


def _prepare(home: str | os.PathLike) -> DagsterInstance | None:
    """Prepare `home`; the instance opened to create its databases, if they were missing."""
    config = Path(home) / "dagster.yaml"
    if not config.exists():
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(local_instance_config(home))
    old = config.read_text()
    if not old.startswith(LOCAL_INSTANCE.splitlines()[0]):
        return None
    if "run_launcher:" not in old:
        config.write_text(old.replace("telemetry:\n", PREFORKED_LAUNCHER + "telemetry:\n", 1))
    if all((Path(home) / db_file).exists() for db_file in LOCAL_DATABASES):
        return None
    return DagsterInstance.from_config(str(Path(home).resolve()))  # opening it creates its databases


def _remember_dagster_migrations() -> None:
    """Read Dagster's own migration scripts once per process. Dagster reads all of them (about 90 files) for every
    SQLite database it opens or creates, to find the latest revision: twice for each of a new home's three
    databases and of each run's event database (0.15 s of a run). The files are part of the installed package:
    they do not change while a process runs. Other migration scripts (the warehouse's) are read as before."""
    if getattr(ScriptDirectory.from_config, "_remembers", False):
        return
    read = ScriptDirectory.from_config.__func__
    package = str(Path(dagster.__file__).parent)
    scripts: dict[str, ScriptDirectory] = {}

    def from_config(cls, config):
        location = str(config.get_main_option("script_location") or "")
        if not location.startswith(("dagster:", package)):  # Dagster's is "dagster:_core/storage/alembic"
            return read(cls, config)
        if location not in scripts:
            scripts[location] = read(cls, config)
        return scripts[location]

    from_config._remembers = True
    ScriptDirectory.from_config = classmethod(from_config)


_remember_dagster_migrations()


if __name__ == "__main__":  # `python -m vip_pipeline.instance DIR`: prepare DIR as a DAGSTER_HOME (make ui)
    import sys

    prepare_local_instance(sys.argv[1])
