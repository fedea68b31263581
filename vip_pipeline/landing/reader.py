"""Read one extract file as text (every value a string) so that validation sees the original values."""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute
import pyarrow.csv as pv
import pyarrow.parquet as pq

from vip_pipeline.landing.inventory import LandedFile

ROW = "_row"  # 1-based number of the data row in its file (the row after the header is 1)


class UnreadableFile(Exception):
    """A file that cannot be parsed at all: it is refused as a whole, naming the file and the reason."""

    def __init__(self, file_name: str, reason: str):
        super().__init__(f"{file_name}: {reason}")
        self.file_name = file_name
        self.reason = reason


@dataclass
class RawFile:
    """The text values of a file, plus rows the parser could not split into the header's columns."""

    file: LandedFile
    rows: pd.DataFrame
    malformed: pd.DataFrame = field(default_factory=lambda: pd.DataFrame({ROW: [], "raw": [], "rule": []}))

    @property
    def rows_read(self) -> int:
        return len(self.rows) + len(self.malformed)


def _header(file: LandedFile, encoding: str, delimiter: str) -> list[str]:
    opener = gzip.open if file.ext == "csv.gz" else open
    try:
        with opener(file.path, "rb") as fh:
            first = fh.readline()
    except (OSError, EOFError, zlib.error) as exc:
        raise UnreadableFile(file.name, f"cannot be opened ({exc})") from exc
    if not first.strip():
        raise UnreadableFile(file.name, "empty file: no header row")
    try:
        line = first.decode(encoding).lstrip("\ufeff").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(file.name, f"not valid {encoding} text; set VIP_CSV_ENCODING (e.g. cp1251)") from exc
    return [name.strip().strip('"') for name in line.split(delimiter)]


def _kept(table: pa.Table, numbers, keep) -> tuple[pa.Table, object]:
    """The rows `keep(account ids as an Arrow array)` selects (all rows without `keep` or without an account_id
    column), with their row numbers: a client shard's step turns only its own rows into Python strings."""
    if keep is None or "account_id" not in table.column_names:
        return table, numbers
    ids = pa.compute.utf8_trim_whitespace(table["account_id"].cast(pa.string()).fill_null(""))
    mask = np.asarray(keep(ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids), dtype=bool)
    return table.filter(pa.array(mask)), np.asarray(numbers)[mask]


def _read_csv(file: LandedFile, encoding: str, delimiter: str, keep=None) -> RawFile:
    names = _header(file, encoding, delimiter)
    bad: list[tuple[int | None, str, str]] = []

    def on_invalid(row) -> str:
        bad.append(
            (row.number, row.text, f"malformed_row: expected {row.expected_columns} fields, got {row.actual_columns}")
        )
        return "skip"

    def read(use_threads: bool) -> pa.Table:
        bad.clear()
        return pv.read_csv(
            file.path,
            read_options=pv.ReadOptions(encoding=encoding, use_threads=use_threads, column_names=names, skip_rows=1),
            parse_options=pv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid),
            convert_options=pv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                null_values=[],
            ),
        )

    try:
        table = read(True)
        if bad and any(number is None for number, _, _ in bad):
            table = read(False)  # single-threaded parsing knows the line number of every bad row
    except (pa.ArrowInvalid, pa.ArrowKeyError, UnicodeDecodeError, OSError, EOFError, zlib.error) as exc:
        reason = str(exc).splitlines()[0]
        if "UTF8" in reason or "decode" in reason.lower():
            reason = f"not valid {encoding} text ({reason}); set VIP_CSV_ENCODING (e.g. cp1251)"
        raise UnreadableFile(file.name, f"cannot be parsed as CSV: {reason}") from exc
    # pyarrow numbers lines from 1 with the header as line 1; data rows are numbered from 1.
    bad_rows = sorted(int(number) - 1 for number, _, _ in bad)
    table, numbers = _kept(table, _surviving_row_numbers(table.num_rows, bad_rows), keep)
    rows = _to_text_frame(table)
    rows[ROW] = numbers
    malformed = pd.DataFrame(
        {ROW: [int(n) - 1 for n, _, _ in bad], "raw": [t for _, t, _ in bad], "rule": [r for _, _, r in bad]}
    )
    return RawFile(file, rows, malformed)


def _to_text_frame(table: pa.Table) -> pd.DataFrame:
    """Every column as text with surrounding whitespace trimmed, Arrow-backed: no Python string is made per
    value (validation compares and parses in Arrow, and the accepted rows go back to Parquet as they are)."""
    if not table.column_names:
        return pd.DataFrame(index=range(table.num_rows))
    return pd.DataFrame({name: texts(table[name]) for name in table.column_names}, copy=False)


def texts(column: pa.ChunkedArray | pa.Array) -> pd.arrays.ArrowExtensionArray:
    """A column's values, trimmed, as a pandas array of Arrow strings."""
    trimmed = pa.compute.utf8_trim_whitespace(column)
    return pd.arrays.ArrowExtensionArray(trimmed.combine_chunks() if isinstance(trimmed, pa.ChunkedArray) else trimmed)


def _surviving_row_numbers(n_good: int, bad_rows: list[int]):
    """Row numbers of the rows kept by the parser, given the numbers of the rows it skipped."""
    if not bad_rows:
        return range(1, n_good + 1)
    total = n_good + len(bad_rows)
    keep = pd.Index(range(1, total + 1)).difference(pd.Index(bad_rows))
    return keep[:n_good]


def _read_parquet(file: LandedFile, keep=None) -> RawFile:
    try:
        table = pq.read_table(file.path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise UnreadableFile(file.name, f"cannot be parsed as Parquet: {str(exc).splitlines()[0]}") from exc
    columns = {}
    for name in table.column_names:
        col = table[name]
        if pa.types.is_boolean(col.type):
            col = pa.compute.if_else(col, "true", "false")
        elif pa.types.is_timestamp(col.type) and _all_midnight(col):
            col = col.cast(pa.date32())  # dates written as timestamps by some exporters
        columns[name] = col.cast(pa.string()).fill_null("")
    if not columns:
        rows = pd.DataFrame(index=range(table.num_rows))
        rows[ROW] = range(1, len(rows) + 1)
        return RawFile(file, rows)
    table, numbers = _kept(pa.table(columns), range(1, table.num_rows + 1), keep)
    rows = _to_text_frame(table)
    rows[ROW] = numbers
    return RawFile(file, rows)


def _all_midnight(col: pa.ChunkedArray) -> bool:
    as_date = pa.compute.cast(pa.compute.cast(col, pa.date32()), col.type)
    return bool(pa.compute.all(pa.compute.or_kleene(pa.compute.equal(as_date, col), pa.compute.is_null(col))).as_py())


def read_raw(file: LandedFile, encoding: str = "utf-8", delimiter: str = ",", keep=None) -> RawFile:
    """Read a landed file with every value as text; raise `UnreadableFile` when that is impossible. With `keep`
    (account ids → bool mask), only the rows it selects become text rows (rows the parser could not split are
    always returned: the caller decides where they go)."""
    if file.path.stat().st_size == 0:
        raise UnreadableFile(file.name, "empty file (0 bytes)")
    if file.ext == "parquet":
        return _read_parquet(file, keep)
    return _read_csv(file, encoding, delimiter, keep)
