"""One month of metrics: `monthly_account_activity` and `monthly_client_metrics` (SPEC §2, §4)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from vip_pipeline.contracts.extracts import CREDIT_PRODUCTS
from vip_pipeline.decisions.groups import product_masks
from vip_pipeline.landing.inventory import month_end
from vip_pipeline.metrics.balances import average_daily_balance, daily_balances
from vip_pipeline.metrics.fx import to_usd, usd_rates
from vip_pipeline.metrics.margin import MarginRules, account_margin
from vip_pipeline.metrics.turnover import account_turnover, client_flows

TURNOVER_COLUMNS = [
    "credit_turnover",
    "credit_turnover_usd",
    "debit_turnover",
    "debit_turnover_usd",
    "txn_count",
    "fee_income_usd",
    "interest_income_usd",
    "interest_expense_usd",
]


@dataclass(frozen=True)
class MonthPeriod:
    """A month's period: its first day to its last day, or to the latest data day while in progress."""

    month: pd.Timestamp
    end: pd.Timestamp
    is_complete: bool

    @property
    def days(self) -> int:
        return (self.end - self.month).days + 1

    @classmethod
    def of(cls, month: date, is_complete: bool, latest_data_day: date | None) -> MonthPeriod:
        """`latest_data_day` (latest booking/balance date in the month's data) ends a month in progress."""
        start = pd.Timestamp(month).replace(day=1)
        last = pd.Timestamp(month_end(start.date()))
        end = last if is_complete or latest_data_day is None else min(last, pd.Timestamp(latest_data_day))
        return cls(start, max(end, start), is_complete)


@dataclass(frozen=True)
class MonthMetrics:
    account_activity: pd.DataFrame
    client_metrics: pd.DataFrame


def account_activity(
    period: MonthPeriod,
    accounts: pd.DataFrame,
    opening: pd.DataFrame | None,
    balances: pd.DataFrame,
    transactions: pd.DataFrame,
    fx_rates: pd.DataFrame,
    rules: MarginRules = MarginRules(),
    max_fx_age_days: int = 7,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Account-month rows for every account open on at least one day of the period, and the USD transactions."""
    daily = daily_balances(accounts, opening, balances, period.month, period.end)
    rates = usd_rates(daily["currency"], daily["day"], fx_rates, max_fx_age_days, needed=daily["is_open"].to_numpy())
    daily["usd_per_unit"] = np.where(np.isnan(rates), 0.0, rates)  # NaN only on days the account is closed
    adb = average_daily_balance(daily, period.days)

    txns = transactions.merge(accounts[["account_id", "currency"]], on="account_id", how="inner")
    txns = txns.assign(amount_usd=txns["amount"] * to_usd(txns, fx_rates, "booking_date", max_fx_age_days))
    turnover = account_turnover(txns)

    acct = accounts[["account_id", "client_id", "product", "currency"]]
    rows = adb.merge(acct, on="account_id", how="left").merge(turnover, on="account_id", how="left")
    rows[TURNOVER_COLUMNS] = rows[TURNOVER_COLUMNS].fillna(0.0)
    rows["txn_count"] = rows["txn_count"].astype("int64")
    rows = rows.assign(
        month=period.month, period_end=period.end, days_in_period=period.days, is_complete_month=period.is_complete
    )
    return account_margin(rows, rules), txns


def client_metrics(
    period: MonthPeriod,
    activity: pd.DataFrame,
    txns: pd.DataFrame,
    accounts: pd.DataFrame,
    client_pnl: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Client-month rows for every client with an account open in the month.

    Where `client_pnl` has the client-month, its revenue and cost replace the modelled margin.
    """
    credit = activity["product"].isin(CREDIT_PRODUCTS)
    per_client = (
        activity.assign(
            adb_usd=activity["adb_usd"].where(~credit, 0.0),
            credit_adb_usd=activity["adb_usd"].where(credit, 0.0),
        )
        .groupby("client_id", sort=True)
        .agg(
            credit_turnover_usd=("credit_turnover_usd", "sum"),
            debit_turnover_usd=("debit_turnover_usd", "sum"),
            adb_usd=("adb_usd", "sum"),
            credit_adb_usd=("credit_adb_usd", "sum"),
            products_used=("product", "nunique"),
            txn_count=("txn_count", "sum"),
            revenue_usd=("revenue_usd", "sum"),
            cost_usd=("cost_usd", "sum"),
        )
        .reset_index()
    )
    masks = product_masks(activity, ["client_id"]).reset_index()  # which products, for the economic groups
    flows = client_flows(txns, accounts)
    out = per_client.merge(masks, on="client_id", how="left").merge(flows, on="client_id", how="left")
    out[["settlement_turnover_usd", "export_usd"]] = out[["settlement_turnover_usd", "export_usd"]].fillna(0.0)
    out["margin_source"] = "modelled"
    if client_pnl is not None and len(client_pnl):
        pnl = client_pnl[client_pnl["month"] == period.month].set_index("client_id")
        has = out["client_id"].isin(pnl.index)
        out.loc[has, "revenue_usd"] = out.loc[has, "client_id"].map(pnl["revenue_usd"])
        out.loc[has, "cost_usd"] = out.loc[has, "client_id"].map(pnl["cost_usd"])
        out.loc[has, "margin_source"] = "client_pnl"
    out["margin_usd"] = out["revenue_usd"] - out["cost_usd"]
    return out.assign(month=period.month, is_complete_month=period.is_complete)


def compute_month(
    period: MonthPeriod,
    accounts: pd.DataFrame,
    opening: pd.DataFrame | None,
    balances: pd.DataFrame,
    transactions: pd.DataFrame,
    fx_rates: pd.DataFrame,
    client_pnl: pd.DataFrame | None = None,
    rules: MarginRules = MarginRules(),
    max_fx_age_days: int = 7,
) -> MonthMetrics:
    """Both monthly tables for one month, from validated extracts and the balance state before it."""
    activity, txns = account_activity(
        period, accounts, opening, balances, transactions, fx_rates, rules, max_fx_age_days
    )
    return MonthMetrics(activity, client_metrics(period, activity, txns, accounts, client_pnl))
