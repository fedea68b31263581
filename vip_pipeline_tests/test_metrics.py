"""Monthly metrics (SPEC §2) on small hand-built frames; every expectation is worked out by hand.

June 2024 has 30 days and starts on a Saturday; it is the month used unless a test says otherwise.
"""

from __future__ import annotations

from datetime import date
from itertools import count

import pandas as pd
import pytest

from vip_pipeline.metrics.activity import MonthPeriod, account_activity, compute_month
from vip_pipeline.metrics.balances import carry_forward_state, daily_balances, open_in_period
from vip_pipeline.metrics.fx import MissingFxRate, rates_for, to_usd
from vip_pipeline.metrics.margin import MarginRules, account_margin
from vip_pipeline.metrics.turnover import account_turnover, client_flows, is_own_transfer

D = pd.Timestamp
JUNE = MonthPeriod.of(date(2024, 6, 1), True, None)
_TXN_IDS = count(1)


# --------------------------------------------------------------------------- frame builders

def accounts(*rows: tuple) -> pd.DataFrame:
    """rows: (account_id, client_id, product, currency, opened_on, closed_on or None)."""
    frame = pd.DataFrame(rows, columns=["account_id", "client_id", "product", "currency", "opened_on", "closed_on"])
    frame["opened_on"] = pd.to_datetime(frame["opened_on"])
    frame["closed_on"] = pd.to_datetime(frame["closed_on"])
    return frame


def acct(account_id: str, client_id: str = "C1", product: str = "current", currency: str = "USD",
         opened: str = "2020-01-01", closed: str | None = None) -> tuple:
    return (account_id, client_id, product, currency, opened, closed)


def balances(*rows: tuple) -> pd.DataFrame:
    """rows: (account_id, balance_date, balance)."""
    frame = pd.DataFrame(rows, columns=["account_id", "balance_date", "balance"])
    frame["balance_date"] = pd.to_datetime(frame["balance_date"])
    frame["balance"] = frame["balance"].astype("float64")
    return frame


def txn(account_id: str, day: str, amount: float, direction: str, txn_type: str = "payment",
        counterparty: str | None = None, purpose: str | None = None) -> dict:
    return {"txn_id": f"T{next(_TXN_IDS)}", "account_id": account_id, "booking_date": day, "amount": amount,
            "direction": direction, "txn_type": txn_type, "counterparty_account_id": counterparty,
            "counterparty_country": None, "purpose": purpose}


TXN_COLUMNS = ["txn_id", "account_id", "booking_date", "amount", "direction", "txn_type",
               "counterparty_account_id", "counterparty_country", "purpose"]


def transactions(*rows: dict) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=TXN_COLUMNS)
    frame["booking_date"] = pd.to_datetime(frame["booking_date"])
    frame["amount"] = frame["amount"].astype("float64")
    return frame


def fx(*rows: tuple) -> pd.DataFrame:
    """rows: (rate_date, currency, usd_per_unit)."""
    frame = pd.DataFrame(rows, columns=["rate_date", "currency", "usd_per_unit"])
    frame["rate_date"] = pd.to_datetime(frame["rate_date"])
    frame["usd_per_unit"] = frame["usd_per_unit"].astype("float64")
    return frame


def run(period: MonthPeriod, accts: pd.DataFrame, bals: pd.DataFrame | None = None,
        txns: pd.DataFrame | None = None, rates: pd.DataFrame | None = None, opening: pd.DataFrame | None = None,
        client_pnl: pd.DataFrame | None = None, rules: MarginRules = MarginRules()):
    return compute_month(period, accts, opening, bals if bals is not None else balances(),
                         txns if txns is not None else transactions(), rates if rates is not None else fx(),
                         client_pnl=client_pnl, rules=rules)


def row(frame: pd.DataFrame, key: str, value: str) -> pd.Series:
    hit = frame[frame[key] == value]
    assert len(hit) == 1, f"expected exactly one row for {key}={value}, got {len(hit)}"
    return hit.iloc[0]


def acct_row(result, account_id: str) -> pd.Series:
    return row(result.account_activity, "account_id", account_id)


def client_row(result, client_id: str) -> pd.Series:
    return row(result.client_metrics, "client_id", client_id)


# --------------------------------------------------------------------------- ADB and balances

def test_adb_spec_example_1500_then_500_in_30_day_month():
    # 1,500 on June 1..15 (15 days), 500 on June 16..30 (15 days):
    # ADB = (15 × 1,500 + 15 × 500) / 30 = (22,500 + 7,500) / 30 = 1,000
    result = run(JUNE, accounts(acct("A1")), balances(("A1", "2024-06-01", 1500), ("A1", "2024-06-16", 500)))
    r = acct_row(result, "A1")
    assert r["days_in_period"] == 30
    assert r["adb"] == pytest.approx(1000.0)
    assert r["adb_usd"] == pytest.approx(1000.0)
    assert r["closing_balance"] == pytest.approx(500.0)
    # the lowest and highest end-of-day balance of the month (the ADB check compares the ADB with them)
    assert r["min_balance"] == pytest.approx(500.0)
    assert r["max_balance"] == pytest.approx(1500.0)


def test_adb_sparse_rows_are_carried_forward_over_gaps():
    # rows only on 1st, 11th and 26th:
    # June 1..10 = 300 (10 days) → 3,000; June 11..25 = 600 (15 days) → 9,000; June 26..30 = 1,200 (5 days) → 6,000
    # ADB = 18,000 / 30 = 600; closing = 1,200
    bals = balances(("A1", "2024-06-01", 300), ("A1", "2024-06-11", 600), ("A1", "2024-06-26", 1200))
    r = acct_row(run(JUNE, accounts(acct("A1")), bals), "A1")
    assert r["adb"] == pytest.approx(600.0)
    assert r["closing_balance"] == pytest.approx(1200.0)

    daily = daily_balances(accounts(acct("A1")), None, bals, JUNE.month, JUNE.end).set_index("day")["balance"]
    assert len(daily) == 30
    assert daily[D("2024-06-05")] == 300.0  # carried from June 1
    assert daily[D("2024-06-25")] == 600.0  # carried from June 11
    assert daily[D("2024-06-30")] == 1200.0


