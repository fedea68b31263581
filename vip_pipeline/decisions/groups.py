"""Economic groups (SPEC §1): a group of clients assessed like one client on its active members.

Clients with the same non-empty `group_id` form a group. For every group with at least 2 active
members in an as-of month the five VIP criteria are measured on the members together (products
across all members, scale on sums, flags of any member, growth of the summed settlement turnover
with the group's history counted from its earliest member's first month); `group_vip_eligible`
needs 3 criteria and at least one member that is not an individual. A member of an eligible group
is treated as VIP-eligible for its category and action (`segments.py`), its own criteria unchanged.

Everything here is pure pandas on frames the pipeline already computed per client and month.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vip_pipeline.contracts.extracts import PRODUCTS
from vip_pipeline.decisions.rules import DecisionRules
from vip_pipeline.decisions.vip import vip_criteria

__all__ = [
    "GROUP_COLUMNS",
    "MEMBER_COLUMNS",
    "PRODUCT_BITS",
    "assess_groups",
    "group_key",
    "member_group_flags",
    "popcount",
    "product_mask",
    "product_masks",
]

# bit i of a product mask = the client had an open account of PRODUCTS[i] (the accounts contract's order)
PRODUCT_BITS: dict[str, int] = {product: 1 << i for i, product in enumerate(PRODUCTS)}

# columns `assess_groups` reads from its per-client frame
MEMBER_COLUMNS = [
    "client_id",
    "as_of_month",
    "group_id",
    "client_type",
    "monopoly_position",
    "strategic",
    "annual_sales_usd",
    "first_month",
    "ltv_usd",
    "product_mask",
    "avg_monthly_settlement_turnover_usd",
    "export_12m_usd",
    "adb_usd",
    "settlement_12m_usd",
    "settlement_prev_12m_usd",
]
# the group_assessment table, in order
GROUP_COLUMNS = [
    "group_id",
    "as_of_month",
    "members",
    "group_ltv_usd",
    "group_ltv_rank",
    "products_used",
    "products_met",
    "annual_sales_usd",
    "avg_monthly_settlement_turnover_usd",
    "export_12m_usd",
    "adb_usd",
    "scale_met",
    "monopoly_met",
    "strategic_met",
    "turnover_growth",
    "growth_met",
    "criteria_met",
    "group_vip_eligible",
]
_SUMMED = ["avg_monthly_settlement_turnover_usd", "export_12m_usd", "adb_usd"]
_KEY = ["group_id", "as_of_month"]


# --------------------------------------------------------------------------- product masks
def product_mask(products: pd.Series) -> int:
    """OR of the bits of the given product names (duplicates counted once): one client-month's mask."""
    distinct = pd.unique(products.dropna())
    unknown = [p for p in distinct if p not in PRODUCT_BITS]
    if unknown:
        raise ValueError(f"unknown product(s) {unknown}; expected one of {PRODUCTS}")
    return int(sum(PRODUCT_BITS[p] for p in distinct))


def product_masks(accounts: pd.DataFrame, keys: list[str], product: str = "product") -> pd.Series:
    """Vectorised `product_mask` per `keys` (e.g. client_id, month) of rows of open accounts.

    Summing the bits of the *distinct* (keys, product) pairs equals their OR. Returns an int64
    Series indexed by `keys`.
    """
    bits = accounts[product].map(PRODUCT_BITS)
    if bits.isna().any():
        unknown = sorted(accounts.loc[bits.isna(), product].astype(str).unique())
        raise ValueError(f"unknown product(s) {unknown}; expected one of {PRODUCTS}")
    distinct = accounts[keys].assign(_bit=bits.astype("int64")).drop_duplicates()
    return distinct.groupby(keys, sort=True)["_bit"].sum().astype("int64").rename("product_mask")


def popcount(masks: pd.Series) -> pd.Series:
    """Number of set product bits of each mask: distinct products used."""
    values = masks.fillna(0).astype("int64").to_numpy()
    count = np.zeros(len(values), dtype="int64")
    for bit in PRODUCT_BITS.values():  # 15 bits, not rows
        count += (values & bit) != 0
    return pd.Series(count, index=masks.index)


def _or_by(frame: pd.DataFrame, keys: list[str], column: str = "product_mask") -> pd.Series:
    """Bitwise OR of `column` per `keys`, vectorised: the max of each bit, summed back."""
    values = frame[column].fillna(0).astype("int64")
    bits = pd.DataFrame({str(b): (values & b) for b in PRODUCT_BITS.values()}, index=frame.index)
    return bits.groupby([frame[k] for k in keys], sort=True).max().sum(axis=1).astype("int64")


# --------------------------------------------------------------------------- groups
def group_key(group_id: pd.Series) -> pd.Series:
    """The group of each row, or None: NaN, None and empty / blank strings mean "not in a group"."""
    text = group_id.astype("string").str.strip()
    present = text.notna() & (text != "")
    return text.astype(object).where(present.fillna(False).astype(bool), None)


