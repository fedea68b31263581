"""Monthly margin per account (SPEC §2): fees + interest income + funding value − interest expense − servicing."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class MarginRules:
    """Parameters of the modelled margin; defaults are the bank methodology's."""

    ftp_rate: float = 0.03
    cost_per_account_month: float = 20.0
    cost_per_transaction: float = 0.10


def account_margin(activity: pd.DataFrame, rules: MarginRules = MarginRules()) -> pd.DataFrame:
    """Adds funding_value_usd, servicing_cost_usd, revenue_usd, cost_usd and margin_usd.

    `activity` needs adb_usd, days_in_period, txn_count, fee_income_usd, interest_income_usd,
    interest_expense_usd; every row is an account open in the month.
    """
    funding = activity["adb_usd"] * rules.ftp_rate * activity["days_in_period"] / 365.0
    servicing = rules.cost_per_account_month + rules.cost_per_transaction * activity["txn_count"]
    revenue = activity["fee_income_usd"] + activity["interest_income_usd"] + np.maximum(funding, 0.0)
    cost = activity["interest_expense_usd"] + np.maximum(-funding, 0.0) + servicing
    return activity.assign(
        funding_value_usd=funding,
        servicing_cost_usd=servicing,
        revenue_usd=revenue,
        cost_usd=cost,
        margin_usd=revenue - cost,
    )
