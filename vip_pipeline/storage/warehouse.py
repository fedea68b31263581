"""Publish DataFrames to the SQL database (SQLite or PostgreSQL) in single transactions.

Every write replaces a well-defined slice (the rows of some months of a table, or what is recorded
about a set of files; restatements are appended) inside one transaction, so a BI reader sees either
the previous or the new complete state. Frames are conformed to their contract's columns and types
(`conform`) on the way in; beyond that and the database's constraints the warehouse checks nothing
(the data checks run before, in the assets: `checks.py`).
"""

from __future__ import annotations

import functools
import io
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from vip_pipeline.contracts.tables import TABLES, TableContract
from vip_pipeline.storage import migrate
from vip_pipeline.storage.sqlite_wal import BUSY_TIMEOUT_S, set_wal

VIEWS = {
    "client_segments_current": (
        "SELECT * FROM client_segments WHERE as_of_month = (SELECT MAX(as_of_month) FROM client_segments)"
    ),
    "vip_prospects": (
        "SELECT s.client_id, s.as_of_month, s.name, s.client_type, s.category, s.ltv_tier, s.ltv_usd, s.ltv_rank,"
        " s.service_model, s.recommended_action, s.group_id, s.group_vip_eligible,"
        " s.group_vip_eligible AND NOT v.vip_eligible AS eligible_through_group,"
        " v.criteria_met, v.products_used, v.products_met, v.scale_met,"
        " v.monopoly_met, v.strategic_met, v.growth_met, v.avg_monthly_settlement_turnover_usd, v.export_12m_usd,"
        " v.adb_usd, v.annual_sales_usd, v.turnover_growth"
        " FROM client_segments s JOIN vip_assessment v"
        " ON v.client_id = s.client_id AND v.as_of_month = s.as_of_month"
        " WHERE s.as_of_month = (SELECT MAX(as_of_month) FROM client_segments)"
        " AND s.recommended_action IN ('approach', 'watch')"
    ),
    "segment_migrations_current": (
        "SELECT * FROM segment_migrations WHERE as_of_month = (SELECT MAX(as_of_month) FROM segment_migrations)"
    ),
}


def redact(url: str) -> str:
    """The URL with its password hidden, for messages and logs."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - never echo an unparseable URL, it may hold a secret
        return "<database url>"


SQLITE_CACHE_KIB = 65536


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        database = sa.make_url(url).database or ""
        if database and not database.startswith("file:") and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record):  # readers never block the writer, nor see a half-written table
            set_wal(dbapi_connection)
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA synchronous=NORMAL")
            # a month's publish updates indexes of tables of millions of rows: with 64 MiB of page cache instead of
            # SQLite's 2 MiB they stay in memory (inserting 12 months of three tables: 2.6–2.9 → 2.2–2.3 s)
            cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            cursor.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


class WarehouseUnavailable(Exception):
    """The database cannot be reached or written; the message never contains the password."""


class WarehouseRejected(Exception):
    """The database refused the data (constraint, type): permanent, so never worth a retry."""


class PublishRefused(WarehouseRejected):
    """A frame broke its table's pandera schema: nothing was written (permanent, never worth a retry)."""

    def __init__(self, table: str, columns: list[str], count: int, detail: str):
        self.table, self.columns, self.count, self.detail = table, columns, count, detail
        super().__init__(
            f"{table}: publish refused, {count} failure(s) of the table's schema in column(s) "
            f"{', '.join(columns)}: {detail}; nothing was written"
        )

    def __reduce__(self):  # raised in a month worker, carried back to the step's process
        return PublishRefused, (self.table, self.columns, self.count, self.detail)


UNAVAILABLE = (sa.exc.OperationalError, sa.exc.InterfaceError)
DATABASE_ERRORS = (*UNAVAILABLE, sa.exc.IntegrityError, sa.exc.DataError, sa.exc.ProgrammingError)


def _translated(url: str, exc: Exception) -> Exception:
    """A driver error as one clear message: no password, no row contents (the driver's DETAIL line)."""
    reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
    if isinstance(exc, UNAVAILABLE):
        return WarehouseUnavailable(f"database {redact(url)} unavailable or not writable: {reason}")
    return WarehouseRejected(f"database {redact(url)} refused the data: {reason}")


