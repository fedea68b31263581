"""Arrow columns and CSV / parquet bytes as the landing files hold them."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq


def dates(days) -> pa.Array:
    return pa.array(np.asarray(days, dtype=np.int32)).cast(pa.date32())


def money(values, scale: int = 2) -> pa.Array:
    v = np.round(np.asarray(values, dtype=np.float64), scale) + 0.0  # + 0.0 drops negative zeros
    return pa.array(v).cast(pa.decimal128(18, scale))


def categorical(codes, labels, null_code: int | None = None) -> pa.Array:
    codes = np.asarray(codes)
    mask = None if null_code is None else (codes == null_code) | (codes < 0)
    idx = pa.array(np.where(mask, 0, codes).astype(np.int32) if mask is not None else codes.astype(np.int32), mask=mask)
    return pa.DictionaryArray.from_arrays(idx, pa.array(list(labels), pa.string()))


def ids(prefix: str, numbers, width: int) -> pa.Array:
    s = pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string())
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(s, width, "0"), "")


def csv_bytes(table: pa.Table) -> bytes:
    header = (",".join(table.column_names) + "\n").encode()
    if table.num_rows == 0:
        return header
    buf = pa.BufferOutputStream()
    pacsv.write_csv(table, buf, write_options=pacsv.WriteOptions(include_header=False, quoting_style="none"))
    return header + buf.getvalue().to_pybytes()


def write_csv(table: pa.Table, path: Path, gz: bool = False) -> None:
    data = csv_bytes(table)
    if gz:
        data = gzip.compress(data, compresslevel=6, mtime=0)
    path.write_bytes(data)


def write_parquet_text(table: pa.Table, path: Path) -> None:
    """Parquet with every column as ISO/plain text (the reader validates text)."""
    cols = [c if pa.types.is_string(c.type) else pc.cast(c, pa.string()) for c in table.columns]
    pq.write_table(pa.table(cols, names=table.column_names), path, compression="snappy")
