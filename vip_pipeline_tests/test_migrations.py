"""Warehouse migrations (Alembic), on SQLite and a real PostgreSQL: a warehouse at the first revision,
filled, upgraded to head through a throwaway test revision keeps its data, gains the new column and
gets its views recreated; a pre-migration warehouse is adopted; `vip-pipeline db upgrade` is
idempotent; two processes starting on one fresh database both succeed, also when one of them is still
switching the new SQLite file to WAL.

The rows are written with plain inserts into the reflected 0001 tables, never through the live
contracts, so these tests keep working when later revisions change the tables.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from vip_pipeline.contracts.tables import TABLES
from vip_pipeline.storage import migrate
from vip_pipeline.storage.warehouse import VIEWS, Warehouse, make_engine

MONTH = dt.date(2026, 9, 1)
# The views as a warehouse at 0001 might have had them (frozen here: VIEWS changes with the code).
OLD_VIEWS = {"client_segments_current": "SELECT client_id, as_of_month, category FROM client_segments"}


def _test_revision(directory: Path) -> str:
    """A throwaway revision on top of the package's head: a new column and a view that uses it."""
    parent = migrate.head()
    rev = f"{int(parent) + 1:04d}"
    directory.mkdir()
    (directory / f"{rev}_test_segment_note.py").write_text(
        textwrap.dedent(
            f'''
            """Test only: a nullable column on client_segments."""
            import sqlalchemy as sa
            from alembic import op

            revision = "{rev}"
            down_revision = "{parent}"
            branch_labels = None
            depends_on = None


            def upgrade():
                with op.batch_alter_table("client_segments") as batch:
                    batch.add_column(sa.Column("segment_note", sa.Text(), nullable=True, comment="Test."))


            def downgrade():
                with op.batch_alter_table("client_segments") as batch:
                    batch.drop_column("segment_note")
            '''
        )
    )
    return rev


def _value(column: sa.Column, i: int):
    t = column.type
    if isinstance(t, sa.Boolean):
        return i % 2 == 0
    if isinstance(t, sa.DateTime):
        return dt.datetime(2026, 10, 1, 12, 0, i, tzinfo=dt.timezone.utc)
    if isinstance(t, sa.Date):
        return MONTH
    if isinstance(t, sa.Integer):
        return 1000 + i
    if isinstance(t, sa.Float):
        return 0.25 + i
    return f"{column.name}-{i}"


def _fill(engine: sa.Engine, rows_per_table: int = 3) -> dict[str, tuple[list[str], list[tuple]]]:
    """Rows in every published table (reflected: whatever columns the database has), and what was written."""
    metadata = sa.MetaData()
    metadata.reflect(engine, only=sorted(migrate.BASELINE_TABLES))
    with engine.begin() as conn:
        for name, table in metadata.tables.items():
            rows = []
            for i in range(rows_per_table):
                row = {c.name: _value(c, i) for c in table.columns}
                if "client_id" in row:
                    row["client_id"] = f"C{i}"
                if name == "client_segments":
                    row["recommended_action"] = "approach" if i == 0 else None
                rows.append(row)
            conn.execute(table.insert(), rows)
    written = {name: [c.name for c in table.columns] for name, table in metadata.tables.items()}
    return {name: (columns, _rows(engine, name, columns)) for name, columns in written.items()}


def _rows(engine: sa.Engine, name: str, columns: list[str]) -> list[tuple]:
    with engine.connect() as conn:
        query = sa.select(*[sa.column(c) for c in columns]).select_from(sa.table(name))
        return sorted(tuple(r) for r in conn.execute(query))


def _tables_as_before(engine: sa.Engine, before: dict[str, tuple[list[str], list[tuple]]]) -> None:
    for name, (columns, rows) in before.items():
        assert len(rows) == 3 and _rows(engine, name, columns) == rows, name


def _revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return migrate.current(conn)


def _view_columns(engine: sa.Engine, name: str) -> list[str]:
    return [c["name"] for c in sa.inspect(engine).get_columns(name)]


