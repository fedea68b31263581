"""The input data contract (SPEC §3): bad input is rejected or refused, never silently dropped.

Every test writes small real landing files into tmp_path (SPEC naming, CSV / CSV.gz / Parquet),
runs the landing code on them and checks the documented outcome, plus the reconciliation
read = accepted + rejected for every file (`load_audit`) and that the good rows of the same file
are still accepted.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from vip_pipeline.contracts.extracts import ACCOUNTS, BALANCES, CLIENT_PNL, CLIENTS, FX_RATES, TRANSACTIONS
from vip_pipeline.landing.inventory import parse_file_name, scan_landing
from vip_pipeline.landing.reader import UnreadableFile, read_raw
from vip_pipeline.landing.validation import (
    LoadResult,
    ReadSettings,
    extend_validation,
    load_snapshot,
    restatements,
    sum_audits,
    validate_extract,
    validate_shard,
)
from vip_pipeline.timing import TIMINGS
from vip_pipeline_tests.landing_files import (
    ACCOUNT_IDS,
    ACCOUNTS_FRAME,
    CLIENT_IDS,
    account,
    balance,
    client,
    csv_text,
    good_txns,
    header,
    txn,
    write_csv,
    write_parquet,
    write_text,
)

TXN_FILE = "transactions_2024-03.csv"


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------

def validate_txns(files, settings: ReadSettings = ReadSettings()) -> LoadResult:
    return validate_extract(TRANSACTIONS, list(files), settings, references={"accounts": ACCOUNT_IDS},
                            accounts=ACCOUNTS_FRAME)


def validate_balances(files, settings: ReadSettings = ReadSettings()) -> LoadResult:
    return validate_extract(BALANCES, list(files), settings, references={"accounts": ACCOUNT_IDS})


def validate_accounts(files, settings: ReadSettings = ReadSettings()) -> LoadResult:
    return validate_extract(ACCOUNTS, list(files), settings, references={"clients": CLIENT_IDS})


def audit_of(result: LoadResult, file_name: str) -> dict:
    rows = result.audit[result.audit["source_file"] == file_name]
    assert len(rows) == 1, f"expected one audit row for {file_name}, got {len(rows)}:\n{result.audit}"
    return rows.iloc[0].to_dict()


def rejected_of(result: LoadResult, file_name: str | None = None) -> pd.DataFrame:
    rej = result.rejected
    return rej[rej["source_file"] == file_name] if file_name else rej


def rules_at(result: LoadResult, file_name: str, row_number: int) -> set[str]:
    """The rules a rejected row failed (the `rule` column holds 'rule_a; rule_b')."""
    rej = rejected_of(result, file_name)
    hit = rej[rej["row_number"] == row_number]
    assert len(hit) == 1, f"expected row {row_number} of {file_name} rejected once, got:\n{rej}"
    return {r.strip() for r in hit.iloc[0]["rule"].split(";")}


def check_reconciliation(result: LoadResult) -> None:
    """read = accepted + rejected for every file, and the audit agrees with the accepted/rejected frames."""
    audit = result.audit
    assert list(audit.columns) == ["extract", "source_file", "rows_read", "rows_accepted", "rows_rejected",
                                   "rows_redelivered", "rows_superseded", "status", "note", "delivered_at"]
    assert list(result.rejected.columns) == ["extract", "source_file", "row_number", "rule", "raw_record"]
    for a in audit.itertuples():
        assert a.rows_read == a.rows_accepted + a.rows_rejected, a
        assert min(a.rows_read, a.rows_accepted, a.rows_rejected, a.rows_redelivered) >= 0, a
        assert a.rows_redelivered <= a.rows_rejected, a
        rej = rejected_of(result, a.source_file)
        if a.status == "accepted" or len(rej):
            assert len(rej) == a.rows_rejected, (a, rej)
            assert (rej["rule"] == "duplicate_redelivered").sum() == a.rows_redelivered, (a, rej)
    # accepted rows a later delivery replaced are counted as accepted in their file, and listed as superseded
    assert len(result.accepted) == int(audit["rows_accepted"].sum() - audit["rows_superseded"].sum()), audit
    assert len(result.superseded) == int(audit["rows_superseded"].sum()), audit
    assert set(result.rejected["source_file"]) <= set(audit["source_file"])
    assert (result.rejected["row_number"] >= 1).all()
    # a rejected row is reported once per file and row number
    assert not result.rejected.duplicated(["source_file", "row_number"]).any(), result.rejected
    # refused files are exactly those listed in result.refused, each naming the file
    refused_files = set(audit.loc[audit["status"] == "refused", "source_file"])
    assert {r.split(":", 1)[0] for r in result.refused} == refused_files
    assert result.ok == (not refused_files)


def assert_refused(result: LoadResult, file_name: str, *words: str) -> str:
    """The file is refused, and its message names the file and contains every one of `words`."""
    check_reconciliation(result)
    assert audit_of(result, file_name)["status"] == "refused", result.audit
    assert not result.ok
    messages = [m for m in result.refused if m.startswith(file_name)]
    assert len(messages) == 1, result.refused
    message = messages[0]
    for word in words:
        assert word.lower() in message.lower(), f"{word!r} not in {message!r}"
    return message


def assert_accepted(result: LoadResult, file_name: str, read: int, rejected: int, redelivered: int = 0) -> None:
    check_reconciliation(result)
    a = audit_of(result, file_name)
    assert (a["status"], a["rows_read"], a["rows_rejected"], a["rows_redelivered"]) == (
        "accepted", read, rejected, redelivered), result.audit
    assert a["rows_accepted"] == read - rejected


def accepted_ids(result: LoadResult, column: str = "txn_id") -> list[str]:
    return sorted(result.accepted[column])


def one_bad_txn(tmp_path: Path, bad: dict[str, str], name: str = TXN_FILE, n_good: int = 200,
                bad_position: int = 100) -> tuple[LoadResult, list[str], int]:
    """`n_good` good transactions with one bad one at data row `bad_position`."""
    rows = good_txns(n_good, booking_date="2024-03-05" if name == TXN_FILE else name[13:23])
    good_ids = sorted(r["txn_id"] for r in rows)
    bad_row = txn("BAD")
    bad_row.update(bad)
    rows.insert(bad_position - 1, bad_row)
    f = write_csv(tmp_path, name, rows)
    result = validate_txns([f])
    return result, good_ids, bad_position


def assert_one_bad_row(tmp_path: Path, bad: dict[str, str], rule: str, name: str = TXN_FILE) -> LoadResult:
    """200 good rows + 1 bad row: the bad row is rejected with `rule`, the file stays under 1 % and is accepted."""
    result, good_ids, row = one_bad_txn(tmp_path, bad, name)
    assert rule in rules_at(result, name, row), result.rejected
    assert_accepted(result, name, read=201, rejected=1)
    assert accepted_ids(result) == good_ids
    assert result.ok
    return result


# ----------------------------------------------------------------------------------------------
# inventory: file names, unrecognised files, nothing outside the landing directory
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, extract, start, end, ext", [
    ("transactions_2024-03.csv", "transactions", date(2024, 3, 1), date(2024, 3, 31), "csv"),
    ("transactions_2024-02.csv", "transactions", date(2024, 2, 1), date(2024, 2, 29), "csv"),
    ("balances_2024-03-05.csv", "balances", date(2024, 3, 5), date(2024, 3, 5), "csv"),
    ("fx_rates_2024-03-05.csv.gz", "fx_rates", date(2024, 3, 5), date(2024, 3, 5), "csv.gz"),
    ("client_pnl_2024-03.parquet", "client_pnl", date(2024, 3, 1), date(2024, 3, 31), "parquet"),
    ("clients_2024-03-31.csv", "clients", date(2024, 3, 31), date(2024, 3, 31), "csv"),
    ("accounts_2024-12.csv.gz", "accounts", date(2024, 12, 1), date(2024, 12, 31), "csv.gz"),
])
def test_parse_file_name_reads_extract_period_and_format(name, extract, start, end, ext):
    f = parse_file_name(Path("/landing") / name)
    assert (f.extract, f.period_start, f.period_end, f.ext, f.name) == (extract, start, end, ext, name)
    assert f.daily == (start == end)


@pytest.mark.parametrize("name", [
    "transactions_2024-13.csv", "transactions_2024-02-30.csv", "transactions_2024-3.csv", "transactions.csv",
    "txns_2024-03.csv", "transactions_2024-03.xlsx", "transactions_2024-03.csv.bak", "Transactions_2024-03.csv",
    "transactions_2024-03.txt", "transactions_2024-03-05-1.csv", "readme.md", "transactions_2024-03.gz",
])
def test_parse_file_name_refuses_names_outside_the_contract(name):
    assert parse_file_name(Path("/landing") / name) is None


def test_unrecognised_file_names_are_listed_and_not_loaded(tmp_path):
    landing = tmp_path / "landing"
    write_csv(landing, TXN_FILE, good_txns(2))
    for name in ("notes.txt", "transactions_2024-13.csv", "transactions_march.csv", "balances_2024-03-05.xlsx"):
        (landing / name).write_text(csv_text(good_txns(1), header("transactions")))
    inv = scan_landing(landing)
    assert [f.name for f in inv.files] == [TXN_FILE]
    assert sorted(inv.unrecognised) == sorted(
        ["notes.txt", "transactions_2024-13.csv", "transactions_march.csv", "balances_2024-03-05.xlsx"])
    assert [f.name for f in inv.of("transactions")] == [TXN_FILE]
    assert inv.of("balances") == []


def test_subdirectories_are_not_followed(tmp_path):
    landing = tmp_path / "landing"
    write_csv(landing, TXN_FILE, good_txns(2))
    write_csv(landing / "archive", "transactions_2024-04.csv", good_txns(2, booking_date="2024-04-05"))
    (landing / "balances_2024-03-05.csv").mkdir()  # a directory that looks like an extract
    inv = scan_landing(landing)
    assert [f.name for f in inv.files] == [TXN_FILE]
    assert "transactions_2024-04.csv" not in [f.name for f in inv.files]
    assert "archive" in inv.unrecognised
    assert "balances_2024-03-05.csv" in inv.unrecognised
    assert inv.of("balances") == []


def test_symlinks_pointing_outside_the_landing_directory_are_not_followed(tmp_path):
    landing = tmp_path / "landing"
    outside = tmp_path / "elsewhere"
    write_csv(landing, TXN_FILE, good_txns(2))
    target = write_csv(outside, "transactions_2024-04.csv", good_txns(2, booking_date="2024-04-05"))
    os.symlink(target.path, landing / "transactions_2024-04.csv")
    os.symlink(outside, landing / "linked_dir")
    inv = scan_landing(landing)
    assert [f.name for f in inv.files] == [TXN_FILE]
    assert all(Path(f.path).resolve().parent == landing.resolve() for f in inv.files)
    assert "transactions_2024-04.csv" in inv.unrecognised
    assert "linked_dir" in inv.unrecognised
    assert inv.months == [date(2024, 3, 1)]


def test_missing_landing_directory_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        scan_landing(tmp_path / "nope")


def test_inventory_orders_files_and_picks_the_latest_snapshot(tmp_path):
    landing = tmp_path / "landing"
    for name in ("transactions_2024-03-06.csv", "transactions_2024-03-05.csv", "transactions_2024-02.csv",
                 "clients_2024-02-29.csv", "clients_2024-03-31.csv"):
        landing.mkdir(exist_ok=True)
        (landing / name).write_text("x\n")
    inv = scan_landing(landing)
    assert [f.name for f in inv.for_month("transactions", date(2024, 3, 1))] == [
        "transactions_2024-03-05.csv", "transactions_2024-03-06.csv"]
    assert inv.latest_snapshot("clients").name == "clients_2024-03-31.csv"
    assert inv.months == [date(2024, 2, 1), date(2024, 3, 1)]


# ----------------------------------------------------------------------------------------------
# row rules: one bad row among 200 good ones is rejected; the file is accepted
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("amount", ["abc", "12,5", "1.2.3", "12 000", "inf", "NaN"])
def test_unparseable_number_is_rejected(tmp_path, amount):
    result = assert_one_bad_row(tmp_path, {"amount": amount}, "unparseable_number:amount")
    raw = json.loads(rejected_of(result).iloc[0]["raw_record"])
    assert raw["amount"] == amount


@pytest.mark.parametrize("booking_date", ["05/03/2024", "2024/03/05", "March 5", "20240305", "2024-03-05T10:00"])
def test_unparseable_date_is_rejected(tmp_path, booking_date):
    assert_one_bad_row(tmp_path, {"booking_date": booking_date}, "unparseable_date:booking_date")


@pytest.mark.parametrize("booking_date", ["2024/03/05", "05.03.2024"])
def test_a_non_iso_date_in_the_first_row_does_not_set_the_format(tmp_path, booking_date):
    """Dates are ISO (SPEC §3) whatever the first row looks like: with a non-ISO date in data row 1 and 200
    ISO dates after it, only row 1 is rejected (unparseable_date) and the 200 are accepted."""
    result, good_ids, row = one_bad_txn(tmp_path, {"booking_date": booking_date}, bad_position=1)
    assert row == 1 and rules_at(result, TXN_FILE, 1) == {"unparseable_date:booking_date"}
    assert_accepted(result, TXN_FILE, read=201, rejected=1)
    assert accepted_ids(result) == good_ids


def test_impossible_date_is_rejected_not_rolled_over(tmp_path):
    rows = good_txns(200, booking_date="2024-02-28")
    rows.append(txn("BAD", booking_date="2024-02-30"))
    f = write_csv(tmp_path, "transactions_2024-02.csv", rows)
    result = validate_txns([f])
    assert "unparseable_date:booking_date" in rules_at(result, f.name, 201)
    assert_accepted(result, f.name, read=201, rejected=1)
    assert "BAD" not in set(result.accepted["txn_id"])
    assert len(result.accepted) == 200


@pytest.mark.parametrize("amount", ["-5", "0", "0.00", "-0.01"])
def test_negative_and_zero_amounts_are_rejected(tmp_path, amount):
    assert_one_bad_row(tmp_path, {"amount": amount}, "not_positive:amount")


@pytest.mark.parametrize("column, value", [
    ("direction", "X"), ("direction", "c"), ("txn_type", "wire"), ("purpose", "gift"),
])
def test_values_outside_a_transaction_enum_are_rejected(tmp_path, column, value):
    assert_one_bad_row(tmp_path, {column: value}, f"not_allowed:{column}")


@pytest.mark.parametrize("country", ["de", "DEU", "D1", "D", "DE.", "Dé"])
def test_a_counterparty_country_that_is_not_two_capital_letters_is_rejected(tmp_path, country):
    """The 200 good rows carry "DE" (every third) or nothing: both pass; the one bad code is rejected."""
    assert_one_bad_row(tmp_path, {"counterparty_country": country}, "bad_country_code:counterparty_country")


def test_good_counterparty_countries_pass_whatever_repeats(tmp_path):
    """Codes are matched once per distinct value: codes that repeat, or occur once, pass alike."""
    rows = [txn(f"t{i:03d}", counterparty_country=code) for i, code in enumerate(["DE"] * 50 + ["US", "GB", ""])]
    f = write_csv(tmp_path, TXN_FILE, rows)
    result = validate_txns([f])
    assert_accepted(result, f.name, read=53, rejected=0)
    assert result.accepted["counterparty_country"].value_counts(dropna=False).to_dict() == {
        "DE": 50, "US": 1, "GB": 1, None: 1}


def test_unknown_product_is_rejected(tmp_path):
    rows = [account(f"X{i:03d}") for i in range(1, 201)] + [account("BAD", product="mortgage_xl")]
    f = write_csv(tmp_path, "accounts_2024-03-31.csv", rows)
    result = validate_accounts([f])
    assert "not_allowed:product" in rules_at(result, f.name, 201)
    assert_accepted(result, f.name, read=201, rejected=1)
    assert "BAD" not in set(result.accepted["account_id"])


def test_unknown_client_type_is_rejected(tmp_path):
    rows = [client(f"k{i:03d}") for i in range(1, 201)]
    rows.insert(0, client("BAD", client_type="government"))
    f = write_csv(tmp_path, "clients_2024-03-31.csv", rows)
    result = validate_extract(CLIENTS, [f], ReadSettings())
    assert "not_allowed:client_type" in rules_at(result, f.name, 1)
    assert_accepted(result, f.name, read=201, rejected=1)
    assert sorted(result.accepted["client_id"]) == [f"k{i:03d}" for i in range(1, 201)]


@pytest.mark.parametrize("column", ["txn_id", "account_id", "booking_date", "amount", "direction", "txn_type"])
def test_missing_required_value_is_rejected(tmp_path, column):
    result = assert_one_bad_row(tmp_path, {column: ""}, f"missing_value:{column}")
    rule = rejected_of(result).iloc[0]["rule"]
    if column == "account_id":
        assert "unknown_account_id" not in rule  # an empty value is missing, not an orphan


def test_whitespace_only_required_value_is_missing(tmp_path):
    assert_one_bad_row(tmp_path, {"txn_type": "   "}, "missing_value:txn_type")


def test_unknown_account_is_rejected_as_orphan(tmp_path):
    result = assert_one_bad_row(tmp_path, {"account_id": "Z9"}, "unknown_account_id")
    assert "Z9" not in set(result.accepted["account_id"])


def test_balance_of_unknown_account_is_rejected(tmp_path):
    rows = [balance(a, f"2024-03-{d:02d}") for a in ("A1", "A2", "B1") for d in range(1, 32)]  # 93 good rows
    rows.append(balance("ORPHAN", "2024-03-05"))
    f = write_csv(tmp_path, "balances_2024-03.csv", rows)
    result = validate_balances([f], ReadSettings(max_rejected_share=0.05))
    assert rules_at(result, f.name, 94) == {"unknown_account_id"}
    assert_accepted(result, f.name, read=94, rejected=1)
    assert len(result.accepted) == 93
    # with the default 1 % threshold, 1 of 94 is too many
    assert_refused(validate_balances([f]), f.name, "threshold")


def test_account_of_unknown_client_is_rejected(tmp_path):
    rows = [account(f"X{i:03d}", "c1" if i % 2 else "c2") for i in range(1, 201)]
    rows.insert(49, account("ORPHAN", "c404"))
    f = write_csv(tmp_path, "accounts_2024-03-31.csv", rows)
    result = validate_accounts([f])
    assert "unknown_client_id" in rules_at(result, f.name, 50)
    assert_accepted(result, f.name, read=201, rejected=1)
    assert "ORPHAN" not in set(result.accepted["account_id"])
    assert len(result.accepted) == 200


def test_references_must_be_given(tmp_path):
    f = write_csv(tmp_path, TXN_FILE, good_txns(3))
    with pytest.raises(ValueError, match="accounts"):
        validate_extract(TRANSACTIONS, [f], ReadSettings(), references={}, accounts=ACCOUNTS_FRAME)


def test_accounts_must_be_given_for_the_open_day_rule(tmp_path):
    """Transactions must be booked on a day their account is open (`account_not_open_on:booking_date`): without
    the accounts that rule cannot run, and the error says which extract needs them for which column."""
    f = write_csv(tmp_path, TXN_FILE, good_txns(3))
    with pytest.raises(ValueError, match=r"^transactions: accounts are needed to check booking_date$"):
        validate_extract(TRANSACTIONS, [f], ReadSettings(), references={"accounts": ACCOUNT_IDS}, accounts=None)


def test_a_check_that_breaks_stops_the_validation_naming_the_extract(tmp_path):
    """Accounts whose opening days are text, not dates: the open-day rule cannot compare them. No row may be
    rejected or accepted on a rule that did not run: validation stops, naming the extract and the broken rule."""
    f = write_csv(tmp_path, TXN_FILE, good_txns(3))
    text_days = ACCOUNTS_FRAME.assign(opened_on=ACCOUNTS_FRAME["opened_on"].dt.strftime("%Y-%m-%d"))
    with pytest.raises(RuntimeError, match=r"^transactions: validation did not run as designed:\n") as raised:
        validate_extract(TRANSACTIONS, [f], ReadSettings(), references={"accounts": ACCOUNT_IDS}, accounts=text_days)
    assert "account_not_open_on:booking_date" in str(raised.value)


# ---- duplicates ------------------------------------------------------------------------------

def test_identical_duplicate_in_a_file_is_redelivered_and_does_not_count(tmp_path):
    rows = good_txns(5)
    rows.insert(3, dict(rows[1]))  # row 4 repeats row 2 exactly
    f = write_csv(tmp_path, TXN_FILE, rows)
    result = validate_txns([f])
    assert rules_at(result, f.name, 4) == {"duplicate_redelivered"}
    # 1 of 6 rows rejected, but a re-delivery does not count toward the rejected share
    assert_accepted(result, f.name, read=6, rejected=1, redelivered=1)
    assert accepted_ids(result) == [f"g{i:04d}" for i in range(1, 6)]
    assert result.ok


def test_conflicting_duplicate_key_in_a_file_is_rejected_first_wins(tmp_path):
    rows = good_txns(200)
    rows.insert(150, txn("g0010", amount="999.99"))  # row 151: same key as row 10, other values
    f = write_csv(tmp_path, TXN_FILE, rows)
    result = validate_txns([f])
    assert rules_at(result, f.name, 151) == {"duplicate_key_conflict"}
    assert_accepted(result, f.name, read=201, rejected=1, redelivered=0)
    kept = result.accepted.set_index("txn_id").loc["g0010", "amount"]
    assert kept == pytest.approx(20.25)  # the first occurrence wins
    assert accepted_ids(result) == [f"g{i:04d}" for i in range(1, 201)]


def test_duplicate_keys_are_searched_among_valid_rows_only(tmp_path):
    # 200 good rows; row 201 X1 with amount −5 (invalid); row 202 X1 with amount 5.00 (the corrected row)
    # → 201 rejected for not_positive:amount only; 202 is the first *valid* X1 and is accepted, not a duplicate
    # audit: read 202, rejected 1 (0.5 % ≤ 1 %: accepted), accepted 201 = the 200 good ids + X1
    rows = good_txns(200) + [txn("X1", amount="-5"), txn("X1", amount="5.00")]
    f = write_csv(tmp_path, TXN_FILE, rows)
    result = validate_txns([f])
    assert rules_at(result, f.name, 201) == {"not_positive:amount"}
    assert 202 not in set(rejected_of(result, f.name)["row_number"])
    assert_accepted(result, f.name, read=202, rejected=1)
    assert accepted_ids(result) == sorted([f"g{i:04d}" for i in range(1, 201)] + ["X1"])
    assert result.accepted.set_index("txn_id").loc["X1", "amount"] == pytest.approx(5.0)


def test_conflicting_duplicate_counts_toward_the_threshold(tmp_path):
    rows = good_txns(5) + [txn("g0001", amount="1.00")]
    f = write_csv(tmp_path, TXN_FILE, rows)
    result = validate_txns([f])
    assert rules_at(result, f.name, 6) == {"duplicate_key_conflict"}
    assert_refused(result, f.name, "threshold")


def test_same_transaction_in_daily_and_monthly_file_is_redelivered(tmp_path):
    landing = tmp_path / "landing"
    monthly = good_txns(30, booking_date="2024-03-05")
    write_csv(landing, "transactions_2024-03.csv", monthly)
    daily = [dict(monthly[0]), dict(monthly[1]), txn("d0001")]  # two re-delivered, one new
    write_csv(landing, "transactions_2024-03-05.csv", daily)
    files = scan_landing(landing).for_month("transactions", date(2024, 3, 1))
    result = validate_txns(files)
    check_reconciliation(result)
    second = files[1].name
    assert set(rejected_of(result)["rule"]) == {"duplicate_redelivered"}
    assert set(rejected_of(result)["source_file"]) == {second}
    assert audit_of(result, second)["rows_redelivered"] == 2
    for f in files:
        assert audit_of(result, f.name)["status"] == "accepted"
    ids = list(result.accepted["txn_id"])
    assert len(ids) == len(set(ids)) == 31
    assert result.ok


def deliver(landed, at: int) -> None:
    """Set the file's delivery time (its modification time) to `at` seconds after the epoch."""
    os.utime(landed.path, ns=(at * 10**9, at * 10**9))


