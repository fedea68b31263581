"""Movement between LTV tiers and service categories since the previous complete month (SPEC §1).

For an as-of month M and its previous complete month P, every client active in M or P is one
transition per dimension: from its value in P (`new` when it was not active in P) to its value in M
(`gone` when it is no longer active in M). Transitions are counted, with their LTV, per
(dimension, from_value, to_value) — including "no move" (workhorse → workhorse) so that the rows
of a month add up to the active clients of both months.

`ltv_usd` of a transition is the as-of month's LTV of its clients — the value they bring *now* to
where they are now; for `gone` (no LTV in M) it is their LTV in the previous month, the value that left.
"""

from __future__ import annotations

import pandas as pd

__all__ = [
    "DIMENSIONS",
    "GONE",
    "MIGRATION_COLUMNS",
    "NEW",
    "SEGMENT_COLUMNS",
    "migration_gaps",
    "previous_months",
    "segment_migrations",
    "segment_migrations_for",
]

DIMENSIONS = ("ltv_tier", "category")
NEW, GONE = "new", "gone"
SEGMENT_COLUMNS = ["client_id", "as_of_month", "ltv_tier", "category", "ltv_usd"]  # read from client_segments
MIGRATION_COLUMNS = ["as_of_month", "dimension", "from_value", "to_value", "clients", "ltv_usd"]


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "as_of_month": pd.Series(dtype="datetime64[ns]"),
            "dimension": pd.Series(dtype=object),
            "from_value": pd.Series(dtype=object),
            "to_value": pd.Series(dtype=object),
            "clients": pd.Series(dtype="int64"),
            "ltv_usd": pd.Series(dtype="float64"),
        }
    )


def _transitions(current: pd.DataFrame, previous: pd.DataFrame, as_of: pd.Timestamp | None = None) -> pd.DataFrame:
    """One row per client and dimension: (from_value, to_value, ltv_usd) after an outer join on the client.

    `current` and `previous` may hold several as-of months when both carry a `pair` column that
    matches each as-of month with its previous month's rows (then `as_of` is None).
    """
    on = ["pair", "client_id"] if "pair" in current else ["client_id"]
    now = current[on + [*DIMENSIONS, "ltv_usd"]].assign(_now=True)
    then = previous[on + [*DIMENSIONS, "ltv_usd"]].assign(_then=True)
    both = now.merge(then, on=on, how="outer", suffixes=("", "_prev"), validate="one_to_one")
    is_now = both["_now"].notna().to_numpy()
    was_then = both["_then"].notna().to_numpy()
    ltv = both["ltv_usd"].where(is_now, both["ltv_usd_prev"])  # gone: the LTV that left
    parts = []
    for dimension in DIMENSIONS:  # two dimensions, not rows
        parts.append(
            pd.DataFrame(
                {
                    **({"pair": both["pair"]} if "pair" in both else {}),
                    "dimension": dimension,
                    "from_value": both[f"{dimension}_prev"].astype(object).where(was_then, NEW),
                    "to_value": both[dimension].astype(object).where(is_now, GONE),
                    "ltv_usd": ltv.astype("float64"),
                }
            )
        )
    out = pd.concat(parts, ignore_index=True)
    if as_of is not None:
        out["as_of_month"] = as_of
    return out