def test_zero_before_first_known_balance():
    # no opening state, first row June 21: June 1..20 = 0, June 21..30 = 300 (10 days)
    # ADB = 10 × 300 / 30 = 100
    r = acct_row(run(JUNE, accounts(acct("A1")), balances(("A1", "2024-06-21", 300))), "A1")
    assert r["adb"] == pytest.approx(100.0)
    assert r["closing_balance"] == pytest.approx(300.0)


def test_carry_forward_across_months_via_opening_state():
    may = balances(("A1", "2024-05-10", 100), ("A1", "2024-05-20", 900), ("A2", "2024-05-03", 50))
    state = carry_forward_state(None, may)
    # latest row per account: A1 → (May 20, 900), A2 → (May 3, 50)
    s = state.set_index("account_id")
    assert s.loc["A1", "balance"] == 900.0 and s.loc["A1", "balance_date"] == D("2024-05-20")
    assert s.loc["A2", "balance"] == 50.0

    june = balances(("A1", "2024-06-21", 300))
    # A1: June 1..20 = 900 (carried from May 20; 20 days) → 18,000; June 21..30 = 300 (10 days) → 3,000
    #     ADB = 21,000 / 30 = 700
    # A2: 50 all month (no June row) → ADB 50
    result = run(JUNE, accounts(acct("A1"), acct("A2")), june, opening=state)
    assert acct_row(result, "A1")["adb"] == pytest.approx(700.0)
    assert acct_row(result, "A2")["adb"] == pytest.approx(50.0)
    assert acct_row(result, "A2")["closing_balance"] == pytest.approx(50.0)

    # the state after June: A1 updated to June 21, A2 keeps its May row
    assert list(carry_forward_state(state, june).columns) == ["account_id", "balance_date", "balance"]
    after = carry_forward_state(state, june).set_index("account_id")
    assert after.loc["A1", "balance"] == 300.0 and after.loc["A1", "balance_date"] == D("2024-06-21")
    assert after.loc["A2", "balance"] == 50.0 and after.loc["A2", "balance_date"] == D("2024-05-03")


def test_a_first_day_row_replaces_the_opening_state_and_accounts_never_borrow_a_neighbours_balance():
    # Accounts listed out of id order; A2 sits between A1 and A3 and has no row at all, A4 (not open in June)
    # has rows that must not count for anyone.
    # A1: opening state (May 31, 400); a June 1 row of 100 replaces it from the first day; June 16 → 700:
    #     15 × 100 + 15 × 700 = 12,000 → ADB 400
    # A2: nothing known → 0 all month (not A1's balance, the row before it in id order)
    # A3: opening state (April 1, 60: two months without a row) carried over all 30 days → ADB 60
    # A4: closed in May → no row
    state = balances(("A1", "2024-05-31", 400), ("A3", "2024-04-01", 60), ("A4", "2024-05-02", 9_999))
    june = balances(("A1", "2024-06-16", 700), ("A1", "2024-06-01", 100), ("A4", "2024-06-03", 9_999))
    accts = accounts(acct("A3"), acct("A4", closed="2024-05-15"), acct("A2"), acct("A1"))
    result = run(JUNE, accts, june, opening=state)
    assert list(result.account_activity["account_id"]) == ["A1", "A2", "A3"]
    assert acct_row(result, "A1")["adb"] == pytest.approx(400.0)
    assert acct_row(result, "A2")["adb"] == 0.0 and acct_row(result, "A2")["closing_balance"] == 0.0
    assert acct_row(result, "A3")["adb"] == pytest.approx(60.0)
    daily = daily_balances(accts, state, june, D("2024-06-01"), D("2024-06-30"))
    assert list(daily.loc[daily["account_id"] == "A1", "balance"].iloc[[0, 14, 15, 29]]) == [100.0, 100.0, 700.0, 700.0]
    assert list(daily.columns) == ["account_id", "currency", "day", "balance", "is_open"]


def test_balance_row_on_the_periods_last_day_counts():
    # USD account in June: 1,000 from June 1, 400 on June 30 (the period's last day, which is inside the period)
    # ADB = (29 × 1,000 + 1 × 400) / 30 = (29,000 + 400) / 30 = 980; closing balance (June 30) = 400
    # (dropping the June 30 row would give ADB 1,000 and closing balance 1,000)
    bals = balances(("A1", "2024-06-01", 1000), ("A1", "2024-06-30", 400))
    r = acct_row(run(JUNE, accounts(acct("A1")), bals), "A1")
    assert r["adb"] == pytest.approx(980.0)
    assert r["adb_usd"] == pytest.approx(980.0)
    assert r["closing_balance"] == pytest.approx(400.0)


def test_mid_month_opening_counts_days_before_opening_as_zero_in_full_month_denominator():
    # opened June 11; a stray row on June 5 (before opening) must not count.
    # June 1..10 = 0; June 11..30 = 3,000 (20 days) → 60,000; ADB = 60,000 / 30 = 2,000 (not 3,000)
    bals = balances(("A1", "2024-06-05", 999), ("A1", "2024-06-11", 3000))
    r = acct_row(run(JUNE, accounts(acct("A1", opened="2024-06-11")), bals), "A1")
    assert r["days_in_period"] == 30
    assert r["adb"] == pytest.approx(2000.0)
    assert r["closing_balance"] == pytest.approx(3000.0)