def test_fully_redelivered_file_is_accepted(tmp_path):
    landing = tmp_path / "landing"
    rows = good_txns(4)
    deliver(write_csv(landing, "transactions_2024-03-05.csv", rows), 1_000)
    deliver(write_csv(landing, "transactions_2024-03.csv", rows), 2_000)  # delivered later: the repeat
    files = scan_landing(landing).for_month("transactions", date(2024, 3, 1))
    result = validate_txns(files)
    check_reconciliation(result)
    assert audit_of(result, "transactions_2024-03.csv")["rows_redelivered"] == 4
    assert audit_of(result, "transactions_2024-03-05.csv")["rows_redelivered"] == 0
    assert (result.audit["status"] == "accepted").all()
    assert accepted_ids(result) == [f"g{i:04d}" for i in range(1, 5)]
    assert result.superseded.empty


def test_same_key_with_other_values_in_a_later_delivery_supersedes(tmp_path):
    """The monthly file (delivered first) has g0007 at 17.25; a daily file delivered later restates it at 5.00:
    the newest delivery wins, the old value is recorded as superseded, nothing is rejected."""
    landing = tmp_path / "landing"
    deliver(write_csv(landing, "transactions_2024-03.csv", good_txns(200)), 1_000)
    restated = [txn("g0007", amount="5.00")] + good_txns(150, prefix="d")
    daily = write_csv(landing, "transactions_2024-03-05.csv", restated)
    deliver(daily, 2_000)
    files = scan_landing(landing).for_month("transactions", date(2024, 3, 1))
    result = validate_txns(files)
    check_reconciliation(result)
    assert result.rejected.empty
    assert len(result.accepted) == 350
    kept = result.accepted[result.accepted["txn_id"] == "g0007"]
    assert list(kept["amount"]) == [5.0] and list(kept["source_file"]) == [daily.name]
    assert audit_of(result, "transactions_2024-03.csv")["rows_superseded"] == 1
    assert audit_of(result, "transactions_2024-03-05.csv")["rows_superseded"] == 0
    (old,) = result.superseded.itertuples()
    assert (old.old_source_file, old.old_row_number, old.new_source_file) == ("transactions_2024-03.csv", 7, daily.name)
    assert json.loads(old.key) == {"txn_id": "g0007"}
    assert json.loads(old.old_record)["amount"] == "17.25" and json.loads(old.new_record)["amount"] == "5.00"
    # the superseded rows name their extract, and the old row number is an integer like every row number
    assert list(result.superseded["extract"]) == ["transactions"]
    assert str(result.superseded["old_row_number"].dtype) == "int64"