def _guarded(method):
    """Turn driver errors into one clear message (`_translated`)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except DATABASE_ERRORS as exc:
            raise _translated(self.url, exc) from None

    return wrapper


class Warehouse:
    """The published tables of SPEC §4 in one database."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self.metadata = sa.MetaData()
        self.tables = {name: contract.sql_table(self.metadata) for name, contract in TABLES.items()}

    def __repr__(self) -> str:
        return f"Warehouse({redact(self.url)})"

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @_guarded
    def ensure_schema(self) -> migrate.Upgrade:
        """Upgrade the schema to the newest migration revision and recreate changed views (idempotent,
        safe when several processes start at once); see storage/migrate.py."""
        return migrate.upgrade(self.engine, VIEWS)

    # -- writing ---------------------------------------------------------------------------------
    @_guarded
    def replace_partitions(self, frames: dict[str, pd.DataFrame], months, checked: bool = False) -> dict[str, int]:
        """Replace the rows of one or several months (each contract's partition column) of several tables,
        in one transaction. `checked`: the frames are `checked_frame`'s already."""
        if not checked:  # before writing
            frames = {name: checked_frame(TABLES[name], frame) for name, frame in frames.items()}
        with self.replacing(list(frames), months) as insert:
            return insert(frames)

    @contextmanager
    def replacing(self, names: list[str], months) -> Iterator[Callable[[dict[str, pd.DataFrame]], dict[str, int]]]:
        """One transaction replacing the rows of some months of the tables `names`: their rows are deleted, then
        the function it gives inserts frames (`checked_frame`'s), as often as needed; committed when the block
        ends, rolled back when it raises (a reader sees all the old rows or all the new ones)."""
        values = [pd.Timestamp(m).date() for m in (months if isinstance(months, (list, tuple)) else [months])]
        try:
            with self.engine.begin() as conn:
                for name in names:
                    table = self.tables[name]
                    conn.execute(table.delete().where(table.c[TABLES[name].partition_column].in_(values)))
                yield lambda frames: {name: self._insert(conn, TABLES[name], frame) for name, frame in frames.items()}
        except DATABASE_ERRORS as exc:
            raise _translated(self.url, exc) from None

    @_guarded
    def record_load(
        self, rejected: pd.DataFrame, audit: pd.DataFrame, superseded: pd.DataFrame, files: Iterable[str]
    ) -> None:
        """Record a load of `files`, in one transaction: their rejected rows, audit rows and the supersessions
        among them replace earlier ones (a re-load describes the files as they are now); restatements
        (values a re-sent file changed) are appended, since the old version of the file is gone."""
        files = list(files)
        rejected_rows, load_audit, values = (
            self.tables[t] for t in ("rejected_rows", "load_audit", "superseded_values")
        )
        rejected, audit, superseded = (
            checked_frame(TABLES[name], frame)
            for name, frame in (("rejected_rows", rejected), ("load_audit", audit), ("superseded_values", superseded))
        )
        with self.engine.begin() as conn:
            if files:
                conn.execute(rejected_rows.delete().where(rejected_rows.c.source_file.in_(files)))
                conn.execute(load_audit.delete().where(load_audit.c.source_file.in_(files)))
                conn.execute(values.delete().where(values.c.kind == "superseded", values.c.old_source_file.in_(files)))
            self._insert(conn, TABLES["rejected_rows"], rejected)
            self._insert(conn, TABLES["load_audit"], audit)
            self._insert(conn, TABLES["superseded_values"], superseded)

    @_guarded
    def recorded_files(self, extract: str) -> set[str]:
        """The files of an extract that load_audit describes."""
        audit = self.tables["load_audit"]
        with self.engine.connect() as conn:
            return set(conn.execute(sa.select(audit.c.source_file).where(audit.c.extract == extract)).scalars())

    def _insert(self, conn: Connection, contract: TableContract, frame: pd.DataFrame) -> int:
        """Insert a frame `checked_frame` returned."""
        if frame.empty:
            return 0
        if self.is_postgres:
            return _copy_postgres(conn, contract, frame)
        return _insert_rows(conn, contract, frame)

    # -- reading ---------------------------------------------------------------------------------
    @_guarded
    def read(self, name: str, where=None) -> pd.DataFrame:
        """A published table (optionally filtered with a SQLAlchemy expression), typed as in its contract."""
        table = self.tables[name]
        query = sa.select(table)
        if where is not None:
            query = query.where(where(table))
        with self.engine.connect() as conn:
            frame = pd.read_sql(query, conn)
        return typed(TABLES[name], frame)

    @_guarded
    def counts_by_partition(self, name: str, months) -> dict[str, int]:
        """Rows per partition (month) of a table, for the given months ("YYYY-MM-DD" keys)."""
        table = self.tables[name]
        column = table.c[TABLES[name].partition_column]
        values = [pd.Timestamp(m).date() for m in months]
        query = sa.select(column, sa.func.count()).where(column.in_(values)).group_by(column)
        with self.engine.connect() as conn:
            return {pd.Timestamp(m).strftime("%Y-%m-%d"): n for m, n in conn.execute(query)}

    @_guarded
    def count(self, name: str) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(self.tables[name])).scalar_one()


