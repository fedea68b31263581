"""Client decisions (SPEC §1, §2): LTV and pyramid, VIP criteria, service category, action.

Small hand-built monthly client metrics; every expectation is worked out by hand in a comment.
"""

from __future__ import annotations

import dataclasses
import math

import pandas as pd
import pytest

from vip_pipeline.decisions.assess import active_clients, assess, assess_panel
from vip_pipeline.decisions.ltv import ltv_tier, rank_by_ltv
from vip_pipeline.decisions.panel import (
    PANEL_COLUMNS, build_panel, next_panel, sorted_panel, trailing_sum, window_start,
)
from vip_pipeline.decisions.rules import DESCRIPTIONS, DecisionRules, _trailing_comments
from vip_pipeline.decisions.segments import recommended_action, service_category
from vip_pipeline.decisions.vip import vip_criteria

D = pd.Timestamp
DEC = D("2024-12-01")
NOV = D("2024-11-01")

CLIENT_DEFAULTS = dict(client_type="corporate", related_party="none", industry="steel", region="north",
                       onboarded_on="2015-01-01", offboarded_on=None, annual_sales_usd=float("nan"),
                       monopoly_position=False, strategic=False, service_model="standard")


def clients(*rows: dict) -> pd.DataFrame:
    """rows: dicts with at least client_id; the rest defaults to a plain corporate client."""
    full = [{"client_id": r["client_id"], "name": f"Name {r['client_id']}", **CLIENT_DEFAULTS,
             **{k: v for k, v in r.items() if k != "client_id"}} for r in rows]
    frame = pd.DataFrame(full)
    frame["onboarded_on"] = pd.to_datetime(frame["onboarded_on"])
    frame["offboarded_on"] = pd.to_datetime(frame["offboarded_on"])
    frame["annual_sales_usd"] = frame["annual_sales_usd"].astype("float64")
    frame["monopoly_position"] = frame["monopoly_position"].astype(bool)
    frame["strategic"] = frame["strategic"].astype(bool)
    return frame


def c(client_id: str, **kw) -> dict:
    return {"client_id": client_id, **kw}


def _seq(value, n: int) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value] * n


def months_of(client_id: str, last: pd.Timestamp, margins, turnover=0.0, export=0.0, adb=0.0, products=1,
              skip: tuple = ()) -> pd.DataFrame:
    """Consecutive monthly rows ending at `last` (len(margins) months); revenue = margin + 50, cost = 50.

    Months whose 0-based position is in `skip` are dropped (no row at all: no activity that month).
    """
    n = len(margins)
    months = pd.date_range(end=last, periods=n, freq="MS")
    frame = pd.DataFrame({
        "client_id": client_id, "month": months,
        "revenue_usd": [m + 50.0 for m in margins], "cost_usd": 50.0, "margin_usd": [float(m) for m in margins],
        "settlement_turnover_usd": [float(x) for x in _seq(turnover, n)],
        "export_usd": [float(x) for x in _seq(export, n)],
        "adb_usd": [float(x) for x in _seq(adb, n)],
        "products_used": _seq(products, n),
        "is_complete_month": True,
    })
    return frame.drop(index=list(skip)).reset_index(drop=True)


def metrics(*frames: pd.DataFrame) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True)


def decide(m: pd.DataFrame, cl: pd.DataFrame, as_of: pd.Timestamp = DEC,
           rules: DecisionRules = DecisionRules()):
    """assess() for the single complete month `as_of`."""
    return assess(m, cl, [as_of], rules)


def one(frame: pd.DataFrame, client_id: str, as_of: pd.Timestamp = DEC) -> pd.Series:
    hit = frame[(frame["client_id"] == client_id) & (frame["as_of_month"] == as_of)]
    assert len(hit) == 1, f"expected one row for {client_id} / {as_of.date()}, got {len(hit)}"
    return hit.iloc[0]


def by_client(frame: pd.DataFrame, column: str, as_of: pd.Timestamp = DEC) -> dict:
    rows = frame[frame["as_of_month"] == as_of]
    return dict(zip(rows["client_id"], rows[column]))


# =========================================================================== LTV measures

def test_ltv_is_sum_of_margin_up_to_as_of_month():
    # margins Jan..Jun 2024: 100, 200, −50, 300, 400, 1,000
    m = months_of("C1", D("2024-06-01"), [100, 200, -50, 300, 400, 1000])
    ltv = assess(m, clients(c("C1")), [D("2024-04-01"), D("2024-06-01")]).client_ltv
    apr, jun = one(ltv, "C1", D("2024-04-01")), one(ltv, "C1", D("2024-06-01"))
    # April: 100 + 200 − 50 + 300 = 550 (May and June must not count); tenure Jan..Apr = 4
    assert apr["ltv_usd"] == pytest.approx(550.0)
    assert apr["tenure_months"] == 4
    assert apr["revenue_usd"] == pytest.approx(550.0 + 4 * 50)   # Σ (margin + 50) = 750
    assert apr["cost_usd"] == pytest.approx(4 * 50.0)             # 200
    assert apr["avg_monthly_margin_usd"] == pytest.approx(550.0 / 4)  # 137.5
    assert apr["first_month"] == D("2024-01-01")
    # June: 550 + 400 + 1,000 = 1,950; tenure 6; avg 325
    assert jun["ltv_usd"] == pytest.approx(1950.0)
    assert jun["tenure_months"] == 6
    assert jun["avg_monthly_margin_usd"] == pytest.approx(325.0)


def test_tenure_and_average_count_months_without_activity():
    # rows for Jan, Feb, Apr (March missing), margin 100 each; as of April:
    # tenure Jan..Apr = 4, LTV 300, avg = 300 / 4 = 75
    # CV over [100, 100, 0, 100]: mean 75; var = (3 × 25² + 75²) / 4 = (1,875 + 5,625) / 4 = 1,875
    #   std = √1,875 = 43.30127; CV = 43.30127 / 75 = 0.577350
    m = months_of("C1", D("2024-04-01"), [100, 100, 100, 100], skip=(2,))
    r = one(decide(m, clients(c("C1")), D("2024-04-01")).client_ltv, "C1", D("2024-04-01"))
    assert r["tenure_months"] == 4
    assert r["ltv_usd"] == pytest.approx(300.0)
    assert r["avg_monthly_margin_usd"] == pytest.approx(75.0)
    assert r["margin_cv"] == pytest.approx(math.sqrt(1875.0) / 75.0)
    assert r["margin_std_12m_usd"] == pytest.approx(math.sqrt(1875.0))  # 43.30127


def test_margin_cv_is_population_std_over_mean_for_short_history():
    # 3 months: 100, 300, 200 → window is the 3 months it has (not 12 with zeros)
    # mean 200; population var = (100² + 100² + 0²) / 3 = 6,666.67; std 81.6497; CV 0.408248
    # (sample std would give CV 0.5; a 12-month window with zeros would give mean 50)
    m = months_of("C1", DEC, [100, 300, 200])
    r = one(decide(m, clients(c("C1"))).client_ltv, "C1")
    assert r["margin_cv"] == pytest.approx(math.sqrt(20000.0 / 3) / 200.0)
    assert r["margin_mean_12m_usd"] == pytest.approx(200.0)
    assert r["margin_std_12m_usd"] == pytest.approx(math.sqrt(20000.0 / 3))  # published too: 81.6497
    assert r["first_month"] == D("2024-10-01")  # October, November, December


def test_margin_cv_uses_only_the_last_12_months():
    # 14 months: 10,000 twice, then 12 × 100. LTV = 20,000 + 1,200 = 21,200; avg = 21,200 / 14
    # last 12 months all 100 → mean 100, std 0, CV 0
    m = months_of("C1", DEC, [10_000, 10_000] + [100] * 12)
    r = one(decide(m, clients(c("C1"))).client_ltv, "C1")
    assert r["tenure_months"] == 14
    assert r["ltv_usd"] == pytest.approx(21_200.0)
    assert r["avg_monthly_margin_usd"] == pytest.approx(21_200.0 / 14)
    assert r["margin_mean_12m_usd"] == pytest.approx(100.0)
    assert r["margin_cv"] == pytest.approx(0.0, abs=1e-9)


