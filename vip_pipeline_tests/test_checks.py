"""The data-quality checks catch what they are for (each fed a frame that breaks its rule)."""

from __future__ import annotations

import pandas as pd

from vip_pipeline import checks

T = pd.Timestamp


def test_unique_key_flags_duplicates_and_null_keys():
    ok = pd.DataFrame({"client_id": ["a", "b"], "month": [T("2024-01-01")] * 2})
    assert checks.unique_key(ok, ["client_id", "month"])[0]
    assert not checks.unique_key(pd.concat([ok, ok.head(1)]), ["client_id", "month"])[0]
    assert not checks.unique_key(ok.assign(client_id=["a", None]), ["client_id", "month"])[0]


def test_adb_must_lie_between_the_lowest_and_highest_daily_balance():
    frame = pd.DataFrame({"account_id": ["x"], "adb": [50.0], "min_balance": [0.0], "max_balance": [100.0]})
    assert checks.adb_within_daily_range(frame)[0]
    passed, meta = checks.adb_within_daily_range(frame.assign(adb=[100.5]))
    assert not passed and meta["examples"] == ["x"]


def test_usd_values_must_all_be_converted():
    frame = pd.DataFrame({"adb_usd": [1.0, 2.0], "margin_usd": [1.0, 2.0], "adb": [1.0, None]})
    assert checks.fx_coverage(frame)[0]  # only *_usd columns count
    assert not checks.fx_coverage(frame.assign(margin_usd=[1.0, float("nan")]))[0]


def test_client_totals_must_equal_their_accounts():
    activity = pd.DataFrame({"client_id": ["c", "c"], "credit_turnover_usd": [10.0, 5.0],
                             "debit_turnover_usd": [1.0, 1.0], "margin_usd": [3.0, -1.0]})
    clients = pd.DataFrame({"client_id": ["c"], "credit_turnover_usd": [15.0], "debit_turnover_usd": [2.0],
                            "margin_usd": [2.0], "margin_source": ["modelled"]})
    assert checks.reconciles_with_accounts(activity, clients)[0]
    assert not checks.reconciles_with_accounts(activity, clients.assign(credit_turnover_usd=[14.0]))[0]
    # a client_pnl margin replaces the modelled one, so it is not compared with the accounts
    assert checks.reconciles_with_accounts(
        activity, clients.assign(margin_usd=[99.0], margin_source="client_pnl")
    )[0]


def test_running_ltv_carries_last_months_ltv_plus_this_months_margin():
    """c had LTV 6 (10 − 4); March margin 100 → 106. e has no metrics in March: stays at −3. n is new: 7."""
    previous = pd.DataFrame({"client_id": ["c", "e"], "ltv_usd": [6.0, -3.0]})
    metrics = pd.DataFrame({"client_id": ["c", "n"], "margin_usd": [100.0, 7.0]})
    panel = pd.DataFrame({"client_id": ["c", "e", "n"], "ltv_usd": [106.0, -3.0, 7.0]})
    assert checks.ltv_carries_forward(previous, metrics, panel)[0]
    assert checks.ltv_carries_forward(None, metrics, panel.iloc[[0, 2]].assign(ltv_usd=[100.0, 7.0]))[0]
    ok, meta = checks.ltv_carries_forward(previous, metrics, panel.assign(ltv_usd=[100.0, -3.0, 7.0]))
    assert not ok and meta["mismatches"] == 1  # c lost its history
    ok, meta = checks.ltv_carries_forward(previous, metrics, panel.iloc[:2])
    assert not ok and meta["clients_missing"] == 1  # n has metrics but no panel row


def test_published_ltv_matches_the_panel():
    panel = pd.DataFrame({"client_id": ["c"], "month": [T("2024-02-01")], "ltv_usd": [6.0]})
    ltv = pd.DataFrame({"client_id": ["c", "d"], "as_of_month": [T("2024-02-01")] * 2, "ltv_usd": [6.0, 0.0]})
    assert checks.ltv_matches_panel(ltv, panel)[0]  # d has no history: LTV 0
    assert not checks.ltv_matches_panel(ltv.assign(ltv_usd=[106.0, 0.0]), panel)[0]
    assert not checks.ltv_matches_panel(ltv.assign(ltv_usd=[6.0, 1.0]), panel)[0]


def test_one_valid_tier_and_category_per_active_client():
    segments = pd.DataFrame({"client_id": ["a", "b"], "as_of_month": [T("2024-01-01")] * 2,
                             "ltv_tier": ["ballast", "strategic"], "category": ["mass", "key"]})
    assert checks.one_tier_and_category(segments, active=2)[0]
    assert not checks.one_tier_and_category(segments, active=3)[0]  # a client without a segment
    assert not checks.one_tier_and_category(segments.assign(ltv_tier=["ballast", "gold"]), active=2)[0]
