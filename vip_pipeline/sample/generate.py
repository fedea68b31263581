"""`generate_sample`: the stages in order — clients, groups, accounts, FX, then month by month the daily flows,
the injected faults and the files."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .accounts import build_accounts, external_pool
from .arrow import dates, money, write_csv, write_parquet_text
from .clients import build_clients
from .days import Month, Window, date
from .faults import Faults, balance_key
from .files import Ids, LandingWriter, balance_days, txn_table, write_accounts, write_clients, write_daily
from .flows import Bank, Flows, balances, month_flows
from .fx import FxRates, fx_rates
from .groups import GROUP_KINDS, build_groups
from .profiles import NAMES


def generate_sample(
    out_dir: str | Path,
    *,
    clients: int = 300,
    months: int = 24,
    seed: int = 42,
    end_date: _dt.date | None = None,
    daily_months: int = 2,
    full_balances: bool = False,
    txns_per_account_month: float = 6.0,
    bad_rows: bool = True,
) -> dict:
    """Write a synthetic bank's landing directory (SPEC §3) into `out_dir`; return a summary.

    The data covers `months` calendar months ending with `end_date`'s month (default end_date:
    yesterday); the last month is month-to-date. The last `daily_months` months are delivered as
    daily files, older months as monthly history files. `full_balances` writes a balance row for
    every open account on every calendar day (benchmark); otherwise ~20 % of accounts only report
    changed balances and the others report business days and month ends.
    `txns_per_account_month` is the average number of postings per open account and month.
    `bad_rows` injects a few contract-breaking rows into the large monthly history files.

    Returns ``{"out_dir", "end_date", "first_month", "files", "rows", "clients", "accounts",
    "profiles", "bad_rows", "groups"}`` where ``rows`` counts the data rows written per extract and
    ``groups`` the economic groups (count, members, groups per kind, ``kind_of`` each group id).
    """
    if clients < 1 or months < 1:
        raise ValueError("clients and months must be >= 1")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    end = end_date or (_dt.date.today() - _dt.timedelta(days=1))
    window = Window(end, months, max(0, min(int(daily_months), months)))
    rng = np.random.default_rng(seed)
    c = build_clients(rng, clients, window)
    c.group, group_kinds = build_groups(np.random.default_rng([seed, 2718]), c)
    acc = build_accounts(rng, c, window)
    cps = external_pool(rng)
    bank = Bank.of(c, acc, cps, window=window, txns_per_account_month=txns_per_account_month)
    ids_ = Ids.of(clients, len(acc.client), cps.ids)
    run = _Run(bank, ids_, LandingWriter(out, end), Faults(bad_rows), full_balances)
    try:
        write_clients(run.w, c, ids_.clients, end)
        write_clients(run.w, c, ids_.clients, end - _dt.timedelta(days=30))
        write_accounts(run.w, acc, ids_)
        run.fx = fx_rates(seed, window)
        run.w.csv(run.fx.slice(run.fx.first, window.first - 1), f"fx_rates_{window.end_month - months}.csv", "fx_rates")
        for m in range(months):
            run.month(np.random.default_rng([seed, 7919, m]), window.month(m))
            run.w.wait(last=m == months - 1)
    finally:
        run.w.close()
    return _summary(run, window, group_kinds)


@dataclass(frozen=True)
class _Drawn:
    """A month's flows, their txn numbers and its end-of-day balances (account index, day, value)."""

    flows: Flows
    numbers: np.ndarray
    b_acc: np.ndarray
    b_day: np.ndarray
    b_val: np.ndarray


@dataclass
class _Run:
    """One generation: the bank, its ids, where the files go, the faults injected so far."""

    bank: Bank
    ids: Ids
    w: LandingWriter
    faults: Faults
    full_balances: bool
    fx: FxRates | None = None
    txn_counter: int = 0

    def month(self, rng, month: Month) -> None:
        """Draw the month's flows and write its transactions, balances and FX rates."""
        flows = month_flows(rng, self.bank, month)
        k = len(flows.amount)
        numbers = np.arange(self.txn_counter + 1, self.txn_counter + k + 1)
        self.txn_counter += k
        b_acc, b_day, b_val = balances(self.bank, month, flows, full_balances=self.full_balances)
        drawn = _Drawn(flows, numbers, b_acc, b_day, b_val)
        if month.daily:
            self._daily_month(month, drawn)
        else:
            self._monthly_files(rng, month, drawn)
        self.w.rows["balances"] += len(b_val)

    def _daily_month(self, month: Month, drawn: _Drawn) -> None:
        flows, numbers, b_acc, b_day, b_val = drawn.flows, drawn.numbers, drawn.b_acc, drawn.b_day, drawn.b_val
        t_tab = txn_table(self.ids, numbers, flows.tx, flows.amount, np.arange(len(flows.amount)))
        write_daily(self.w, "transactions", t_tab, day_column=flows.tx["day"], days=month.bd)
        self.w.rows["transactions"] += len(flows.amount)
        b_tab = self._balance_table(b_acc, b_day, money(b_val))
        days = balance_days(month, self.bank.window.last, self.full_balances)
        write_daily(self.w, "balances", b_tab, day_column=b_day, days=days)
        for d in self.fx.days[(self.fx.days >= month.start) & (self.fx.days <= month.me)]:
            self.w.csv(self.fx.slice(int(d), int(d)), f"fx_rates_{date(d).isoformat()}.csv", "fx_rates")

    def _monthly_files(self, rng, month: Month, drawn: _Drawn) -> None:
        flows, numbers, b_acc, b_day, b_val = drawn.flows, drawn.numbers, drawn.b_acc, drawn.b_day, drawn.b_val
        name = f"transactions_{month.label}.csv.gz"
        n_acc = len(self.bank.accounts.client)
        order, tx, amount = self.faults.transactions(
            rng, flows, ids=numbers, n_acc=n_acc, name=name, month_start=month.start
        )
        self.w.submit(write_csv, txn_table(self.ids, numbers, tx, amount, order), name, True)
        self.w.rows["transactions"] += len(order)
        name = f"balances_{month.label}.parquet"
        key = balance_key(self.ids.accounts, b_acc, b_day)
        bal_col = self.faults.balances(rng, pc.cast(money(b_val), pa.string()), key=key, name=name)
        self.w.submit(write_parquet_text, self._balance_table(b_acc, b_day, bal_col), name)
        self.w.csv(self.fx.slice(month.start, month.me), f"fx_rates_{month.label}.csv", "fx_rates")

    def _balance_table(self, b_acc, b_day, balance: pa.Array) -> pa.Table:
        return pa.table(
            {"account_id": pc.take(self.ids.acc, pa.array(b_acc)), "balance_date": dates(b_day), "balance": balance}
        )


def _summary(run: _Run, window: Window, group_kinds: dict) -> dict:
    c = run.bank.clients
    profiles = np.bincount(c.profile, minlength=len(NAMES))
    return {
        "out_dir": str(run.w.out),
        "end_date": window.end.isoformat(),
        "first_month": date(window.first).isoformat(),
        "files": sorted(run.w.files),
        "rows": run.w.rows,
        "clients": len(c.type),
        "accounts": len(run.bank.accounts.client),
        "profiles": {NAMES[i]: int(profiles[i]) for i in range(len(NAMES))},
        "groups": {
            "groups": len(group_kinds),
            "members": int((c.group != "").sum()),
            "kinds": {k: sum(v == k for v in group_kinds.values()) for k in GROUP_KINDS},
            "kind_of": group_kinds,
        },
        "bad_rows": run.faults.entries,
    }
