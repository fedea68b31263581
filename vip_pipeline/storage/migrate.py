"""Warehouse schema migrations with Alembic, configured in code (no alembic.ini).

The revisions live in `migrations/versions/` inside the package, so they ship with `pip install`.
`upgrade` brings a database to the newest revision in one transaction that also

- holds a lock, so two processes starting at once do not both migrate (PostgreSQL:
  `pg_advisory_xact_lock`; SQLite: `BEGIN IMMEDIATE`, the database's write lock);
- adopts a warehouse created before migrations existed (its tables, no `alembic_version`): it is
  stamped at the baseline revision, then upgraded;
- drops the published views before the revisions run and recreates them afterwards from their
  current definitions (`VIEWS` in warehouse.py), so a view always matches the code and never
  blocks an ALTER.

Nothing here sees or logs the database URL: Alembic gets an open connection.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from vip_pipeline.storage.sqlite_wal import BUSY_TIMEOUT_S, set_wal

MIGRATIONS = Path(__file__).resolve().with_name("migrations")
VERSIONS = MIGRATIONS / "versions"
BASELINE = "0001"  # today's schema when migrations were introduced; what the old create_all made
BASELINE_TABLES = frozenset(
    {
        "monthly_account_activity",
        "monthly_client_metrics",
        "client_ltv",
        "vip_assessment",
        "client_segments",
        "rejected_rows",
        "load_audit",
    }
)
PG_LOCK_KEY = 0x7669705F6D6967  # "vip_mig": pg_advisory_xact_lock key of the migration transaction
VIEW_MARK = "vip_pipeline view"  # PostgreSQL: the view's comment carries the hash of its definition


class MigrationError(Exception):
    """The database's schema cannot be brought to this version's head (message without the URL)."""


@dataclass(frozen=True)
class Upgrade:
    before: str | None  # revision found (None: empty database)
    after: str
    adopted: bool  # a pre-migration warehouse was stamped at the baseline
    views_recreated: bool

    def describe(self) -> str:
        if self.before == self.after and not self.views_recreated:
            return f"already at {self.after} (head)"
        what = f"{self.before or 'empty'} → {self.after}" if self.before != self.after else f"at {self.after}"
        extras = [
            x
            for x, on in (
                ("adopted a pre-migration warehouse", self.adopted),
                ("views recreated", self.views_recreated),
            )
            if on
        ]
        return what + (f" ({', '.join(extras)})" if extras else "")


def alembic_config(
    connection: Connection | None = None,
    *,
    extra_versions: Sequence[str | os.PathLike] = (),
    target_metadata: sa.MetaData | None = None,
) -> Config:
    """Alembic's configuration, built in code: the packaged scripts, plus extra version directories (tests)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")  # Alembic ≥ 1.16
    config.set_main_option("version_path_separator", "os")  # Alembic < 1.16
    config.set_main_option("version_locations", os.pathsep.join(str(p) for p in (VERSIONS, *extra_versions)))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.set_main_option("truncate_slug_length", "40")
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff:  # new revision files come out formatted like the rest of the code
        for key, value in (
            ("hooks", "ruff_format"),
            ("ruff_format.type", "exec"),
            ("ruff_format.executable", ruff),
            ("ruff_format.options", "format REVISION_SCRIPT_FILENAME"),
        ):
            config.set_section_option("post_write_hooks", key, value)
    config.attributes["connection"] = connection
    config.attributes["target_metadata"] = target_metadata
    return config


def head(extra_versions: Sequence[str | os.PathLike] = ()) -> str:
    script = ScriptDirectory.from_config(alembic_config(extra_versions=extra_versions))
    heads = script.get_heads()
    if len(heads) != 1:
        raise MigrationError(
            f"the revisions have {len(heads)} heads {sorted(heads)}: set down_revision so that they form one line"
        )
    return heads[0]


