"""The bank methodology's thresholds, shares and windows, with the spec's defaults."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DecisionRules:
    """Every threshold used by the LTV pyramid, VIP criteria and service categories."""

    top_share: float = 0.20  # most_valuable = ceil(top_share × clients with LTV ≥ 0)
    max_margin_cv: float = 1.0  # strategic when CV of monthly margin ≤ this
    stability_window_months: int = 12
    min_history_months: int = 3  # fewer months of history → workhorse
    min_products: int = 4  # criterion 1: distinct products ≥ this
    annual_sales_usd: float = 5_000_000  # criterion 2: strictly more than
    avg_monthly_settlement_turnover_usd: float = 500_000
    export_12m_usd: float = 5_000_000
    adb_usd: float = 100_000
    turnover_window_months: int = 12
    min_turnover_growth: float = 0.25  # criterion 5: growth ≥ this
    min_criteria: int = 3  # VIP-eligible with at least this many criteria
    watch_criteria: int = 2  # watch list: not served as VIP and exactly this many criteria
    mass_turnover_usd: float = 50_000  # mass: average monthly settlement turnover < this
