"""Helpers that write small, real landing files (SPEC §3 naming) for the validation tests.

Rows are dicts of *text* values keyed by column name, so a test can put any malformed value in any
cell; `write_csv` writes them with a chosen header, delimiter, encoding and compression, and
`write_parquet` writes a real Parquet file with pyarrow.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from vip_pipeline.contracts.extracts import EXTRACTS
from vip_pipeline.landing.inventory import LandedFile, parse_file_name

# Accounts known to the transactions/balances tests: A1 always open, A2 opened 2024-03-10,
# B1 closed 2024-03-20 (its last open day).
ACCOUNT_IDS = pd.Index(["A1", "A2", "B1"])
ACCOUNTS_FRAME = pd.DataFrame({
    "account_id": ["A1", "A2", "B1"],
    "opened_on": pd.to_datetime(["2020-01-01", "2024-03-10", "2020-01-01"]),
    "closed_on": pd.to_datetime([None, None, "2024-03-20"]),
})
CLIENT_IDS = pd.Index(["c1", "c2"])


def header(extract: str) -> list[str]:
    return EXTRACTS[extract].column_names


def txn(txn_id: str, **values: str) -> dict[str, str]:
    """A valid transaction row (account A1, booked 2024-03-05), overridden by `values`."""
    row = {
        "txn_id": txn_id, "account_id": "A1", "booking_date": "2024-03-05", "amount": "100.50",
        "direction": "C", "txn_type": "payment", "counterparty_account_id": "", "counterparty_country": "",
        "purpose": "",
    }
    row.update(values)
    return row


def good_txns(n: int, prefix: str = "g", booking_date: str = "2024-03-05") -> list[dict[str, str]]:
    """`n` distinct valid transactions, ids g0001, g0002, ..."""
    return [txn(f"{prefix}{i:04d}", booking_date=booking_date, amount=f"{10 + i}.25",
                direction="CD"[i % 2], counterparty_country="DE" if i % 3 == 0 else "") for i in range(1, n + 1)]


def balance(account_id: str = "A1", balance_date: str = "2024-03-05", value: str = "1000.00") -> dict[str, str]:
    return {"account_id": account_id, "balance_date": balance_date, "balance": value}


def client(client_id: str, **values: str) -> dict[str, str]:
    row = {
        "client_id": client_id, "name": f"Client {client_id}", "client_type": "corporate", "related_party": "none",
        "industry": "energy", "region": "Sofia", "onboarded_on": "2020-01-01", "offboarded_on": "",
        "annual_sales_usd": "6000000", "monopoly_position": "false", "strategic": "true", "service_model": "standard",
    }
    row.update(values)
    return row


def account(account_id: str, client_id: str = "c1", **values: str) -> dict[str, str]:
    row = {"account_id": account_id, "client_id": client_id, "product": "current", "currency": "USD",
           "opened_on": "2020-01-01", "closed_on": ""}
    row.update(values)
    return row


def _cell(value: str, delimiter: str) -> str:
    """A CSV cell: quoted (with doubled quotes) only when it holds the delimiter, a quote or a newline."""
    if delimiter in value or '"' in value or "\n" in value:
        return '"' + value.replace('"', '""') + '"'
    return value


def csv_text(rows: list[dict[str, str]], columns: list[str], delimiter: str = ",") -> str:
    lines = [delimiter.join(columns)]
    lines += [delimiter.join(_cell(str(r.get(c, "")), delimiter) for c in columns) for r in rows]
    return "\n".join(lines) + "\n"


def write_text(landing: Path, name: str, text: str, encoding: str = "utf-8") -> LandedFile:
    """Write `text` as file `name` (gzip-compressed when the name ends in .gz); return it as a LandedFile."""
    landing.mkdir(parents=True, exist_ok=True)
    path = landing / name
    data = text.encode(encoding)
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return landed(path)


def write_csv(landing: Path, name: str, rows: list[dict[str, str]], columns: list[str] | None = None,
              delimiter: str = ",", encoding: str = "utf-8") -> LandedFile:
    extract = parse_file_name(Path(name)).extract
    return write_text(landing, name, csv_text(rows, columns or header(extract), delimiter), encoding)


def write_parquet(landing: Path, name: str, table: pa.Table) -> LandedFile:
    landing.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, landing / name)
    return landed(landing / name)


def landed(path: Path) -> LandedFile:
    f = parse_file_name(path)
    assert f is not None, f"{path.name} does not follow the SPEC naming"
    return f
