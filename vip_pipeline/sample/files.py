"""Stage 7, the landing files (SPEC §3): client and account snapshots, and per month transactions, balances and
FX rates — monthly history files (``csv.gz`` transactions, ``parquet`` balances, ``csv`` rates) or daily
``csv`` files for the latest months. Written on two threads, with back-pressure."""

from __future__ import annotations

import datetime as _dt
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from vip_pipeline.contracts.extracts import (
    CLIENT_TYPES,
    DIRECTIONS,
    EXTRACTS,
    PRODUCTS,
    RELATED_PARTIES,
    SERVICE_MODELS,
    TXN_TYPES,
)

from .accounts import Accounts
from .arrow import categorical, dates, ids, money, write_csv
from .clients import Clients
from .codes import COUNTRIES, CURRENCIES, NO_PURPOSE, PURPOSE_LABELS, ClientType
from .days import NEVER, Month, date, day, is_business

COLUMNS: dict[str, list[str]] = {
    name: EXTRACTS[name].column_names for name in ("clients", "accounts", "transactions", "balances", "fx_rates")
}


class LandingWriter:
    """Writes files into the landing directory and counts them and their rows."""

    def __init__(self, out: Path, end: _dt.date):
        self.out = out
        self.end = end  # the window's last day: the current snapshots' date
        self.files: list[str] = []
        self.rows = {k: 0 for k in COLUMNS}
        self._pool = ThreadPoolExecutor(max_workers=2)
        self._pending: list[Future] = []

    def submit(self, fn, table: pa.Table, name: str, *args) -> None:
        self._pending.append(self._pool.submit(fn, table, self.out / name, *args))
        self.files.append(name)

    def csv(self, table: pa.Table, name: str, extract: str | None = None) -> None:
        """A plain CSV file; `extract` counts its rows."""
        self.submit(write_csv, table, name)
        if extract:
            self.rows[extract] += table.num_rows

    def wait(self, last: bool) -> None:
        """Bound memory: wait for the previous months' writes."""
        pending = self._pending
        while len(pending) > 64 or (pending and not last and sum(not f.done() for f in pending) > 8):
            pending.pop(0).result()

    def close(self) -> None:
        try:
            for f in self._pending:
                f.result()
        finally:
            self._pool.shutdown(wait=True)


@dataclass(frozen=True)
class Ids:
    """Client and account ids; `acc` also names the never-issued account (the last entry), `cp` the
    counterparty accounts (ours, then the outside pool)."""

    clients: list[str]
    accounts: list[str]
    acc: pa.Array
    cp: pa.Array

    @classmethod
    def of(cls, n_cli: int, n_acc: int, outside: list[str]) -> Ids:
        cw = max(6, len(str(n_cli)))
        aw = max(7, len(str(n_acc)) + 1)
        client_ids = [f"C{i + 1:0{cw}d}" for i in range(n_cli)]
        account_ids = [f"A{i + 1:0{aw}d}" for i in range(n_acc)]
        unknown_account = "A" + "9" * aw  # never issued: ids go up to n_acc < 10**(aw-1)
        acc = pa.array(account_ids + [unknown_account], pa.string())
        return cls(client_ids, account_ids, acc, pa.array(account_ids + outside, pa.string()))


def _iso_or_empty(days) -> list[str]:
    return ["" if d >= NEVER else date(d).isoformat() for d in days]


def write_clients(w: LandingWriter, c: Clients, client_ids: list[str], as_of: _dt.date) -> None:
    """Client snapshot of `as_of`; an older snapshot than the window's end lacks later clients and shows one
    former name."""
    name = f"clients_{as_of.isoformat()}.csv"
    names = list(c.name)
    keep = np.ones(len(client_ids), dtype=bool)
    cutoff = NEVER
    if as_of != w.end:
        cutoff = day(as_of)
        keep = c.onboarded <= cutoff
        renamed = np.flatnonzero(keep & (c.type != ClientType.INDIVIDUAL))
        if len(renamed):
            i = int(renamed[-1])
            names[i] = names[i].rsplit(" ", 1)[0] + " Trading OOD" if " " in names[i] else names[i] + " Old"
    df = pd.DataFrame(
        {
            "client_id": client_ids,
            "name": names,
            "client_type": np.array(CLIENT_TYPES, dtype=object)[c.type],
            "related_party": np.array(RELATED_PARTIES, dtype=object)[c.related],
            "industry": c.industry,
            "region": c.region,
            "onboarded_on": _iso_or_empty(c.onboarded),
            "offboarded_on": _iso_or_empty(np.where(c.offboarded <= cutoff, c.offboarded, NEVER)),
            "annual_sales_usd": ["" if np.isnan(s) else str(int(s)) for s in c.sales],
            "monopoly_position": np.where(c.monopoly, "true", "false"),
            "strategic": np.where(c.strategic, "true", "false"),
            "service_model": np.array(SERVICE_MODELS, dtype=object)[c.service],
            "group_id": c.group,
        },
        columns=COLUMNS["clients"],
    )[keep]
    df.to_csv(w.out / name, index=False, lineterminator="\n")
    w.files.append(name)
    w.rows["clients"] += len(df)


def write_accounts(w: LandingWriter, acc: Accounts, ids_: Ids) -> None:
    name = f"accounts_{w.end.isoformat()}.csv"
    df = pd.DataFrame(
        {
            "account_id": ids_.accounts,
            "client_id": np.array(ids_.clients, dtype=object)[acc.client] if len(acc.client) else [],
            "product": np.array(PRODUCTS, dtype=object)[acc.product],
            "currency": np.array(CURRENCIES, dtype=object)[acc.ccy],
            "opened_on": [date(d).isoformat() for d in acc.opened],
            "closed_on": _iso_or_empty(acc.closed),
        },
        columns=COLUMNS["accounts"],
    )
    df.to_csv(w.out / name, index=False, lineterminator="\n")
    w.files.append(name)
    w.rows["accounts"] += len(df)


def txn_table(ids_: Ids, numbers, tx: dict, amount, order) -> pa.Table:
    """Transactions in `order` (row indices into `tx`, `amount` and the txn `numbers`)."""
    o = order
    cp = tx["cp"][o]
    return pa.table(
        {
            "txn_id": ids("T", numbers[o], 10),
            "account_id": pc.take(ids_.acc, pa.array(tx["acc"][o])),
            "booking_date": dates(tx["day"][o]),
            "amount": money(amount[o]),
            "direction": categorical(tx["dir"][o], DIRECTIONS),
            "txn_type": categorical(tx["type"][o], TXN_TYPES),
            "counterparty_account_id": pc.take(ids_.cp, pa.array(np.where(cp < 0, 0, cp), mask=cp < 0)),
            "counterparty_country": categorical(tx["country"][o], COUNTRIES, null_code=-1),
            "purpose": categorical(tx["purpose"][o], PURPOSE_LABELS, null_code=NO_PURPOSE),
        }
    )


def write_daily(w: LandingWriter, extract: str, table: pa.Table, *, day_column, days) -> None:
    """One CSV file per day of `days` with the rows of `table` (sorted by `day_column`) of that day."""
    starts = np.searchsorted(day_column, days)
    ends = np.searchsorted(day_column, days, "right")
    for d, i, j in zip(days, starts, ends):
        w.csv(table.slice(int(i), int(j - i)), f"{extract}_{date(d).isoformat()}.csv")


def balance_days(month: Month, last: int, full_balances: bool) -> np.ndarray:
    """The days of a daily month with a balances file: every day, or business days and month ends."""
    cal = month.cal
    return cal if full_balances else cal[is_business(cal) | (cal == month.end) | (cal == last)]
