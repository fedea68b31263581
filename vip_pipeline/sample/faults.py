"""Stage 6, injected faults: a few contract-breaking rows in the big monthly history files, listed in the
summary (``bad_rows``: file, kind, 1-based row, key)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .days import date

TXN_KINDS = ("negative_amount", "unknown_account", "duplicate_txn_id", "booking_date_outside_period")
BALANCE_KIND = "unparseable_balance"
BAD_BALANCE = "12,5x"
MIN_ROWS = 500  # smaller files stay clean
BALANCE_FILE_EVERY = 6  # one balances file in six gets a bad row


class Faults:
    """Which rows to break, file after file; `entries` lists them. Disabled: every file stays clean."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.entries: list[dict] = []
        self._txn_kind = 0
        self._balance_file = 0

    def transactions(self, rng, flows, *, ids, n_acc: int, name: str, month_start: int):
        """(row order, tx, amount) of a monthly transactions file, with 1–3 bad rows when it is large."""
        k = len(flows.amount)
        if not (self.enabled and k >= MIN_ROWS):
            return np.arange(k), flows.tx, flows.amount
        n_bad = 1 if k < 2000 else 2 if k < 5000 else 3
        kinds = [TXN_KINDS[(self._txn_kind + j) % len(TXN_KINDS)] for j in range(n_bad)]
        self._txn_kind += n_bad
        tx = {key: np.array(v) for key, v in flows.tx.items()}
        amount = flows.amount.copy()
        victims = rng.choice(k, size=len(kinds), replace=False)
        dup_src = None
        for kind, r in zip(kinds, victims):
            if kind == "negative_amount":
                amount[r] = -amount[r]
            elif kind == "unknown_account":
                tx["acc"][r] = n_acc  # index of the never-issued account id
            elif kind == "booking_date_outside_period":
                tx["day"][r] = month_start - 1 - int(rng.integers(0, 5))
            else:
                dup_src = int(r)
        order = np.arange(k)
        if dup_src is not None:
            order = np.insert(order, int(rng.integers(dup_src + 1, k + 1)), dup_src)
        self._list(order, dup_src, zip(kinds, victims), name=name, ids=ids)
        return order, tx, amount

    def _list(self, order, dup_src, victims, *, name: str, ids) -> None:
        """Record the injected rows at their row number in the written file."""
        pos_of = np.empty(len(ids), dtype=np.int64)
        first = np.ones(len(order), dtype=bool)
        if dup_src is not None:
            first[np.flatnonzero(order == dup_src)[1:]] = False
        pos_of[order[first]] = np.flatnonzero(first)
        for kind, r in victims:
            row = int(np.flatnonzero(order == r)[-1]) if kind == "duplicate_txn_id" else int(pos_of[r])
            self.entries.append({"file": name, "kind": kind, "row": row + 1, "key": f"T{ids[r]:010d}"})

    def balances(self, rng, column: pa.Array, *, key, name: str) -> pa.Array:
        """The balance column of a monthly balances file, one value unparseable in every sixth large file;
        `key(row)` names a row."""
        n = len(column)
        if not (self.enabled and n >= MIN_ROWS):
            return column
        self._balance_file += 1
        if (self._balance_file - 1) % BALANCE_FILE_EVERY:
            return column
        r = int(rng.integers(0, n))
        mask = np.zeros(n, dtype=bool)
        mask[r] = True
        self.entries.append({"file": name, "kind": BALANCE_KIND, "row": r + 1, "key": key(r)})
        return pc.if_else(pa.array(mask), pa.scalar(BAD_BALANCE), column)


def balance_key(account_ids, b_acc, b_day):
    """`key(row)` of a balances file: account id and ISO day."""
    return lambda r: f"{account_ids[b_acc[r]]} {date(b_day[r]).isoformat()}"
