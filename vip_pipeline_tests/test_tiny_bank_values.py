"""End to end on SQLite: the published decisions of two tiny banks, every value computed by hand.

The pipeline is driven exactly as `vip-pipeline run` does (`run_pipeline`) and the published tables are read
back; the expectations come from SPEC §1-§2, worked out in each test's docstring, not from the code's output.
(PostgreSQL is covered by test_pipeline.py; this file checks the values.)
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from vip_pipeline.runner import run_pipeline
from vip_pipeline.storage.warehouse import Warehouse
from vip_pipeline_tests.tiny_bank import write_tiny_bank

FEB, MAR = pd.Timestamp("2024-02-01"), pd.Timestamp("2024-03-01")


def _run(landing, tmp_path, url) -> Warehouse:
    run_pipeline(str(landing), url, str(tmp_path / "staging"), progress=lambda _: None)
    return Warehouse(url)


def _by(frame: pd.DataFrame, key: str = "as_of_month") -> pd.DataFrame:
    return frame.set_index(["client_id", key]).sort_index()


def _action(value) -> str | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def test_tiny_bank_margin_ltv_tiers_ranks_categories_and_actions(tmp_path, sqlite_url):
    """The tiny bank of tiny_bank.py (February and March 2024, both complete: a balances file for 2024-03-31).

    Default rules: ftp 3 %, $20 per open account-month, $0.10 per transaction. Funding of an account in a month
    = adb_usd × 0.03 × days / 365 = Σ(daily USD balance) × 0.03 / 365.

    February (29 days):
      A1 (c1, USD current): 1,000 all month → Σ 29,000 → funding 870 / 365.
         t1 C 700,000 payment, t2 D 50 fee, t3 C 100 transfer from A2 → fee income 50, 3 txns → servicing 20.30.
      A2 (c1, EUR deposit, opened Feb 15): 500 EUR Feb 15..29; rate 1.1 Feb 15..18 (4 days), 1.2 Feb 19..29
         (11 days) → Σ USD 4 × 550 + 11 × 600 = 8,800 → funding 264 / 365; servicing 20.
      B1 (c2, USD current, opened Feb 10): 100 Feb 10..29 (20 days) → Σ 2,000 → funding 60 / 365; servicing 20.
      c1 margin = 50 + (870 + 264) / 365 − 40.30 = 9.70 + 1,134 / 365 = 12.806849
         revenue = 50 + 1,134 / 365 = 53.106849; cost = 40.30
      c2 margin = 60 / 365 − 20 = −19.835616 (revenue 60 / 365, cost 20)
    March (31 days):
      A1: 1,000 Mar 1..30, 2,000 Mar 31 → Σ 32,000 → funding 960 / 365; t4 C 10 interest → interest expense 10;
         1 txn → servicing 20.10.
      A2: 500 EUR; Mar 1..3 at Feb 26's 1.2 (≤ 7 days old), Mar 4..31 at 1.0 → Σ 3 × 600 + 28 × 500 = 15,800
         → funding 474 / 365; servicing 20.
      B1: closed Mar 20: 100 Mar 1..20 → Σ 2,000 → funding 60 / 365; servicing 20.
      c1 margin = (960 + 474) / 365 − 10 − 40.10 = 1,434 / 365 − 50.10 = −46.171233
      c2 margin = 60 / 365 − 20 = −19.835616
    LTV: c1 Feb 12.806849, Mar 12.806849 − 46.171233 = 2,568 / 365 − 40.40 = −33.364384
         c2 Feb −19.835616, Mar 120 / 365 − 40 = −39.671233
    Tiers: Feb: c1 is the only client with LTV ≥ 0 → N = 1, ceil(0.2) = 1 → most_valuable; c2 ballast.
           Mar: both LTV < 0 → ballast, ballast.
    Ranks (LTV, highest first): c1 1, c2 2 in both months.
    VIP criteria: c1: products {current, deposit} = 2 < 4 ✗; scale ✓ (annual sales 6,000,000 > 5,000,000; and
      Feb average settlement turnover 700,000 > 500,000 — t3 is an own transfer); monopoly ✓; strategic ✗;
      growth ✗ (< 24 months) → 2 criteria, not eligible. c2: 1 product, no sales, settlement turnover 0,
      ADB ≈ 69 → 0 criteria.
    Categories: c1 not related, not eligible, average settlement turnover Feb 700,000 / 1, Mar 700,000 / 2 =
      350,000 ≥ 50,000 → corporate; c2 average 0 < 50,000 → mass.
    Actions: c1 served standard with exactly 2 criteria → watch; c2 served vip, not related, not eligible → review.
    """
    wh = _run(write_tiny_bank(tmp_path / "landing"), tmp_path, sqlite_url)

    metrics = _by(wh.read("monthly_client_metrics"), "month")
    expected_margin = {
        ("c1", FEB): 50 + 1134 / 365 - 40.30,
        ("c2", FEB): 60 / 365 - 20,
        ("c1", MAR): 1434 / 365 - 50.10,
        ("c2", MAR): 60 / 365 - 20,
    }
    assert set(metrics.index) == set(expected_margin)
    for key, margin in expected_margin.items():
        assert metrics.loc[key, "margin_usd"] == pytest.approx(margin), key
    assert metrics.loc[("c1", FEB), "revenue_usd"] == pytest.approx(50 + 1134 / 365)
    assert metrics.loc[("c1", FEB), "cost_usd"] == pytest.approx(40.30)
    assert metrics.loc[("c1", MAR), "cost_usd"] == pytest.approx(50.10)
    assert metrics.loc[("c1", FEB), "margin_usd"] == pytest.approx(12.806849)
    assert metrics.loc[("c1", MAR), "margin_usd"] == pytest.approx(-46.171233)

    ltv = _by(wh.read("client_ltv"))
    expected_ltv = {
        ("c1", FEB): 12.806849,
        ("c1", MAR): 2568 / 365 - 40.40,
        ("c2", FEB): 60 / 365 - 20,
        ("c2", MAR): 120 / 365 - 40,
    }
    assert set(ltv.index) == set(expected_ltv)
    for key, value in expected_ltv.items():
        assert ltv.loc[key, "ltv_usd"] == pytest.approx(value), key
    assert ltv.loc[("c1", MAR), "ltv_usd"] == pytest.approx(-33.364384)
    assert ltv.loc[("c1", MAR), "tenure_months"] == 2
    assert ltv.loc[("c1", MAR), "first_month"] == FEB
    assert ltv.loc[("c1", MAR), "avg_monthly_margin_usd"] == pytest.approx(-33.364384 / 2)

    vip = _by(wh.read("vip_assessment"))
    assert vip["criteria_met"].to_dict() == {("c1", FEB): 2, ("c1", MAR): 2, ("c2", FEB): 0, ("c2", MAR): 0}
    assert not vip["vip_eligible"].any()
    assert vip.loc[("c1", FEB), "avg_monthly_settlement_turnover_usd"] == pytest.approx(700_000)
    assert vip.loc[("c1", MAR), "avg_monthly_settlement_turnover_usd"] == pytest.approx(350_000)

    seg = _by(wh.read("client_segments"))
    assert seg["ltv_tier"].to_dict() == {
        ("c1", FEB): "most_valuable", ("c1", MAR): "ballast", ("c2", FEB): "ballast", ("c2", MAR): "ballast"}
    assert seg["ltv_rank"].to_dict() == {("c1", FEB): 1, ("c1", MAR): 1, ("c2", FEB): 2, ("c2", MAR): 2}
    assert seg["category"].to_dict() == {
        ("c1", FEB): "corporate", ("c1", MAR): "corporate", ("c2", FEB): "mass", ("c2", MAR): "mass"}
    assert {k: _action(v) for k, v in seg["recommended_action"].items()} == {
        ("c1", FEB): "watch", ("c1", MAR): "watch", ("c2", FEB): "review", ("c2", MAR): "review"}
    assert seg.loc[("c1", MAR), "ltv_usd"] == pytest.approx(-33.364384)
    assert seg.loc[("c1", MAR), "previous_ltv_tier"] == "most_valuable"
    assert seg.loc[("c1", MAR), "previous_category"] == "corporate"


PYRAMID_BANK = {
    "clients_2024-03-31.csv": "client_id,name,client_type,related_party,industry,region,onboarded_on,"
    "offboarded_on,annual_sales_usd,monopoly_position,strategic,service_model\n"
    """k1,Kappa One,corporate,none,energy,Sofia,2020-01-01,,,true,true,standard