def current(connection: Connection) -> str | None:
    """The database's revision; None when it has none (empty, or created before migrations)."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(
    engine: Engine,
    views: Mapping[str, str],
    *,
    target: str = "head",
    extra_versions: Sequence[str | os.PathLike] = (),
) -> Upgrade:
    """Bring the database to head (or `target`) and its views to `views` (name → SELECT); idempotent and
    concurrency-safe."""
    if target == "head":
        target = head(extra_versions)
    with engine.connect() as conn:  # the common case, without taking any lock: nothing to do
        found = current(conn)
        if found == target and _views_current(conn, views):
            return Upgrade(found, target, adopted=False, views_recreated=False)
    with _migration_transaction(engine) as conn:  # check again, now alone
        config = alembic_config(conn, extra_versions=extra_versions)
        before = current(conn)
        _check_known(config, before)
        adopted = before is None and _adopt(conn, config)
        if adopted:
            before = BASELINE
        views_current = _views_current(conn, views)
        if before == target and views_current:
            return Upgrade(before, target, adopted=adopted, views_recreated=False)
        for name in reversed(list(views)):
            conn.execute(sa.text(f"DROP VIEW IF EXISTS {_quote(conn, name)}"))
        command.upgrade(config, target)
        for name, select in views.items():
            _create_view(conn, name, select)
        return Upgrade(before, current(conn) or target, adopted=adopted, views_recreated=True)


def new_revision(message: str, *, autogenerate: bool = True, database_url: str | None = None) -> Path:
    """Write the next revision file (0002, 0003, …) into the package's versions directory.

    With `autogenerate`, its operations are what the live contracts (vip_pipeline/contracts/tables.py)
    add to a database at head: a scratch SQLite file, or `database_url` (a scratch PostgreSQL shows
    comment changes too). Review the file, then freeze it: it must not import the contracts."""
    numbers = [int(m.group(1)) for p in VERSIONS.glob("*.py") if (m := re.match(r"(\d{4})_", p.name))]
    rev_id = f"{max(numbers, default=0) + 1:04d}"
    if not autogenerate:
        script = command.revision(alembic_config(), message, rev_id=rev_id)
        return Path(script.path)
    from vip_pipeline.contracts.tables import TABLES
    from vip_pipeline.storage.warehouse import VIEWS, make_engine

    metadata = sa.MetaData()
    for contract in TABLES.values():
        contract.sql_table(metadata)
    with tempfile.TemporaryDirectory(prefix="vip-revision-") as scratch:
        engine = make_engine(database_url or f"sqlite:///{scratch}/head.db")
        try:
            if numbers:  # the first revision is generated against an empty database
                upgrade(engine, VIEWS)
            with engine.begin() as conn:
                config = alembic_config(conn, target_metadata=metadata)
                script = command.revision(config, message, autogenerate=True, rev_id=rev_id)
        finally:
            engine.dispose()
    return Path(script.path)


# -- internals ------------------------------------------------------------------------------------
@contextmanager
def _migration_transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction that only one process at a time holds, in which DDL is transactional."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
            yield conn
        return
    if engine.dialect.name != "sqlite":
        raise MigrationError(f"unsupported database {engine.dialect.name}: SQLite or PostgreSQL")
    # Python's sqlite3 would not put DDL inside a transaction: take over BEGIN (SQLAlchemy's recipe)
    # and make it IMMEDIATE, the write lock; a second process waits for it (busy timeout 60 s).
    locked = sa.create_engine(engine.url, poolclass=NullPool, connect_args={"timeout": BUSY_TIMEOUT_S})

    @sa.event.listens_for(locked, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        set_wal(dbapi_connection)

    @sa.event.listens_for(locked, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    try:
        with locked.begin() as conn:
            yield conn
    finally:
        locked.dispose()


def _check_known(config: Config, revision: str | None) -> None:
    if revision is None:
        return
    script = ScriptDirectory.from_config(config)
    try:
        script.get_revision(revision)
    except Exception:  # noqa: BLE001 - alembic raises several kinds for an unknown id
        raise MigrationError(
            f"the database is at revision {revision}, which this version of vip_pipeline does not know"
            f" (its head is {script.get_current_head()}): run a newer release"
        ) from None


def _adopt(conn: Connection, config: Config) -> bool:
    """A warehouse made by the old create_all (every baseline table, no revision) is stamped at the baseline."""
    present = BASELINE_TABLES & set(sa.inspect(conn).get_table_names())
    if not present:
        return False
    if present != BASELINE_TABLES:
        raise MigrationError(
            f"the database has some warehouse tables {sorted(present)} but not {sorted(BASELINE_TABLES - present)}"
            " and no migration revision: not a warehouse this version can adopt"
        )
    command.stamp(config, BASELINE)
    return True


def _quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _view_sql(conn: Connection, name: str, select: str) -> str:
    return f"CREATE VIEW {_quote(conn, name)} AS {select}"


def _fingerprint(select: str) -> str:
    return f"{VIEW_MARK} {hashlib.sha256(select.encode()).hexdigest()[:16]}"


def _create_view(conn: Connection, name: str, select: str) -> None:
    conn.execute(sa.text(_view_sql(conn, name, select)))
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text(f"COMMENT ON VIEW {_quote(conn, name)} IS '{_fingerprint(select)}'"))


def _views_current(conn: Connection, views: Mapping[str, str]) -> bool:
    """Every view exists with exactly today's definition (SQLite keeps the CREATE text; PostgreSQL the comment)."""
    if conn.dialect.name == "postgresql":
        rows = conn.execute(
            sa.text(
                "SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE c.relkind = 'v' AND n.nspname = current_schema()"
            )
        )
        found = dict(rows.all())
        return all(found.get(name) == _fingerprint(select) for name, select in views.items())
    found = dict(conn.execute(sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'view'")).all())
    return all(found.get(name) == _view_sql(conn, name, select) for name, select in views.items())
