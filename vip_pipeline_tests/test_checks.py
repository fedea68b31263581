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
    assert checks.usd_values_complete(frame)[0]  # only *_usd columns count
    assert not checks.usd_values_complete(frame.assign(margin_usd=[1.0, float("nan")]))[0]


def test_client_totals_must_equal_their_accounts():
    activity = pd.DataFrame({"client_id": ["c", "c"], "credit_turnover_usd": [10.0, 5.0],
                             "debit_turnover_usd": [1.0, 1.0], "margin_usd": [3.0, -1.0]})
    clients = pd.DataFrame({"client_id": ["c"], "credit_turnover_usd": [15.0], "debit_turnover_usd": [2.0],
                            "margin_usd": [2.0], "margin_source": ["modelled"]})
    assert checks.clients_reconcile_with_accounts(activity, clients)[0]
    assert not checks.clients_reconcile_with_accounts(activity, clients.assign(credit_turnover_usd=[14.0]))[0]
    # a client_pnl margin replaces the modelled one, so it is not compared with the accounts
    assert checks.clients_reconcile_with_accounts(
        activity, clients.assign(margin_usd=[99.0], margin_source="client_pnl")
    )[0]


def test_ltv_is_recomputed_from_monthly_margins():
    metrics = pd.DataFrame({"client_id": ["c", "c", "c"], "month": [T("2024-01-01"), T("2024-02-01"), T("2024-03-01")],
                            "margin_usd": [10.0, -4.0, 100.0]})
    ltv = pd.DataFrame({"client_id": ["c", "d"], "as_of_month": [T("2024-02-01")] * 2, "ltv_usd": [6.0, 0.0]})
    assert checks.ltv_equals_sum_of_margins(ltv, metrics)[0]  # d has no metrics: LTV 0
    assert not checks.ltv_equals_sum_of_margins(ltv.assign(ltv_usd=[106.0, 0.0]), metrics)[0]


def test_one_valid_tier_and_category_per_active_client():
    segments = pd.DataFrame({"client_id": ["a", "b"], "as_of_month": [T("2024-01-01")] * 2,
                             "ltv_tier": ["ballast", "strategic"], "category": ["mass", "key"]})
    assert checks.one_tier_and_category(segments, active=2)[0]
    assert not checks.one_tier_and_category(segments, active=3)[0]  # a client without a segment
    assert not checks.one_tier_and_category(segments.assign(ltv_tier=["ballast", "gold"]), active=2)[0]