k2,Kappa Two,corporate,none,retail,Varna,2020-01-01,,,false,false,vip
k3,Kappa Three,corporate,none,retail,Varna,2020-01-01,,,true,false,standard
k4,Kappa Four,corporate,subsidiary,banking,Sofia,2020-01-01,,,false,false,standard
""",
    "accounts_2024-03-31.csv": """account_id,client_id,product,currency,opened_on,closed_on
K1,k1,current,USD,2020-01-01,
K2,k2,current,USD,2020-01-01,
K3,k3,current,USD,2024-02-01,
K4,k4,current,USD,2020-01-01,
""",
    "fx_rates_2024-01.csv": "rate_date,currency,usd_per_unit\n2024-01-02,EUR,1.1\n",
    "balances_2024-01.csv": "account_id,balance_date,balance\nK1,2024-01-01,730000\nK2,2024-01-01,365000\n",
    "balances_2024-02.csv": "account_id,balance_date,balance\nK3,2024-02-01,365000\n",
    "balances_2024-03-31.csv": "account_id,balance_date,balance\nK1,2024-03-31,730000\n",
    "transactions_2024-01.csv": (
        "txn_id,account_id,booking_date,amount,direction,txn_type,counterparty_account_id,counterparty_country,"
        "purpose\n"
    ),
}


def test_pyramid_bank_every_tier_category_and_action(tmp_path, sqlite_url):
    """A second tiny bank (January..March 2024, all USD, no transactions) where every tier, category and action
    occurs in March 2024 (31 days; February has 29).

    Funding per day = balance × 0.03 / 365: 730,000 → 60; 365,000 → 30. Servicing: $20 per open account-month.
      k1: 730,000 from Jan 1 → margins Jan 60 × 31 − 20 = 1,840, Feb 60 × 29 − 20 = 1,720, Mar 1,840 → LTV 5,400
      k2: 365,000 from Jan 1 → 930 − 20 = 910, 870 − 20 = 850, 910 → LTV 2,670
          last 12 months (3 it has): mean 890, population var (20² + 40² + 20²) / 3 = 800, std 28.28,
          CV 0.0318 ≤ 1.0 → stable
      k3: account opened Feb 1, 365,000 from Feb 1 → 850, 910 → LTV 1,760, tenure 2 (< 3 months)
      k4: idle account → −20 a month → LTV −60
    Pyramid in March: LTV ≥ 0: k1, k2, k3 → N = 3 → top count ceil(0.6) = 1 → k1 most_valuable;
      k2 strategic (CV ≤ 1, 3 months); k3 workhorse (fewer than 3 months); k4 ballast (LTV < 0).
    Ranks: k1 1 (5,400), k2 2 (2,670), k3 3 (1,760), k4 4 (−60).
    Criteria in March: scale by ADB (> 100,000): k1 730,000 ✓, k2 365,000 ✓, k3 365,000 ✓, k4 0 ✗;
      k1 + monopoly + strategic = 3 → eligible; k2 scale only = 1; k3 scale + monopoly = 2; k4 0.
    Categories: k4 related party (subsidiary) → key; k1 eligible → vip; k2, k3 settlement turnover 0 < 50,000
      → mass.
    Actions: k1 eligible, served standard → approach; k2 served vip, not related, not eligible → review;
      k3 served standard, exactly 2 criteria → watch; k4 0 criteria, not vip-served → none.
    """
    landing = write_tiny_bank(tmp_path / "landing", PYRAMID_BANK)
    wh = _run(landing, tmp_path, sqlite_url)

    margin = _by(wh.read("monthly_client_metrics"), "month")["margin_usd"]
    assert margin[("k1", pd.Timestamp("2024-01-01"))] == pytest.approx(1840.0)
    assert margin[("k1", FEB)] == pytest.approx(1720.0)
    assert margin[("k2", MAR)] == pytest.approx(910.0)
    assert margin[("k3", FEB)] == pytest.approx(850.0)

    ltv = _by(wh.read("client_ltv"))
    march = {cid: ltv.loc[(cid, MAR)] for cid in ("k1", "k2", "k3", "k4")}
    assert {cid: r["ltv_usd"] for cid, r in march.items()} == pytest.approx(
        {"k1": 5400.0, "k2": 2670.0, "k3": 1760.0, "k4": -60.0})
    assert march["k2"]["margin_cv"] == pytest.approx(math.sqrt(800.0) / 890.0)
    assert march["k3"]["tenure_months"] == 2

    seg = _by(wh.read("client_segments"))
    mar = seg.xs(MAR, level="as_of_month")
    assert mar["ltv_tier"].to_dict() == {"k1": "most_valuable", "k2": "strategic", "k3": "workhorse", "k4": "ballast"}
    assert mar["ltv_rank"].to_dict() == {"k1": 1, "k2": 2, "k3": 3, "k4": 4}
    assert mar["category"].to_dict() == {"k1": "vip", "k2": "mass", "k3": "mass", "k4": "key"}
    assert {k: _action(v) for k, v in mar["recommended_action"].items()} == {
        "k1": "approach", "k2": "review", "k3": "watch", "k4": None}

    vip = _by(wh.read("vip_assessment")).xs(MAR, level="as_of_month")
    assert vip["criteria_met"].to_dict() == {"k1": 3, "k2": 1, "k3": 2, "k4": 0}
    assert vip["vip_eligible"].to_dict() == {"k1": True, "k2": False, "k3": False, "k4": False}