def test_margin_cv_12_month_window_counts_missing_months_as_zero():
    # 13 months; the first month 999 falls out of the window; inside the window months 2..12 (positions 1..11)
    # have no rows except position 12 (the as-of month) with 1,200:
    # window values: 11 × 0 and 1,200 → mean 100; var = (11 × 100² + 1,100²) / 12 = 110,000; std 331.662; CV 3.31662
    m = months_of("C1", DEC, [999] + [0] * 11 + [1200], skip=tuple(range(1, 12)))
    r = one(decide(m, clients(c("C1"))).client_ltv, "C1")
    assert r["tenure_months"] == 13
    assert r["margin_mean_12m_usd"] == pytest.approx(100.0)
    assert r["margin_cv"] == pytest.approx(math.sqrt(110_000.0) / 100.0)


def test_margin_cv_for_a_positive_mean_below_one_dollar():
    # margins 1.00 and 0.00: mean 0.50 > 0 → CV defined: population std = √((0.5² + 0.5²) / 2) = 0.5, CV 1.0
    r = one(decide(months_of("C1", DEC, [1, 0]), clients(c("C1"))).client_ltv, "C1")
    assert r["margin_cv"] == pytest.approx(1.0)


@pytest.mark.parametrize("margins", [[100, -100], [100, -300, 50], [-10, -10, -10]])
def test_margin_cv_is_null_when_mean_is_not_positive(margins):
    # means: 0, −50, −10 → margin_cv NULL
    r = one(decide(months_of("C1", DEC, margins), clients(c("C1"))).client_ltv, "C1")
    assert pd.isna(r["margin_cv"])


def test_client_without_any_metrics_has_zero_ltv_and_no_first_month():
    m = months_of("C1", DEC, [100])
    # C9 is active but has no metrics; C8's first month is after the as-of month (January 2025)
    later = months_of("C8", D("2025-01-01"), [500])
    out = decide(metrics(m, later), clients(c("C1"), c("C8"), c("C9")))
    assert out.client_ltv["tenure_months"].dtype == "int64"  # a count of months, 0 for C8 and C9
    for cid in ("C8", "C9"):
        r = one(out.client_ltv, cid)
        assert r["ltv_usd"] == 0.0
        assert r["tenure_months"] == 0
        assert r["avg_monthly_margin_usd"] == 0.0
        assert r["revenue_usd"] == 0.0 and r["cost_usd"] == 0.0
        assert pd.isna(r["first_month"])
        assert pd.isna(r["margin_cv"])
    # with no metrics at all
    empty = m.iloc[0:0]
    r = one(decide(empty, clients(c("C9"))).client_ltv, "C9")
    assert r["ltv_usd"] == 0.0 and r["tenure_months"] == 0 and pd.isna(r["first_month"])


def test_no_complete_month_gives_empty_decisions():
    # the data holds no complete month yet: nothing to decide, every table empty with its columns (no error)
    out = assess(months_of("C1", DEC, [100, 100]), clients(c("C1")), [])
    for table in (out.client_ltv, out.vip_assessment, out.client_segments, out.group_assessment,
                  out.segment_migrations):
        assert table.empty and "as_of_month" in table.columns


def test_an_empty_panel_gives_every_active_client_zero_history():
    # assess_panel with no panel rows at all (no client has had an account yet): C1 active in December
    # → LTV 0, tenure 0, no first month, rank 1; N = 1 client with LTV ≥ 0 → ceil(0.2) = 1 → most_valuable
    out = assess_panel(pd.DataFrame(), clients(c("C1")), [DEC])
    r = one(out.client_ltv, "C1")
    assert (r["ltv_usd"], r["tenure_months"]) == (0.0, 0) and pd.isna(r["first_month"])
    seg = one(out.client_segments, "C1")
    assert (seg["ltv_rank"], seg["ltv_tier"]) == (1, "most_valuable")


def test_a_single_complete_month_can_be_assessed():
    # the data holds one complete month only (a new installation): every active client gets its decisions,
    # previous_category / previous_ltv_tier are NULL (no previous complete month)
    m = months_of("C1", DEC, [100, 100, 100])
    out = assess(m, clients(c("C1")), [DEC])
    r = one(out.client_ltv, "C1")
    assert r["ltv_usd"] == pytest.approx(300.0)  # 3 × 100
    seg = one(out.client_segments, "C1")
    assert seg["ltv_tier"] == "most_valuable"    # N = 1 → ceil(0.2) = 1
    assert pd.isna(seg["previous_category"]) and pd.isna(seg["previous_ltv_tier"])


# =========================================================================== LTV pyramid

def _flat(client_id: str, ltv: float, months: int = 12) -> pd.DataFrame:
    """`months` equal monthly margins summing to `ltv` (stable: CV 0 when positive)."""
    return months_of(client_id, DEC, [ltv / months] * months)


def _tiers(frames, rules: DecisionRules = DecisionRules(), extra_clients=()) -> dict:
    m = metrics(*frames)
    ids = sorted(set(m["client_id"]) | set(extra_clients))
    return by_client(decide(m, clients(*(c(i) for i in ids)), DEC, rules).client_segments, "ltv_tier")


@pytest.mark.parametrize("n, top", [(15, 3), (5, 1), (6, 2), (10, 2), (11, 3), (1, 1)])
def test_most_valuable_is_ceil_20_percent_of_clients_with_non_negative_ltv(n, top):
    # LTVs 1,200 × 1..n; the `top` highest are most_valuable: ceil(0.2 × n) (15 → 3, 5 → 1, 6 → 2, 10 → 2, 11 → 3)
    tiers = _tiers([_flat(f"C{i:02d}", 1200.0 * i) for i in range(1, n + 1)])
    expected_top = {f"C{i:02d}" for i in range(n - top + 1, n + 1)}
    assert {k for k, v in tiers.items() if v == "most_valuable"} == expected_top
    # the rest are stable with 12 months → strategic
    assert all(v == "strategic" for k, v in tiers.items() if k not in expected_top)


def test_top_count_is_read_at_9_decimals():
    # the share × N product is rounded to 9 decimals before the ceiling (it absorbs float noise such as
    # 0.2 × 15 = 3.0000000000000004): a configured share 0.20000000001 × 10 clients = 2.0000000001 → 2.000000000
    # → ceil 2 (not 3): C10 and C09 are most_valuable
    tiers = _tiers([_flat(f"C{i:02d}", 1200.0 * i) for i in range(1, 11)], DecisionRules(top_share=0.20000000001))
    assert {k for k, v in tiers.items() if v == "most_valuable"} == {"C10", "C09"}


def test_a_stable_client_with_a_mean_margin_below_one_dollar_is_strategic():
    # 5 clients with LTV ≥ 0 → top = ceil(0.2 × 5) = 1: TOP. SMALL: 12 months of 0.50 → LTV 6, mean 0.50 > 0,
    # CV 0 ≤ 1, 12 ≥ 3 months → strategic (not workhorse: its mean margin is positive, however small)
    tiers = _tiers([_flat("TOP", 12_000), _flat("A", 6_000), _flat("B", 2_400), _flat("C", 1_200), _flat("SMALL", 6)])
    assert tiers == {"TOP": "most_valuable", "A": "strategic", "B": "strategic", "C": "strategic",
                     "SMALL": "strategic"}


def test_ltv_tier_and_rank_keep_the_frames_row_labels():
    # a frame labelled 3, 5, 7 (not 0, 1, 2), one as-of month: N = 2 clients with LTV ≥ 0 → top ceil(0.4) = 1.
    # label 3: A, LTV 100, 12 months, mean 8.33, CV 0 → strategic, rank 2; label 5: Z, LTV −20 → ballast,
    # rank 3; label 7: B, LTV 500 → most_valuable, rank 1. Both Series follow the frame's rows, in its order.
    frame = pd.DataFrame({"as_of_month": DEC, "client_id": ["A", "Z", "B"], "ltv_usd": [100.0, -20.0, 500.0],
                          "tenure_months": 12, "margin_mean_12m_usd": [100 / 12, -20 / 12, 500 / 12],
                          "margin_cv": [0.0, float("nan"), 0.0]}, index=[3, 5, 7])
    assert list(ltv_tier(frame, DecisionRules()).items()) == [(3, "strategic"), (5, "ballast"), (7, "most_valuable")]
    assert list(rank_by_ltv(frame).items()) == [(3, 2), (5, 3), (7, 1)]