def checked_frame(contract: TableContract, frame: pd.DataFrame) -> pd.DataFrame:
    """The frame cast to its table's contract and validated by the table's pandera schema (lazily: every
    failure counted); `PublishRefused` names the table, the columns and the count when it breaks a rule."""
    if frame.empty:
        return frame
    try:
        frame = conform(contract, frame).reset_index(drop=True)  # failure cases name rows by a unique index
    except (ValueError, TypeError) as exc:  # a value that cannot take the column's type (NaN in an int column…)
        raise PublishRefused(contract.name, [], 1, f"cannot be cast to the contract's types ({exc})") from None
    try:
        return contract.pandera_schema().validate(frame, lazy=True, inplace=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        columns = sorted({str(c) for c in cases["column"].dropna()} or {contract.name})
        rules = cases.groupby("check", sort=True).size()
        detail = ", ".join(f"{check} ×{n}" for check, n in rules.items())
        raise PublishRefused(contract.name, columns, len(cases), detail) from None


def conform(contract: TableContract, frame: pd.DataFrame) -> pd.DataFrame:
    """The contract's columns, in order and typed as the contract says."""
    missing = [c for c in contract.column_names if c not in frame.columns]
    if missing:
        raise ValueError(f"{contract.name}: missing column(s) {missing}")
    return typed(contract, frame[contract.column_names].copy())


def typed(contract: TableContract, frame: pd.DataFrame) -> pd.DataFrame:
    for c in contract.columns:
        if c.kind == "date":  # parsed only when not dates already (to_datetime's cache costs ~1 µs a row)
            dates = frame[c.name]
            frame[c.name] = (dates if pd.api.types.is_datetime64_dtype(dates) else pd.to_datetime(dates)).astype(
                "datetime64[ns]"
            )
        elif c.kind == "timestamp":
            frame[c.name] = pd.to_datetime(frame[c.name], utc=True).astype("datetime64[ns, UTC]")
        elif c.kind == "bool":
            frame[c.name] = frame[c.name].astype(bool)
        elif c.kind == "int":
            frame[c.name] = frame[c.name].astype("Int64" if c.nullable else "int64")
        elif c.kind == "float":
            frame[c.name] = frame[c.name].astype("float64")
        else:
            frame[c.name] = frame[c.name].astype(object).where(frame[c.name].notna(), None)
    return frame


ISO_DATE, SQLITE_TIMESTAMP = "%Y-%m-%d", "%Y-%m-%d %H:%M:%S.%f"  # as SQLAlchemy's SQLite types store them


def _insert_rows(conn: Connection, contract: TableContract, frame: pd.DataFrame) -> int:
    """executemany with plain tuples through the driver (SQLAlchemy's per-row processing is the slow part).

    Values are stored exactly as SQLAlchemy's SQLite types store them (ISO dates and timestamps, 0/1)."""
    columns = []
    for c in contract.columns:
        s = frame[c.name]
        if c.kind in ("date", "timestamp"):  # a table's dates repeat a few values: each is formatted once
            codes, days = pd.factorize(s)
            stamps = c.kind == "timestamp"
            text = days.tz_convert("UTC").strftime(SQLITE_TIMESTAMP) if stamps else days.strftime(ISO_DATE)
            columns.append(np.append(np.asarray(text, dtype=object), None)[codes].tolist())  # code −1 (NaT): NULL
            continue
        values = s.astype("int64") if c.kind == "bool" else s
        columns.append((values.astype(object).where(s.notna(), None) if s.hasnans else values).tolist())
    preparer = conn.dialect.identifier_preparer
    names = ", ".join(preparer.quote(c) for c in contract.column_names)
    marks = ", ".join("?" for _ in contract.columns)
    conn.exec_driver_sql(f"INSERT INTO {preparer.quote(contract.name)} ({names}) VALUES ({marks})", list(zip(*columns)))
    return len(frame)


def _copy_postgres(conn: Connection, contract: TableContract, frame: pd.DataFrame) -> int:
    """Bulk load with COPY … FROM STDIN (CSV), inside the caller's transaction."""
    out = frame.copy()
    null = f"vip-null-{uuid.uuid4().hex}"  # a NULL marker no real value equals (a literal \\N is data)
    for c in contract.columns:
        if c.kind == "date":
            out[c.name] = out[c.name].dt.strftime("%Y-%m-%d")
        elif c.kind == "timestamp":
            out[c.name] = out[c.name].dt.strftime("%Y-%m-%d %H:%M:%S.%f+00:00")
    buffer = io.StringIO()
    out.to_csv(buffer, index=False, header=False, na_rep=null, float_format="%.17g")
    preparer = conn.dialect.identifier_preparer
    columns = ", ".join(preparer.quote(c) for c in contract.column_names)
    statement = f"COPY {preparer.quote(contract.name)} ({columns}) FROM STDIN WITH (FORMAT csv, NULL '{null}')"
    cursor = conn.connection.dbapi_connection.cursor()
    with cursor.copy(statement) as copy:
        copy.write(buffer.getvalue())
    return len(frame)