def test_closed_mid_month_zero_after_closed_on_and_closing_balance_zero():
    # closed June 10: June 1..10 = 600 (10 days, closed_on itself still counts) → 6,000; June 11..30 = 0
    # ADB = 6,000 / 30 = 200; closing balance (June 30) = 0
    r = acct_row(run(JUNE, accounts(acct("A1", closed="2024-06-10")), balances(("A1", "2024-06-01", 600))), "A1")
    assert r["adb"] == pytest.approx(200.0)
    assert r["closing_balance"] == 0.0


def test_rows_exist_only_for_accounts_open_at_least_one_day_of_the_period():
    accts = accounts(
        acct("CLOSED_MAY", closed="2024-05-31"),                    # closed before June → no row
        acct("OPENS_JULY", opened="2024-07-01"),                    # opens after June → no row
        acct("CLOSED_JUNE1", closed="2024-06-01"),                  # open on June 1 only → row
        acct("OPENS_JUNE30", opened="2024-06-30"),                  # open on June 30 only → row
        acct("ALWAYS"),                                             # row even without balances or txns
    )
    result = run(JUNE, accts)
    assert sorted(result.account_activity["account_id"]) == ["ALWAYS", "CLOSED_JUNE1", "OPENS_JUNE30"]
    assert sorted(open_in_period(accts, JUNE.month, JUNE.end)["account_id"]) == [
        "ALWAYS", "CLOSED_JUNE1", "OPENS_JUNE30"]


def test_client_row_only_when_client_has_an_open_account():
    accts = accounts(acct("A1", client_id="C1"), acct("B1", client_id="C2", closed="2024-05-31"))
    result = run(JUNE, accts)
    assert list(result.client_metrics["client_id"]) == ["C1"]


def test_month_to_date_period_uses_days_up_to_latest_data_day():
    period = MonthPeriod.of(date(2024, 6, 1), False, date(2024, 6, 10))
    assert period.end == D("2024-06-10")
    assert period.days == 10
    assert period.is_complete is False
    assert MonthPeriod.of(date(2024, 6, 1), True, None).is_complete is True
    assert MonthPeriod.of(date(2024, 6, 17), True, None).month == D("2024-06-01")
    # a complete month ignores the latest data day: June has 30 days
    assert MonthPeriod.of(date(2024, 6, 1), True, date(2024, 6, 10)).days == 30
    assert MonthPeriod.of(date(2024, 2, 1), True, None).days == 29  # leap year

    # June 1..5 = 100 (5 days) → 500; June 6..10 = 400 (5 days) → 2,000; ADB = 2,500 / 10 = 250
    # (over the whole 30-day month it would be (500 + 25 × 400) / 30 = 350)
    result = run(period, accounts(acct("A1")), balances(("A1", "2024-06-01", 100), ("A1", "2024-06-06", 400)))
    r = acct_row(result, "A1")
    assert r["days_in_period"] == 10
    assert r["period_end"] == D("2024-06-10")
    assert not r["is_complete_month"]
    assert r["adb"] == pytest.approx(250.0)
    assert r["closing_balance"] == pytest.approx(400.0)
    c = client_row(result, "C1")
    assert pd.notna(c["is_complete_month"]) and not c["is_complete_month"]
    assert c["month"] == D("2024-06-01")
    assert acct_row(run(JUNE, accounts(acct("A1"))), "A1")["month"] == D("2024-06-01")
    assert bool(client_row(run(JUNE, accounts(acct("A1"))), "C1")["is_complete_month"]) is True


def test_month_to_date_funding_value_uses_days_in_period():
    # 10-day period, 365,000 USD all period: funding = 365,000 × 0.03 × 10 / 365 = 300
    period = MonthPeriod.of(date(2024, 6, 1), False, date(2024, 6, 10))
    r = acct_row(run(period, accounts(acct("A1")), balances(("A1", "2024-05-01", 365_000))), "A1")
    assert r["adb_usd"] == pytest.approx(365_000.0)
    assert r["funding_value_usd"] == pytest.approx(300.0)


# --------------------------------------------------------------------------- FX

WEEKLY_EUR = fx(  # Fridays (plus a Sunday change); no row is more than 6 days before any June day
    ("2024-05-31", "EUR", 1.10), ("2024-06-07", "EUR", 1.10), ("2024-06-14", "EUR", 1.10),
    ("2024-06-16", "EUR", 1.20), ("2024-06-21", "EUR", 1.20), ("2024-06-28", "EUR", 1.20),
)


def test_adb_usd_converts_each_day_at_that_days_rate():
    # 1,000 EUR all June. Rate 1.10 for June 1..15 (15 days, weekend gaps ≤ 6 days), 1.20 for June 16..30 (15 days)
    # adb     = 1,000 EUR
    # adb_usd = (15 × 1,000 × 1.10 + 15 × 1,000 × 1.20) / 30 = (16,500 + 18,000) / 30 = 1,150
    # (converting the ADB at one rate would give 1,100 or 1,200)
    result = run(JUNE, accounts(acct("E1", currency="EUR")), balances(("E1", "2024-06-01", 1000)), rates=WEEKLY_EUR)
    r = acct_row(result, "E1")
    assert r["adb"] == pytest.approx(1000.0)
    assert r["adb_usd"] == pytest.approx(1150.0)
    assert client_row(result, "C1")["adb_usd"] == pytest.approx(1150.0)