def test_ballast_for_negative_ltv_and_ballast_not_counted_in_n():
    # 5 clients with LTV ≥ 0 (one exactly 0) + 3 with LTV < 0:
    # top count = ceil(0.2 × 5) = 1 (ceil(0.2 × 8) = 2 would be wrong)
    frames = [_flat("P1", 12_000), _flat("P2", 6_000), _flat("P3", 2_400), _flat("P4", 1_200),
              months_of("Z0", DEC, [100, -100, 100, -100]),      # LTV exactly 0 → not ballast
              _flat("N1", -12), _flat("N2", -1_200), _flat("N3", -120_000)]
    tiers = _tiers(frames)
    assert tiers["P1"] == "most_valuable"
    assert tiers["P2"] == "strategic"
    assert tiers["Z0"] != "ballast"
    assert tiers["N1"] == tiers["N2"] == tiers["N3"] == "ballast"
    assert sum(v == "most_valuable" for v in tiers.values()) == 1


def test_pyramid_counts_only_clients_active_in_the_as_of_month():
    # GONE (offboarded in June) has the highest LTV but is not active in December: not assessed, not in N.
    # Active: 5 clients → ceil(0.2 × 5) = 1 top (with GONE counted, N = 6 → 2)
    frames = [_flat("GONE", 1_000_000), _flat("A", 6_000), _flat("B", 4_800), _flat("C", 3_600),
              _flat("D", 2_400), _flat("E", 1_200)]
    cl = clients(c("GONE", offboarded_on="2024-06-30"), c("A"), c("B"), c("C"), c("D"), c("E"))
    seg = decide(metrics(*frames), cl).client_segments
    tiers = by_client(seg, "ltv_tier")
    assert "GONE" not in tiers
    assert tiers == {"A": "most_valuable", "B": "strategic", "C": "strategic", "D": "strategic", "E": "strategic"}
    assert by_client(seg, "ltv_rank")["A"] == 1


def test_most_valuable_ties_broken_by_client_id():
    # 5 clients → 1 top; "B" and "A" tie at the highest LTV 2,400 → "A" wins (input lists B first)
    frames = [_flat("B", 2_400), _flat("A", 2_400), _flat("C", 1_200), _flat("D", 600), _flat("E", 120)]
    tiers = _tiers(frames)
    assert tiers["A"] == "most_valuable"
    assert tiers["B"] == "strategic"


def test_workhorse_and_strategic_rules():
    frames = [
        _flat("TOP1", 120_000), _flat("TOP2", 60_000),           # 8 clients with LTV ≥ 0 → top ceil(1.6) = 2
        _flat("S_STABLE", 1_200),                                 # CV 0, 12 months → strategic
        months_of("S_CV1", DEC, [0, 200] * 6),                    # mean 100, pop std 100 → CV exactly 1 → strategic
        months_of("W_CV", DEC, [0] * 11 + [1200]),                # mean 100, std 331.66 → CV 3.3 > 1 → workhorse
        months_of("W_MEAN", DEC, [5000, 5000] + [-10] * 12),      # LTV 9,880 ≥ 0 but 12-month mean −10 → workhorse
        months_of("W_TENURE", DEC, [100, 100]),                   # CV 0 but tenure 2 < 3 → workhorse
        months_of("S_TENURE3", DEC, [100, 100, 100]),             # tenure exactly 3, CV 0 → strategic
        _flat("BALLAST", -120),
    ]
    tiers = _tiers(frames)
    assert tiers == {
        "TOP1": "most_valuable", "TOP2": "most_valuable",
        "S_STABLE": "strategic", "S_CV1": "strategic", "S_TENURE3": "strategic",
        "W_CV": "workhorse", "W_MEAN": "workhorse", "W_TENURE": "workhorse",
        "BALLAST": "ballast",
    }


def test_workhorse_with_zero_mean_margin():
    # 12 months alternating +50 / −50: LTV 0 (≥ 0), mean 0 → CV NULL → workhorse (not top: 5 clients → 1 top)
    frames = [_flat("A", 12_000), _flat("B", 6_000), _flat("C", 3_000), _flat("D", 1_200),
              months_of("Z", DEC, [50, -50] * 6)]
    assert _tiers(frames)["Z"] == "workhorse"


def test_active_client_without_metrics_is_workhorse():
    # LTV 0 ≥ 0, tenure 0 < 3 → workhorse (N = 5 → 1 top, which is A)
    frames = [_flat("A", 12_000), _flat("B", 6_000), _flat("C", 3_000), _flat("D", 1_200)]
    tiers = _tiers(frames, extra_clients=["E_NEW"])
    assert tiers["E_NEW"] == "workhorse"
    assert tiers["A"] == "most_valuable"


def test_configurable_rules_change_the_pyramid():
    frames = [_flat(f"C{i}", 1200.0 * i) for i in range(1, 6)]  # 5 clients
    # top_share 0.4 → ceil(0.4 × 5) = 2 most_valuable (default 0.2 → 1)
    tiers = _tiers(frames, DecisionRules(top_share=0.4))
    assert {k for k, v in tiers.items() if v == "most_valuable"} == {"C4", "C5"}
    # top_share 0.1 with 30 clients → ceil(0.1 × 30) = 3
    thirty = [_flat(f"T{i:02d}", 1200.0 * i) for i in range(1, 31)]
    tiers30 = _tiers(thirty, DecisionRules(top_share=0.1))
    assert {k for k, v in tiers30.items() if v == "most_valuable"} == {"T28", "T29", "T30"}
    # min_history_months 13 → every 12-month client is too young → workhorse (except the top)
    tiers = _tiers(frames, DecisionRules(min_history_months=13))
    assert tiers["C1"] == "workhorse" and tiers["C5"] == "most_valuable"
    # max_margin_cv 0.5 → a CV of 1 becomes unstable
    frames2 = frames + [months_of("CV1", DEC, [0, 200] * 6)]  # 6 clients → 2 top (C5, C4)
    assert _tiers(frames2)["CV1"] == "strategic"
    assert _tiers(frames2, DecisionRules(max_margin_cv=0.5))["CV1"] == "workhorse"


def test_ltv_rank_over_all_active_clients_ties_by_client_id():
    # LTVs: D 100, B −50, C 100, A 100, E (no metrics) 0, F 5,000
    # rank: F 1; A, C, D tie at 100 → 2, 3, 4; E (0) 5; B (−50) 6
    m = metrics(_flat("D", 120), _flat("B", -60), _flat("C", 120), _flat("A", 120), _flat("F", 6000))
    seg = decide(m, clients(c("D"), c("B"), c("C"), c("A"), c("E"), c("F"))).client_segments
    assert by_client(seg, "ltv_rank") == {"F": 1, "A": 2, "C": 3, "D": 4, "E": 5, "B": 6}
    assert seg["ltv_rank"].dtype == "int64"
    assert by_client(seg, "ltv_usd")["D"] == pytest.approx(120.0)


def _two_months_at_once():
    """5 clients C1..C5, 12 flat months Jan..Dec 2024 of 100 × i each, decided for November and December at once
    (as the nightly pass does: the current month and the previous complete one)."""
    frames = [_flat(f"C{i}", 1200.0 * i) for i in range(1, 6)]
    return assess(metrics(*frames), clients(*(c(f"C{i}") for i in range(1, 6))), [NOV, DEC]).client_segments


def test_top_20_percent_count_is_per_as_of_month():
    # LTV as of November = 1,100 × i, as of December = 1,200 × i; all ≥ 0.
    # Each month N = 5 clients → top count ceil(0.2 × 5) = 1 → most_valuable = {C5} in each month.
    # (counting N over both months, 10 → ceil(2) = 2, would make C4 most_valuable too)
    # The other four are stable (CV 0, ≥ 3 months) → strategic.
    seg = _two_months_at_once()
    for month in (NOV, DEC):
        tiers = by_client(seg, "ltv_tier", month)
        assert {k for k, v in tiers.items() if v == "most_valuable"} == {"C5"}, month
        assert tiers == {"C1": "strategic", "C2": "strategic", "C3": "strategic", "C4": "strategic",
                         "C5": "most_valuable"}, month