def test_earlier_delivery_loses_whatever_its_period(tmp_path):
    """Delivery order is the files' modification time, not their period: a monthly file re-sent after the daily
    one wins over it."""
    landing = tmp_path / "landing"
    daily = write_csv(landing, "transactions_2024-03-05.csv", [txn("g0007", amount="5.00")])
    deliver(daily, 1_000)
    deliver(write_csv(landing, "transactions_2024-03.csv", good_txns(200)), 2_000)
    result = validate_txns(scan_landing(landing).for_month("transactions", date(2024, 3, 1)))
    check_reconciliation(result)
    assert list(result.accepted.loc[result.accepted["txn_id"] == "g0007", "amount"]) == [17.25]
    assert audit_of(result, daily.name)["rows_superseded"] == 1


def test_back_to_an_earlier_value_is_a_new_version(tmp_path):
    """Three deliveries of g0007: 17.25, then 5.00, then 17.25 again. The last one wins (it is not a repeat
    of the version before it), and both earlier values are recorded as superseded."""
    landing = tmp_path / "landing"
    deliver(write_csv(landing, "transactions_2024-03.csv", good_txns(200)), 1_000)
    deliver(write_csv(landing, "transactions_2024-03-05.csv", [txn("g0007", amount="5.00")]), 2_000)
    third = write_csv(landing, "transactions_2024-03-05.csv.gz", [good_txns(7)[-1]])
    deliver(third, 3_000)
    result = validate_txns(scan_landing(landing).for_month("transactions", date(2024, 3, 1)))
    check_reconciliation(result)
    kept = result.accepted[result.accepted["txn_id"] == "g0007"]
    assert list(kept["amount"]) == [17.25] and list(kept["source_file"]) == [third.name]
    assert sorted(result.superseded["old_source_file"]) == ["transactions_2024-03-05.csv", "transactions_2024-03.csv"]


def test_duplicate_balance_key_conflict(tmp_path):
    rows = [balance(a, f"2024-03-{d:02d}") for a in ("A1", "B1") for d in range(1, 32)] * 2
    rows = rows[:62] + [balance("A1", "2024-03-03", "-1")]  # A1 on 2024-03-03 twice, other value
    f = write_csv(tmp_path, "balances_2024-03.csv", rows)
    result = validate_balances([f], ReadSettings(max_rejected_share=0.02))
    assert rules_at(result, f.name, 63) == {"duplicate_key_conflict"}
    assert_accepted(result, f.name, read=63, rejected=1)
    assert result.accepted.duplicated(["account_id", "balance_date"]).sum() == 0


def test_negative_and_zero_balances_are_valid(tmp_path):
    rows = [balance("A1", "2024-03-05", "-1500.25"), balance("A2", "2024-03-05", "0"),
            balance("B1", "2024-03-05", "42")]
    f = write_csv(tmp_path, "balances_2024-03-05.csv", rows)
    result = validate_balances([f])
    assert_accepted(result, f.name, read=3, rejected=0)
    assert sorted(result.accepted["balance"]) == [-1500.25, 0.0, 42.0]


# ---- dates: file period, account open/closed, closed before opened ------------------------------

def test_booking_date_outside_monthly_file_period_is_rejected(tmp_path):
    for i, day in enumerate(["2024-04-01", "2024-02-29"]):
        sub = tmp_path / str(i)
        assert_one_bad_row(sub, {"booking_date": day}, "outside_file_period:booking_date")


def test_booking_date_outside_daily_file_period_is_rejected(tmp_path):
    assert_one_bad_row(tmp_path, {"booking_date": "2024-03-06"}, "outside_file_period:booking_date",
                       name="transactions_2024-03-05.csv")


def test_balance_date_outside_daily_file_period_is_rejected(tmp_path):
    rows = [balance("A1", "2024-03-05"), balance("B1", "2024-03-04")]
    f = write_csv(tmp_path, "balances_2024-03-05.csv", rows)
    result = validate_balances([f])
    assert rules_at(result, f.name, 2) == {"outside_file_period:balance_date"}
    assert_refused(result, f.name, "threshold")
    assert list(result.accepted["account_id"]) == ["A1"]  # the good row is still validated


def test_dates_on_the_period_edges_are_inside(tmp_path):
    rows = [txn("t1", booking_date="2024-03-01"), txn("t2", booking_date="2024-03-31")]
    f = write_csv(tmp_path, TXN_FILE, rows)
    result = validate_txns([f])
    assert_accepted(result, f.name, read=2, rejected=0)


def test_transaction_booked_before_the_account_opened_is_rejected(tmp_path):
    # A2 opened 2024-03-10
    assert_one_bad_row(tmp_path, {"account_id": "A2", "booking_date": "2024-03-09"},
                       "account_not_open_on:booking_date")


def test_transaction_booked_after_the_account_closed_is_rejected(tmp_path):
    # B1 closed 2024-03-20 (its last open day)
    assert_one_bad_row(tmp_path, {"account_id": "B1", "booking_date": "2024-03-21"},
                       "account_not_open_on:booking_date")


def test_transactions_on_opening_and_closing_day_are_accepted(tmp_path):
    rows = [
        txn("t1", account_id="A2", booking_date="2024-03-10"),
        txn("t2", account_id="B1", booking_date="2024-03-20"),
    ]
    f = write_csv(tmp_path, TXN_FILE, rows)
    result = validate_txns([f])
    assert_accepted(result, f.name, read=2, rejected=0)


def test_closed_on_before_opened_on_is_rejected(tmp_path):
    rows = [account(f"X{i:03d}") for i in range(1, 201)]
    rows.append(account("BAD", opened_on="2024-03-10", closed_on="2024-03-09"))
    rows.append(account("SAMEDAY", opened_on="2024-03-10", closed_on="2024-03-10"))
    f = write_csv(tmp_path, "accounts_2024-03-31.csv", rows)
    result = validate_accounts([f])
    assert rules_at(result, f.name, 201) == {"closed_on_before_opened_on"}
    assert_accepted(result, f.name, read=202, rejected=1)
    assert "SAMEDAY" in set(result.accepted["account_id"])


def test_offboarded_before_onboarded_is_rejected(tmp_path):
    rows = [client("c1"), client("c2", onboarded_on="2024-03-10", offboarded_on="2024-01-01")]
    f = write_csv(tmp_path, "clients_2024-03-31.csv", rows)
    result = validate_extract(CLIENTS, [f], ReadSettings())
    assert rules_at(result, f.name, 2) == {"offboarded_on_before_onboarded_on"}
    check_reconciliation(result)


# ---- currency codes and other extracts ------------------------------------------------------

@pytest.mark.parametrize("currency", ["usd", "US", "EURO", "U$D", "12A"])
def test_bad_currency_code_is_rejected(tmp_path, currency):
    rows = [account(f"X{i:03d}", currency="EUR" if i % 2 else "USD") for i in range(1, 201)]
    rows.append(account("BAD", currency=currency))
    f = write_csv(tmp_path, "accounts_2024-03-31.csv", rows)
    result = validate_accounts([f])
    assert rules_at(result, f.name, 201) == {"bad_currency_code:currency"}
    assert_accepted(result, f.name, read=201, rejected=1)
    assert len(result.accepted) == 200


def test_currency_code_not_in_iso_4217_is_rejected(tmp_path):
    """SPEC §3: currency is ISO 4217. ZZZ has the right shape but is no ISO 4217 code."""
    rows = [account(f"X{i:03d}") for i in range(1, 201)] + [account("BAD", currency="ZZZ")]
    f = write_csv(tmp_path, "accounts_2024-03-31.csv", rows)
    result = validate_accounts([f])
    assert "bad_currency_code:currency" in rules_at(result, f.name, 201)


def test_bad_fx_rate_rows_are_rejected(tmp_path):
    rows = [{"rate_date": f"2024-03-{d:02d}", "currency": c, "usd_per_unit": "1.08"}
            for d in range(1, 32) for c in ("EUR", "GBP", "CHF", "JPY", "BGN", "RUB", "CNY")]  # 217 rows
    rows.append({"rate_date": "2024-03-05", "currency": "SEK", "usd_per_unit": "0"})
    rows.append({"rate_date": "2024-03-05", "currency": "eur", "usd_per_unit": "1.1"})
    f = write_csv(tmp_path, "fx_rates_2024-03.csv", rows)
    result = validate_extract(FX_RATES, [f], ReadSettings())
    assert rules_at(result, f.name, 218) == {"not_positive:usd_per_unit"}
    assert rules_at(result, f.name, 219) == {"bad_currency_code:currency"}
    assert_accepted(result, f.name, read=219, rejected=2)
    assert len(result.accepted) == 217


def test_client_pnl_month_and_minimum_rules(tmp_path):
    rows = [
        {"client_id": "c1", "month": "2024-03", "revenue_usd": "100", "cost_usd": "40"},
        {"client_id": "c2", "month": "2024-03-01", "revenue_usd": "0", "cost_usd": "0"},
        {"client_id": "c1", "month": "2024-03-15", "revenue_usd": "1", "cost_usd": "1"},
        {"client_id": "c2", "month": "2024-04", "revenue_usd": "1", "cost_usd": "1"},
        {"client_id": "c3", "month": "2024-03", "revenue_usd": "-1", "cost_usd": "1"},
    ]
    f = write_csv(tmp_path, "client_pnl_2024-03.csv", rows)
    result = validate_extract(CLIENT_PNL, [f], ReadSettings(), references={"clients": CLIENT_IDS})
    check_reconciliation(result)
    assert rules_at(result, f.name, 3) == {"unparseable_month:month"}
    assert rules_at(result, f.name, 4) == {"outside_file_period:month"}
    assert rules_at(result, f.name, 5) == {"unknown_client_id", "below_minimum:revenue_usd"}
    assert list(result.accepted["month"]) == [pd.Timestamp("2024-03-01")] * 2


def test_client_rules_bool_and_minimum(tmp_path):
    rows = [client(f"k{i:03d}", monopoly_position=v, strategic=v.upper())
            for i, v in enumerate(["true", "false", "yes", "no", "1", "0", "t", "f"] * 25, start=1)]  # 200
    rows.append(client("BADBOOL", strategic="maybe"))
    rows.append(client("BADSALES", annual_sales_usd="-10"))
    rows.append(client("BADMODEL", service_model="premium"))
    f = write_csv(tmp_path, "clients_2024-03-31.csv", rows)
    result = validate_extract(CLIENTS, [f], ReadSettings(max_rejected_share=0.02))
    assert rules_at(result, f.name, 201) == {"unparseable_bool:strategic"}
    assert rules_at(result, f.name, 202) == {"below_minimum:annual_sales_usd"}
    assert rules_at(result, f.name, 203) == {"not_allowed:service_model"}
    assert_accepted(result, f.name, read=203, rejected=3)
    acc = result.accepted.set_index("client_id")
    assert acc["monopoly_position"].dtype == bool
    assert acc.loc["k001", "monopoly_position"] and not acc.loc["k002", "monopoly_position"]
    assert acc.loc["k005", "strategic"] and not acc.loc["k008", "strategic"]


def test_row_with_several_failures_lists_all_rules_and_counts_once(tmp_path):
    result, good_ids, row = one_bad_txn(tmp_path, {"amount": "-3", "direction": "X", "account_id": "Z9"})
    assert rules_at(result, TXN_FILE, row) == {"not_positive:amount", "not_allowed:direction", "unknown_account_id"}
    assert_accepted(result, TXN_FILE, read=201, rejected=1)
    assert accepted_ids(result) == good_ids


# ----------------------------------------------------------------------------------------------
# the rejected-share threshold
# ----------------------------------------------------------------------------------------------

def test_one_bad_row_in_a_small_file_refuses_the_file(tmp_path):
    rows = good_txns(10)
    rows.insert(4, txn("BAD", amount="-1"))
    f = write_csv(tmp_path, TXN_FILE, rows)
    result = validate_txns([f])
    message = assert_refused(result, f.name, "threshold", "1.0%")
    assert "1 of 11" in message
    a = audit_of(result, f.name)
    assert (a["rows_read"], a["rows_rejected"]) == (11, 1)
    assert rules_at(result, f.name, 5) == {"not_positive:amount"}  # the row is still reported
    # 1 of 11 = 9.1 %; no extra column, so nothing appended to the reason
    assert a["note"] == "1 of 11 rows rejected (9.1%), above the 1.0% threshold; see rejected_rows"


def test_refusal_counts_rejected_rows_without_the_redelivered_ones(tmp_path):
    """9 good rows, a bad one (amount −1) and an identical repeat of g0001 (re-delivered, harmless): 11 read,
    2 rejected of which 1 re-delivered → 1 of 11 counts (9.1 %) → refused with "1 of 11", not 2 or 3."""
    rows = good_txns(9) + [txn("BAD", amount="-1"), good_txns(1)[0]]
    f = write_csv(tmp_path, TXN_FILE, rows)
    a = audit_of(validate_txns([f]), f.name)
    assert (a["status"], a["rows_read"], a["rows_rejected"], a["rows_redelivered"]) == ("refused", 11, 2, 1)
    assert a["note"] == "1 of 11 rows rejected (9.1%), above the 1.0% threshold; see rejected_rows"


def test_a_rejected_row_and_the_audit_name_the_extract_and_the_row_number_is_an_integer(tmp_path):
    """200 good transactions and row 201 with amount −1: the result, its one rejected row and the file's audit
    row all say "transactions"; the row number is 201, an integer (rejected_rows.row_number is an INTEGER
    column); 1 of 201 rejected = 0.5 % ≤ 1 %, so the file is accepted with 200 rows."""
    f = write_csv(tmp_path, TXN_FILE, good_txns(200) + [txn("BAD", amount="-1")])
    result = validate_txns([f])
    assert result.extract == "transactions"
    (rej,) = result.rejected.itertuples(index=False)
    assert (rej.extract, rej.source_file, rej.row_number, rej.rule) == ("transactions", f.name, 201,
                                                                        "not_positive:amount")
    assert str(result.rejected["row_number"].dtype) == "int64"
    assert json.loads(rej.raw_record) == txn("BAD", amount="-1")
    a = audit_of(result, f.name)
    assert (a["extract"], a["rows_read"], a["rows_accepted"], a["rows_rejected"], a["status"]) == (
        "transactions", 201, 200, 1, "accepted")