def _count(transitions: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """clients and Σ ltv_usd per transition, sorted by as-of month, dimension, from, to."""
    out = (
        transitions.groupby(keys, sort=True, dropna=False)
        .agg(clients=("ltv_usd", "size"), ltv_usd=("ltv_usd", "sum"))
        .reset_index()
    )
    out["clients"] = out["clients"].astype("int64")
    out["ltv_usd"] = out["ltv_usd"].astype("float64")
    return out


def segment_migrations(
    current: pd.DataFrame, previous: pd.DataFrame, as_of_month: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Transitions of ONE as-of month: `current` = its client_segments rows, `previous` = those of the
    previous complete month (both with SEGMENT_COLUMNS). `as_of_month` is needed only when `current`
    is empty (everybody gone). Returns MIGRATION_COLUMNS, one row per observed transition."""
    if as_of_month is None:
        months = pd.to_datetime(current["as_of_month"], cache=False).unique()
        if len(months) != 1:
            raise ValueError(f"current must hold exactly one as-of month, got {len(months)}; pass as_of_month")
        as_of_month = pd.Timestamp(months[0])
    as_of_month = pd.Timestamp(as_of_month)
    if current.empty and previous.empty:
        return _empty()
    moves = _transitions(current[SEGMENT_COLUMNS], previous[SEGMENT_COLUMNS], as_of_month)
    out = _count(moves, ["as_of_month", "dimension", "from_value", "to_value"])
    out["as_of_month"] = out["as_of_month"].astype("datetime64[ns]")
    return out[MIGRATION_COLUMNS]


def previous_months(segments: pd.DataFrame, months) -> pd.Series:
    """For each month of `months`: the latest as-of month of `segments` before it (the previous complete
    month), or NaT when `segments` holds none. Indexed by the months."""
    known = pd.Series(sorted(pd.to_datetime(segments["as_of_month"], cache=False).unique()), dtype="datetime64[ns]")
    wanted = pd.Series(sorted(pd.to_datetime(list(months)).unique()), dtype="datetime64[ns]")
    position = known.searchsorted(wanted, side="left") - 1
    previous = pd.Series(known.to_numpy()[position.clip(min=0)], dtype="datetime64[ns]").where(position >= 0)
    return pd.Series(previous.to_numpy(), index=pd.DatetimeIndex(wanted, name="as_of_month"), name="previous_month")


def segment_migrations_for(segments: pd.DataFrame, months) -> pd.DataFrame:
    """Vectorised `segment_migrations` for several as-of months; `segments` holds client_segments rows of
    those months and of the month before the first. A month whose previous complete month is not in
    `segments` (the first month of the data) gets no rows: "moved since" has no meaning without it."""
    previous = previous_months(segments, months).dropna()
    if previous.empty:
        return _empty()
    seg = segments[SEGMENT_COLUMNS].assign(as_of_month=pd.to_datetime(segments["as_of_month"], cache=False))
    pairs = pd.DataFrame({"pair": previous.index, "previous_month": previous.to_numpy()})
    current = seg.merge(pairs, left_on="as_of_month", right_on="pair").drop(columns="previous_month")
    before = seg.merge(pairs, left_on="as_of_month", right_on="previous_month").drop(columns="previous_month")
    moves = _transitions(current, before)
    moves = moves.rename(columns={"pair": "as_of_month"})
    out = _count(moves, ["as_of_month", "dimension", "from_value", "to_value"])
    out["as_of_month"] = out["as_of_month"].astype("datetime64[ns]")
    return out[MIGRATION_COLUMNS]


def migration_gaps(migrations: pd.DataFrame, segments: pd.DataFrame, months) -> pd.DataFrame:
    """Per (as_of_month, dimension): expected vs published totals; rows where they differ are gaps.

    Σ clients with from ≠ new must equal the active clients of the previous complete month, Σ clients
    with to ≠ gone the active clients of the as-of month, and Σ ltv_usd with to ≠ gone their Σ LTV.
    Months without a previous month in `segments` must have no migration rows.
    """
    previous = previous_months(segments, months)
    as_of = pd.to_datetime(segments["as_of_month"], cache=False)
    needed = as_of.isin([*previous.index, *previous.dropna()])  # the months checked and their previous ones
    ltv = segments.loc[needed, "ltv_usd"].groupby(as_of[needed])
    counts = pd.DataFrame({"active": ltv.size(), "ltv": ltv.sum()})
    grid = pd.MultiIndex.from_product([previous.index, list(DIMENSIONS)], names=["as_of_month", "dimension"])
    expected = pd.DataFrame(index=grid).reset_index()
    expected["previous_month"] = expected["as_of_month"].map(previous)
    has_previous = expected["previous_month"].notna()
    expected["expected_from"] = expected["previous_month"].map(counts["active"]).fillna(0).where(has_previous, 0)
    expected["expected_to"] = expected["as_of_month"].map(counts["active"]).fillna(0).where(has_previous, 0)
    expected["expected_ltv"] = expected["as_of_month"].map(counts["ltv"]).fillna(0.0).where(has_previous, 0.0)

    mig = migrations.assign(as_of_month=pd.to_datetime(migrations["as_of_month"], cache=False))
    was = mig["from_value"] != NEW
    stays = mig["to_value"] != GONE
    published = (
        mig.assign(
            from_clients=mig["clients"].where(was, 0),
            to_clients=mig["clients"].where(stays, 0),
            to_ltv=mig["ltv_usd"].where(stays, 0.0),
        )
        .groupby(["as_of_month", "dimension"])[["from_clients", "to_clients", "to_ltv"]]
        .sum()
        .reset_index()
    )
    out = expected.merge(published, on=["as_of_month", "dimension"], how="outer")
    out[["from_clients", "to_clients", "expected_from", "expected_to"]] = (
        out[["from_clients", "to_clients", "expected_from", "expected_to"]].fillna(0).astype("int64")
    )
    out[["to_ltv", "expected_ltv"]] = out[["to_ltv", "expected_ltv"]].fillna(0.0)
    tolerance = 1e-6 * out["expected_ltv"].abs().clip(lower=1.0)
    out["ok"] = (
        (out["from_clients"] == out["expected_from"])
        & (out["to_clients"] == out["expected_to"])
        & ((out["to_ltv"] - out["expected_ltv"]).abs() <= tolerance)
    )
    return out