def test_ltv_rank_restarts_in_each_as_of_month():
    # same input: ranks by LTV, highest first, restart at 1 in every as-of month
    # November and December: C5 1, C4 2, C3 3, C2 4, C1 5 (not 6..10 in the second month)
    seg = _two_months_at_once()
    for month in (NOV, DEC):
        assert by_client(seg, "ltv_rank", month) == {"C5": 1, "C4": 2, "C3": 3, "C2": 4, "C1": 5}, month
    assert by_client(seg, "ltv_usd", NOV)["C5"] == pytest.approx(5500.0)   # 11 × 500
    assert by_client(seg, "ltv_usd", DEC)["C5"] == pytest.approx(6000.0)   # 12 × 500


# =========================================================================== VIP criteria

def _vip(frames, client_rows, as_of=DEC, rules: DecisionRules = DecisionRules()):
    return decide(metrics(*frames), clients(*client_rows), as_of, rules)


def _vip_row(frames, client_row: dict, **kw) -> pd.Series:
    return one(_vip(frames, [client_row], **kw).vip_assessment, client_row["client_id"])


@pytest.mark.parametrize("products, met", [(4, True), (5, True), (3, False)])
def test_products_criterion_at_least_4(products, met):
    r = _vip_row([months_of("C1", DEC, [10] * 3, products=products)], c("C1"))
    assert r["products_used"] == products
    assert bool(r["products_met"]) is met


def test_products_are_those_of_the_as_of_month():
    # 6 products in November, 3 in December → as of December: 3, not met
    vip = _vip([months_of("C1", DEC, [10, 10], products=[6, 3])], [c("C1")]).vip_assessment
    r = one(vip, "C1")
    assert r["products_used"] == 3
    assert not r["products_met"]
    assert vip["products_used"].dtype == "int64"  # a count


@pytest.mark.parametrize("sales, met", [(5_000_000.0, False), (5_000_000.01, True), (float("nan"), False)])
def test_scale_by_annual_sales_strictly_more_than_5m(sales, met):
    r = _vip_row([months_of("C1", DEC, [10] * 12)], c("C1", annual_sales_usd=sales))
    assert bool(r["scale_met"]) is met


@pytest.mark.parametrize("monthly, met", [(500_000.0, False), (500_000.01, True)])
def test_scale_by_average_monthly_settlement_turnover_strictly_more_than_500k(monthly, met):
    # 12 months of `monthly` → average = monthly
    r = _vip_row([months_of("C1", DEC, [10] * 12, turnover=monthly)], c("C1"))
    assert r["avg_monthly_settlement_turnover_usd"] == pytest.approx(monthly, abs=1e-6)
    assert bool(r["scale_met"]) is met


def test_scale_thresholds_with_cent_amounts_exactly_at_the_threshold_are_not_met():
    # turnover alternating 500,000.10 / 499,999.90 → 12-month total 6,000,000.00 → average exactly 500,000 → not met
    # exports 1,234,567.89 + 3,765,432.11 = 5,000,000.00 exactly → not met
    m = months_of("C1", DEC, [10] * 12, turnover=[500_000.10, 499_999.90] * 6,
                  export=[0] * 10 + [1_234_567.89, 3_765_432.11])
    r = _vip_row([m], c("C1"))
    assert r["avg_monthly_settlement_turnover_usd"] == pytest.approx(500_000.0)
    assert r["export_12m_usd"] == pytest.approx(5_000_000.0)
    assert not r["scale_met"]


def test_average_turnover_window_is_shorter_for_shorter_history():
    # 3 months of history, 500,000.01 each → average over 3 months = 500,000.01 → met
    # (dividing by 12 would give 125,000.0025 → not met)
    r = _vip_row([months_of("C1", DEC, [10] * 3, turnover=500_000.01)], c("C1"))
    assert r["avg_monthly_settlement_turnover_usd"] == pytest.approx(500_000.01)
    assert r["scale_met"]


def test_average_turnover_counts_missing_months_as_zero_and_uses_last_12_months():
    # 14 months; first 2 months 9,000,000 each (outside the window); in the window 6 months have
    # rows with 1,000,000 and 6 months have no row → average = 6,000,000 / 12 = 500,000 → NOT met (strict)
    turnover = [9_000_000, 9_000_000] + [1_000_000, 0] * 6
    skip = tuple(range(3, 14, 2))  # the positions with 0 have no row at all
    r = _vip_row([months_of("C1", DEC, [10] * 14, turnover=turnover, skip=skip)], c("C1"))
    assert r["avg_monthly_settlement_turnover_usd"] == pytest.approx(500_000.0)
    assert not r["scale_met"]


@pytest.mark.parametrize("export, met", [(5_000_000.0, False), (5_000_000.01, True)])
def test_scale_by_12_month_exports_strictly_more_than_5m(export, met):
    # exports split over two months of the last 12: 1,000,000 + (export − 1,000,000)
    exports = [0] * 10 + [1_000_000, export - 1_000_000]
    r = _vip_row([months_of("C1", DEC, [10] * 12, export=exports)], c("C1"))
    assert r["export_12m_usd"] == pytest.approx(export)
    assert bool(r["scale_met"]) is met


def test_exports_older_than_12_months_do_not_count():
    # 13 months; 6,000,000 exported in the first one, which is outside the trailing 12-month window
    r = _vip_row([months_of("C1", DEC, [10] * 13, export=[6_000_000] + [0] * 12)], c("C1"))
    assert r["export_12m_usd"] == pytest.approx(0.0)
    assert not r["scale_met"]


@pytest.mark.parametrize("adb, met", [(100_000.0, False), (100_000.01, True)])
def test_scale_by_as_of_month_adb_strictly_more_than_100k(adb, met):
    r = _vip_row([months_of("C1", DEC, [10] * 3, adb=adb)], c("C1"))
    assert r["adb_usd"] == pytest.approx(adb)
    assert bool(r["scale_met"]) is met


def test_adb_criterion_uses_the_as_of_month_only():
    # 1,000,000 in Oct and Nov, 50,000 in Dec → as of Dec: 50,000 → not met
    r = _vip_row([months_of("C1", DEC, [10] * 3, adb=[1_000_000, 1_000_000, 50_000])], c("C1"))
    assert r["adb_usd"] == pytest.approx(50_000.0)
    assert not r["scale_met"]


def test_monopoly_and_strategic_flags_are_criteria():
    r = _vip_row([months_of("C1", DEC, [10])], c("C1", monopoly_position=True, strategic=False))
    assert r["monopoly_met"] and not r["strategic_met"] and r["criteria_met"] == 1
    r = _vip_row([months_of("C1", DEC, [10])], c("C1", monopoly_position=False, strategic=True))
    assert not r["monopoly_met"] and r["strategic_met"] and r["criteria_met"] == 1


@pytest.mark.parametrize("before, after, growth, met", [
    (100_000, 125_000, 0.25, True),         # 1,500,000 / 1,200,000 − 1 = 0.25 exactly → met (≥)
    (40_000.40, 50_000.50, 0.25, True),     # 600,006.00 / 480,004.80 − 1 = 0.25 exactly (cents) → met
    (100_000, 124_999, 0.24999, False),     # 1,499,988 / 1,200,000 − 1 = 0.24999 → not met
    (100_000, 200_000, 1.0, True),          # doubled
    (100_000, 90_000, -0.1, False),         # shrank
])
def test_growth_criterion_at_least_25_percent(before, after, growth, met):
    # 24 months: 12 × `before` then 12 × `after`
    m = months_of("C1", DEC, [10] * 24, turnover=[before] * 12 + [after] * 12)
    r = _vip_row([m], c("C1"))
    assert r["turnover_growth"] == pytest.approx(growth)
    assert bool(r["growth_met"]) is met


def test_growth_null_with_fewer_than_24_months():
    # 23 months, turnover tripled → still "insufficient history": NULL, not met
    m = months_of("C1", DEC, [10] * 23, turnover=[100_000] * 11 + [300_000] * 12)
    r = _vip_row([m], c("C1"))
    assert pd.isna(r["turnover_growth"])
    assert not r["growth_met"]