def test_audit_notes_name_the_extra_columns_exactly(tmp_path):
    """Two extra columns → "extra column(s) ignored: branch_code, teller"; a file without extras → no note; a
    refused file with an extra column → the rejection reason, then "; " and the extras note."""
    columns = header("transactions") + ["branch_code", "teller"]
    extra = write_csv(tmp_path, "transactions_2024-03-05.csv",
                      [dict(r, branch_code="B7", teller="T1") for r in good_txns(3, booking_date="2024-03-05")],
                      columns=columns)
    plain = write_csv(tmp_path, "transactions_2024-03-06.csv", good_txns(3, prefix="p", booking_date="2024-03-06"))
    bad = [dict(r, branch_code="B7") for r in good_txns(9, prefix="b", booking_date="2024-03-07")]
    bad.append(dict(txn("BAD", booking_date="2024-03-07", amount="-1"), branch_code="B7"))
    refused = write_csv(tmp_path, "transactions_2024-03-07.csv", bad, columns=header("transactions") + ["branch_code"])
    result = validate_txns([extra, plain, refused])
    assert audit_of(result, extra.name)["note"] == "extra column(s) ignored: branch_code, teller"
    assert audit_of(result, plain.name)["note"] == ""
    assert audit_of(result, refused.name)["note"] == (
        "1 of 10 rows rejected (10.0%), above the 1.0% threshold; see rejected_rows; "
        "extra column(s) ignored: branch_code")


@pytest.mark.parametrize("total", [100, 200, 300, 700, 1000])
def test_exactly_one_percent_rejected_is_not_refused(tmp_path, total):
    bad = total // 100
    rows = good_txns(total - bad) + [txn(f"BAD{i}", amount="0") for i in range(bad)]
    f = write_csv(tmp_path, TXN_FILE, rows)
    result = validate_txns([f])
    assert_accepted(result, f.name, read=total, rejected=bad)
    assert result.ok


@pytest.mark.parametrize("total, bad", [(99, 1), (199, 2), (1000, 11), (301, 4)])
def test_just_above_one_percent_rejected_is_refused(tmp_path, total, bad):
    rows = good_txns(total - bad) + [txn(f"BAD{i}", amount="0") for i in range(bad)]
    f = write_csv(tmp_path, TXN_FILE, rows)
    result = validate_txns([f])
    assert_refused(result, f.name, "threshold", f"{bad} of {total}")
    a = audit_of(result, f.name)
    assert (a["rows_read"], a["rows_rejected"]) == (total, bad)
    assert len(rejected_of(result, f.name)) == bad


def test_threshold_is_configurable(tmp_path):
    rows = good_txns(10) + [txn("BAD", amount="0")]
    f = write_csv(tmp_path, TXN_FILE, rows)
    assert_accepted(validate_txns([f], ReadSettings(max_rejected_share=0.10)), f.name, read=11, rejected=1)
    assert_refused(validate_txns([f], ReadSettings(max_rejected_share=0.05)), f.name, "threshold")
    zero = validate_txns([write_csv(tmp_path / "z", TXN_FILE, good_txns(10))], ReadSettings(max_rejected_share=0.0))
    assert_accepted(zero, TXN_FILE, read=10, rejected=0)


def test_threshold_is_judged_per_file(tmp_path):
    landing = tmp_path / "landing"
    write_csv(landing, "transactions_2024-03-04.csv", good_txns(3, prefix="a", booking_date="2024-03-04")
              + [txn("BAD", booking_date="2024-03-04", direction="X")])
    write_csv(landing, "transactions_2024-03-05.csv", good_txns(300, prefix="b") + [txn("BAD2", amount="x")])
    files = scan_landing(landing).for_month("transactions", date(2024, 3, 1))
    result = validate_txns(files)
    assert_refused(result, "transactions_2024-03-04.csv", "threshold")
    assert audit_of(result, "transactions_2024-03-05.csv")["status"] == "accepted"
    assert len(result.refused) == 1


# ----------------------------------------------------------------------------------------------
# whole files: delimiter, encoding, empty, header only, truncated, columns, corrupt, formats
# ----------------------------------------------------------------------------------------------

def test_semicolon_file_read_with_comma_is_refused_naming_the_delimiter(tmp_path):
    f = write_csv(tmp_path, TXN_FILE, good_txns(5), delimiter=";")
    result = validate_txns([f])
    assert_refused(result, f.name, TXN_FILE, "delimiter")
    assert result.accepted.empty


def test_semicolon_file_is_read_with_the_semicolon_setting(tmp_path):
    rows = good_txns(5)
    rows[2]["amount"] = "1234.5"
    f = write_csv(tmp_path, TXN_FILE, rows, delimiter=";")
    result = validate_txns([f], ReadSettings(delimiter=";"))
    assert_accepted(result, f.name, read=5, rejected=0)
    assert accepted_ids(result) == [f"g{i:04d}" for i in range(1, 6)]
    assert result.accepted.set_index("txn_id").loc["g0003", "amount"] == 1234.5


CYRILLIC = ["ООО Ромашка", "АО «Север»", "ИП Ёлкин"]


def cyrillic_clients() -> list[dict[str, str]]:
    return [client(f"c{i}", name=n, region="Москва") for i, n in enumerate(CYRILLIC, start=1)]


def test_cp1251_file_read_as_utf8_is_refused_naming_the_encoding(tmp_path):
    f = write_csv(tmp_path, "clients_2024-03-31.csv", cyrillic_clients(), encoding="cp1251")
    result = validate_extract(CLIENTS, [f], ReadSettings())
    assert_refused(result, f.name, f.name, "utf-8")
    assert result.accepted.empty


def test_cp1251_file_is_read_with_the_cp1251_setting(tmp_path):
    f = write_csv(tmp_path, "clients_2024-03-31.csv", cyrillic_clients(), encoding="cp1251")
    result = validate_extract(CLIENTS, [f], ReadSettings(encoding="cp1251"))
    assert_accepted(result, f.name, read=3, rejected=0)
    assert list(result.accepted["name"]) == CYRILLIC
    assert set(result.accepted["region"]) == {"Москва"}


def test_cp1251_semicolon_gz_file_as_exported_in_the_field(tmp_path):
    text = csv_text(cyrillic_clients() + [client("c9", name="Ёж", client_type="космос")], header("clients"), ";")
    f = write_text(tmp_path, "clients_2024-03-31.csv.gz", text, encoding="cp1251")
    result = validate_extract(CLIENTS, [f], ReadSettings(encoding="cp1251", delimiter=";",
                                                         max_rejected_share=0.5))
    assert_accepted(result, f.name, read=4, rejected=1)
    assert list(result.accepted["name"]) == CYRILLIC
    raw = json.loads(rejected_of(result).iloc[0]["raw_record"])
    assert (raw["name"], raw["client_type"]) == ("Ёж", "космос")  # original text, not escaped or mangled
    assert '"name":"Ёж"' in rejected_of(result).iloc[0]["raw_record"]  # stored readable, not as \u escapes


def test_utf8_with_bom_and_crlf_line_ends_is_read(tmp_path):
    text = "\ufeff" + csv_text(good_txns(3), header("transactions")).replace("\n", "\r\n")
    f = write_text(tmp_path, TXN_FILE, text)
    result = validate_txns([f])
    assert_accepted(result, f.name, read=3, rejected=0)
    assert accepted_ids(result) == ["g0001", "g0002", "g0003"]
    assert set(result.accepted["txn_type"]) == {"payment"}


@pytest.mark.parametrize("name", [TXN_FILE, "transactions_2024-03.csv.gz", "transactions_2024-03.parquet"])
def test_empty_file_is_refused(tmp_path, name):
    (tmp_path / name).write_bytes(b"")
    f = parse_file_name(tmp_path / name)
    result = validate_txns([f])
    assert_refused(result, name, name, "empty")
    assert audit_of(result, name)["rows_read"] == 0


def test_empty_file_does_not_stop_the_other_files(tmp_path):
    landing = tmp_path / "landing"
    (landing).mkdir()
    (landing / "transactions_2024-03-04.csv").write_bytes(b"")
    write_csv(landing, "transactions_2024-03-05.csv", good_txns(3))
    files = scan_landing(landing).for_month("transactions", date(2024, 3, 1))
    result = validate_txns(files)
    assert_refused(result, "transactions_2024-03-04.csv", "empty")
    assert audit_of(result, "transactions_2024-03-05.csv")["status"] == "accepted"
    assert accepted_ids(result) == ["g0001", "g0002", "g0003"]


def test_header_only_file_reads_zero_rows_and_is_accepted(tmp_path):
    f = write_csv(tmp_path, TXN_FILE, [])
    result = validate_txns([f])
    assert_accepted(result, f.name, read=0, rejected=0)
    assert result.accepted.empty
    assert list(result.accepted.columns) == [*TRANSACTIONS.column_names, "source_file"]
    assert result.ok


def test_header_only_gz_file_reads_zero_rows_and_is_accepted(tmp_path):
    f = write_text(tmp_path, "balances_2024-03-05.csv.gz", ",".join(header("balances")) + "\n")
    result = validate_balances([f])
    assert_accepted(result, f.name, read=0, rejected=0)


def test_truncated_last_line_is_rejected_as_malformed(tmp_path):
    text = csv_text(good_txns(200), header("transactions"))
    text += "T201,A1,2024-03-05,1"  # cut off mid-row, no newline
    f = write_text(tmp_path, TXN_FILE, text)
    result = validate_txns([f])
    rules = rules_at(result, f.name, 201)
    assert len(rules) == 1
    assert rules.pop().startswith("malformed_row: expected 9 fields, got 4")
    assert_accepted(result, f.name, read=201, rejected=1)
    assert accepted_ids(result) == [f"g{i:04d}" for i in range(1, 201)]
    assert "T201,A1,2024-03-05,1" in rejected_of(result).iloc[0]["raw_record"]


def test_malformed_rows_in_the_middle_keep_the_row_numbers_right(tmp_path):
    rows = good_txns(300)
    lines = csv_text(rows, header("transactions")).splitlines()
    lines.insert(50, "T050,A1,2024-03-05")                     # data row 50: too few fields
    lines.insert(120, "T120,A1,2024-03-05,1,C,payment,,,,extra")  # data row 120: too many fields
    lines[200] = lines[200].replace(",payment,", ",wire,")     # data row 200: a bad enum
    f = write_text(tmp_path, TXN_FILE, "\n".join(lines) + "\n")
    result = validate_txns([f], ReadSettings(max_rejected_share=0.01))
    assert next(iter(rules_at(result, f.name, 50))).startswith("malformed_row: expected 9 fields, got 3")
    assert next(iter(rules_at(result, f.name, 120))).startswith("malformed_row: expected 9 fields, got 10")
    assert rules_at(result, f.name, 200) == {"not_allowed:txn_type"}
    raw200 = json.loads(rejected_of(result).set_index("row_number").loc[200, "raw_record"])
    assert raw200["txn_id"] == lines[200].split(",")[0]
    assert_accepted(result, f.name, read=302, rejected=3)
    assert len(result.accepted) == 299


def test_malformed_row_deep_in_a_large_file_gets_its_row_number(tmp_path):
    """Over 1 MB, so the parser works in several blocks (threads); the row number must still be exact."""
    lines = csv_text(good_txns(30000), header("transactions")).splitlines()
    lines.insert(27000, "T27000,A1,2024-03-05")  # data row 27000
    f = write_text(tmp_path, TXN_FILE, "\n".join(lines) + "\n")
    assert f.path.stat().st_size > 1_100_000
    result = validate_txns([f])
    assert next(iter(rules_at(result, f.name, 27000))).startswith("malformed_row: expected 9 fields, got 3")
    assert_accepted(result, f.name, read=30001, rejected=1)
    assert len(result.accepted) == 30000


def test_whitespace_only_file_is_refused(tmp_path):
    f = write_text(tmp_path, TXN_FILE, "\n\n   \n")
    result = validate_txns([f])
    assert_refused(result, f.name, f.name, "empty")


def test_unknown_extra_column_is_accepted_with_a_note(tmp_path):
    columns = header("transactions") + ["branch_code"]
    rows = [dict(r, branch_code="B7") for r in good_txns(5)]
    f = write_csv(tmp_path, TXN_FILE, rows, columns=columns)
    result = validate_txns([f])
    assert_accepted(result, f.name, read=5, rejected=0)
    assert "branch_code" in audit_of(result, f.name)["note"]
    assert list(result.accepted.columns) == [*TRANSACTIONS.column_names, "source_file"]


def test_extra_column_note_is_only_on_the_file_that_has_it(tmp_path):
    landing = tmp_path / "landing"
    write_csv(landing, "transactions_2024-03-04.csv", [dict(r, branch_code="B7") for r in good_txns(
        2, prefix="a", booking_date="2024-03-04")], columns=header("transactions") + ["branch_code"])
    write_csv(landing, "transactions_2024-03-05.csv", good_txns(2))
    files = scan_landing(landing).for_month("transactions", date(2024, 3, 1))
    result = validate_txns(files)
    check_reconciliation(result)
    assert "branch_code" in audit_of(result, "transactions_2024-03-04.csv")["note"]
    assert "branch_code" not in audit_of(result, "transactions_2024-03-05.csv")["note"]


