"""All client decisions for every complete as-of month, from monthly client metrics and client master data."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from vip_pipeline.contracts.tables import CLIENT_LTV, CLIENT_SEGMENTS, VIP_ASSESSMENT
from vip_pipeline.decisions.groups import assess_groups, group_key, member_group_flags
from vip_pipeline.decisions.movements import segment_migrations_for
from vip_pipeline.decisions.ltv import ltv_measures, ltv_tier, rank_by_ltv
from vip_pipeline.decisions.panel import build_panel, month_index, sorted_panel
from vip_pipeline.decisions.rules import DecisionRules
from vip_pipeline.decisions.segments import recommended_action, service_category
from vip_pipeline.decisions.vip import vip_criteria, vip_measures
from vip_pipeline.landing.inventory import month_end

LTV_COLUMNS = CLIENT_LTV.column_names
VIP_COLUMNS = VIP_ASSESSMENT.column_names
SEGMENT_COLUMNS = CLIENT_SEGMENTS.column_names


@dataclass(frozen=True)
class Decisions:
    client_ltv: pd.DataFrame
    vip_assessment: pd.DataFrame
    client_segments: pd.DataFrame
    group_assessment: pd.DataFrame
    segment_migrations: pd.DataFrame  # for the as-of months whose previous complete month is in the pass


def active_clients(clients: pd.DataFrame, as_of_months: list[pd.Timestamp]) -> pd.DataFrame:
    """(client, as-of month) pairs where the client was onboarded by the month's last day and not
    offboarded before its first day."""
    months = pd.DataFrame({"as_of_month": pd.to_datetime(sorted(as_of_months))})
    months["month_last_day"] = months["as_of_month"].map(lambda m: pd.Timestamp(month_end(m.date())))
    pairs = clients.merge(months, how="cross")
    active = (pairs["onboarded_on"] <= pairs["month_last_day"]) & (
        pairs["offboarded_on"].isna() | (pairs["offboarded_on"] >= pairs["as_of_month"])
    )
    return pairs[active].drop(columns="month_last_day").reset_index(drop=True)


def _with_previous(frame: pd.DataFrame, as_of_months: list[pd.Timestamp]) -> pd.DataFrame:
    """previous_category / previous_ltv_tier from the previous complete month (None if not assessed then)."""
    months = sorted(pd.to_datetime(as_of_months))
    previous_of = dict(zip(months[1:], months[:-1]))
    prev = frame[["client_id", "as_of_month", "category", "ltv_tier"]].rename(
        columns={"as_of_month": "previous_month", "category": "previous_category", "ltv_tier": "previous_ltv_tier"}
    )
    out = frame.assign(
        previous_month=pd.to_datetime(frame["as_of_month"].map(previous_of), cache=False).astype("datetime64[ns]")
    )
    out = out.merge(prev, on=["client_id", "previous_month"], how="left")
    out[["previous_category", "previous_ltv_tier"]] = out[["previous_category", "previous_ltv_tier"]].astype(object)
    return out


def assess(
    metrics: pd.DataFrame,
    clients: pd.DataFrame,
    as_of_months: list[pd.Timestamp],
    rules: DecisionRules = DecisionRules(),
) -> Decisions:
    """Every decision from the whole history of monthly client metrics (the panel is built here)."""
    panel = build_panel(metrics, max(pd.to_datetime(as_of_months))) if as_of_months else pd.DataFrame()
    return assess_panel(panel, clients, as_of_months, rules)


def assess_panel(
    panel: pd.DataFrame,
    clients: pd.DataFrame,
    as_of_months: list[pd.Timestamp],
    rules: DecisionRules = DecisionRules(),
) -> Decisions:
    """LTV, pyramid tier, VIP criteria, category and action for every active client and as-of month.

    `panel` holds the client panel of the as-of months and of the months their trailing windows reach
    back to (2 × the turnover window before the first as-of month is enough)."""
    frame = active_clients(clients, as_of_months)
    frame["midx"] = month_index(frame["as_of_month"])
    if len(panel) and as_of_months:
        panel = sorted_panel(panel)
        measures = ltv_measures(panel, rules).merge(vip_measures(panel, rules), on=["client_id", "midx"])
        frame = frame.merge(measures, on=["client_id", "midx"], how="left")
    else:
        frame = frame.assign(first_midx=float("nan"), tenure_months=0)
    zero = [
        "product_mask",
        "settlement_12m_usd",
        "settlement_prev_12m_usd",
        "tenure_months",
        "revenue_usd",
        "cost_usd",
        "ltv_usd",
        "avg_monthly_margin_usd",
        "products_used",
        "avg_monthly_settlement_turnover_usd",
        "export_12m_usd",
        "adb_usd",
    ]
    for column in zero:  # an active client without accounts (yet): no history, everything 0
        frame[column] = frame[column].astype("float64").fillna(0.0) if column in frame else 0.0
    for column in ("margin_mean_12m_usd", "margin_std_12m_usd", "margin_cv", "turnover_growth"):
        frame[column] = frame[column].astype("float64") if column in frame else float("nan")
    frame["tenure_months"] = frame["tenure_months"].astype("int64")
    frame[["products_used", "product_mask"]] = frame[["products_used", "product_mask"]].astype("int64")
    first = frame["first_midx"].astype("float64")
    frame["first_month"] = (
        pd.to_datetime({"year": first // 12, "month": first % 12 + 1, "day": 1}, errors="coerce")
        if len(frame)
        else pd.NaT
    )

    frame["ltv_rank"] = rank_by_ltv(frame).astype("int64")
    frame["ltv_tier"] = ltv_tier(frame, rules)
    frame = pd.concat([frame, vip_criteria(frame, rules)], axis=1)
    frame["group_id"] = group_key(frame["group_id"]) if "group_id" in frame else None
    groups = assess_groups(frame, rules)
    frame["group_vip_eligible"] = member_group_flags(frame, groups)
    frame["category"] = service_category(frame, rules)
    frame["recommended_action"] = recommended_action(frame, rules)
    frame = _with_previous(frame, as_of_months)
    frame = frame.sort_values(["as_of_month", "client_id"], kind="stable").reset_index(drop=True)
    return Decisions(
        frame[LTV_COLUMNS].copy(),
        frame[VIP_COLUMNS].copy(),
        frame[SEGMENT_COLUMNS].copy(),
        groups,
        segment_migrations_for(frame, as_of_months),
    )
