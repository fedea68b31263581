"""The bank methodology's thresholds, shares and windows, with the spec's defaults.

Each field's trailing comment is its description, the one place it is explained: `DecisionRulesResource`
builds its Dagster config fields from `DecisionRules` and `DESCRIPTIONS`, so the launchpad shows them.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class DecisionRules:
    """Every threshold used by the LTV pyramid, VIP criteria and service categories."""

    top_share: float = 0.20  # most_valuable = ceil(top_share × clients with LTV ≥ 0)
    max_margin_cv: float = 1.0  # strategic when CV of monthly margin ≤ this
    stability_window_months: int = 12  # months of margin history behind the margin's mean and CV
    min_history_months: int = 3  # fewer months of history → workhorse
    min_products: int = 4  # criterion 1: distinct products ≥ this
    annual_sales_usd: float = 5_000_000  # criterion 2 (scale), or any of the next three: annual sales > this
    avg_monthly_settlement_turnover_usd: float = 500_000  # criterion 2: average monthly settlement turnover > this
    export_12m_usd: float = 5_000_000  # criterion 2: exports over the last 12 months > this
    adb_usd: float = 100_000  # criterion 2: average daily balance > this
    turnover_window_months: int = 12  # months of the turnover average and of each side of the growth ratio
    min_turnover_growth: float = 0.25  # criterion 5: growth ≥ this
    min_criteria: int = 3  # VIP-eligible with at least this many criteria
    watch_criteria: int = 2  # watch list: not served as VIP and exactly this many criteria
    mass_turnover_usd: float = 50_000  # mass: average monthly settlement turnover < this


def _trailing_comments(cls: type) -> dict[str, str]:
    """``field -> its line's trailing comment`` in the class source."""
    line = re.compile(r"^\s+(\w+)\s*:[^=#]+=[^#]+#\s*(.+?)\s*$")
    found = dict(m.groups() for m in map(line.match, inspect.getsource(cls).splitlines()) if m)
    return {f.name: found[f.name] for f in fields(cls)}


DESCRIPTIONS = _trailing_comments(DecisionRules)  # KeyError at import: a field without its comment