def test_raw_record_of_a_file_without_another_files_extra_column_has_it_empty(tmp_path):
    """The 03-04 file has an extra column branch_code, the 03-05 file has not; the extract's rows then carry it,
    and a rejected row of the 03-05 file records it as the empty text a CSV cell without a value is (a raw
    record holds text only, as delivered), not as a null or a made-up value."""
    landing = tmp_path / "landing"
    write_csv(landing, "transactions_2024-03-04.csv", [dict(r, branch_code="B7") for r in good_txns(
        2, prefix="a", booking_date="2024-03-04")], columns=header("transactions") + ["branch_code"])
    write_csv(landing, "transactions_2024-03-05.csv", good_txns(200) + [txn("BAD", amount="-1")])
    result = validate_txns(scan_landing(landing).for_month("transactions", date(2024, 3, 1)))
    check_reconciliation(result)
    assert rules_at(result, "transactions_2024-03-05.csv", 201) == {"not_positive:amount"}
    (raw,) = rejected_of(result, "transactions_2024-03-05.csv")["raw_record"]
    assert json.loads(raw) == {**txn("BAD", amount="-1"), "branch_code": ""}


def test_rejected_row_raw_record_keeps_the_extra_column(tmp_path):
    columns = header("transactions") + ["branch_code"]
    rows = [dict(r, branch_code="B7") for r in good_txns(200)] + [txn("BAD", amount="-1", branch_code="B9")]
    f = write_csv(tmp_path, TXN_FILE, rows, columns=columns)
    result = validate_txns([f])
    raw = json.loads(rejected_of(result).iloc[0]["raw_record"])
    assert raw["branch_code"] == "B9"


@pytest.mark.parametrize("missing", ["amount", "account_id", "txn_id"])
def test_missing_required_column_is_refused_naming_the_column(tmp_path, missing):
    columns = [c for c in header("transactions") if c != missing]
    f = write_csv(tmp_path, TXN_FILE, good_txns(5), columns=columns)
    result = validate_txns([f])
    assert_refused(result, f.name, f.name, missing)
    assert result.accepted.empty


def test_a_file_refused_for_a_missing_column_keeps_every_row_in_rejected_rows(tmp_path):
    """SPEC §3: bad input is never lost. A file without its `amount` column is refused, and each of its 3 rows
    is in rejected_rows: row numbers 1, 2, 3 (integers), the file's reason as the rule, and the values it did
    deliver (every column but the missing amount, as text)."""
    columns = [c for c in header("transactions") if c != "amount"]
    delivered = good_txns(3)
    f = write_csv(tmp_path, TXN_FILE, delivered, columns=columns)
    result = validate_txns([f])
    assert_refused(result, f.name, "missing column(s) amount")
    # the reason is the file's own: 3 of 3 rows are rejected, but not for a rejected share above the threshold
    assert result.refused == [f"{f.name}: missing column(s) amount"]
    assert audit_of(result, f.name)["note"] == "missing column(s) amount"
    rej = rejected_of(result, f.name)
    assert list(rej["row_number"]) == [1, 2, 3] and str(rej["row_number"].dtype) == "int64"
    assert set(rej["rule"]) == {"file_refused: missing column(s) amount"}
    assert set(rej["extract"]) == {"transactions"}
    assert [json.loads(r) for r in rej["raw_record"]] == [{c: row[c] for c in columns} for row in delivered]
    a = audit_of(result, f.name)
    assert (a["rows_read"], a["rows_accepted"], a["rows_rejected"]) == (3, 0, 3)


def test_missing_columns_are_named_in_the_contracts_order_without_a_delimiter_hint(tmp_path):
    """A file with only txn_id and account_id: two columns were split, so the delimiter is right and no hint is
    given; the 7 missing columns are named in the contract's order, separated by ", "."""
    f = write_csv(tmp_path, TXN_FILE, good_txns(2), columns=["txn_id", "account_id"])
    result = validate_txns([f])
    reason = ("missing column(s) booking_date, amount, direction, txn_type, counterparty_account_id, "
              "counterparty_country, purpose")
    assert result.refused == [f"{f.name}: {reason}"]
    assert_refused(result, f.name)


def test_a_file_missing_a_column_does_not_stop_the_other_files(tmp_path):
    """Delivered first, the 03-04 file lacks `amount` and is refused; the 03-05 file delivered after it is still
    read and accepted with its 3 rows."""
    landing = tmp_path / "landing"
    deliver(write_csv(landing, "transactions_2024-03-04.csv", good_txns(2, prefix="a", booking_date="2024-03-04"),
                      columns=[c for c in header("transactions") if c != "amount"]), 1_000)
    deliver(write_csv(landing, "transactions_2024-03-05.csv", good_txns(3)), 2_000)
    result = validate_txns(scan_landing(landing).for_month("transactions", date(2024, 3, 1)))
    assert_refused(result, "transactions_2024-03-04.csv", "missing column(s) amount")
    a = audit_of(result, "transactions_2024-03-05.csv")
    assert (a["status"], a["rows_read"], a["rows_accepted"]) == ("accepted", 3, 3)
    assert accepted_ids(result) == ["g0001", "g0002", "g0003"]


def test_raw_record_of_a_file_without_an_optional_column_has_it_empty(tmp_path):
    """A file without the optional purpose and counterparty_country columns: they are read as empty values, so
    a rejected row's raw record has them as the empty text, like an empty cell (never null)."""
    columns = [c for c in header("transactions") if c not in ("purpose", "counterparty_country")]
    bad = txn("BAD", amount="-1")
    f = write_csv(tmp_path, TXN_FILE, good_txns(200) + [bad], columns=columns)
    result = validate_txns([f])
    assert rules_at(result, f.name, 201) == {"not_positive:amount"}
    (raw,) = rejected_of(result, f.name)["raw_record"]
    assert json.loads(raw) == {**{c: bad[c] for c in columns}, "purpose": "", "counterparty_country": ""}


def test_missing_optional_column_is_read_as_empty(tmp_path):
    columns = [c for c in header("transactions") if c not in ("purpose", "counterparty_country")]
    f = write_csv(tmp_path, TXN_FILE, good_txns(4), columns=columns)
    result = validate_txns([f])
    assert_accepted(result, f.name, read=4, rejected=0)
    assert result.accepted["purpose"].isna().all()
    assert result.accepted["counterparty_country"].isna().all()


def test_clients_file_without_group_id_loads_with_no_group(tmp_path):
    # a clients file in the format before economic groups: every column but group_id
    columns = [c for c in header("clients") if c != "group_id"]
    assert len(columns) == len(header("clients")) - 1
    f = write_csv(tmp_path, "clients_2024-03-31.csv", [client("c1"), client("c2")], columns=columns)
    result = validate_extract(CLIENTS, [f], ReadSettings())
    assert_accepted(result, f.name, read=2, rejected=0)
    assert list(result.accepted["group_id"]) == [None, None]


def test_clients_group_id_is_read_and_empty_means_no_group(tmp_path):
    rows = [client("c1", group_id="G1"), client("c2", group_id="G1"), client("c3", group_id="")]
    f = write_csv(tmp_path, "clients_2024-03-31.csv", rows)
    result = validate_extract(CLIENTS, [f], ReadSettings())
    assert_accepted(result, f.name, read=3, rejected=0)
    assert list(result.accepted.set_index("client_id")["group_id"]) == ["G1", "G1", None]


def test_columns_in_another_order_are_read_by_name(tmp_path):
    columns = list(reversed(header("transactions")))
    f = write_csv(tmp_path, TXN_FILE, good_txns(3), columns=columns)
    result = validate_txns([f])
    assert_accepted(result, f.name, read=3, rejected=0)
    assert list(result.accepted["amount"]) == [11.25, 12.25, 13.25]


def test_corrupt_parquet_is_refused_naming_the_file(tmp_path):
    name = "transactions_2024-03.parquet"
    (tmp_path / name).write_bytes(b"PAR1 this is not really parquet, just some bytes " * 20)
    result = validate_txns([parse_file_name(tmp_path / name)])
    assert_refused(result, name, name, "parquet")