def test_upgrade_from_the_first_revision_keeps_the_data_adds_the_column_and_replaces_the_views(
    database_url, tmp_path
):
    extra = tmp_path / "versions"
    rev = _test_revision(extra)
    engine = make_engine(database_url)
    first = migrate.upgrade(engine, OLD_VIEWS, target=migrate.BASELINE, extra_versions=[extra])
    assert (first.before, first.after) == (None, migrate.BASELINE)
    assert _view_columns(engine, "client_segments_current") == ["client_id", "as_of_month", "category"]
    before = _fill(engine)

    new_views = {
        **VIEWS,
        "client_segments_current": "SELECT client_id, as_of_month, segment_note FROM client_segments"
        " WHERE segment_note IS NULL",
    }
    done = migrate.upgrade(engine, new_views, extra_versions=[extra])

    assert (done.before, done.after, done.views_recreated) == (migrate.BASELINE, rev, True)
    assert _revision(engine) == rev
    columns = {c["name"]: c for c in sa.inspect(engine).get_columns("client_segments")}
    assert "segment_note" in columns and columns["segment_note"]["nullable"]
    _tables_as_before(engine, before)
    assert _view_columns(engine, "client_segments_current") == ["client_id", "as_of_month", "segment_note"]
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE client_segments SET segment_note = 'checked' WHERE client_id = 'C1'"))
        assert conn.execute(sa.text("SELECT segment_note FROM client_segments WHERE client_id = 'C1'")).scalar_one() \
            == "checked"
        current = conn.execute(sa.text("SELECT client_id FROM client_segments_current ORDER BY client_id")).all()
        assert [r[0] for r in current] == ["C0", "C2"]
        prospects = conn.execute(sa.text("SELECT client_id, recommended_action FROM vip_prospects")).all()
        assert [tuple(r) for r in prospects] == [("C0", "approach")]
    again = migrate.upgrade(engine, new_views, extra_versions=[extra])
    assert (again.before, again.after, again.views_recreated) == (rev, rev, False)
    engine.dispose()


def test_a_failing_revision_leaves_tables_data_and_views_as_they_were(database_url, tmp_path):
    extra = tmp_path / "versions"
    rev = _test_revision(extra)
    script = next(extra.glob("*.py"))
    script.write_text(script.read_text().replace(
        'comment="Test."))', 'comment="Test."))\n    op.execute("UPDATE no_such_table SET x = 1")'
    ))
    engine = make_engine(database_url)
    migrate.upgrade(engine, OLD_VIEWS, target=migrate.BASELINE, extra_versions=[extra])
    before = _fill(engine)

    with pytest.raises(sa.exc.SQLAlchemyError, match="no_such_table"):
        migrate.upgrade(engine, VIEWS, extra_versions=[extra])

    assert rev != migrate.BASELINE and _revision(engine) == migrate.BASELINE
    assert "segment_note" not in {c["name"] for c in sa.inspect(engine).get_columns("client_segments")}
    assert _view_columns(engine, "client_segments_current") == ["client_id", "as_of_month", "category"]
    _tables_as_before(engine, before)
    engine.dispose()


def test_a_changed_view_definition_replaces_the_view_without_a_revision(database_url, monkeypatch):
    wh = Warehouse(database_url)
    wh.ensure_schema()
    assert "category" in _view_columns(wh.engine, "client_segments_current")
    monkeypatch.setitem(VIEWS, "client_segments_current", "SELECT client_id, as_of_month AS month FROM client_segments")

    done = wh.ensure_schema()

    assert done.views_recreated and done.before == done.after == migrate.head()
    assert _view_columns(wh.engine, "client_segments_current") == ["client_id", "month"]
    assert not wh.ensure_schema().views_recreated  # nothing left to do: no lock, no DROP VIEW
    wh.engine.dispose()


def test_head_matches_the_table_contracts(database_url):
    """A contract change (vip_pipeline/contracts/tables.py) needs a revision: `vip-pipeline db revision -m …`."""
    wh = Warehouse(database_url)
    wh.ensure_schema()
    metadata = sa.MetaData()
    for contract in TABLES.values():
        contract.sql_table(metadata)
    with wh.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diffs == []
    wh.engine.dispose()


def _pre_migration_warehouse(url: str) -> sa.Engine:
    """What the old create_all left: the baseline tables and views, no alembic_version table."""
    engine = make_engine(url)
    migrate.upgrade(engine, OLD_VIEWS, target=migrate.BASELINE)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE alembic_version"))
    return engine


