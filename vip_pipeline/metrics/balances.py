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
    rows = _balance_rows(previous, balances).sort_values(["account_id", "balance_date"], kind="stable")
    return rows.drop_duplicates("account_id", keep="last").reset_index(drop=True)


def daily_balances(
    accounts: pd.DataFrame, opening: pd.DataFrame | None, balances: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """One row per account open in the period and day of [start, end]: the end-of-day balance.

    The balance is the latest balance row on or before the day (carried forward from `opening`, the
    state before `start`); 0 before the first known balance, before `opened_on` and after `closed_on`.
    """
    accts = open_in_period(accounts, start, end)[["account_id", "currency", "opened_on", "closed_on"]]
    days = pd.date_range(start, end, freq="D")
    grid = pd.DataFrame(
        {
            "account_id": np.repeat(accts["account_id"].to_numpy(), len(days)),
            "day": np.tile(days.to_numpy(), len(accts)),
        }
    )
    known = _known_rows(opening, balances, end)
    merged = pd.merge_asof(
        grid.sort_values("day", kind="stable"),
        known.sort_values("balance_date", kind="stable"),
        left_on="day",
        right_on="balance_date",
        by="account_id",
        direction="backward",
    )
    merged = merged.merge(accts, on="account_id", how="left")
    is_open = (merged["day"] >= merged["opened_on"]) & (
        merged["closed_on"].isna() | (merged["day"] <= merged["closed_on"])
    )
    merged["balance"] = merged["balance"].fillna(0.0).where(is_open, 0.0)
    merged["is_open"] = is_open
    return (
        merged[["account_id", "currency", "day", "balance", "is_open"]]
        .sort_values(["account_id", "day"], kind="stable")
        .reset_index(drop=True)
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