def test_transactions_convert_at_booking_date_rate():
    # C 100 EUR on June 10 (rate 1.10) → 110; C 100 EUR on June 20 (rate 1.20) → 120; D 10 EUR fee June 20 → 12
    txns = transactions(txn("E1", "2024-06-10", 100, "C"), txn("E1", "2024-06-20", 100, "C"),
                        txn("E1", "2024-06-20", 10, "D", "fee"))
    r = acct_row(run(JUNE, accounts(acct("E1", currency="EUR")), txns=txns, rates=WEEKLY_EUR), "E1")
    assert r["credit_turnover"] == pytest.approx(200.0)
    assert r["credit_turnover_usd"] == pytest.approx(230.0)
    assert r["debit_turnover"] == pytest.approx(10.0)
    assert r["debit_turnover_usd"] == pytest.approx(12.0)
    assert r["fee_income_usd"] == pytest.approx(12.0)


def test_fx_rate_exactly_7_days_old_is_accepted():
    # only a May 31 rate: June 7 is 7 days later → still valid
    needed = pd.DataFrame({"currency": ["EUR"], "day": [D("2024-06-07")]})
    got = rates_for(needed, fx(("2024-05-31", "EUR", 1.10)))
    assert got["usd_per_unit"].tolist() == [pytest.approx(1.10)]

    period = MonthPeriod.of(date(2024, 6, 1), False, date(2024, 6, 7))
    r = acct_row(run(period, accounts(acct("E1", currency="EUR")), balances(("E1", "2024-06-01", 700)),
                     rates=fx(("2024-05-31", "EUR", 1.10))), "E1")
    # 700 EUR × 1.10 = 770 every day
    assert r["adb_usd"] == pytest.approx(770.0)


def test_fx_rate_older_than_7_days_raises_naming_currency_and_day():
    # rows May 31 and June 20: June 8 is the first day whose latest rate (May 31) is 8 days old
    rates = fx(("2024-05-31", "EUR", 1.10), ("2024-06-20", "EUR", 1.20))
    with pytest.raises(MissingFxRate) as err:
        run(JUNE, accounts(acct("E1", currency="EUR")), balances(("E1", "2024-06-01", 1000)), rates=rates)
    assert "EUR" in str(err.value)
    assert "2024-06-08" in str(err.value)
    assert err.value.currency == "EUR"
    assert err.value.day == date(2024, 6, 8)
    # June 8..19 (12 days) and June 28..30 (3 days: the June 20 rate is 8..10 days old) lack a rate:
    # 15 currency-days, the first is named and the other 14 counted
    assert "(and 14 more currency-days)" in str(err.value)

    needed = pd.DataFrame({"currency": ["GBP"], "day": [D("2024-06-09")]})
    with pytest.raises(MissingFxRate) as err:
        rates_for(needed, fx(("2024-06-01", "GBP", 1.25)))  # 8 days old
    assert str(err.value) == (
        "no GBP rate on or up to 7 days before 2024-06-09; "
        "load the missing fx_rates file — nothing is published from this run"
    )


def test_fx_rate_of_another_currency_does_not_count():
    needed = pd.DataFrame({"currency": ["EUR"], "day": [D("2024-06-03")]})
    with pytest.raises(MissingFxRate, match="EUR"):
        rates_for(needed, fx(("2024-06-03", "GBP", 1.25)))


def test_fx_rate_from_the_future_is_not_used():
    # a rate dated June 4 cannot price June 3
    needed = pd.DataFrame({"currency": ["EUR"], "day": [D("2024-06-03")]})
    with pytest.raises(MissingFxRate, match="2024-06-03"):
        rates_for(needed, fx(("2024-06-04", "EUR", 1.10)))


def test_missing_fx_for_a_transaction_raises():
    # a CHF account open on June 12 only, with a transaction that day, and no CHF rate at all
    txns = transactions(txn("F1", "2024-06-12", 100, "C"))
    accts = accounts(acct("F1", currency="CHF", opened="2024-06-12", closed="2024-06-12"))
    rates = fx(("2024-06-12", "EUR", 1.1))
    with pytest.raises(MissingFxRate) as err:
        run(JUNE, accts, txns=txns, rates=rates)
    assert "CHF" in str(err.value) and "2024-06-12" in str(err.value)


def test_no_rate_needed_on_days_after_the_account_closed():
    # EUR account closed June 5; rates only up to May 31 (valid through June 7).
    # June 1..5 = 1,000 EUR × 1.10 = 1,100 USD (5 days) → 5,500; June 6..30 = 0 and need no rate
    # adb_usd = 5,500 / 30 = 183.333…
    r = acct_row(run(JUNE, accounts(acct("E1", currency="EUR", closed="2024-06-05")),
                     balances(("E1", "2024-06-01", 1000)), rates=fx(("2024-05-31", "EUR", 1.10))), "E1")
    assert r["adb_usd"] == pytest.approx(5500.0 / 30)


def test_usd_is_one_without_any_fx_row():
    # USD account, fx_rates completely empty: 1,000 all month, credit 50, debit 20
    txns = transactions(txn("A1", "2024-06-03", 50, "C"), txn("A1", "2024-06-04", 20, "D"))
    result = run(JUNE, accounts(acct("A1")), balances(("A1", "2024-06-01", 1000)), txns, rates=fx())
    r = acct_row(result, "A1")
    assert r["adb_usd"] == pytest.approx(1000.0)
    assert r["credit_turnover_usd"] == pytest.approx(50.0)
    assert r["debit_turnover_usd"] == pytest.approx(20.0)

    frame = pd.DataFrame({"currency": ["USD", "USD"], "booking_date": [D("2024-06-01"), D("2024-06-02")]})
    assert to_usd(frame, fx(), "booking_date").tolist() == [1.0, 1.0]


