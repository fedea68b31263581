"""The bank methodology's thresholds, shares and windows, with the spec's defaults.

Each field's description is the one place it is explained: `DecisionRulesResource` builds its Dagster config
fields (with these descriptions, shown in the launchpad) from this class.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def rule(default: float | int, description: str):
    """A threshold with its default and the description the launchpad shows."""
    return field(default=default, metadata={"description": description})


@dataclass(frozen=True)
class DecisionRules:
    """Every threshold used by the LTV pyramid, VIP criteria and service categories."""

    top_share: float = rule(
        0.20, "LTV pyramid: most valuable = the top ceil(top_share × clients with LTV ≥ 0) clients by LTV."
    )
    max_margin_cv: float = rule(
        1.0, "LTV pyramid: strategic when the coefficient of variation of the monthly margin is at most this."
    )
    stability_window_months: int = rule(12, "Months of margin history over which the margin's mean and CV are taken.")
    min_history_months: int = rule(3, "LTV pyramid: a client with fewer months of history is a workhorse.")
    min_products: int = rule(4, "VIP criterion 1 (products): distinct products used at least this many.")
    annual_sales_usd: float = rule(5_000_000, "VIP criterion 2 (scale): annual sales strictly above this, USD.")
    avg_monthly_settlement_turnover_usd: float = rule(
        500_000, "VIP criterion 2 (scale): average monthly settlement turnover strictly above this, USD."
    )
    export_12m_usd: float = rule(5_000_000, "VIP criterion 2 (scale): exports over 12 months strictly above this, USD.")
    adb_usd: float = rule(100_000, "VIP criterion 2 (scale): average daily balance strictly above this, USD.")
    turnover_window_months: int = rule(
        12, "Months of the settlement-turnover average and of each side of the growth comparison."
    )
    min_turnover_growth: float = rule(
        0.25, "VIP criterion 5 (growth): turnover of the last window over the one before, minus 1, at least this."
    )
    min_criteria: int = rule(3, "VIP-eligible with at least this many of the five criteria (never an individual).")
    watch_criteria: int = rule(2, "Watch list: not served as VIP and exactly this many criteria.")
    mass_turnover_usd: float = rule(
        50_000, "Service category mass: average monthly settlement turnover below this, USD (and every individual)."
    )