def test_growth_null_with_zero_turnover_in_earlier_12_months():
    m = months_of("C1", DEC, [10] * 24, turnover=[0] * 12 + [100_000] * 12)
    r = _vip_row([m], c("C1"))
    assert pd.isna(r["turnover_growth"])
    assert not r["growth_met"]


def test_growth_compares_trailing_12_with_the_12_before_with_missing_months_as_zero():
    # 30 months. Months 1..6: 1,000,000 each (outside both windows).
    # Earlier window (months 7..18): 12 × 100,000 = 1,200,000.
    # Last window (months 19..30): 6 rows of 250,000 and 6 months with no row = 1,500,000.
    # growth = 1,500,000 / 1,200,000 − 1 = 0.25 → met
    turnover = [1_000_000] * 6 + [100_000] * 12 + [250_000, 0] * 6
    skip = tuple(range(19, 30, 2))
    r = _vip_row([months_of("C1", DEC, [10] * 30, turnover=turnover, skip=skip)], c("C1"))
    assert r["turnover_growth"] == pytest.approx(0.25)
    assert r["growth_met"]


def test_three_criteria_eligible_two_not():
    frames = [months_of("THREE", DEC, [10] * 3, products=4), months_of("TWO", DEC, [10] * 3, products=4)]
    out = _vip(frames, [c("THREE", monopoly_position=True, strategic=True),   # products + monopoly + strategic
                        c("TWO", monopoly_position=False, strategic=True)])   # products + strategic
    three, two = one(out.vip_assessment, "THREE"), one(out.vip_assessment, "TWO")
    assert three["criteria_met"] == 3 and three["vip_eligible"]
    assert two["criteria_met"] == 2 and not two["vip_eligible"]


def test_all_five_criteria_counted():
    # products 4; scale via annual sales; monopoly; strategic; growth 0.5 (1,800,000 / 1,200,000 − 1)
    m = months_of("C1", DEC, [10] * 24, products=4, turnover=[100_000] * 12 + [150_000] * 12)
    r = _vip_row([m], c("C1", annual_sales_usd=6_000_000, monopoly_position=True, strategic=True))
    met = ("products_met", "scale_met", "monopoly_met", "strategic_met", "growth_met")
    assert [bool(r[k]) for k in met] == [True] * 5
    assert r["criteria_met"] == 5
    assert r["vip_eligible"]


def test_individuals_are_never_vip_eligible():
    # an individual meeting all the flag criteria and scale: 4 criteria, still not eligible
    m = months_of("P1", DEC, [10] * 3, products=5)
    out = _vip([m], [c("P1", client_type="individual", annual_sales_usd=9_000_000,
                       monopoly_position=True, strategic=True)])
    r = one(out.vip_assessment, "P1")
    assert r["criteria_met"] == 4
    assert not r["vip_eligible"]
    seg = one(out.client_segments, "P1")
    assert seg["category"] == "mass"
    assert seg["recommended_action"] is None or pd.isna(seg["recommended_action"])


def test_vip_rules_are_configurable():
    m = months_of("C1", DEC, [10] * 3, products=3, turnover=200_000)
    row = c("C1", strategic=True)
    # defaults: strategic only → 1 criterion
    assert _vip_row([m], row)["criteria_met"] == 1
    # min_products 3 and turnover threshold 150,000 → products + scale + strategic = 3 → eligible
    r = _vip_row([m], row, rules=DecisionRules(min_products=3, avg_monthly_settlement_turnover_usd=150_000))
    assert r["criteria_met"] == 3 and r["vip_eligible"]
    # min_criteria 1 → eligible with a single criterion
    assert _vip_row([m], row, rules=DecisionRules(min_criteria=1))["vip_eligible"]


# =========================================================================== categories and actions

def _segments(rows_and_frames, as_of_months=(DEC,), rules: DecisionRules = DecisionRules()):
    frames = [f for _, f in rows_and_frames if f is not None]
    m = metrics(*frames) if frames else months_of("X", DEC, [0]).iloc[0:0]
    return assess(m, clients(*(r for r, _ in rows_and_frames)), list(as_of_months), rules).client_segments


ELIGIBLE = dict(monopoly_position=True, strategic=True)   # + products 4 → 3 criteria


def test_service_categories_first_matching_rule():
    seg = _segments([
        # key beats everything, even an eligible client and one with no activity
        (c("KEY_ELIG", related_party="shareholder", **ELIGIBLE), months_of("KEY_ELIG", DEC, [10], products=4)),
        (c("KEY_SMALL", related_party="subsidiary"), months_of("KEY_SMALL", DEC, [10], turnover=10)),
        (c("KEY_INDIV", related_party="affiliate", client_type="individual"), months_of("KEY_INDIV", DEC, [10])),
        # vip beats mass: eligible with tiny turnover
        (c("VIP_SMALL", **ELIGIBLE), months_of("VIP_SMALL", DEC, [10], products=4, turnover=100)),
        # mass: average turnover < 50,000 (49,999.99)
        (c("MASS", client_type="sme"), months_of("MASS", DEC, [10] * 12, turnover=49_999.99)),
        # corporate: exactly 50,000 is not < 50,000
        (c("CORP_50K", client_type="bank"), months_of("CORP_50K", DEC, [10] * 12, turnover=50_000)),
        (c("CORP"), months_of("CORP", DEC, [10] * 12, turnover=400_000)),
        # individuals are mass whatever their turnover
        (c("INDIV", client_type="individual"), months_of("INDIV", DEC, [10] * 12, turnover=1_000_000)),
        # no metrics at all: average turnover 0 → mass
        (c("NEW"), None),
    ])
    assert by_client(seg, "category") == {
        "KEY_ELIG": "key", "KEY_SMALL": "key", "KEY_INDIV": "key", "VIP_SMALL": "vip", "MASS": "mass",
        "CORP_50K": "corporate", "CORP": "corporate", "INDIV": "mass", "NEW": "mass",
    }


def test_mass_uses_12_month_average_not_the_as_of_month():
    # 12 months: 11 × 0 (rows present) and 600,000 in December → average 600,000 / 12 = 50,000 → corporate
    m = months_of("C1", DEC, [10] * 12, turnover=[0] * 11 + [600_000])
    assert by_client(_segments([(c("C1"), m)]), "category")["C1"] == "corporate"
    m = months_of("C2", DEC, [10] * 12, turnover=[0] * 11 + [599_999.88])   # average 49,999.99 → mass
    assert by_client(_segments([(c("C2"), m)]), "category")["C2"] == "mass"


def test_recommended_actions():
    corp = dict(turnover=400_000)
    seg = _segments([
        (c("APPROACH", service_model="standard", **ELIGIBLE), months_of("APPROACH", DEC, [10], products=4, **corp)),
        (c("APPROACH_MASS", service_model="mass", **ELIGIBLE), months_of("APPROACH_MASS", DEC, [10], products=4)),
        (c("VIP_OK", service_model="vip", **ELIGIBLE), months_of("VIP_OK", DEC, [10], products=4, **corp)),
        (c("WATCH", service_model="standard", **ELIGIBLE), months_of("WATCH", DEC, [10], products=3, **corp)),
        (c("REVIEW", service_model="vip", **ELIGIBLE), months_of("REVIEW", DEC, [10], products=3, **corp)),
        (c("REVIEW0", service_model="vip"), months_of("REVIEW0", DEC, [10], **corp)),
        (c("KEY_VIP", service_model="vip", related_party="shareholder"), months_of("KEY_VIP", DEC, [10], **corp)),
        (c("ONE", service_model="standard", strategic=True), months_of("ONE", DEC, [10], **corp)),
        (c("NONE_MET", service_model="standard"), months_of("NONE_MET", DEC, [10], **corp)),
    ])
    actions = {k: (None if v is None or (isinstance(v, float) and math.isnan(v)) else v)
               for k, v in by_client(seg, "recommended_action").items()}
    assert actions == {
        "APPROACH": "approach",        # eligible (3), served standard
        "APPROACH_MASS": "approach",   # eligible (3), served mass
        "VIP_OK": None,                # eligible and already served as VIP
        "WATCH": "watch",              # 2 criteria (monopoly, strategic), not served as VIP
        "REVIEW": "review",            # served as VIP, not related, 2 criteria → no longer eligible
        "REVIEW0": "review",           # served as VIP, 0 criteria
        "KEY_VIP": None,               # served as VIP but a related party → no review
        "ONE": None,                   # 1 criterion
        "NONE_MET": None,             # 0 criteria
    }