def test_each_row_gets_its_own_currencys_rate_of_its_day():
    # EUR, GBP and USD rows over three days, labelled out of order. GBP has no June 2 row: June 1's (1 day old).
    rates = fx(("2024-06-01", "EUR", 1.10), ("2024-06-02", "EUR", 1.20), ("2024-06-03", "EUR", 1.30),
               ("2024-06-01", "GBP", 1.25), ("2024-06-03", "GBP", 1.35))
    days = ["2024-06-03", "2024-06-01", "2024-06-02", "2024-06-03", "2024-06-02", "2024-06-02", "2024-06-01"]
    frame = pd.DataFrame({"currency": ["GBP", "EUR", "USD", "EUR", "GBP", "EUR", "USD"],
                          "booking_date": pd.to_datetime(days)}, index=[7, 3, 9, 1, 4, 8, 2])
    got = to_usd(frame, rates, "booking_date", 7)
    assert list(got.index) == [7, 3, 9, 1, 4, 8, 2]
    assert list(got) == [1.35, 1.10, 1.0, 1.30, 1.25, 1.20, 1.0]


def test_to_usd_honours_max_age_days():
    # a EUR booking on June 10 with the latest rate on June 7 (3 days old): valid within 7 days, not within 2
    frame = pd.DataFrame({"currency": ["EUR"], "booking_date": [D("2024-06-10")]}, index=[5])
    rates = fx(("2024-06-07", "EUR", 1.25))
    got = to_usd(frame, rates, "booking_date")
    assert got.tolist() == [1.25] and list(got.index) == [5]
    with pytest.raises(MissingFxRate, match="2024-06-10"):
        to_usd(frame, rates, "booking_date", max_age_days=2)


def test_to_usd_and_account_activity_default_to_a_7_day_fx_age():
    # SPEC §2: a rate is at most 7 days old. Only a June 1 rate: June 9 is 8 days later → missing, through
    # to_usd's own default and through account_activity's own default (not only compute_month's)
    rates = fx(("2024-06-01", "EUR", 1.10))
    frame = pd.DataFrame({"currency": ["EUR"], "booking_date": [D("2024-06-09")]})
    with pytest.raises(MissingFxRate, match="2024-06-09"):
        to_usd(frame, rates, "booking_date")
    # month-to-date June 1..9, a EUR account holding 700 from June 1: June 9's balance has no rate
    period = MonthPeriod.of(date(2024, 6, 1), False, date(2024, 6, 9))
    with pytest.raises(MissingFxRate, match="2024-06-09"):
        account_activity(period, accounts(acct("E1", currency="EUR")), None, balances(("E1", "2024-06-01", 700)),
                         transactions(), rates)


def test_a_configured_fx_age_applies_to_balances_and_transactions():
    # max FX age 10 days; the only EUR rate is May 31 (1.10). Month-to-date June 1..9: June 9 is 9 days after
    # May 31, valid within 10 (not within the default 7, so both conversions must receive the 10).
    # Balance 700 EUR all 9 days → 700 × 1.10 = 770 USD a day → adb_usd 770.
    # A 100 EUR credit booked June 9 (rate 9 days old) → credit_turnover_usd 100 × 1.10 = 110.
    period = MonthPeriod.of(date(2024, 6, 1), False, date(2024, 6, 9))
    result = compute_month(period, accounts(acct("E1", currency="EUR")), None, balances(("E1", "2024-06-01", 700)),
                           transactions(txn("E1", "2024-06-09", 100, "C")), fx(("2024-05-31", "EUR", 1.10)),
                           max_fx_age_days=10)
    r = acct_row(result, "E1")
    assert r["adb_usd"] == pytest.approx(770.0)
    assert r["credit_turnover_usd"] == pytest.approx(110.0)


def test_missing_fx_message_counts_one_more_currency_day():
    # only a June 1 EUR rate: June 9 (8 days old) and June 10 (9 days) both lack a rate → the first is named,
    # the other counted: "(and 1 more currency-days)"
    needed = pd.DataFrame({"currency": ["EUR", "EUR"], "day": [D("2024-06-09"), D("2024-06-10")]})
    with pytest.raises(MissingFxRate) as err:
        rates_for(needed, fx(("2024-06-01", "EUR", 1.10)))
    assert err.value.day == date(2024, 6, 9)
    assert "2024-06-09 (and 1 more currency-days);" in str(err.value)


# --------------------------------------------------------------------------- turnover, settlement, exports

def test_turnover_by_direction():
    # credits: 100 + 50 = 150; debits: 30 + 20 = 50; 4 transactions
    txns = transactions(txn("A1", "2024-06-03", 100, "C"), txn("A1", "2024-06-04", 50, "C", "transfer"),
                        txn("A1", "2024-06-05", 30, "D"), txn("A1", "2024-06-06", 20, "D", "fee"))
    result = run(JUNE, accounts(acct("A1")), txns=txns)
    r = acct_row(result, "A1")
    assert r["credit_turnover"] == pytest.approx(150.0)
    assert r["debit_turnover"] == pytest.approx(50.0)
    assert r["credit_turnover_usd"] == pytest.approx(150.0)
    assert r["debit_turnover_usd"] == pytest.approx(50.0)
    assert r["txn_count"] == 4
    c = client_row(result, "C1")
    assert c["credit_turnover_usd"] == pytest.approx(150.0)
    assert c["debit_turnover_usd"] == pytest.approx(50.0)
    assert c["txn_count"] == 4

    direct = account_turnover(txns.assign(amount_usd=txns["amount"])).set_index("account_id").loc["A1"]
    assert direct["credit_turnover"] == pytest.approx(150.0)
    assert direct["debit_turnover"] == pytest.approx(50.0)