def test_truncated_parquet_is_refused_naming_the_file(tmp_path):
    f = write_parquet(tmp_path, "balances_2024-03-05.parquet",
                      pa.table({"account_id": ["A1"] * 50, "balance_date": [date(2024, 3, 5)] * 50,
                                "balance": [1.0] * 50}))
    data = f.path.read_bytes()
    f.path.write_bytes(data[: len(data) // 2])
    result = validate_balances([f])
    assert_refused(result, f.name, f.name)


def test_corrupt_csv_gz_is_refused_naming_the_file(tmp_path):
    name = "transactions_2024-03.csv.gz"
    (tmp_path / name).write_bytes(b"\x1f\x8b\x08\x00 definitely not a gzip stream " * 10)
    result = validate_txns([parse_file_name(tmp_path / name)])
    assert_refused(result, name, name)


def test_plain_text_named_csv_gz_is_refused_naming_the_file(tmp_path):
    name = "transactions_2024-03.csv.gz"
    (tmp_path / name).write_text(csv_text(good_txns(3), header("transactions")))
    result = validate_txns([parse_file_name(tmp_path / name)])
    assert_refused(result, name, name)


def test_truncated_csv_gz_is_refused_naming_the_file(tmp_path):
    f = write_text(tmp_path, "transactions_2024-03.csv.gz", csv_text(good_txns(300), header("transactions")))
    data = f.path.read_bytes()
    f.path.write_bytes(data[: len(data) // 2])
    result = validate_txns([f])
    assert_refused(result, f.name, f.name)


def test_read_raw_raises_unreadable_file_with_name_and_reason(tmp_path):
    (tmp_path / TXN_FILE).write_bytes(b"")
    with pytest.raises(UnreadableFile) as info:
        read_raw(parse_file_name(tmp_path / TXN_FILE))
    assert info.value.file_name == TXN_FILE
    assert TXN_FILE in str(info.value) and info.value.reason


def test_long_columns_of_distinct_and_of_repeated_values_read_as_delivered_and_trimmed(tmp_path):
    # 70,000 rows: more than the reader samples to tell ids from codes. Ids and amounts are all distinct (not
    # interned), the direction repeats two values (interned); either way every value is the delivered text, trimmed.
    n = 70_000
    ids = [f" T{i:07d} " for i in range(n)]
    amounts = [f"{i}.{i % 100:02d}" for i in range(n)]
    directions = ["C" if i % 3 else " D" for i in range(n)]
    (tmp_path / TXN_FILE).write_text("txn_id,amount,direction\n" + "".join(
        f"{a},{b},{c}\n" for a, b, c in zip(ids, amounts, directions)))
    rows = read_raw(parse_file_name(tmp_path / TXN_FILE)).rows
    assert rows["txn_id"].tolist() == [i.strip() for i in ids]
    assert rows["amount"].tolist() == amounts
    assert rows["direction"].tolist() == [d.strip() for d in directions]
    assert rows["_row"].tolist() == list(range(1, n + 1))


def test_csv_gz_file_is_read(tmp_path):
    rows = good_txns(200) + [txn("BAD", direction="X")]
    f = write_text(tmp_path, "transactions_2024-03-05.csv.gz", csv_text(rows, header("transactions")))
    result = validate_txns([f])
    assert rules_at(result, f.name, 201) == {"not_allowed:direction"}
    assert_accepted(result, f.name, read=201, rejected=1)
    assert accepted_ids(result) == [f"g{i:04d}" for i in range(1, 201)]


def test_parquet_file_with_typed_columns_is_read_and_validated(tmp_path):
    n = 200
    table = pa.table({
        "txn_id": [f"p{i:04d}" for i in range(n)] + ["BAD"],
        "account_id": ["A1"] * n + ["A1"],
        "booking_date": pa.array([date(2024, 3, 5)] * n + [date(2024, 3, 6)], pa.date32()),
        "amount": [100.5] * n + [-1.0],
        "direction": ["C"] * n + ["D"],
        "txn_type": ["payment"] * n + ["fee"],
        "counterparty_account_id": [None] * (n + 1),
        "counterparty_country": ["DE"] * n + [None],
        "purpose": ["export"] * n + [None],
    })
    f = write_parquet(tmp_path, "transactions_2024-03-05.parquet", table)
    result = validate_txns([f])
    assert rules_at(result, f.name, n + 1) == {"not_positive:amount", "outside_file_period:booking_date"}
    assert_accepted(result, f.name, read=n + 1, rejected=1)
    acc = result.accepted
    assert len(acc) == n and (acc["amount"] == 100.5).all()
    assert (acc["booking_date"] == pd.Timestamp("2024-03-05")).all()
    assert acc["counterparty_account_id"].isna().all()
    raw = json.loads(rejected_of(result).iloc[0]["raw_record"])
    assert raw["txn_id"] == "BAD" and raw["booking_date"] == "2024-03-06"


def test_parquet_clients_with_bool_columns(tmp_path):
    table = pa.table({
        "client_id": ["c1", "c2"], "name": ["Alpha", "Beta"], "client_type": ["corporate", "sme"],
        "related_party": [None, "affiliate"], "industry": ["energy", None], "region": [None, None],
        "onboarded_on": pa.array([date(2020, 1, 1), date(2021, 6, 1)], pa.date32()),
        "offboarded_on": pa.array([None, None], pa.date32()),
        "annual_sales_usd": [6e6, None], "monopoly_position": [True, False], "strategic": [False, True],
        "service_model": ["vip", "standard"],
    })
    f = write_parquet(tmp_path, "clients_2024-03-31.parquet", table)
    result = validate_extract(CLIENTS, [f], ReadSettings())
    assert_accepted(result, f.name, read=2, rejected=0)
    acc = result.accepted.set_index("client_id")
    assert list(acc["related_party"]) == ["none", "affiliate"]
    assert list(acc["monopoly_position"]) == [True, False] and list(acc["strategic"]) == [False, True]
    assert np.isnan(acc.loc["c2", "annual_sales_usd"])


def test_parquet_missing_required_column_is_refused(tmp_path):
    f = write_parquet(tmp_path, "balances_2024-03-05.parquet",
                      pa.table({"account_id": ["A1"], "balance_date": ["2024-03-05"]}))
    result = validate_balances([f])
    assert_refused(result, f.name, f.name, "balance")


# ----------------------------------------------------------------------------------------------
# snapshots, defaults and optional values, raw records
# ----------------------------------------------------------------------------------------------

def test_latest_clients_snapshot_wins_and_older_is_superseded(tmp_path):
    landing = tmp_path / "landing"
    write_csv(landing, "clients_2024-02-29.csv", [client("c1", name="Old Name"), client("c_old")])
    write_csv(landing, "clients_2024-03-31.csv", [client("c1", name="New Name"), client("c2")])
    files = scan_landing(landing).of("clients")
    result = load_snapshot(CLIENTS, files, ReadSettings())
    check_reconciliation(result)
    assert sorted(result.accepted["client_id"]) == ["c1", "c2"]
    assert result.accepted.set_index("client_id").loc["c1", "name"] == "New Name"
    old = audit_of(result, "clients_2024-02-29.csv")
    assert old["status"] == "superseded"
    assert "clients_2024-03-31.csv" in old["note"]
    assert audit_of(result, "clients_2024-03-31.csv")["status"] == "accepted"
    assert result.ok


def test_latest_accounts_snapshot_wins(tmp_path):
    landing = tmp_path / "landing"
    write_csv(landing, "accounts_2024-03.csv", [account("OLD1")])
    write_csv(landing, "accounts_2024-04-01.csv", [account("NEW1"), account("NEW2", "c2")])
    files = scan_landing(landing).of("accounts")
    result = load_snapshot(ACCOUNTS, files, ReadSettings(), references={"clients": CLIENT_IDS})
    check_reconciliation(result)
    assert sorted(result.accepted["account_id"]) == ["NEW1", "NEW2"]
    assert audit_of(result, "accounts_2024-03.csv")["status"] == "superseded"


def test_no_snapshot_file_is_an_error_naming_the_extract():
    with pytest.raises(UnreadableFile, match="clients") as info:
        load_snapshot(CLIENTS, [], ReadSettings())
    assert info.value.file_name == "clients_*"
    assert info.value.reason == "no clients extract in the landing directory"


def test_validation_adds_its_rows_to_the_read_and_validate_stages(tmp_path):
    """The benchmark's per-stage report (`vip_pipeline.timing`): validating one file of 3 rows adds 3 rows to the
    "read" stage and 3 to the "validate" stage."""
    f = write_csv(tmp_path, TXN_FILE, good_txns(3))
    before = {name: TIMINGS[name].rows for name in ("read", "validate")}
    validate_txns([f])
    assert {name: TIMINGS[name].rows - before[name] for name in ("read", "validate")} == {"read": 3, "validate": 3}


def test_an_extract_without_files_is_empty_with_the_contracts_types():
    """No transactions file: no rows, nothing rejected or audited, and the accepted frame still has every
    contract column with its type (dates datetime64, numbers float64, text object) plus the source file."""
    result = validate_txns([])
    assert result.ok and result.rejected.empty and result.audit.empty
    # still the transactions' result, with the columns of rejected_rows and of the audit
    assert result.extract == "transactions"
    assert list(result.rejected.columns) == ["extract", "source_file", "row_number", "rule", "raw_record"]
    assert list(result.audit.columns) == ["extract", "source_file", "rows_read", "rows_accepted", "rows_rejected",
                                          "rows_redelivered", "rows_superseded", "status", "note", "delivered_at"]
    accepted = result.accepted
    assert accepted.empty
    assert list(accepted.columns) == [*header("transactions"), "source_file"]
    assert (accepted["booking_date"].dtype, accepted["amount"].dtype) == ("datetime64[ns]", "float64")
    assert accepted["txn_id"].dtype == object and accepted["source_file"].dtype == object


def test_of_three_snapshots_the_latest_wins_and_both_older_are_superseded(tmp_path):
    """Three clients snapshots (January, February, March): only March's rows are loaded; January and February
    are audited as superseded by it, with 0 rows read, in file order, before March's row; the audit is a plain
    table (index 0, 1, 2)."""
    landing = tmp_path / "landing"
    write_csv(landing, "clients_2024-01-31.csv", [client("c_jan")])
    write_csv(landing, "clients_2024-02-29.csv", [client("c_feb")])
    write_csv(landing, "clients_2024-03-31.csv", [client("c1"), client("c2")])
    result = load_snapshot(CLIENTS, scan_landing(landing).of("clients"), ReadSettings())
    check_reconciliation(result)
    assert sorted(result.accepted["client_id"]) == ["c1", "c2"]
    assert list(result.audit["source_file"]) == ["clients_2024-01-31.csv", "clients_2024-02-29.csv",
                                                 "clients_2024-03-31.csv"]
    assert list(result.audit["status"]) == ["superseded", "superseded", "accepted"]
    assert list(result.audit["note"][:2]) == ["superseded by clients_2024-03-31.csv"] * 2
    assert list(result.audit["rows_read"]) == [0, 0, 2]
    assert list(result.audit.index) == [0, 1, 2]


def test_a_single_snapshot_keeps_its_audit_typed(tmp_path):
    """One clients file, nothing superseded: its one audit row keeps integer counts (read 2, accepted 2)."""
    f = write_csv(tmp_path / "landing", "clients_2024-03-31.csv", [client("c1"), client("c2")])
    result = load_snapshot(CLIENTS, [f], ReadSettings())
    assert list(result.audit["status"]) == ["accepted"]
    for column in ("rows_read", "rows_accepted", "rows_rejected", "rows_redelivered", "rows_superseded"):
        assert result.audit[column].dtype == "int64", column
    assert (result.audit.loc[0, "rows_read"], result.audit.loc[0, "rows_accepted"]) == (2, 2)


# restatements: a file re-sent under the same name with other values (SPEC §3 "Corrections and late data")

def _fx_accepted(*rows: tuple) -> pd.DataFrame:
    """Accepted fx_rates rows as the loader types them: (rate_date, currency, usd_per_unit, source_file)."""
    frame = pd.DataFrame(rows, columns=["rate_date", "currency", "usd_per_unit", "source_file"])
    frame["rate_date"] = pd.to_datetime(frame["rate_date"])
    return frame


def test_restatements_record_changed_and_withdrawn_values_of_a_resent_file():
    """fx_rates_2024-03.csv was loaded with EUR 1.10 / 1.11 / 1.12 on March 1–3, and GBP 1.25 on March 4 came
    from the daily file fx_rates_2024-03-04.csv. The monthly file is re-sent: March 1 unchanged, March 2 now
    1.15, March 3 gone, and it now also carries GBP March 4 at 1.30.
    - March 1: same values → nothing recorded;
    - March 2: other value, same file → restated: old 1.11, new 1.15, both from fx_rates_2024-03.csv;
    - March 3: no longer delivered → recorded with no new file and no new record;
    - GBP March 4: now from another file → a supersession (recorded by the loader), not a restatement.
    Rows in the order of the values loaded before; keys and records as JSON of the typed values (dates ISO);
    the old row number is unknown (null)."""
    month, daily = "fx_rates_2024-03.csv", "fx_rates_2024-03-04.csv"
    before = _fx_accepted(("2024-03-01", "EUR", 1.10, month), ("2024-03-02", "EUR", 1.11, month),
                          ("2024-03-03", "EUR", 1.12, month), ("2024-03-04", "GBP", 1.25, daily))
    after = _fx_accepted(("2024-03-01", "EUR", 1.10, month), ("2024-03-02", "EUR", 1.15, month),
                         ("2024-03-04", "GBP", 1.30, month))
    out = restatements(FX_RATES, before, after)
    assert list(out.columns) == ["extract", "key", "old_source_file", "old_row_number", "old_record",
                                 "new_source_file", "new_record"]
    assert len(out) == 2
    changed, gone = out.iloc[0], out.iloc[1]
    assert changed["extract"] == gone["extract"] == "fx_rates"
    assert json.loads(changed["key"]) == {"currency": "EUR", "rate_date": "2024-03-02"}
    assert (changed["old_source_file"], changed["new_source_file"]) == (month, month)
    assert pd.isna(changed["old_row_number"]) and pd.isna(gone["old_row_number"])
    assert json.loads(changed["old_record"]) == {"rate_date": "2024-03-02", "currency": "EUR", "usd_per_unit": 1.11}
    assert json.loads(changed["new_record"]) == {"rate_date": "2024-03-02", "currency": "EUR", "usd_per_unit": 1.15}
    assert json.loads(gone["key"]) == {"currency": "EUR", "rate_date": "2024-03-03"}
    assert gone["old_source_file"] == month
    assert json.loads(gone["old_record"]) == {"rate_date": "2024-03-03", "currency": "EUR", "usd_per_unit": 1.12}
    assert pd.isna(gone["new_source_file"]) and pd.isna(gone["new_record"])


def test_restatements_of_an_unchanged_or_first_delivery_are_empty():
    """Nothing loaded before (None or no rows), or the same values again (empty optional values included:
    missing == missing): no restatement, an empty table with the superseded-values columns."""
    columns = ["extract", "key", "old_source_file", "old_row_number", "old_record", "new_source_file",
               "new_record"]
    after = _fx_accepted(("2024-03-01", "EUR", 1.10, "fx_rates_2024-03.csv"))
    for before in (None, after.iloc[0:0], after.copy()):
        out = restatements(FX_RATES, before, after)
        assert out.empty and list(out.columns) == columns
    out = restatements(FX_RATES, after, after.copy())
    assert out.empty and list(out.columns) == columns
    assert all(out[c].dtype == object for c in ("key", "old_source_file", "old_record", "new_record"))
    txns = _txns_accepted((10.0, None))
    out = restatements(TRANSACTIONS, txns, txns.copy())
    assert out.empty and list(out.columns) == columns


def _txns_accepted(*rows: tuple) -> pd.DataFrame:
    """Accepted transactions t1, t2, … of transactions_2024-03.csv (A1, March 5, credit payments, no
    counterparty): rows are (amount, purpose)."""
    return pd.DataFrame({
        "txn_id": [f"t{i}" for i in range(1, len(rows) + 1)], "account_id": "A1",
        "booking_date": pd.to_datetime(["2024-03-05"] * len(rows)), "amount": [r[0] for r in rows],
        "direction": "C", "txn_type": "payment", "counterparty_account_id": None, "counterparty_country": np.nan,
        "purpose": [r[1] for r in rows], "source_file": "transactions_2024-03.csv"})


def test_restatements_compare_every_column_and_a_value_that_appears():
    """transactions_2024-03.csv re-sent: t1's amount 10 → 12 (its last column, purpose, still empty), t2's
    purpose empty → export (missing before, present now), t3 unchanged (empty optional values on both sides).
    Restated: t1 and t2, in that order, each with its old and new record; t3 is not."""
    before = _txns_accepted((10.0, None), (20.0, None), (30.0, None))
    after = _txns_accepted((12.0, None), (20.0, "export"), (30.0, None))
    out = restatements(TRANSACTIONS, before, after)
    assert [json.loads(k) for k in out["key"]] == [{"txn_id": "t1"}, {"txn_id": "t2"}]
    old1, new1 = json.loads(out["old_record"].iloc[0]), json.loads(out["new_record"].iloc[0])
    assert (old1["amount"], new1["amount"], new1["booking_date"], new1["purpose"]) == (10.0, 12.0, "2024-03-05", None)
    old2, new2 = json.loads(out["old_record"].iloc[1]), json.loads(out["new_record"].iloc[1])
    assert (old2["purpose"], new2["purpose"], new2["amount"]) == (None, "export", 20.0)
    assert list(out["new_source_file"]) == ["transactions_2024-03.csv"] * 2


def test_restatements_of_values_swapped_between_rows_of_a_file_are_found():
    """transactions_2024-03.csv re-sent with t1 and t2's amounts swapped (10, 20 → 20, 10): the file has the same
    rows count and the same multiset of values per column, yet both transactions are restated."""
    out = restatements(TRANSACTIONS, _txns_accepted((10.0, None), (20.0, None)),
                       _txns_accepted((20.0, None), (10.0, None)))
    assert [json.loads(k)["txn_id"] for k in out["key"]] == ["t1", "t2"]
    assert [json.loads(r)["amount"] for r in out["new_record"]] == [20.0, 10.0]


def test_restatements_come_only_from_the_files_that_changed():
    """Two files of March: the daily file's rows are the same on both sides, the monthly file re-sent with
    t2's amount 20 → 25. Only t2 is restated; t3 of the unchanged daily file is not, although its row moved."""
    daily = _txns_accepted((30.0, None)).assign(txn_id="t3", source_file="transactions_2024-03-05.csv")
    before = pd.concat([_txns_accepted((10.0, None), (20.0, None)), daily], ignore_index=True)
    after = pd.concat([daily, _txns_accepted((10.0, None), (25.0, None))], ignore_index=True)
    out = restatements(TRANSACTIONS, before, after)
    assert [json.loads(k)["txn_id"] for k in out["key"]] == ["t2"]
    assert json.loads(out["new_record"].iloc[0])["amount"] == 25.0


def test_empty_related_party_means_none(tmp_path):
    rows = [
        client("c1", related_party=""),
        client("c2", related_party="shareholder"),
        client("c3", related_party="none"),
    ]
    f = write_csv(tmp_path, "clients_2024-03-31.csv", rows)
    result = validate_extract(CLIENTS, [f], ReadSettings())
    assert_accepted(result, f.name, read=3, rejected=0)
    assert list(result.accepted.set_index("client_id")["related_party"]) == ["none", "shareholder", "none"]


def test_related_party_outside_the_list_is_rejected(tmp_path):
    rows = [client("c1"), client("c2", related_party="cousin")]
    f = write_csv(tmp_path, "clients_2024-03-31.csv", rows)
    result = validate_extract(CLIENTS, [f], ReadSettings())
    assert rules_at(result, f.name, 2) == {"not_allowed:related_party"}


def test_optional_empty_values_become_missing(tmp_path):
    rows = [client("c1", industry="", region="", offboarded_on="", annual_sales_usd=""), client("c2")]
    f = write_csv(tmp_path, "clients_2024-03-31.csv", rows)
    result = validate_extract(CLIENTS, [f], ReadSettings())
    assert_accepted(result, f.name, read=2, rejected=0)
    c1 = result.accepted.set_index("client_id").loc["c1"]
    assert c1["industry"] is None and c1["region"] is None
    assert pd.isna(c1["offboarded_on"]) and pd.isna(c1["annual_sales_usd"])
    c2 = result.accepted.set_index("client_id").loc["c2"]
    assert c2["industry"] == "energy" and c2["annual_sales_usd"] == 6_000_000.0

    tf = write_csv(tmp_path, TXN_FILE, [txn("t1"), txn("t2", counterparty_account_id="X9", counterparty_country="DE",
                                                   purpose="export")])
    tr = validate_txns([tf]).accepted.set_index("txn_id")
    assert tr.loc["t1", "counterparty_account_id"] is None
    assert tr.loc["t1", "counterparty_country"] is None
    assert tr.loc["t1", "purpose"] is None
    assert (tr.loc["t2", "counterparty_country"], tr.loc["t2", "purpose"]) == ("DE", "export")

    af = write_csv(tmp_path, "accounts_2024-03-31.csv", [account("A1")])
    assert validate_accounts([af]).accepted["closed_on"].isna().all()


def test_accepted_rows_are_typed(tmp_path):
    f = write_csv(tmp_path, TXN_FILE, good_txns(3))
    acc = validate_txns([f]).accepted
    assert acc["booking_date"].dtype == "datetime64[ns]"
    assert acc["amount"].dtype == "float64"
    TRANSACTIONS.pandera_schema().validate(acc)


def test_raw_record_holds_the_original_text_values(tmp_path):
    rows = good_txns(200) + [txn("007", amount="-5.00", booking_date="2024-03-05", direction="D",
                                 counterparty_account_id="00012", purpose="")]
    f = write_csv(tmp_path, TXN_FILE, rows)
    result = validate_txns([f])
    rej = rejected_of(result, f.name)
    assert len(rej) == 1
    r = rej.iloc[0]
    assert (r["extract"], r["source_file"], r["row_number"], r["rule"]) == (
        "transactions", TXN_FILE, 201, "not_positive:amount")
    raw = json.loads(r["raw_record"])
    assert raw == {"txn_id": "007", "account_id": "A1", "booking_date": "2024-03-05", "amount": "-5.00",
                   "direction": "D", "txn_type": "payment", "counterparty_account_id": "00012",
                   "counterparty_country": "", "purpose": ""}
    assert all(isinstance(v, str) for v in raw.values())


def test_accepted_plus_rejected_equals_read_across_a_messy_month(tmp_path):
    landing = tmp_path / "landing"
    write_csv(landing, "transactions_2024-03.csv", good_txns(300) + [
        txn("e1", amount="x"), txn("e2", account_id="Z9"), txn("g0005")])
    write_csv(landing, "transactions_2024-03-05.csv", good_txns(3) + [txn("n1")])
    (landing / "transactions_2024-03-06.csv").write_bytes(b"")
    write_csv(landing, "transactions_2024-03-07.csv", [txn("s1", booking_date="2024-03-07"),
                                                      txn("s2", booking_date="2024-03-08")])
    (landing / "transactions_2024-03-08.csv.gz").write_bytes(b"garbage")
    files = scan_landing(landing).for_month("transactions", date(2024, 3, 1))
    result = validate_txns(files)
    check_reconciliation(result)
    assert len(result.audit) == 5
    statuses = dict(zip(result.audit["source_file"], result.audit["status"]))
    assert statuses == {
        "transactions_2024-03.csv": "accepted",
        "transactions_2024-03-05.csv": "accepted",
        "transactions_2024-03-06.csv": "refused",
        "transactions_2024-03-07.csv": "refused",
        "transactions_2024-03-08.csv.gz": "refused",
    }
    assert sorted(m.split(":", 1)[0] for m in result.refused) == [
        "transactions_2024-03-06.csv", "transactions_2024-03-07.csv", "transactions_2024-03-08.csv.gz"]


# ---- client shards: each shard validates its own rows, the audits are summed per file ------------------------

def shard_by_account(ids) -> np.ndarray:
    """Shard 0: account A1; shard 1: every other account (ids as a pandas Series or an Arrow array)."""
    values = ids.to_pylist() if hasattr(ids, "to_pylist") else list(ids)
    return np.array([0 if v == "A1" else 1 for v in values])


def validate_txn_shard(files, shard, shard_of_ids=shard_by_account) -> LoadResult:
    return validate_shard(TRANSACTIONS, list(files), ReadSettings(), {"accounts": ACCOUNT_IDS}, ACCOUNTS_FRAME,
                          shard_of_ids, shard)


def test_each_shard_validates_its_own_rows_and_the_summed_audit_applies_the_threshold(tmp_path):
    """Rows 1 t1 (A1), 2 t2 (A2), 3 t3 (A2, amount −5), 4 t4 (B1), 5 a line of 2 fields. Shard 0 (A1) gets t1 and
    the malformed row 5 (rows the parser could not split go to shard 0): read 2, accepted 1, rejected 1. Shard 1
    gets t2, t3, t4: read 3, accepted 2, rejected 1 (row 3). Neither applies the threshold. Summed: read 5 =
    accepted 3 + rejected 2; 2 of 5 = 40 % > 1 % → refused; with a 50 % threshold accepted."""
    rows = [txn("t1", booking_date="2024-03-15"), txn("t2", account_id="A2", booking_date="2024-03-15"),
            txn("t3", account_id="A2", booking_date="2024-03-15", amount="-5"),
            txn("t4", account_id="B1", booking_date="2024-03-15")]
    f = write_text(tmp_path, TXN_FILE, csv_text(rows, header("transactions")) + "t5,A1\n")
    zero = validate_txn_shard([f], 0)
    before = {name: TIMINGS[name].rows for name in ("read", "validate")}
    one = validate_txn_shard([f], 1)  # the benchmark's stages count the shard's own 3 rows
    assert {name: TIMINGS[name].rows - before[name] for name in ("read", "validate")} == {"read": 3, "validate": 3}
    assert (zero.extract, accepted_ids(zero), accepted_ids(one)) == ("transactions", ["t1"], ["t2", "t4"])
    assert list(zero.rejected["row_number"]) == [5] and zero.rejected["rule"][0].startswith("malformed_row")
    assert list(one.rejected["row_number"]) == [3] and list(one.rejected["rule"]) == ["not_positive:amount"]
    counts = ["rows_read", "rows_accepted", "rows_rejected", "rows_redelivered", "rows_superseded"]
    assert [audit_of(r, f.name)[c] for r in (zero, one) for c in [*counts, "status"]] == [
        2, 1, 1, 0, 0, "accepted", 3, 2, 1, 0, 0, "accepted"]
    assert zero.ok and one.ok

    summed = sum_audits([zero.audit, one.audit], 0.01)
    assert list(summed.columns) == list(zero.audit.columns) and len(summed) == 1
    assert (summed[counts].dtypes == "int64").all()  # load_audit's counts are integers
    a = summed.iloc[0]
    assert (a["extract"], a["source_file"], *[a[c] for c in counts], a["status"]) == (
        "transactions", f.name, 5, 3, 2, 0, 0, "refused")
    assert a["note"] == "2 of 5 rows rejected (40.0%), above the 1.0% threshold; see rejected_rows"
    assert a["delivered_at"] == audit_of(zero, f.name)["delivered_at"]
    assert sum_audits([zero.audit, one.audit], 0.5).iloc[0][["status", "note"]].tolist() == ["accepted", ""]


def test_a_file_refused_for_a_missing_column_is_refused_in_every_shard_with_its_rows_split(tmp_path):
    """A file without `amount`: rows 1 (A1), 2 and 3 (A2). Shard 0 keeps row 1, shard 1 rows 2 and 3, each
    refused with the file's reason; summed: 3 read, 3 rejected, refused for the missing column, not for the
    rejected share."""
    rows = [txn("t1"), txn("t2", account_id="A2", booking_date="2024-03-15"),
            txn("t3", account_id="A2", booking_date="2024-03-16")]
    f = write_csv(tmp_path, TXN_FILE, rows, columns=[c for c in header("transactions") if c != "amount"])
    zero, one = validate_txn_shard([f], 0), validate_txn_shard([f], 1)
    for result, numbers in ((zero, [1]), (one, [2, 3])):
        assert result.refused == [f"{f.name}: missing column(s) amount"]
        assert list(result.rejected["row_number"]) == numbers
        assert set(result.rejected["rule"]) == {"file_refused: missing column(s) amount"}
        a = audit_of(result, f.name)
        assert (a["rows_read"], a["rows_accepted"], a["rows_rejected"]) == (len(numbers), 0, len(numbers))
    assert [json.loads(r)["txn_id"] for r in one.rejected["raw_record"]] == ["t2", "t3"]
    a = sum_audits([zero.audit, one.audit], 0.01).iloc[0]
    assert (a["rows_read"], a["rows_accepted"], a["rows_rejected"], a["status"], a["note"]) == (
        3, 0, 3, "refused", "missing column(s) amount")


def test_one_shard_validates_every_row_like_validate_extract_without_the_threshold(tmp_path):
    """No shard function: every row is the shard's. 200 good rows and row 201 bad (amount −1), then 5 more bad
    rows in a second file of 5: the accepted rows are validate_extract's, but 5 of 5 rejected does not refuse
    the file (the threshold is sum_audits'). No files at all: validate_extract's empty result."""
    landing = tmp_path / "landing"
    deliver(write_csv(landing, "transactions_2024-03-04.csv", good_txns(200, booking_date="2024-03-04")
                      + [txn("BAD", amount="-1", booking_date="2024-03-04")]), 1_000)
    deliver(write_csv(landing, "transactions_2024-03-05.csv",
                      [txn(f"b{i}", amount="-1") for i in range(1, 6)]), 2_000)
    files = scan_landing(landing).for_month("transactions", date(2024, 3, 1))
    one = validate_txn_shard(files, 0, shard_of_ids=None)
    assert accepted_ids(one) == [f"g{i:04d}" for i in range(1, 201)]
    assert one.ok and audit_of(one, "transactions_2024-03-05.csv")["status"] == "accepted"
    assert [audit_of(one, n)["rows_rejected"] for n in ("transactions_2024-03-04.csv",
                                                         "transactions_2024-03-05.csv")] == [1, 5]
    summed = sum_audits([one.audit], 0.01)
    assert list(summed["source_file"]) == ["transactions_2024-03-04.csv", "transactions_2024-03-05.csv"]
    assert list(summed["status"]) == ["accepted", "refused"]
    empty = validate_txn_shard([], 1)
    assert (empty.extract, empty.ok, len(empty.accepted), len(empty.audit)) == ("transactions", True, 0, 0)
    assert sum_audits([], 0.01).empty and list(sum_audits([], 0.01).columns) == list(one.audit.columns)


def test_shards_read_every_file_in_delivery_order_and_split_refused_files(tmp_path):
    """Delivered in this order: 03-05 (t5 A1, t6 B1), an empty 03-03 (unreadable: refused, 0 rows), 03-04
    without `amount` (row 1 t1 A1, row 2 t2 A2, row 3 a line of 2 fields), 03-02 (t7 A1). Shard 0 reads 1, 0,
    2 (row 1 and the malformed row 3), 1 rows; shard 1 reads 1, 0, 1, 0; one shard (no shard function) 2, 0, 3,
    1. Every audit lists the files in delivery order, and so does their sum: read 2, 0, 3, 1."""
    landing = tmp_path / "landing"
    deliver(write_csv(landing, "transactions_2024-03-05.csv",
                      [txn("t5"), txn("t6", account_id="B1")]),
            1_000)
    deliver(write_text(landing, "transactions_2024-03-03.csv", ""), 2_000)
    columns = [c for c in header("transactions") if c != "amount"]
    text = csv_text([txn("t1", booking_date="2024-03-04"), txn("t2", account_id="A2", booking_date="2024-03-04")],
                    columns)
    deliver(write_text(landing, "transactions_2024-03-04.csv", text + "t3,A1\n"), 3_000)
    deliver(write_csv(landing, "transactions_2024-03-02.csv", [txn("t7", booking_date="2024-03-02")]), 4_000)
    files = scan_landing(landing).for_month("transactions", date(2024, 3, 1))
    order = ["transactions_2024-03-05.csv", "transactions_2024-03-03.csv", "transactions_2024-03-04.csv",
             "transactions_2024-03-02.csv"]
    zero, one, whole = (validate_txn_shard(files, 0), validate_txn_shard(files, 1),
                        validate_txn_shard(files, 0, shard_of_ids=None))
    for result, read in ((zero, [1, 0, 2, 1]), (one, [1, 0, 1, 0]), (whole, [2, 0, 3, 1])):
        assert list(result.audit["source_file"]) == order
        assert list(result.audit["rows_read"]) == read
        assert list(result.audit["status"]) == ["accepted", "refused", "refused", "accepted"]
    assert list(zero.rejected.loc[zero.rejected["source_file"] == order[2], "row_number"]) == [1, 3]
    assert list(one.rejected.loc[one.rejected["source_file"] == order[2], "row_number"]) == [2]
    # every row read of the refused 03-04 file is in rejected_rows, the line that did not split too (SPEC §3)
    refused = whole.rejected[whole.rejected["source_file"] == order[2]]
    assert list(refused["row_number"]) == [1, 2, 3]
    assert set(refused["rule"]) == {"file_refused: missing column(s) amount"}
    assert refused["raw_record"].iloc[2] == "t3,A1"
    check_reconciliation(whole)
    assert (accepted_ids(zero), accepted_ids(one), accepted_ids(whole)) == (["t5", "t7"], ["t6"], ["t5", "t6", "t7"])
    summed = sum_audits([zero.audit, one.audit], 0.01)
    assert list(summed["source_file"]) == order and list(summed["rows_read"]) == [2, 0, 3, 1]


def test_a_file_without_an_account_id_column_goes_whole_to_the_shard_of_the_empty_id(tmp_path):
    """A transactions file without `account_id` (rows t1, t2, t3, then row 4, a line of 2 fields) is refused; its
    rows have no account, so every one is the shard of "" (here shard 1; any other id would be shard 0): shard 1
    keeps rows 1–3 as rejected with the file's reason, each raw record exactly the delivered values; the line
    that did not split goes to shard 0, like every such line, with the same reason — each row in exactly one
    shard."""
    rows = [txn("t1"), txn("t2"), txn("t3")]
    columns = [c for c in header("transactions") if c != "account_id"]
    f = write_text(tmp_path, TXN_FILE, csv_text(rows, columns) + "t4,2024-03-05\n")

    def empty_id_is_shard_1(ids) -> np.ndarray:
        values = ids.to_pylist() if hasattr(ids, "to_pylist") else list(ids)
        return np.array([1 if v == "" else 0 for v in values])

    zero, one = (validate_txn_shard([f], k, shard_of_ids=empty_id_is_shard_1) for k in (0, 1))
    assert list(one.rejected["row_number"]) == [1, 2, 3]
    assert set(one.rejected["rule"]) == {"file_refused: missing column(s) account_id"}
    assert [json.loads(r) for r in one.rejected["raw_record"]] == [{c: r[c] for c in columns} for r in rows]
    assert list(zero.rejected["row_number"]) == [4] and list(zero.rejected["raw_record"]) == ["t4,2024-03-05"]
    assert set(zero.rejected["rule"]) == {"file_refused: missing column(s) account_id"}
    assert (audit_of(zero, f.name)["rows_read"], audit_of(one, f.name)["rows_read"]) == (1, 3)
    assert one.refused == zero.refused == [f"{f.name}: missing column(s) account_id"]


# ---- a month validated file by file: the files delivered since its last run extend its staged validation --------

def _three_days(tmp_path):
    """Day 06 (delivered first): t1, t2 (amount −5: rejected), t3 twice with other amounts (the second a
    conflict). Day 07: t4, t5 (unknown account ZZ), t6 twice with the same values (the second re-delivered).
    Day 05, delivered last (a late file of an earlier day): t7, t8."""
    d06 = write_csv(tmp_path, "transactions_2024-03-06.csv", [
        txn("t1", booking_date="2024-03-06"), txn("t2", booking_date="2024-03-06", amount="-5"),
        txn("t3", booking_date="2024-03-06", amount="7.00"), txn("t3", booking_date="2024-03-06", amount="8.00")])
    d07 = write_csv(tmp_path, "transactions_2024-03-07.csv", [
        txn("t4", booking_date="2024-03-07"), txn("t5", account_id="ZZ", booking_date="2024-03-07"),
        txn("t6", booking_date="2024-03-07"), txn("t6", booking_date="2024-03-07")])
    d05 = write_csv(tmp_path, "transactions_2024-03-05.csv", [txn("t7"), txn("t8", direction="D")])
    for i, f in enumerate((d06, d07, d05)):
        os.utime(f.path, ns=(1_700_000_000_000_000_000 + i * 10**9,) * 2)  # delivered in this order
    return d06, d07, d05


def _validate_txns(files) -> LoadResult:
    return validate_shard(TRANSACTIONS, list(files), ReadSettings(), {"accounts": ACCOUNT_IDS}, ACCOUNTS_FRAME, None, 0)


def test_the_files_delivered_since_extend_a_months_validation_as_validating_them_all_at_once(tmp_path):
    """Accepted in period order (day 05's t7, t8 first although it came last), rejected by file and row, the
    audit in delivery order: exactly what validating the three files together gives."""
    d06, d07, d05 = _three_days(tmp_path)
    extended = extend_validation(TRANSACTIONS, [d06, d07, d05], _validate_txns([d06, d07]), _validate_txns([d05]))
    whole = _validate_txns([d06, d07, d05])

    assert extended.accepted["txn_id"].tolist() == ["t7", "t8", "t1", "t3", "t4", "t6"]
    assert extended.accepted["source_file"].tolist() == [d05.name] * 2 + [d06.name] * 2 + [d07.name] * 2
    assert extended.rejected[["source_file", "row_number", "rule"]].values.tolist() == [
        [d06.name, 2, "not_positive:amount"], [d06.name, 4, "duplicate_key_conflict"],
        [d07.name, 2, "unknown_account_id"], [d07.name, 4, "duplicate_redelivered"]]
    assert extended.audit[["source_file", "rows_read", "rows_accepted", "rows_rejected"]].values.tolist() == [
        [d06.name, 4, 2, 2], [d07.name, 4, 2, 2], [d05.name, 2, 2, 0]]
    for part in ("accepted", "rejected", "audit", "superseded"):
        pd.testing.assert_frame_equal(getattr(extended, part), getattr(whole, part), check_exact=True, obj=part)
    assert extended.refused == whole.refused == [] and extended.extract == "transactions"


def test_an_extended_month_keeps_delivery_order_supersessions_and_refusals_of_both_parts(tmp_path):
    """Staged: the monthly file (t1 on 03-06, t2 on 03-07) and day 07 re-sending t2 (9.00): t2 superseded. New:
    day 08 with t3 — copied with an old modification time, so delivered *first* —, day 09 with t3 again (booked
    03-09, 5.00: it supersedes day 08's), and day 10 without its amount column (refused). The audit lists the
    files in delivery order (day 08 first), both supersessions are kept, the refusal is named: as validating all
    five files at once."""
    month = write_csv(tmp_path, "transactions_2024-03.csv", [txn("t1", booking_date="2024-03-06"),
                                                             txn("t2", booking_date="2024-03-07")])
    d07 = write_csv(tmp_path, "transactions_2024-03-07.csv", [txn("t2", booking_date="2024-03-07", amount="9.00")])
    d08 = write_csv(tmp_path, "transactions_2024-03-08.csv", [txn("t3", booking_date="2024-03-08")])
    d09 = write_csv(tmp_path, "transactions_2024-03-09.csv", [txn("t3", booking_date="2024-03-09", amount="5.00")])
    d10 = write_csv(tmp_path, "transactions_2024-03-10.csv", [txn("t4", booking_date="2024-03-10")],
                    columns=[c for c in header("transactions") if c != "amount"])
    for delivered, f in enumerate((d08, month, d07, d09, d10)):
        os.utime(f.path, ns=(1_700_000_000_000_000_000 + delivered * 10**9,) * 2)
    files = [month, d07, d08, d09, d10]
    extended = extend_validation(TRANSACTIONS, files, _validate_txns([month, d07]), _validate_txns([d08, d09, d10]))
    whole = _validate_txns(files)

    assert extended.audit["source_file"].tolist() == [d08.name, month.name, d07.name, d09.name, d10.name]
    assert extended.superseded[["key", "old_source_file", "new_source_file"]].values.tolist() == [
        ['{"txn_id":"t3"}', d08.name, d09.name], ['{"txn_id":"t2"}', month.name, d07.name]]  # old values' delivery
    assert extended.refused == [f"{d10.name}: missing column(s) amount"]
    assert extended.accepted[["txn_id", "amount"]].values.tolist() == [["t1", 100.5], ["t2", 9.0], ["t3", 5.0]]
    for part in ("accepted", "rejected", "audit", "superseded"):
        pd.testing.assert_frame_equal(getattr(extended, part), getattr(whole, part), check_exact=True, obj=part)
    assert extended.refused == whole.refused


@pytest.mark.parametrize("again", [txn("t4", booking_date="2024-03-07"), txn("t4", booking_date="2024-03-07",
                                                                           amount="9.99")])
def test_a_new_file_with_a_key_already_accepted_is_left_to_the_whole_months_validation(tmp_path, again):
    """t4 again, the same (a re-delivery) or another amount (a new version): which row wins and what is
    superseded depends on the earlier file's row, so the month is validated whole (None)."""
    d06, d07, _ = _three_days(tmp_path)
    late = write_csv(tmp_path, "transactions_2024-03-08.csv", [txn("t9", booking_date="2024-03-08"),
                                                               {**again, "booking_date": "2024-03-08"}])
    assert extend_validation(TRANSACTIONS, [d06, d07, late], _validate_txns([d06, d07]), _validate_txns([late])) is None
    # a key rejected earlier is no accepted key: t2 (−5 on day 06) delivered valid on day 08 extends the month
    fixed = write_csv(tmp_path, "transactions_2024-03-09.csv", [txn("t2", booking_date="2024-03-09")])
    extended = extend_validation(TRANSACTIONS, [d06, d07, fixed], _validate_txns([d06, d07]), _validate_txns([fixed]))
    pd.testing.assert_frame_equal(extended.accepted, _validate_txns([d06, d07, fixed]).accepted, check_exact=True)
    assert extended.accepted["txn_id"].tolist() == ["t1", "t3", "t4", "t6", "t2"]


def test_a_month_extended_with_no_new_file_is_its_earlier_validation(tmp_path):
    """The accounts as the month sees them changed, none its rows name: its files are the same, nothing is added,
    and the result is what validating them all gives."""
    d06, d07, d05 = _three_days(tmp_path)
    earlier = _validate_txns([d06, d07, d05])
    nothing = LoadResult("transactions", *(f.iloc[:0] for f in (earlier.accepted, earlier.rejected, earlier.audit)),
                         superseded=earlier.superseded.iloc[:0])  # fmt: skip
    extended = extend_validation(TRANSACTIONS, [d06, d07, d05], earlier, nothing)
    for part in ("accepted", "rejected", "audit", "superseded"):
        pd.testing.assert_frame_equal(getattr(extended, part), getattr(earlier, part), check_exact=True, obj=part)


def test_a_balance_key_is_the_account_and_the_day(tmp_path):
    """Balances: A1 on 03-05 staged; A1 and A2 on 03-12 extend the month; a monthly file with A1 on 03-07 and A1
    on 03-05 again (another value) does not."""
    first = write_csv(tmp_path, "balances_2024-03-05.csv", [balance("A1", "2024-03-05")])
    second = write_csv(tmp_path, "balances_2024-03-12.csv", [balance("A1", "2024-03-12", "7.00"),
                                                            balance("A2", "2024-03-12", "8.00")])
    again = write_csv(tmp_path, "balances_2024-03.csv", [balance("A1", "2024-03-07"),
                                                        balance("A1", "2024-03-05", "5.00")])

    def val(files):
        return validate_shard(BALANCES, files, ReadSettings(), {"accounts": ACCOUNT_IDS}, ACCOUNTS_FRAME, None, 0)

    extended = extend_validation(BALANCES, [first, second], val([first]), val([second]))
    assert extended.accepted[["account_id", "balance"]].values.tolist() == [["A1", 1000.0], ["A1", 7.0], ["A2", 8.0]]
    assert val([again]).accepted["balance"].tolist() == [1000.0, 5.0]  # valid alone: the clash is the key
    assert extend_validation(BALANCES, [first, again], val([first]), val([again])) is None


def test_many_rows_of_files_delivered_out_of_period_order_are_accepted_file_by_file_in_row_order(tmp_path):
    """Three days of 40 transactions each, delivered 07, 05, 06: accepted 05's rows 1…40, then 06's, then 07's
    (a sort that is not stable would shuffle the rows of a file among themselves), the two rejected rows left out."""
    days = {}
    for day, rejected_row in (("07", None), ("05", 10), ("06", 30)):
        rows = good_txns(40, prefix=f"d{day}-", booking_date=f"2024-03-{day}")
        if rejected_row is not None:
            rows[rejected_row - 1]["amount"] = "-1"
        days[day] = write_csv(tmp_path, f"transactions_2024-03-{day}.csv", rows)
    for i, day in enumerate(("07", "05", "06")):
        os.utime(days[day].path, ns=(1_700_000_000_000_000_000 + i * 10**9,) * 2)

    result = _validate_txns(days.values())

    expected = [f"d{day}-{k:04d}" for day in ("05", "06", "07") for k in range(1, 41)]
    expected.remove("d05-0010")
    expected.remove("d06-0030")
    assert result.accepted["txn_id"].tolist() == expected
    assert result.rejected[["source_file", "row_number"]].values.tolist() == [
        [days["05"].name, 10], [days["06"].name, 30]]
