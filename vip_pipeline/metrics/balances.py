"""End-of-day balances carried forward, and average daily balance (ADB) over a period."""

from __future__ import annotations

import numpy as np
import pandas as pd

STATE_COLUMNS = ["account_id", "balance_date", "balance"]


def open_in_period(accounts: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Accounts open on at least one day of [start, end]."""
    closed = accounts["closed_on"]
    return accounts[(accounts["opened_on"] <= end) & (closed.isna() | (closed >= start))]


def _balance_rows(earlier: pd.DataFrame | None, balances: pd.DataFrame) -> pd.DataFrame:
    """Balance rows of an earlier state and of the period, as one frame (typed, possibly empty)."""
    frames = [f[STATE_COLUMNS] for f in (earlier, balances) if f is not None and len(f)]
    if frames:
        return pd.concat(frames, ignore_index=True)
    return pd.DataFrame(
        {
            "account_id": pd.Series(dtype=object),
            "balance_date": pd.Series(dtype="datetime64[ns]"),
            "balance": pd.Series(dtype="float64"),
        }
    )


def carry_forward_state(previous: pd.DataFrame | None, balances: pd.DataFrame) -> pd.DataFrame:
    """Latest known (balance_date, balance) per account, given the previous state and newer balance rows."""
    rows = _balance_rows(previous, balances).sort_values("balance_date", kind="stable")  # of a day: the later row
    latest = rows.drop_duplicates("account_id", keep="last")
    return latest.sort_values("account_id", kind="stable").reset_index(drop=True)


def daily_balances(
    accounts: pd.DataFrame, opening: pd.DataFrame | None, balances: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """One row per account open in the period and day of [start, end]: the end-of-day balance.

    The balance is the latest balance row on or before the day (carried forward from `opening`, the
    state before `start`); 0 before the first known balance, before `opened_on` and after `closed_on`.
    """
    accts = open_in_period(accounts, start, end)[["account_id", "currency", "opened_on", "closed_on"]]
    accts = accts.sort_values("account_id", kind="stable")
    days = pd.date_range(start, end, freq="D").to_numpy()
    n_accounts, n_days = len(accts), len(days)
    # The grid in (account, day) order, accounts as integer codes; a cell's balance is the latest known row of
    # its account on or before the day: one binary search over the known rows sorted by (account, day) as
    # code × days + day (rows before the period count as its first day, in their order).
    account, offset = np.repeat(np.arange(n_accounts), n_days), np.tile(np.arange(n_days), n_accounts)
    known = _known_rows(opening, balances, end)
    code = pd.Index(accts["account_id"]).get_indexer(known["account_id"])
    mine = code >= 0
    when = known["balance_date"].to_numpy(dtype="datetime64[ns]")[mine]
    order = np.lexsort((when, code[mine]))  # stable: of an account's rows on one day, the later one wins
    known_code = code[mine][order]
    known_offset = ((when[order] - np.datetime64(pd.Timestamp(start), "ns")) // np.timedelta64(1, "D")).clip(min=0)
    latest = np.searchsorted(known_code * n_days + known_offset, account * n_days + offset, side="right") - 1
    at = latest.clip(min=0)
    found = (latest >= 0) & (known_code[at] == account) if len(known_code) else np.zeros(len(account), dtype=bool)
    balance = known["balance"].to_numpy(dtype="float64")[mine][order][at] if len(known_code) else 0.0
    day = days[offset]
    opened = np.repeat(accts["opened_on"].to_numpy(dtype="datetime64[ns]"), n_days)
    closed = np.repeat(accts["closed_on"].to_numpy(dtype="datetime64[ns]"), n_days)
    is_open = (day >= opened) & (np.isnat(closed) | (day <= closed))
    return pd.DataFrame(
        {
            "account_id": np.repeat(accts["account_id"].to_numpy(), n_days),
            "currency": np.repeat(accts["currency"].to_numpy(), n_days),
            "day": day,
            "balance": np.where(found & is_open, np.nan_to_num(balance, nan=0.0), 0.0),
            "is_open": is_open,
        }
    )


def _known_rows(opening: pd.DataFrame | None, balances: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame:
    rows = _balance_rows(opening, balances)
    return rows[rows["balance_date"] <= end]


def average_daily_balance(daily: pd.DataFrame, days_in_period: int) -> pd.DataFrame:
    """ADB (account currency and USD, each day's balance at that day's rate) and closing balance per account.

    `daily` needs account_id, day, balance and usd_per_unit.
    """
    daily = daily.assign(balance_usd=daily["balance"] * daily["usd_per_unit"])
    grouped = daily.groupby("account_id", sort=True)
    out = pd.DataFrame(
        {
            "adb": grouped["balance"].sum() / days_in_period,
            "adb_usd": grouped["balance_usd"].sum() / days_in_period,
            "closing_balance": grouped["balance"].last(),
            "min_balance": grouped["balance"].min(),
            "max_balance": grouped["balance"].max(),
        }
    )
    return out.reset_index()