SETTLEMENT_ACCOUNTS = accounts(
    acct("A1", "C1", "current"), acct("A2", "C1", "current"), acct("A3", "C1", "deposit"),
    acct("B1", "C2", "current"),
)


def test_settlement_turnover_only_current_accounts_without_interest_and_own_transfers():
    txns = transactions(
        txn("A1", "2024-06-03", 1000, "C"),                          # counts
        txn("A1", "2024-06-04", 200, "C", "interest"),               # interest posting → excluded
        txn("A1", "2024-06-05", 300, "C", "transfer", "A2"),         # from own current account → excluded
        txn("A1", "2024-06-06", 250, "C", "transfer", "A3"),         # from own deposit → excluded
        txn("A1", "2024-06-07", 400, "C", "transfer", "B1"),         # from another client's account → counts
        txn("A1", "2024-06-08", 50, "C", "payment", "EXT-999"),      # external counterparty → counts
        txn("A1", "2024-06-09", 500, "D"),                           # debit → excluded
        txn("A2", "2024-06-10", 80, "C"),                            # second current account → counts
        txn("A3", "2024-06-11", 700, "C"),                           # deposit account → excluded
        txn("B1", "2024-06-12", 60, "C", "transfer", "B1"),          # C2: own (same account) → excluded
        txn("B1", "2024-06-13", 90, "C", "transfer", "A1"),          # C2: from C1 → counts
    )
    result = run(JUNE, SETTLEMENT_ACCOUNTS, txns=txns)
    # C1 settlement = 1,000 + 400 + 50 + 80 = 1,530
    # C1 credit turnover (all credits, all accounts) = 1,000 + 200 + 300 + 250 + 400 + 50 + 80 + 700 = 2,980
    c1 = client_row(result, "C1")
    assert c1["settlement_turnover_usd"] == pytest.approx(1530.0)
    assert c1["credit_turnover_usd"] == pytest.approx(2980.0)
    # C2 settlement = 90
    assert client_row(result, "C2")["settlement_turnover_usd"] == pytest.approx(90.0)

    own = is_own_transfer(txns, SETTLEMENT_ACCOUNTS).tolist()
    assert own == [False, False, True, True, False, False, False, False, False, True, False]


def test_client_flows_keep_each_transaction_with_its_own_account_whatever_the_index():
    # the same transactions as above in reverse order, labelled 100, 99, …: client C1 settles 1,530 and C2 90
    # again (a row's account and counterparty are matched by label, not by position)
    txns = transactions(
        txn("A1", "2024-06-03", 1000, "C"), txn("A1", "2024-06-05", 300, "C", "transfer", "A2"),
        txn("A2", "2024-06-10", 80, "C"), txn("A1", "2024-06-07", 400, "C", "transfer", "B1"),
        txn("B1", "2024-06-12", 60, "C", "transfer", "B1"), txn("B1", "2024-06-13", 90, "C", "transfer", "A1"),
        txn("A1", "2024-06-08", 50, "C", "payment", "EXT-999"),
    )
    txns = txns.assign(amount_usd=txns["amount"]).iloc[::-1]
    txns.index = range(100, 100 - len(txns), -1)
    flows = client_flows(txns, SETTLEMENT_ACCOUNTS).set_index("client_id")
    assert flows.loc["C1", "settlement_turnover_usd"] == pytest.approx(1530.0)
    assert flows.loc["C2", "settlement_turnover_usd"] == pytest.approx(90.0)


def test_settlement_turnover_converts_to_usd():
    # EUR current account: C 1,000 EUR on June 20 at 1.20 → 1,200 USD
    txns = transactions(txn("E1", "2024-06-20", 1000, "C"))
    result = run(JUNE, accounts(acct("E1", currency="EUR")), txns=txns, rates=WEEKLY_EUR)
    assert client_row(result, "C1")["settlement_turnover_usd"] == pytest.approx(1200.0)


def test_exports_are_credits_with_purpose_export_on_all_accounts():
    txns = transactions(
        txn("A1", "2024-06-03", 1000, "C", purpose="export"),        # current → counts
        txn("A3", "2024-06-04", 2000, "C", purpose="export"),        # deposit → counts too (all accounts)
        txn("A1", "2024-06-05", 500, "D", purpose="export"),         # debit → excluded
        txn("A1", "2024-06-06", 300, "C", purpose="other"),          # not export
        txn("A1", "2024-06-07", 400, "C"),                           # no purpose
        txn("B1", "2024-06-08", 999, "C", purpose="export"),         # other client
    )
    result = run(JUNE, SETTLEMENT_ACCOUNTS, txns=txns)
    # C1 exports = 1,000 + 2,000 = 3,000
    assert client_row(result, "C1")["export_usd"] == pytest.approx(3000.0)
    assert client_row(result, "C2")["export_usd"] == pytest.approx(999.0)

    flows = client_flows(txns.assign(amount_usd=txns["amount"]), SETTLEMENT_ACCOUNTS).set_index("client_id")
    assert flows.loc["C1", "export_usd"] == pytest.approx(3000.0)


def test_exports_convert_at_booking_date_rate():
    # 100 EUR export on June 10 (1.10) + 100 EUR on June 17 (1.20) = 110 + 120 = 230 USD
    txns = transactions(txn("E1", "2024-06-10", 100, "C", purpose="export"),
                        txn("E1", "2024-06-17", 100, "C", purpose="export"))
    result = run(JUNE, accounts(acct("E1", currency="EUR")), txns=txns, rates=WEEKLY_EUR)
    assert client_row(result, "C1")["export_usd"] == pytest.approx(230.0)


def test_client_without_transactions_has_zero_flows():
    result = run(JUNE, accounts(acct("A1")), balances(("A1", "2024-06-01", 10)))
    c = client_row(result, "C1")
    assert c["settlement_turnover_usd"] == 0.0
    assert c["export_usd"] == 0.0
    assert c["txn_count"] == 0