def test_previous_category_and_tier_from_previous_complete_month():
    # C1: products 3 in November (2 criteria → corporate, turnover 400,000), 4 in December (3 → vip)
    m1 = months_of("C1", DEC, [1000] * 12, turnover=400_000, products=[3] * 11 + [4])
    # C2 onboarded in December: no previous row → previous_* NULL
    m2 = months_of("C2", DEC, [10], turnover=400_000)
    seg = _segments([(c("C1", **ELIGIBLE), m1), (c("C2", onboarded_on="2024-12-15"), m2)], as_of_months=(NOV, DEC))
    nov, dec = one(seg, "C1", NOV), one(seg, "C1", DEC)
    assert nov["category"] == "corporate" and dec["category"] == "vip"
    assert pd.isna(nov["previous_category"]) and pd.isna(nov["previous_ltv_tier"])
    assert dec["previous_category"] == "corporate"
    # tiers: C2 is not active in November → N = 1 → ceil(0.2) = 1 → C1 most_valuable;
    # December: C1 (12,000) and C2 (10) → N = 2 → ceil(0.4) = 1 → C1 most_valuable, C2 workhorse (tenure 1)
    assert nov["ltv_tier"] == "most_valuable"
    assert dec["previous_ltv_tier"] == "most_valuable"
    c2 = one(seg, "C2", DEC)
    assert c2["ltv_tier"] == "workhorse"
    assert pd.isna(c2["previous_category"]) and pd.isna(c2["previous_ltv_tier"])
    assert len(seg[(seg["client_id"] == "C2") & (seg["as_of_month"] == NOV)]) == 0


def test_assess_publishes_the_movements_since_the_previous_month_of_the_pass():
    # C1 margins 100 (November), 200 (December), no settlement turnover: alone → most_valuable (N = 1) and mass
    # (average turnover 0 < 50,000) in both months. November's previous month is not in the pass → no rows;
    # December: one client stays most_valuable and mass, with its December LTV 300
    out = assess(months_of("C1", DEC, [100, 200]), clients(c("C1")), [NOV, DEC])
    rows = {(r.as_of_month, r.dimension, r.from_value, r.to_value, r.clients, r.ltv_usd)
            for r in out.segment_migrations.itertuples()}
    assert rows == {(DEC, "ltv_tier", "most_valuable", "most_valuable", 1, 300.0),
                    (DEC, "category", "mass", "mass", 1, 300.0)}


def test_previous_tier_changes_are_visible():
    # C1 has LTV < 0 in November (ballast), ≥ 0 in December
    m = months_of("C1", DEC, [-100, 500])
    seg = _segments([(c("C1"), m), (c("C2"), months_of("C2", DEC, [10_000, 10_000]))], as_of_months=(NOV, DEC))
    dec = one(seg, "C1", DEC)
    assert one(seg, "C1", NOV)["ltv_tier"] == "ballast"
    assert dec["previous_ltv_tier"] == "ballast"
    assert dec["ltv_tier"] == "workhorse"  # 2 clients → C2 top; C1 tenure 2 < 3


def test_previous_tier_of_each_month_when_three_months_are_decided_at_once():
    # October, November and December decided in one pass. C1 margins −100, −100, +500 → LTV −100, −200
    # (ballast), then 300: LTV ≥ 0, not top (C2 is), mean 100 but CV √80,000 / 100 = 2.83 > 1 → workhorse.
    # C2 10,000 a month → most_valuable every month (N = 1, then 2 → ceil(0.4) = 1).
    # Each month's previous tier is the month before's; October has none in the pass → NULL
    oct_ = D("2024-10-01")
    m = metrics(months_of("C1", DEC, [-100, -100, 500]), months_of("C2", DEC, [10_000] * 3))
    seg = _segments([(c("C1"), m[m["client_id"] == "C1"]), (c("C2"), m[m["client_id"] == "C2"])],
                    as_of_months=(oct_, NOV, DEC))
    c1 = [one(seg, "C1", month) for month in (oct_, NOV, DEC)]
    assert [r["ltv_tier"] for r in c1] == ["ballast", "ballast", "workhorse"]
    assert pd.isna(c1[0]["previous_ltv_tier"])
    assert [r["previous_ltv_tier"] for r in c1[1:]] == ["ballast", "ballast"]
    assert one(seg, "C2", DEC)["previous_ltv_tier"] == "most_valuable"


# =========================================================================== active clients

def test_active_clients_boundaries():
    cl = clients(
        c("ON_LAST_DAY", onboarded_on="2024-06-30"),                            # active
        c("ON_NEXT_MONTH", onboarded_on="2024-07-01"),                          # not yet
        c("OFF_BEFORE", onboarded_on="2020-01-01", offboarded_on="2024-05-31"),  # gone before June 1 → not
        c("OFF_FIRST_DAY", onboarded_on="2020-01-01", offboarded_on="2024-06-01"),  # offboarded on June 1 → active
        c("OFF_LATER", onboarded_on="2020-01-01", offboarded_on="2024-09-01"),  # active
    )
    june = D("2024-06-01")
    active = active_clients(cl, [june])
    assert sorted(active["client_id"]) == ["OFF_FIRST_DAY", "OFF_LATER", "ON_LAST_DAY"]
    # assess publishes exactly the active clients
    out = assess(months_of("OFF_LATER", june, [10]), cl, [D("2024-05-01"), june])
    for table in (out.client_segments, out.client_ltv, out.vip_assessment):
        assert sorted(table.loc[table["as_of_month"] == june, "client_id"]) == [
            "OFF_FIRST_DAY", "OFF_LATER", "ON_LAST_DAY"
        ]
    # in May, OFF_BEFORE (offboarded May 31) is still active and ON_LAST_DAY (onboarded June 30) is not yet
    may = out.client_segments[out.client_segments["as_of_month"] == D("2024-05-01")]
    assert sorted(may["client_id"]) == ["OFF_BEFORE", "OFF_FIRST_DAY", "OFF_LATER"]


def test_active_clients_per_month():
    cl = clients(c("A", onboarded_on="2024-11-20"), c("B", onboarded_on="2020-01-01", offboarded_on="2024-11-15"))
    active = active_clients(cl, [NOV, DEC])
    pairs = sorted(zip(active["client_id"], active["as_of_month"]))
    # Nov: A (onboarded Nov 20 ≤ Nov 30), B (offboarded Nov 15 ≥ Nov 1); Dec: A only
    assert pairs == [("A", NOV), ("A", DEC), ("B", NOV)]


@dataclasses.dataclass(frozen=True)
class _Described:
    share: float = 0.2  # top share: ceil(share × n) #1
    months: int = 12  #   months of history


@dataclasses.dataclass(frozen=True)
class _Undescribed:
    share: float = 0.2  # described
    months: int = 12


def test_a_fields_description_is_its_lines_trailing_comment():
    """Whole, without the spaces after the "#", a "#" inside it kept; a field without one is an error at import
    (KeyError); the methodology's own: top_share's comment. Kills rules.x__trailing_comments__mutmut_1..11 (they
    run at import, where mutmut cannot reach them: this test calls the function)."""
    assert _trailing_comments(_Described) == {"share": "top share: ceil(share × n) #1", "months": "months of history"}
    with pytest.raises(KeyError, match="months"):
        _trailing_comments(_Undescribed)
    assert DESCRIPTIONS["top_share"] == "most_valuable = ceil(top_share × clients with LTV ≥ 0)"
    assert list(DESCRIPTIONS) == [f.name for f in dataclasses.fields(DecisionRules)]


