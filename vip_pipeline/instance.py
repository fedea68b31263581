"""The local Dagster instance (a DAGSTER_HOME on disk, SQLite): its dagster.yaml and a faster event log.

Dagster's SQLite event log opens a new engine for every write and disposes of it: each event costs a
connection, a commit and a close, and closing the last connection of a WAL database checkpoints it with an
fsync. A one-month run writes about 200 events (a materialisation, check evaluation and planned event per
month and asset): measured on the sample, 8.5 s of a 19 s run went to those commits and closes.
`PooledSqliteEventLogStorage` keeps a few engines open (the index and the latest runs' databases) and
commits with `synchronous=NORMAL`, which in WAL mode loses at most the last events on a power cut, never
the database. It also writes each event, and each batch of events, in one transaction per database: Dagster's
own writes an asset check evaluation in three (the run's database, then twice the index) and a batch one event
at a time. Batches are a Dagster option (`DAGSTER_EVENT_BATCH_SIZE`) that this storage turns on for its process:
a run's planned materialisations and each partitioned output's materialisations are then stored together (a
24-month run: 385 planned and 288 of its 291 materialisation events). With the asset keys table's columns
remembered, a 24-month run's 1,233 events took 1.69 s instead of 2.18 s; what remains is Dagster serialising each
event and building its statements, not the commits. Production uses PostgreSQL storage (deploy/dagster.yaml),
where none of this applies.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import sqlalchemy as db
from dagster import DagsterInstance
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._core.events.log import EventLogEntry
from dagster._serdes import ConfigurableClassData
from sqlalchemy.pool import QueuePool

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
        super().__init__(base_dir, inst_data)
        os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", EVENT_BATCH_SIZE)

    def store_event(self, event: EventLogEntry) -> None:
        self.store_event_batch([event])

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """Store `events` with Dagster's SQLite logic, in one transaction per database they touch, committed when
        all are stored (when one fails, none is: Dagster then stores the batch's events one by one)."""
        with self._db_lock, ExitStack() as transactions:
            self._writing = (threading.get_ident(), transactions, {})
            try:
                for event in events:
                    super().store_event(event)
            finally:
                self._writing = None

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
        with self._db_lock, self._open(shard) as conn:
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
    config = Path(home) / "dagster.yaml"
    if not config.exists():
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(local_instance_config(home))
    old = config.read_text()
    if not old.startswith(LOCAL_INSTANCE.splitlines()[0]):
        return
    if "run_launcher:" not in old:
        config.write_text(old.replace("telemetry:\n", PREFORKED_LAUNCHER + "telemetry:\n", 1))
    if not all((Path(home) / db_file).exists() for db_file in LOCAL_DATABASES):
        with DagsterInstance.from_config(str(home)):  # opening the instance creates its databases
            pass


if __name__ == "__main__":  # `python -m vip_pipeline.instance DIR`: prepare DIR as a DAGSTER_HOME (make ui)
    import sys

    prepare_local_instance(sys.argv[1])