# --------------------------------------------------------------------------- products, client ADB

def test_products_used_counts_distinct_products_of_open_accounts():
    accts = accounts(
        acct("A1", product="current"), acct("A2", product="current"),   # same product twice → 1
        acct("A3", product="deposit"), acct("A4", product="loan"),
        acct("A5", product="card", closed="2024-05-31"),                 # not open in June → not counted
        acct("A6", product="fx", opened="2024-07-01"),                   # opens later → not counted
        acct("A7", product="guarantee", opened="2024-06-30"),            # open one day → counted
    )
    # {current, deposit, loan, guarantee} = 4
    assert client_row(run(JUNE, accts), "C1")["products_used"] == 4


def test_client_adb_excludes_credit_products_and_credit_adb_holds_them():
    accts = accounts(
        acct("CUR", product="current"), acct("DEP", product="deposit"),
        acct("LOAN", product="loan"), acct("OD", product="overdraft"),
        acct("CL", product="credit_line"), acct("LEAS", product="leasing"),
        acct("OTHER", client_id="C2"),
    )
    bals = balances(("CUR", "2024-06-01", 1000), ("DEP", "2024-06-01", 2000), ("LOAN", "2024-06-01", -5000),
                    ("OD", "2024-06-01", -300), ("CL", "2024-06-01", -100), ("LEAS", "2024-06-01", -200),
                    ("OTHER", "2024-06-01", 7777))
    c = client_row(run(JUNE, accts, bals), "C1")
    # adb_usd = current 1,000 + deposit 2,000 = 3,000
    # credit_adb_usd = loan −5,000 + overdraft −300 + credit_line −100 + leasing −200 = −5,600
    assert c["adb_usd"] == pytest.approx(3000.0)
    assert c["credit_adb_usd"] == pytest.approx(-5600.0)


# --------------------------------------------------------------------------- margin

MARGIN_TXNS = (
    ("DEP", "2024-06-03", 40, "D", "fee"),
    ("DEP", "2024-06-04", 60, "D", "interest"),    # interest the client pays → income
    ("DEP", "2024-06-05", 25, "C", "interest"),    # interest paid to the client → expense
    ("DEP", "2024-06-06", 1000, "C", "payment"),
    ("DEP", "2024-06-07", 500, "D", "payment"),
    ("LOAN", "2024-06-10", 500, "D", "interest"),
)


def _margin_case(rules: MarginRules = MarginRules()):
    accts = accounts(acct("DEP", product="current"), acct("LOAN", product="loan"))
    bals = balances(("DEP", "2024-06-01", 365_000), ("LOAN", "2024-06-01", -730_000))
    txns = transactions(*(txn(a, d, amt, dr, t) for a, d, amt, dr, t in MARGIN_TXNS))
    return run(JUNE, accts, bals, txns, rules=rules)


def test_margin_components_with_default_rules():
    result = _margin_case()
    dep = acct_row(result, "DEP")
    # DEP: adb 365,000; funding = 365,000 × 0.03 × 30 / 365 = 900
    # fee 40; interest income 60; interest expense 25; txn_count 5 → servicing = 20 + 0.10 × 5 = 20.50
    # revenue = 40 + 60 + max(900, 0) = 1,000; cost = 25 + max(−900, 0) + 20.50 = 45.50; margin = 954.50
    assert dep["fee_income_usd"] == pytest.approx(40.0)
    assert dep["interest_income_usd"] == pytest.approx(60.0)
    assert dep["interest_expense_usd"] == pytest.approx(25.0)
    assert dep["funding_value_usd"] == pytest.approx(900.0)
    assert dep["servicing_cost_usd"] == pytest.approx(20.5)
    assert dep["revenue_usd"] == pytest.approx(1000.0)
    assert dep["cost_usd"] == pytest.approx(45.5)
    assert dep["margin_usd"] == pytest.approx(954.5)

    loan = acct_row(result, "LOAN")
    # LOAN: adb −730,000; funding = −730,000 × 0.03 × 30 / 365 = −1,800 (a cost)
    # interest income 500; 1 txn → servicing = 20 + 0.10 = 20.10
    # revenue = 0 + 500 + max(−1,800, 0) = 500; cost = 0 + 1,800 + 20.10 = 1,820.10; margin = −1,320.10
    assert loan["funding_value_usd"] == pytest.approx(-1800.0)
    assert loan["interest_income_usd"] == pytest.approx(500.0)
    assert loan["servicing_cost_usd"] == pytest.approx(20.1)
    assert loan["revenue_usd"] == pytest.approx(500.0)
    assert loan["cost_usd"] == pytest.approx(1820.1)
    assert loan["margin_usd"] == pytest.approx(-1320.1)

    c = client_row(result, "C1")
    # client = sum of accounts: revenue 1,500; cost 1,865.60; margin −365.60
    assert c["revenue_usd"] == pytest.approx(1500.0)
    assert c["cost_usd"] == pytest.approx(1865.6)
    assert c["margin_usd"] == pytest.approx(-365.6)


