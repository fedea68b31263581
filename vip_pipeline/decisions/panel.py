"""The client panel: one row per client and month, chained month by month like the balance state.

The panel of month M holds every client with history up to M (from its first month with an open
account), M's measures (0 in a month without activity) and the running revenue, cost and LTV. It is
built from the previous month's panel and M's client metrics only, so a decision as of M needs the
panel of M and of the months its trailing windows cover, never the whole history.
Trailing windows use cumulative-sum differences over the dense rows, so no Python loops over clients.
"""

from __future__ import annotations

import pandas as pd

FLOW_COLUMNS = ["revenue_usd", "cost_usd", "margin_usd", "settlement_turnover_usd", "export_usd"]
MONTH_COLUMNS = [*FLOW_COLUMNS, "adb_usd", "products_used", "product_mask"]
# Running sums since the client's first month, by the monthly value they add up. Each carries the compensation
# of a Kahan summation (`<sum>_comp`), the same arithmetic as pandas' groupby cumsum over the whole history, so
# a decision read from a window of the panel is the one a pass over all months would make, to the last bit.
RUNNING = {
    "revenue_cum_usd": "revenue_usd",
    "cost_cum_usd": "cost_usd",
    "ltv_usd": "margin_usd",
    "margin_sq_cum": "margin_sq",
    "settlement_cum_usd": "settlement_turnover_usd",
    "export_cum_usd": "export_usd",
}
CUMULATIVE = {flow: running for running, flow in RUNNING.items()}
RUNNING_COLUMNS = [column for running in RUNNING for column in (running, f"{running}_comp")]
PANEL_COLUMNS = ["client_id", "month", "midx", "first_midx", "tenure_months", *MONTH_COLUMNS, *RUNNING_COLUMNS]


def month_index(months: pd.Series) -> pd.Series:
    """Months as consecutive integers (year × 12 + month − 1)."""
    return months.dt.year * 12 + months.dt.month - 1


def next_panel(previous: pd.DataFrame | None, metrics: pd.DataFrame, month: pd.Timestamp) -> pd.DataFrame:
    """The panel of `month` from the panel of the month before (None: no earlier history) and the month's
    client metrics (one row per client with an open account)."""
    month = pd.Timestamp(month)
    midx = month.year * 12 + month.month - 1
    carried = (
        previous[["client_id", "first_midx", *RUNNING_COLUMNS]]
        if previous is not None and len(previous)
        else pd.DataFrame({"client_id": pd.Series(dtype=object), "first_midx": pd.Series(dtype="int64")})
    )
    current = metrics.reindex(columns=["client_id", *MONTH_COLUMNS])
    panel = carried.merge(current, on="client_id", how="outer", sort=True)
    for column in MONTH_COLUMNS:
        panel[column] = panel[column].astype("float64").fillna(0.0) if column in panel else 0.0
    panel[["products_used", "product_mask"]] = panel[["products_used", "product_mask"]].astype("int64")
    panel["first_midx"] = panel["first_midx"].fillna(midx).astype("int64")
    panel["month"] = month
    panel["midx"] = midx
    panel["tenure_months"] = midx - panel["first_midx"] + 1
    panel["margin_sq"] = panel["margin_usd"] ** 2
    for running, flow in RUNNING.items():
        total, comp = (
            panel[c].astype("float64").fillna(0.0) if c in panel else 0.0 for c in (running, f"{running}_comp")
        )
        y = panel[flow] - comp  # Kahan: add the month, carrying what the previous additions lost
        panel[running] = total + y
        panel[f"{running}_comp"] = (panel[running] - total) - y
    return panel[PANEL_COLUMNS].reset_index(drop=True)


def build_panel(metrics: pd.DataFrame, last_month: pd.Timestamp) -> pd.DataFrame:
    """The chained panel of every month from the first month in `metrics` to `last_month` (for tests and
    whole-history callers; the pipeline chains it one month per partition)."""
    months = pd.date_range(metrics["month"].min(), pd.Timestamp(last_month), freq="MS") if len(metrics) else []
    if not len(months):
        return pd.DataFrame(columns=PANEL_COLUMNS)
    frames, panel = [], None
    by_month = dict(tuple(metrics.groupby("month", sort=True)))
    for month in months:
        panel = next_panel(panel, by_month.get(month, metrics.iloc[0:0]), month)
        frames.append(panel)
    return pd.concat(frames, ignore_index=True)


def trailing_sum(panel: pd.DataFrame, column: str, window: int, lag: int = 0) -> pd.Series:
    """Sum of `column` over the `window` months ending `lag` months before each row (within the client).

    `panel` is dense (a row for every month of a client from its first month or from the start of the
    rows given) and sorted by client and month; rows before the first row given count as 0. The sums are
    differences of the running sum the panel carries for `column` (since the client's first month), else of a
    cumulative sum over the rows given."""
    running = CUMULATIVE.get(column)
    if running in panel:
        cum = panel[running]
    else:
        cum = panel.groupby("client_id", sort=False)[column].cumsum()
    grouped = cum.groupby(panel["client_id"], sort=False)
    end = grouped.shift(lag).fillna(0.0) if lag else cum
    start = grouped.shift(lag + window).fillna(0.0)
    return end - start


def sorted_panel(panel: pd.DataFrame) -> pd.DataFrame:
    """Rows in (client, month) order, as the trailing sums need them."""
    return panel.sort_values(["client_id", "midx"], kind="stable").reset_index(drop=True)


def window_start(first_as_of: pd.Timestamp, months_back: int) -> pd.Timestamp:
    """The first panel month a decision as of `first_as_of` reads."""
    return pd.Timestamp(first_as_of) - pd.DateOffset(months=months_back)
