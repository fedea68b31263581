"""Data-quality checks on what is about to be published; each returns (passed, metadata).

They run inside the publishing assets *before* the write, so a failing blocking check stops
publication (and tells the UI why) instead of flagging a table that BI already reads.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vip_pipeline.decisions.groups import group_key
from vip_pipeline.decisions.ltv import TIERS
from vip_pipeline.decisions.movements import migration_gaps
from vip_pipeline.decisions.segments import CATEGORIES

TOLERANCE = 1e-6


def rows_reconcile(audit: pd.DataFrame) -> tuple[bool, dict]:
    """Every file: rows read = rows accepted + rows rejected (nothing lost)."""
    unbalanced = audit[audit["rows_read"] != audit["rows_accepted"] + audit["rows_rejected"]] if len(audit) else audit
    files = unbalanced["source_file"].tolist() if len(unbalanced) else []
    return not files, {"files": len(audit), "unbalanced_files": files}


def no_refused_file(refused: list[str]) -> tuple[bool, dict]:
    """No file unparseable, missing columns, or above the rejected-share threshold."""
    return not refused, {"refused_files": refused}


def unique_key(frame: pd.DataFrame, key: list[str]) -> tuple[bool, dict]:
    dupes = frame[frame.duplicated(key, keep=False)]
    nulls = int(frame[key].isna().any(axis=1).sum())
    return dupes.empty and nulls == 0, {"duplicate_rows": len(dupes), "null_keys": nulls, "rows": len(frame)}


def adb_within_daily_range(activity: pd.DataFrame) -> tuple[bool, dict]:
    """An average lies between the smallest and largest end-of-day balance of its period."""
    slack = TOLERANCE * np.maximum(1.0, activity[["min_balance", "max_balance"]].abs().max(axis=1))
    bad = activity[
        (activity["adb"] < activity["min_balance"] - slack) | (activity["adb"] > activity["max_balance"] + slack)
    ]
    return bad.empty, {"accounts_outside_range": len(bad), "examples": bad["account_id"].head(5).tolist()}


def fx_coverage(frame: pd.DataFrame) -> tuple[bool, dict]:
    """Every USD amount was converted (FX coverage): no missing or infinite values."""
    usd = frame[[c for c in frame.columns if c.endswith("_usd")]]
    bad = int((~np.isfinite(usd.to_numpy(dtype="float64"))).any(axis=1).sum())
    return bad == 0, {"rows_with_missing_usd": bad}


def reconciles_with_accounts(activity: pd.DataFrame, clients: pd.DataFrame) -> tuple[bool, dict]:
    """Client totals equal the sum of their accounts (turnover and modelled margin)."""
    modelled = clients[clients["margin_source"] == "modelled"]
    modelled_accounts = activity[activity["client_id"].isin(modelled["client_id"])]
    gaps = {
        "credit_turnover_usd": abs(activity["credit_turnover_usd"].sum() - clients["credit_turnover_usd"].sum()),
        "debit_turnover_usd": abs(activity["debit_turnover_usd"].sum() - clients["debit_turnover_usd"].sum()),
        "margin_usd": abs(modelled_accounts["margin_usd"].sum() - modelled["margin_usd"].sum()),
    }
    scale = max(1.0, float(activity["credit_turnover_usd"].abs().sum()))
    return all(g <= TOLERANCE * scale for g in gaps.values()), {k: round(float(v), 6) for k, v in gaps.items()}


def one_tier_and_category(segments: pd.DataFrame, active: int) -> tuple[bool, dict]:
    """Exactly one valid tier and one valid category per active client and complete month."""
    ok_unique, meta = unique_key(segments, ["client_id", "as_of_month"])
    invalid = int((~segments["ltv_tier"].isin(TIERS) | ~segments["category"].isin(CATEGORIES)).sum())
    return ok_unique and invalid == 0 and len(segments) == active, {
        **meta,
        "invalid_tier_or_category": invalid,
        "active_client_months": active,
    }


def ltv_carries_forward(previous: pd.DataFrame | None, metrics: pd.DataFrame, panel: pd.DataFrame) -> tuple[bool, dict]:
    """Running LTV of each client = the previous month's + the month's published margin (0 without metrics),
    and every client with metrics this month is in the panel."""
    before = previous.set_index("client_id")["ltv_usd"] if previous is not None else pd.Series(dtype="float64")
    margin = metrics.set_index("client_id")["margin_usd"] if len(metrics) else pd.Series(dtype="float64")
    ltv = panel.set_index("client_id")["ltv_usd"]
    expected = before.reindex(ltv.index).fillna(0.0) + margin.reindex(ltv.index).fillna(0.0)
    bad = int(((ltv - expected).abs() > TOLERANCE * np.maximum(1.0, expected.abs())).sum())
    missing = int((~metrics["client_id"].isin(ltv.index)).sum()) if len(metrics) else 0
    return bad == 0 and missing == 0, {"mismatches": bad, "clients_missing": missing, "clients": len(ltv)}


def ltv_matches_panel(ltv: pd.DataFrame, panel: pd.DataFrame) -> tuple[bool, dict]:
    """Published LTV = the panel's running LTV for the client and month (0 for a client without history)."""
    running = panel[["client_id", "month", "ltv_usd"]].rename(columns={"month": "as_of_month", "ltv_usd": "expected"})
    joined = ltv[["client_id", "as_of_month", "ltv_usd"]].merge(running, on=["client_id", "as_of_month"], how="left")
    joined["expected"] = joined["expected"].fillna(0.0)
    bad = joined[(joined["ltv_usd"] - joined["expected"]).abs() > TOLERANCE * np.maximum(1.0, joined["expected"].abs())]
    return bad.empty, {"mismatches": len(bad), "checked": len(joined)}