def test_fee_credits_are_refunds_not_fee_income():
    # USD account, no balance (funding 0): a 40 fee debit (charged) and a 10 fee credit (a refund)
    # fee income = Σ debits with txn_type fee = 40 (the credit is not income)
    # servicing = 20 + 2 × 0.10 = 20.20; revenue = 40 + 0 + max(0, 0) = 40; cost = 0 + 0 + 20.20
    # margin = 40 − 20.20 = 19.80 (counting the refund as income would give 50 and 29.80)
    txns = transactions(txn("A1", "2024-06-03", 40, "D", "fee"), txn("A1", "2024-06-04", 10, "C", "fee"))
    result = run(JUNE, accounts(acct("A1")), txns=txns)
    r = acct_row(result, "A1")
    assert r["fee_income_usd"] == pytest.approx(40.0)
    assert r["interest_income_usd"] == 0.0 and r["interest_expense_usd"] == 0.0
    assert r["servicing_cost_usd"] == pytest.approx(20.2)
    assert r["revenue_usd"] == pytest.approx(40.0)
    assert r["cost_usd"] == pytest.approx(20.2)
    assert r["margin_usd"] == pytest.approx(19.8)
    assert client_row(result, "C1")["margin_usd"] == pytest.approx(19.8)


def test_funding_value_is_on_the_usd_adb():
    # EUR account holding 365,000 EUR all June, EUR at 1.10 every day (weekly rows, none older than 7 days)
    # adb = 365,000 EUR; adb_usd = 365,000 × 1.10 = 401,500
    # funding = adb_usd × 0.03 × 30 / 365 = 401,500 × 0.03 × 30 / 365 = 12,045 × 30 / 365 = 990
    # (on the EUR ADB it would be 900); revenue 990, cost = servicing 20, margin 970
    rates = fx(("2024-05-31", "EUR", 1.10), ("2024-06-07", "EUR", 1.10), ("2024-06-14", "EUR", 1.10),
               ("2024-06-21", "EUR", 1.10), ("2024-06-28", "EUR", 1.10))
    result = run(JUNE, accounts(acct("E1", currency="EUR")), balances(("E1", "2024-05-31", 365_000)), rates=rates)
    r = acct_row(result, "E1")
    assert r["adb"] == pytest.approx(365_000.0)
    assert r["adb_usd"] == pytest.approx(401_500.0)
    assert r["funding_value_usd"] == pytest.approx(990.0)
    assert r["revenue_usd"] == pytest.approx(990.0)
    assert r["margin_usd"] == pytest.approx(970.0)


def test_servicing_cost_for_an_idle_open_account():
    # open account, no balance, no transactions: revenue 0, cost = $20, margin −20
    r = acct_row(run(JUNE, accounts(acct("A1"))), "A1")
    assert r["servicing_cost_usd"] == pytest.approx(20.0)
    assert r["margin_usd"] == pytest.approx(-20.0)


def test_margin_rules_are_configurable():
    result = _margin_case(MarginRules(ftp_rate=0.05, cost_per_account_month=10.0, cost_per_transaction=1.0))
    dep = acct_row(result, "DEP")
    # funding = 365,000 × 0.05 × 30 / 365 = 1,500; servicing = 10 + 1 × 5 = 15
    # revenue = 40 + 60 + 1,500 = 1,600; cost = 25 + 15 = 40; margin = 1,560
    assert dep["funding_value_usd"] == pytest.approx(1500.0)
    assert dep["servicing_cost_usd"] == pytest.approx(15.0)
    assert dep["revenue_usd"] == pytest.approx(1600.0)
    assert dep["cost_usd"] == pytest.approx(40.0)
    assert dep["margin_usd"] == pytest.approx(1560.0)
    loan = acct_row(result, "LOAN")
    # funding = −730,000 × 0.05 × 30 / 365 = −3,000; servicing = 10 + 1 = 11; cost = 3,011; margin = 500 − 3,011
    assert loan["funding_value_usd"] == pytest.approx(-3000.0)
    assert loan["margin_usd"] == pytest.approx(-2511.0)


def test_account_margin_directly():
    frame = pd.DataFrame({"adb_usd": [73_000.0], "days_in_period": [31], "txn_count": [3],
                          "fee_income_usd": [5.0], "interest_income_usd": [0.0], "interest_expense_usd": [2.0]})
    r = account_margin(frame).iloc[0]
    # funding = 73,000 × 0.03 × 31 / 365 = 186; servicing = 20 + 0.3 = 20.3
    # revenue = 5 + 186 = 191; cost = 2 + 20.3 = 22.3; margin = 168.7
    assert r["funding_value_usd"] == pytest.approx(186.0)
    assert r["revenue_usd"] == pytest.approx(191.0)
    assert r["cost_usd"] == pytest.approx(22.3)
    assert r["margin_usd"] == pytest.approx(168.7)


def test_client_pnl_replaces_modelled_margin_for_that_client_month_only():
    accts = accounts(acct("A1", client_id="C1"), acct("B1", client_id="C2"), acct("X1", client_id="C3"))
    pnl = pd.DataFrame({
        "client_id": ["C1", "C1", "C2"],
        "month": pd.to_datetime(["2024-06-01", "2024-05-01", "2024-05-01"]),
        "revenue_usd": [5000.0, 1.0, 2.0],
        "cost_usd": [1200.0, 1.0, 2.0],
    })
    result = run(JUNE, accts, client_pnl=pnl)
    # C1 June from client_pnl: revenue 5,000, cost 1,200, margin 3,800
    c1 = client_row(result, "C1")
    assert c1["margin_source"] == "client_pnl"
    assert c1["revenue_usd"] == pytest.approx(5000.0)
    assert c1["cost_usd"] == pytest.approx(1200.0)
    assert c1["margin_usd"] == pytest.approx(3800.0)
    # C2 has only a May row, C3 none: both modelled — an idle account: revenue 0, cost 20, margin −20
    for cid in ("C2", "C3"):
        c = client_row(result, cid)
        assert c["margin_source"] == "modelled"
        assert c["revenue_usd"] == pytest.approx(0.0)
        assert c["cost_usd"] == pytest.approx(20.0)
        assert c["margin_usd"] == pytest.approx(-20.0)
