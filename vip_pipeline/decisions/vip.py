"""VIP criteria (≥ 3 of 5): products, scale, monopoly, strategic, turnover growth — each published with its measure."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vip_pipeline.decisions.panel import trailing_sum
from vip_pipeline.decisions.rules import DecisionRules


def vip_measures(panel: pd.DataFrame, rules: DecisionRules) -> pd.DataFrame:
    """Per panel row: products used, trailing settlement turnover average, 12-month exports, ADB and growth."""
    w = rules.turnover_window_months
    n = np.minimum(panel["tenure_months"], w)
    last = trailing_sum(panel, "settlement_turnover_usd", w)
    before = trailing_sum(panel, "settlement_turnover_usd", w, lag=w)
    enough = (panel["tenure_months"] >= 2 * w) & (before > 0)
    return pd.DataFrame(
        {
            "client_id": panel["client_id"],
            "midx": panel["midx"],
            "products_used": panel["products_used"],
            "avg_monthly_settlement_turnover_usd": last / n,
            "export_12m_usd": trailing_sum(panel, "export_usd", w),
            "adb_usd": panel["adb_usd"],
            "turnover_growth": (last / before - 1).where(enough),
            "settlement_12m_usd": last,  # the groups sum these over their members
            "settlement_prev_12m_usd": before,
            "product_mask": panel["product_mask"],
        }
    )


def _measure(values: pd.Series) -> pd.Series:
    """Measures compared with thresholds, without floating-point noise (0.24999999999999978 is 25 %)."""
    return values.astype("float64").round(9)


def vip_criteria(frame: pd.DataFrame, rules: DecisionRules) -> pd.DataFrame:
    """Met flags, their count and eligibility; `frame` has the measures plus the client master columns."""
    products_met = frame["products_used"] >= rules.min_products
    scale_met = (
        (_measure(frame["annual_sales_usd"].fillna(0)) > rules.annual_sales_usd)
        | (_measure(frame["avg_monthly_settlement_turnover_usd"]) > rules.avg_monthly_settlement_turnover_usd)
        | (_measure(frame["export_12m_usd"]) > rules.export_12m_usd)
        | (_measure(frame["adb_usd"]) > rules.adb_usd)
    )
    monopoly_met = frame["monopoly_position"].astype(bool)
    strategic_met = frame["strategic"].astype(bool)
    growth_met = (_measure(frame["turnover_growth"]) >= rules.min_turnover_growth).fillna(False).astype(bool)
    met = pd.DataFrame(
        {
            "products_met": products_met,
            "scale_met": scale_met,
            "monopoly_met": monopoly_met,
            "strategic_met": strategic_met,
            "growth_met": growth_met,
        }
    )
    met["criteria_met"] = met.sum(axis=1).astype("int64")
    met["vip_eligible"] = (met["criteria_met"] >= rules.min_criteria) & (frame["client_type"] != "individual")
    return met