def _members(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of clients in a group, with the group key normalised and sales NaN counted as 0 for scale."""
    out = frame.assign(group_id=group_key(frame["group_id"]))
    return out[out["group_id"].notna()]


def _month_number(months: pd.Series) -> pd.Series:
    """Months since year 0 (NaT stays NaN), to count months between two month starts."""
    return months.dt.year * 12 + months.dt.month - 1


def _sums(members: pd.DataFrame) -> pd.DataFrame:
    """Per (group_id, as_of_month): counts, sums, any-flags, earliest first month and the OR of product masks."""
    m = members.assign(
        non_individual=members["client_type"] != "individual",
        monopoly_position=members["monopoly_position"].astype(bool),
        strategic=members["strategic"].astype(bool),
    )
    grouped = m.groupby(_KEY, sort=True)
    out = grouped.agg(
        members=("client_id", "nunique"),
        group_ltv_usd=("ltv_usd", "sum"),
        avg_monthly_settlement_turnover_usd=("avg_monthly_settlement_turnover_usd", "sum"),
        export_12m_usd=("export_12m_usd", "sum"),
        adb_usd=("adb_usd", "sum"),
        monopoly_position=("monopoly_position", "max"),
        strategic=("strategic", "max"),
        non_individual=("non_individual", "max"),
        first_month=("first_month", "min"),
        settlement_12m_usd=("settlement_12m_usd", "sum"),
        settlement_prev_12m_usd=("settlement_prev_12m_usd", "sum"),
    )
    # NULL when no member reports annual sales (as a client's own measure); scale reads NULL as 0
    out["annual_sales_usd"] = grouped["annual_sales_usd"].sum(min_count=1)
    out["product_mask"] = _or_by(m, _KEY)
    return out.reset_index()


def _growth(groups: pd.DataFrame, rules: DecisionRules) -> pd.Series:
    """Σ last 12 ÷ Σ previous 12 − 1; NULL with fewer than 2 windows of group history or nothing before.

    The group's history runs from its earliest active member's first month to the as-of month.
    """
    w = rules.turnover_window_months
    history = _month_number(groups["as_of_month"]) - _month_number(groups["first_month"]) + 1
    before = groups["settlement_prev_12m_usd"]
    enough = (history >= 2 * w) & (before > 0)
    return (groups["settlement_12m_usd"] / before.where(before != 0) - 1).where(enough).astype("float64")


def _rank(groups: pd.DataFrame) -> pd.Series:
    """1, 2, 3, … per as-of month by group LTV (highest first, compared at 9 decimals), ties by group_id."""
    order = groups.assign(_ltv=groups["group_ltv_usd"].round(9)).sort_values(
        ["as_of_month", "_ltv", "group_id"], ascending=[True, False, True], kind="stable"
    )
    return order.groupby("as_of_month", sort=False).cumcount().add(1).reindex(groups.index).astype("int64")


def assess_groups(frame: pd.DataFrame, rules: DecisionRules = DecisionRules()) -> pd.DataFrame:
    """One row per (group_id, as_of_month) with ≥ 2 active members: the 5 criteria on the group.

    `frame` has one row per active client and as-of month with `MEMBER_COLUMNS`; clients without a
    group (group_id None, NaN or blank) are ignored. The criteria reuse `vip.vip_criteria` on the
    group's measures so thresholds and rounding are exactly the clients' ones.
    """
    groups = _sums(_members(frame[MEMBER_COLUMNS]))
    groups = groups[groups["members"] >= 2].reset_index(drop=True)
    groups["members"] = groups["members"].astype("int64")
    groups["products_used"] = popcount(groups["product_mask"])
    groups["turnover_growth"] = _growth(groups, rules)
    groups["group_ltv_rank"] = _rank(groups)
    # a group is "not an individual" when at least one member is not
    groups["client_type"] = np.where(groups["non_individual"], "corporate", "individual")
    met = vip_criteria(groups, rules).rename(columns={"vip_eligible": "group_vip_eligible"})
    out = pd.concat([groups.drop(columns=["client_type"]), met], axis=1)
    out["annual_sales_usd"] = out["annual_sales_usd"].astype("float64")
    out["as_of_month"] = pd.to_datetime(out["as_of_month"], cache=False).astype("datetime64[ns]")
    return out[GROUP_COLUMNS].sort_values(_KEY, kind="stable").reset_index(drop=True)


def member_group_flags(frame: pd.DataFrame, groups: pd.DataFrame) -> pd.Series:
    """Each client row's `group_vip_eligible`: False without a group or when its group was not assessed
    (fewer than 2 active members) that month. Aligned with `frame.index`."""
    keys = pd.DataFrame({"group_id": group_key(frame["group_id"]), "as_of_month": frame["as_of_month"]})
    flags = groups[_KEY + ["group_vip_eligible"]].assign(group_id=lambda g: g["group_id"].astype(object))
    joined = keys.reset_index(drop=True).merge(flags, on=_KEY, how="left", validate="many_to_one")
    eligible = joined["group_vip_eligible"].astype("boolean").fillna(False).astype(bool)
    return pd.Series(eligible.to_numpy(), index=frame.index, name="group_vip_eligible")