def test_every_resource_field_is_described_and_decision_rules_are_declared_once():
    """The launchpad explains every config field; DecisionRulesResource is DecisionRules, field for field."""
    import dataclasses

    from vip_pipeline import resources

    classes = [getattr(resources, n) for n in dir(resources) if n.endswith("Resource") and n != "ConfigurableResource"]
    assert len(classes) == 5, classes
    for cls in classes:
        fields = cls.to_config_schema().as_field().config_type.fields
        assert fields and all(f.description for f in fields.values()), cls.__name__
    config = resources.DecisionRulesResource.to_config_schema().as_field().config_type.fields
    rules = {f.name: f for f in dataclasses.fields(DecisionRules)}
    assert list(config) == list(rules)
    assert {k: f.default_value for k, f in config.items()} == {k: f.default for k, f in rules.items()}
    assert {k: f.description for k, f in config.items()} == DESCRIPTIONS
    assert resources.DecisionRulesResource().rules() == DecisionRules()
    assert resources.DecisionRulesResource(top_share=0.4).rules() == DecisionRules(top_share=0.4)


# =========================================================================== the chained panel (mutation-testing pass)

def _month_metrics(client_id: str, month: pd.Timestamp, revenue: float, cost: float, **kw) -> pd.DataFrame:
    row = dict(client_id=client_id, month=month, revenue_usd=revenue, cost_usd=cost, margin_usd=revenue - cost,
               settlement_turnover_usd=0.0, export_usd=0.0, adb_usd=0.0, products_used=1, product_mask=1,
               is_complete_month=True)
    row.update(kw)
    return pd.DataFrame([row])


def test_next_panel_carries_running_sums_and_adds_new_clients_in_client_order():
    """October: B's first month (revenue 300, cost 100 → margin 200). November: A arrives (revenue 80, cost 30,
    turnover 1,000, ADB 500, products {current, deposit} = 2, mask 1 + 2 = 3); B has no activity.
    November's panel, in client order (A before B, though B was there first):
      A: midx 2024 × 12 + 10 = 24,298, first_midx 24,298, tenure 1, flows of the month, running 80 / 30 / 50
         (a new client starts its running sums at 0);
      B: first_midx 24,297 (October), tenure 2, every flow 0, products 0, mask 0, running 300 / 100 / 200 carried.
    Kills panel.x_next_panel__mutmut_35/39/44 (order), _56.._60/_70 (int columns), _76 (month), _107 (running sums
    of a new client from 1), _112/_113 (an extra index column)."""
    oct_ = D("2024-10-01")
    october = next_panel(None, _month_metrics("B", oct_, 300.0, 100.0), oct_)
    november = next_panel(october, _month_metrics("A", NOV, 80.0, 30.0, settlement_turnover_usd=1_000.0,
                                                  adb_usd=500.0, products_used=2, product_mask=3), NOV)
    assert list(november.columns) == PANEL_COLUMNS
    assert november["client_id"].tolist() == ["A", "B"]
    assert (november["month"] == NOV).all()
    assert november["midx"].tolist() == [24_298, 24_298]
    assert november["first_midx"].tolist() == [24_298, 24_297]
    assert november["tenure_months"].tolist() == [1, 2]
    assert november["settlement_turnover_usd"].tolist() == [1_000.0, 0.0]
    assert november["adb_usd"].tolist() == [500.0, 0.0]
    assert november["products_used"].tolist() == [2, 0] and november["product_mask"].tolist() == [3, 0]
    assert november["revenue_cum_usd"].tolist() == [80.0, 300.0]
    assert november["cost_cum_usd"].tolist() == [30.0, 100.0]
    assert november["ltv_usd"].tolist() == [50.0, 200.0]
    for column in ("midx", "first_midx", "tenure_months", "products_used", "product_mask"):
        assert november[column].dtype == "int64", column


def test_running_sums_are_kahan_sums_equal_to_pandas_cumsum_to_the_last_bit():
    """One client, six months of margin (revenue = margin, cost 0): 0.1, 1e16, 1, 1, 1, 1. A plain running sum
    loses each 1 next to 1e16 (doubles there are 2 apart, 1e16 + 1 rounds back to 1e16) and would stay at 1e16;
    the compensated sum keeps them: 1e16 + 4 in the sixth month (the 0.1 is below the spacing). Every month's
    LTV is, to the last bit, pandas' groupby cumsum of the margins (the docstring's promise, which makes a
    windowed decision equal a whole-history one); the first month is 0.1 exactly (a new client's sums start
    at 0), and so is B's, who arrives in March beside A with a margin of 0.1. Kills
    panel.x_next_panel__mutmut_106 (sums of the first panel's clients from 1: 0.1 becomes 0.09999999999999998),
    _104 (the same for a client joining a carried panel), _108 (the compensation added, not subtracted), _111
    (the compensation dropped)."""
    months = pd.date_range("2024-01-01", periods=6, freq="MS")
    margins = [0.1, 1e16, 1.0, 1.0, 1.0, 1.0]
    metrics = pd.concat([_month_metrics("A", m, x, 0.0) for m, x in zip(months, margins)]
                        + [_month_metrics("B", months[2], 0.1, 0.0)], ignore_index=True)
    panel = build_panel(metrics, months[-1])
    a, b = panel[panel["client_id"] == "A"], panel[panel["client_id"] == "B"]
    # pandas' groupby cumsum compensates too (a plain Series.cumsum stays at 1e16); equal exactly, not approximately
    assert a["ltv_usd"].tolist() == pd.Series(margins).groupby(["A"] * len(margins)).cumsum().tolist()
    assert a["ltv_usd"].iloc[0] == 0.1
    assert a["ltv_usd"].iloc[-1] == 1e16 + 4
    assert b["ltv_usd"].tolist() == [0.1] * 4  # March to June