# ---------------------------------------------------------------------------------------------- economic groups
def _in_groups(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of clients in an economic group (group_id normalised; no group = None, NaN or blank)."""
    out = frame.assign(group_id=group_key(frame["group_id"]))
    return out[out["group_id"].notna()]


def members_are_active(group_assessment: pd.DataFrame, segments: pd.DataFrame) -> tuple[bool, dict]:
    """Each assessed group's `members` = its active clients in that month's segments, and every group with
    at least 2 active clients there is assessed (none with fewer)."""
    key = ["group_id", "as_of_month"]
    active = _in_groups(segments).groupby(key).size().rename("active")
    assessed = group_assessment.set_index(key)["members"]
    joined = pd.concat([assessed, active[active >= 2]], axis=1).fillna(0)
    bad = joined[joined["members"] != joined["active"]]
    return bad.empty, {
        "groups_checked": len(assessed),
        "mismatches": len(bad),
        "examples": [f"{g} {m:%Y-%m}" for g, m in bad.index[:5]],
    }


def sums_match_members(group_assessment: pd.DataFrame, frame: pd.DataFrame) -> tuple[bool, dict]:
    """Group LTV and scale sums equal the sums of the members' published measures, recomputed here, and
    the monopoly / strategic flags are "any member". `frame` holds the active members' rows (client_id,
    as_of_month, group_id, ltv_usd, annual_sales_usd, avg_monthly_settlement_turnover_usd, export_12m_usd,
    adb_usd and monopoly_met / strategic_met or the master flags monopoly_position / strategic)."""
    key = ["group_id", "as_of_month"]
    members = _in_groups(frame)
    flags = {"monopoly_met": "monopoly_position", "strategic_met": "strategic"}
    members = members.assign(
        **{met: members[met if met in members else master].astype(bool) for met, master in flags.items()}
    )
    sums = {
        "group_ltv_usd": "ltv_usd",
        "annual_sales_usd": "annual_sales_usd",
        "avg_monthly_settlement_turnover_usd": "avg_monthly_settlement_turnover_usd",
        "export_12m_usd": "export_12m_usd",
        "adb_usd": "adb_usd",
    }
    grouped = members.groupby(key)
    expected = pd.DataFrame({group: grouped[member].sum() for group, member in sums.items()})
    expected = expected.join(grouped[list(flags)].max())
    published = group_assessment.set_index(key)
    joined = published[list(sums) + list(flags)].join(expected, rsuffix="_expected", how="left")
    gaps = {}
    for column in sums:
        got = joined[column].fillna(0.0).astype("float64")
        want = joined[f"{column}_expected"].fillna(0.0).astype("float64")
        off = (got - want).abs() > TOLERANCE * np.maximum(1.0, want.abs())
        gaps[column] = int(off.sum())
    for column in flags:
        gaps[column] = int((joined[column].astype(bool) != joined[f"{column}_expected"].fillna(False)).sum())
    return all(v == 0 for v in gaps.values()), {"groups_checked": len(joined), "mismatches": gaps}


def migrations_add_up(migrations: pd.DataFrame, segments: pd.DataFrame, months) -> tuple[bool, dict]:
    """Per as-of month and dimension: Σ clients not `new` = active clients of the previous complete month,
    Σ clients not `gone` = active clients now (with their Σ LTV); no rows for a month without a previous."""
    gaps = migration_gaps(migrations, segments, months)
    bad = gaps[~gaps["ok"]]
    return bad.empty, {
        "months_checked": int(gaps["as_of_month"].nunique()),
        "mismatches": len(bad),
        "examples": [f"{r.as_of_month:%Y-%m} {r.dimension}" for r in bad.head(5).itertuples()],
    }
