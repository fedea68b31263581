"""A dense client × month panel (months without activity are 0) with cumulative and trailing sums.

Trailing windows end at the month and cover at most `window` months of the client's history
(from its first month); sums use cumulative-sum differences, so no Python loops over clients.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FLOW_COLUMNS = ["revenue_usd", "cost_usd", "margin_usd", "settlement_turnover_usd", "export_usd"]


def month_index(months: pd.Series) -> pd.Series:
    """Months as consecutive integers (year × 12 + month − 1)."""
    return months.dt.year * 12 + months.dt.month - 1


def dense_panel(metrics: pd.DataFrame, last_month: pd.Timestamp) -> pd.DataFrame:
    """One row per client and month from its first month to `last_month`, missing months filled with 0."""
    m = metrics.assign(midx=month_index(metrics["month"]))
    first = m.groupby("client_id", sort=True)["midx"].min()
    last_idx = int(month_index(pd.Series([last_month])).iloc[0])
    lengths = (last_idx - first + 1).clip(lower=0)
    client = np.repeat(first.index.to_numpy(), lengths.to_numpy())
    offset = np.arange(lengths.sum()) - np.repeat(
        np.cumsum(lengths.to_numpy()) - lengths.to_numpy(), lengths.to_numpy()
    )
    panel = pd.DataFrame({"client_id": client, "midx": np.repeat(first.to_numpy(), lengths.to_numpy()) + offset})
    panel["first_midx"] = panel["client_id"].map(first)
    keep = ["client_id", "midx", *FLOW_COLUMNS, "adb_usd", "products_used"]
    panel = panel.merge(m[keep], on=["client_id", "midx"], how="left")
    panel[FLOW_COLUMNS + ["adb_usd"]] = panel[FLOW_COLUMNS + ["adb_usd"]].fillna(0.0)
    panel["products_used"] = panel["products_used"].fillna(0).astype("int64")
    panel["tenure_months"] = panel["midx"] - panel["first_midx"] + 1
    return panel.sort_values(["client_id", "midx"], kind="stable").reset_index(drop=True)


def trailing_sum(panel: pd.DataFrame, column: str, window: int, lag: int = 0) -> pd.Series:
    """Sum of `column` over the `window` months ending `lag` months before each row (within the client)."""
    cum = panel.groupby("client_id", sort=False)[column].cumsum()
    grouped = cum.groupby(panel["client_id"], sort=False)
    end = grouped.shift(lag).fillna(0.0) if lag else cum
    start = grouped.shift(lag + window).fillna(0.0)
    return end - start