def test_a_window_of_the_panel_gives_the_whole_historys_trailing_sums_to_the_last_bit():
    """One client, eight months of margin: 1e16 in January, then 0.1, 0.2, … 0.7. The 3-month trailing sums of
    July and August (May–July, June–August), read from the panel's rows from April only (a window reaching 3
    months before the first sum, as decisions read it), equal to the last bit the ones read from the whole
    panel: both are differences of the running sums the panel carries (near 1e16, where doubles are 2 apart:
    2.0 both, for 1.5 and 1.8). Summing the window's rows afresh gives other bits (1.5, 1.8). Kills
    panel.x_trailing_sum__mutmut_2/3 (the running sum ignored: a cumulative sum of the rows given)."""
    months = pd.date_range("2024-01-01", periods=8, freq="MS")
    margins = [1e16, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
    metrics = pd.concat([_month_metrics("A", m, x, 0.0) for m, x in zip(months, margins)], ignore_index=True)
    whole = build_panel(metrics, months[-1])
    window = whole[whole["month"] >= D("2024-04-01")].reset_index(drop=True)
    from_whole = trailing_sum(whole, "margin_usd", 3).iloc[-2:].tolist()
    from_window = trailing_sum(window, "margin_usd", 3).iloc[-2:].tolist()
    assert from_window == from_whole == [2.0, 2.0]
    fresh = window["margin_usd"].cumsum()
    assert (fresh - fresh.shift(3)).iloc[-2:].tolist() == pytest.approx([1.5, 1.8])  # what the mutants would give


def test_window_start_is_months_back_from_the_first_as_of_month():
    # December 2024 − 24 months = December 2022; − 0 = itself. Kills panel.x_window_start__mutmut_1..3.
    assert window_start(DEC, 24) == D("2022-12-01")
    assert window_start(D("2024-03-01"), 5) == D("2023-10-01")
    assert window_start(DEC, 0) == DEC


def test_build_panel_chains_every_month_up_to_the_last_one():
    """A and B from October (A: revenue 100, cost 40 → margin 60; B: 10 − 30 = −20); no metrics at all in
    November; A again in December (50 − 20 = 30); panel up to January 2025 (no metrics either).
    Every client has a row in every month from its first: 2 clients × 4 months = 8 rows, numbered 0..7;
    LTV A 60, 60, 90, 90; B −20 throughout; tenure 1..4. No metrics at all → an empty panel with its columns.
    Kills panel.x_build_panel__mutmut_16 (no columns), _43/_45/_46 (row labels repeated per month)."""
    oct_, jan = D("2024-10-01"), D("2025-01-01")
    m = pd.concat([_month_metrics("A", oct_, 100.0, 40.0), _month_metrics("B", oct_, 10.0, 30.0),
                   _month_metrics("A", DEC, 50.0, 20.0)], ignore_index=True)
    panel = build_panel(m, jan)
    assert panel.index.tolist() == list(range(8))
    assert panel[["client_id", "month", "tenure_months", "ltv_usd"]].values.tolist() == [
        ["A", oct_, 1, 60.0], ["B", oct_, 1, -20.0],
        ["A", NOV, 2, 60.0], ["B", NOV, 2, -20.0],
        ["A", DEC, 3, 90.0], ["B", DEC, 3, -20.0],
        ["A", jan, 4, 90.0], ["B", jan, 4, -20.0],
    ]
    empty = build_panel(m.iloc[0:0], DEC)
    assert empty.empty and list(empty.columns) == PANEL_COLUMNS


def test_trailing_sums_over_a_window_and_a_lagged_window():
    """A: 1, 2, 4 over three months; B: 10, 20 (rows in client and month order).
    window 2: A 1, 1 + 2 = 3, 2 + 4 = 6; B 10, 30. window 2 ending 1 month earlier (lag 1): A 0 (nothing before
    its first month), 1, 1 + 2 = 3; B 0, 10. Kills panel.x_trailing_sum__mutmut_23 (months before the first row
    counted as 1)."""
    panel = pd.DataFrame({"client_id": ["A", "A", "A", "B", "B"], "x": [1.0, 2.0, 4.0, 10.0, 20.0]})
    assert trailing_sum(panel, "x", 2).tolist() == [1.0, 3.0, 6.0, 10.0, 30.0]
    assert trailing_sum(panel, "x", 2, lag=1).tolist() == [0.0, 1.0, 3.0, 0.0, 10.0]


def test_sorted_panel_orders_by_client_and_month_with_fresh_row_numbers():
    """Rows (B, Nov), (A, Dec), (A, Nov) → (A, Nov), (A, Dec), (B, Nov), numbered 0..2, same columns.
    Kills panel.x_sorted_panel__mutmut_1 (old row labels kept as an `index` column)."""
    panel = pd.DataFrame({"client_id": ["B", "A", "A"], "midx": [24_298, 24_299, 24_298], "x": [1.0, 2.0, 3.0]})
    out = sorted_panel(panel)
    assert out.values.tolist() == [["A", 24_298, 3.0], ["A", 24_299, 2.0], ["B", 24_298, 1.0]]
    assert list(out.columns) == ["client_id", "midx", "x"] and out.index.tolist() == [0, 1, 2]


def test_growth_is_measured_even_on_cents_of_earlier_turnover():
    # 24 months: 0.60 of settlement turnover in the first month of the earlier 12, 0.75 in the first of the last 12
    # → growth = 0.75 / 0.60 − 1 = 0.25 → met (anything above 0 before counts, not only ≥ 1 dollar).
    # Kills vip.x_vip_measures__mutmut_37 (`before > 1`).
    m = months_of("C1", DEC, [10] * 24, turnover=[0.60] + [0] * 11 + [0.75] + [0] * 11)
    r = _vip_row([m], c("C1"))
    assert r["turnover_growth"] == pytest.approx(0.25)
    assert r["growth_met"]


def test_group_criteria_through_assess_read_the_members_panel_measures():
    """G1 = A + B, 24 months each. A: products {current, deposit} (mask 1 + 2 = 3), strategic; B: {savings, loan}
    (mask 4 + 8 = 12). Settlement turnover 100,000 a month for 12 months, then 125,000, for both.
    Group: products 4 (3 | 12 = 15) → met; growth Σ 2 × 1,500,000 / Σ 2 × 1,200,000 − 1 = 0.25 → met; strategic
    (A) → met; scale: Σ average turnover 250,000 ≤ 500,000 → not met → 3 criteria → eligible, A and B `vip`.
    Each alone: 2 products, growth 0.25 (A also strategic) → A 2 criteria, B 1 → not eligible.
    Kills vip.x_vip_measures__mutmut_74.._79 (the group's settlement sums and product masks lost on the way)."""
    turnover = [100_000] * 12 + [125_000] * 12
    m = metrics(months_of("A", DEC, [10] * 24, turnover=turnover, products=2).assign(product_mask=3),
                months_of("B", DEC, [10] * 24, turnover=turnover, products=2).assign(product_mask=12))
    out = decide(m, clients(c("A", group_id="G1", strategic=True), c("B", group_id="G1")))
    g = out.group_assessment.set_index("group_id").loc["G1"]
    assert (g["members"], g["products_used"]) == (2, 4)
    assert g["turnover_growth"] == pytest.approx(0.25)
    assert g["avg_monthly_settlement_turnover_usd"] == pytest.approx(250_000.0)
    assert (g["products_met"], g["scale_met"], g["strategic_met"], g["growth_met"]) == (True, False, True, True)
    assert g["criteria_met"] == 3 and g["group_vip_eligible"]
    assert by_client(out.vip_assessment, "criteria_met") == {"A": 2, "B": 1}
    assert by_client(out.client_segments, "category") == {"A": "vip", "B": "vip"}
    # the pass's rules reach the groups: with 4 criteria needed, G1's 3 are not enough → not eligible, and A and B
    # (average turnover 125,000 ≥ 50,000) are corporate
    strict = decide(m, clients(c("A", group_id="G1", strategic=True), c("B", group_id="G1")),
                    rules=DecisionRules(min_criteria=4))
    assert not strict.group_assessment.set_index("group_id").loc["G1", "group_vip_eligible"]
    assert by_client(strict.client_segments, "category") == {"A": "corporate", "B": "corporate"}


def test_service_category_keeps_the_frames_row_labels_and_reads_turnover_at_9_decimals():
    """Rows labelled 10 and 11 (not 0, 1): the categories come back under the same labels.
    Row 11's average turnover 49,999.99999999991 is 50,000 to 9 decimals (float noise of a 12-month average) → not
    < 50,000 → corporate; row 10 (49,999.99) → mass. Kills segments.x_service_category__mutmut_2/4 (labels) and
    _26 (round(10) would read 49,999.9999999999 → mass)."""
    frame = pd.DataFrame({"related_party": ["none", "none"], "vip_eligible": [False, False],
                          "client_type": ["corporate", "corporate"],
                          "avg_monthly_settlement_turnover_usd": [49_999.99, 49_999.99999999991]}, index=[10, 11])
    out = service_category(frame, DecisionRules())
    assert out.to_dict() == {10: "mass", 11: "corporate"}


def test_recommended_action_keeps_the_frames_row_labels():
    """Row 10: eligible, served standard → approach; row 11: 2 criteria, not served as VIP → watch.
    Kills segments.x_recommended_action__mutmut_42/44 (labels 0, 1 instead of 10, 11)."""
    frame = pd.DataFrame({"service_model": ["standard", "standard"], "vip_eligible": [True, False],
                          "criteria_met": [3, 2], "related_party": ["none", "none"]}, index=[10, 11])
    assert recommended_action(frame, DecisionRules()).to_dict() == {10: "approach", 11: "watch"}


def test_vip_measures_are_compared_at_9_decimals_and_missing_sales_are_zero():
    """Growth 0.24999999991 is 25 % to 9 decimals → met (round(10) would read 0.2499999999 → not met).
    With a sales threshold of 0 (strictly more than 0): annual sales NULL count as 0 → not met; 0.01 → met.
    Kills vip.x__measure__mutmut_5 and vip.x_vip_criteria__mutmut_13 (NULL sales read as 1)."""
    frame = pd.DataFrame({"products_used": [0, 0], "annual_sales_usd": [float("nan"), 0.01],
                          "avg_monthly_settlement_turnover_usd": [0.0, 0.0], "export_12m_usd": [0.0, 0.0],
                          "adb_usd": [0.0, 0.0], "monopoly_position": [False, False], "strategic": [False, False],
                          "turnover_growth": [0.24999999991, float("nan")], "client_type": ["corporate"] * 2})
    met = vip_criteria(frame, DecisionRules(annual_sales_usd=0.0))
    assert met["growth_met"].tolist() == [True, False]
    assert met["scale_met"].tolist() == [False, True]