def test_a_warehouse_from_before_migrations_is_adopted(database_url):
    engine = _pre_migration_warehouse(database_url)
    before = _fill(engine)
    assert "alembic_version" not in sa.inspect(engine).get_table_names()

    done = Warehouse(database_url).ensure_schema()

    assert done.adopted and done.before == migrate.BASELINE and done.after == migrate.head()
    assert _revision(engine) == migrate.head()
    _tables_as_before(engine, before)
    assert "category" in _view_columns(engine, "client_segments_current")  # today's VIEWS, not the old one
    assert {"client_segments_current", "vip_prospects"} <= set(sa.inspect(engine).get_view_names())
    engine.dispose()


def test_a_partial_warehouse_is_refused_not_stamped(database_url):
    engine = _pre_migration_warehouse(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE load_audit"))
    with pytest.raises(migrate.MigrationError, match="load_audit"):
        Warehouse(database_url).ensure_schema()
    assert "alembic_version" not in sa.inspect(engine).get_table_names()
    engine.dispose()


def test_a_database_newer_than_the_code_is_refused(database_url):
    wh = Warehouse(database_url)
    wh.ensure_schema()
    with wh.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(migrate.MigrationError, match="9999.*newer release"):
        wh.ensure_schema()
    wh.engine.dispose()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vip_pipeline.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_cli_db_upgrade_works_and_is_idempotent(database_url):
    url = database_url.replace("postgres@", "postgres:s3cret-pw@")  # trust auth: any password, never printed
    first = _cli("db", "upgrade", "--database-url", url)
    second = _cli("db", "upgrade", "--database-url", url)
    current = _cli("db", "current", "--database-url", url)

    for done in (first, second, current):
        assert done.returncode == 0, done.stderr
        assert "s3cret-pw" not in done.stdout + done.stderr
    head = migrate.head()
    assert f"empty → {head} (views recreated)" in first.stdout
    assert f"already at {head} (head)" in second.stdout
    assert f"revision {head}, head {head} (up to date)" in current.stdout
    engine = make_engine(database_url)
    assert _revision(engine) == head
    assert migrate.BASELINE_TABLES <= set(sa.inspect(engine).get_table_names())
    engine.dispose()


def test_cli_db_upgrade_refuses_a_newer_database_with_a_message(sqlite_url):
    assert _cli("db", "upgrade", "--database-url", sqlite_url).returncode == 0
    engine = make_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    done = _cli("db", "upgrade", "--database-url", sqlite_url)
    assert done.returncode == 1 and "FAILED" in done.stdout and "9999" in done.stdout, done.stdout + done.stderr


_RACE = """
import os, sys, time
from pathlib import Path
from vip_pipeline.storage.warehouse import Warehouse
wh = Warehouse(sys.argv[1])
gate = Path(sys.argv[2])
(gate / str(os.getpid())).touch()
while len(list(gate.iterdir())) < 2:  # both imported and ready: go together
    time.sleep(0.005)
print(wh.ensure_schema().describe())
"""


def test_two_processes_ensuring_the_schema_at_once_both_succeed(database_url, tmp_path):
    gate = tmp_path / "gate"
    gate.mkdir()
    procs = [
        subprocess.Popen([sys.executable, "-c", _RACE, database_url, str(gate)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err
    said = sorted(out.strip() for out, _ in outputs)
    head = migrate.head()
    assert said == [f"already at {head} (head)", f"empty → {head} (views recreated)"]  # exactly one migrated
    engine = make_engine(database_url)
    assert _revision(engine) == head
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM alembic_version")).scalar_one() == 1
    engine.dispose()


def _hold_the_write_lock(path: Path) -> sqlite3.Connection:
    """A connection holding the write lock of a new rollback-journal file: what a process switching the
    file to WAL holds for a moment. Another connection's WAL switch then fails at once, busy timeout or
    not (SQLite's deadlock guard); that made the race test above fail on a loaded CI machine."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)  # released by a timer
    holder.execute("CREATE TABLE t (i INTEGER)")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t VALUES (1)")
    return holder


def test_a_connection_waits_while_another_process_holds_a_new_files_write_lock(tmp_path):
    holder = _hold_the_write_lock(tmp_path / "vip.db")
    engine = make_engine(f"sqlite:///{tmp_path / 'vip.db'}")
    released = threading.Timer(0.3, holder.commit)
    started = time.monotonic()  # before the timer starts: the commit comes ≥ 0.3 s after it, however loaded
    released.start()
    try:
        with engine.connect() as conn:
            waited = time.monotonic() - started
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
            assert conn.exec_driver_sql("SELECT COUNT(*) FROM t").scalar_one() == 1  # after the holder's commit
    finally:
        released.join()
        engine.dispose()
        holder.close()
    assert waited >= 0.3


def test_a_new_warehouse_gets_large_pages_and_an_existing_one_keeps_its_own(tmp_path):
    from vip_pipeline.storage.sqlite_wal import PAGE_SIZE

    with sqlite3.connect(tmp_path / "old.db") as old:  # a warehouse SQLite created with its default page size
        old.execute("CREATE TABLE t (i INTEGER)")
    for name, pages in (("new.db", PAGE_SIZE), ("old.db", 4096)):
        warehouse = Warehouse(f"sqlite:///{tmp_path / name}")
        warehouse.ensure_schema()
        with warehouse.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA page_size").scalar_one() == pages, name
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert warehouse.count("monthly_client_metrics") == 0  # migrated, readable
        warehouse.engine.dispose()


def test_the_wal_switch_gives_up_with_the_databases_message_after_its_timeout(tmp_path):
    from vip_pipeline.storage.sqlite_wal import set_wal

    holder = _hold_the_write_lock(tmp_path / "vip.db")
    other = sqlite3.connect(tmp_path / "vip.db", timeout=0)
    started = time.monotonic()
    try:
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            set_wal(other, timeout=0.3)
    finally:
        other.close()
        holder.close()
    assert 0.3 <= time.monotonic() - started < 5


def test_db_revision_writes_the_next_numbered_revision_from_the_contracts(tmp_path, monkeypatch, sqlite_url):
    """What the next developer runs after changing a contract (into a copy of the versions directory)."""
    from vip_pipeline import cli
    from vip_pipeline.contracts.tables import C, TableContract

    versions = tmp_path / "versions"
    versions.mkdir()
    for script in migrate.VERSIONS.glob("[0-9]*.py"):
        (versions / script.name).write_text(script.read_text())
    monkeypatch.setattr(migrate, "VERSIONS", versions)
    table = TableContract(
        name="test_superseded",
        description="Test only.",
        primary_key=("client_id",),
        columns=(C("client_id", "str", "Client identifier."), C("value", "float", "A value.", nullable=True)),
    )
    monkeypatch.setitem(TABLES, table.name, table)
    rev = f"{int(migrate.head()) + 1:04d}"

    assert cli.main(["db", "revision", "-m", "add test_superseded"]) == 0

    written = versions / f"{rev}_add_test_superseded.py"
    text = written.read_text()
    assert f'down_revision = "{int(rev) - 1:04d}"' in text
    assert 'op.create_table(\n        "test_superseded"' in text and "sa.Float(precision=53)" in text
    assert "vip_pipeline" not in text.split('"""')[2]  # frozen: the code imports no contract
    done = Warehouse(sqlite_url).ensure_schema()
    assert done.after == rev
    assert "test_superseded" in sa.inspect(make_engine(sqlite_url)).get_table_names()


def test_a_warehouse_of_release_0_1_upgrades_to_deliveries_and_groups_with_its_data(database_url):
    """0001 (release 0.1) → head through the real revisions 0002 (deliveries) and 0003 (economic groups): the old
    rows stay; load_audit's new columns read 0 / NULL for the old loads, client_segments' group columns NULL / false
    for months decided before groups; the new tables and views answer."""
    engine = make_engine(database_url)
    migrate.upgrade(engine, OLD_VIEWS, target=migrate.BASELINE)
    before = _fill(engine)
    migrate.upgrade(engine, VIEWS)
    assert _revision(engine) == migrate.head()
    _tables_as_before(engine, before)
    with engine.connect() as conn:
        audit = conn.execute(sa.text("SELECT rows_superseded, delivered_at FROM load_audit")).all()
        assert [tuple(r) for r in audit] == [(0, None)] * 3
        groups = conn.execute(sa.text("SELECT group_id, group_vip_eligible FROM client_segments")).all()
        assert [(g, bool(e)) for g, e in groups] == [(None, False)] * 3
        for table in ("superseded_values", "group_assessment", "segment_migrations", "segment_migrations_current"):
            assert conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one() == 0, table
        prospects = conn.execute(sa.text("SELECT client_id, eligible_through_group FROM vip_prospects")).all()
        assert [(c, bool(e)) for c, e in prospects] == [("C0", False)]
    engine.dispose()
