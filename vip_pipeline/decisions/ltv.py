"""Lifetime value and the LTV pyramid (most valuable / strategic / workhorse / ballast)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vip_pipeline.decisions.panel import trailing_sum
from vip_pipeline.decisions.rules import DecisionRules

TIERS = ("most_valuable", "strategic", "workhorse", "ballast")


def ltv_measures(panel: pd.DataFrame, rules: DecisionRules) -> pd.DataFrame:
    """Per panel row: running revenue/cost/LTV, and mean, population std and CV of the trailing margin."""
    n = np.minimum(panel["tenure_months"], rules.stability_window_months)
    w = rules.stability_window_months
    total = trailing_sum(panel, "margin_usd", w)
    squares = trailing_sum(panel.assign(margin_sq=panel["margin_usd"] ** 2), "margin_sq", w)
    mean = total / n
    std = np.sqrt(np.maximum(squares / n - mean**2, 0.0))
    return pd.DataFrame(
        {
            "client_id": panel["client_id"],
            "midx": panel["midx"],
            "first_midx": panel["first_midx"],
            "tenure_months": panel["tenure_months"],
            "revenue_usd": panel["revenue_cum_usd"],
            "cost_usd": panel["cost_cum_usd"],
            "ltv_usd": panel["ltv_usd"],
            "avg_monthly_margin_usd": panel["ltv_usd"] / panel["tenure_months"],
            "margin_mean_12m_usd": mean,
            "margin_std_12m_usd": std,
            "margin_cv": (std / mean).where(mean > 0),
        }
    )


def rank_by_ltv(frame: pd.DataFrame) -> pd.Series:
    """1, 2, 3, … per as-of month by LTV (highest first), ties by client_id."""
    order = frame.sort_values(["as_of_month", "ltv_usd", "client_id"], ascending=[True, False, True], kind="stable")
    return order.groupby("as_of_month", sort=False).cumcount().add(1).reindex(frame.index)


def ltv_tier(frame: pd.DataFrame, rules: DecisionRules) -> pd.Series:
    """Pyramid tier per client and as-of month; `frame` has as_of_month, client_id, ltv_usd, tenure_months,
    margin_mean_12m_usd and margin_cv."""
    valuable = frame["ltv_usd"] >= 0
    ranked = frame[valuable].sort_values(
        ["as_of_month", "ltv_usd", "client_id"], ascending=[True, False, True], kind="stable"
    )
    position = ranked.groupby("as_of_month", sort=False).cumcount() + 1
    count = ranked.groupby("as_of_month", sort=False)["client_id"].transform("size")
    top_n = np.ceil(np.round(rules.top_share * count, 9))  # round first: 0.2 × 15 is 3.0000000000000004
    top = pd.Series(False, index=frame.index)
    top[ranked.index] = (position <= top_n).to_numpy()
    stable = (
        (frame["tenure_months"] >= rules.min_history_months)
        & (frame["margin_mean_12m_usd"] > 0)
        & (frame["margin_cv"] <= rules.max_margin_cv)
    )
    tier = np.select([~valuable, top, stable], ["ballast", "most_valuable", "strategic"], default="workhorse")
    return pd.Series(tier, index=frame.index)
