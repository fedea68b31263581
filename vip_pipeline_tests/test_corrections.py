"""Corrections and late data (SPEC §3): after a re-delivery and the refresh it triggers, every published table
equals what a run from scratch over the files now landed publishes — later months and decisions included.

Each scenario: a full load, a re-delivery in an old month, the refresh (`run --month`, or the sensor's run
requests executed in order), then a run from scratch into a second database over the same landing directory,
and a table-by-table comparison. Each also asserts that the correction changed something downstream, so
that the comparison is not vacuous.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance, build_sensor_context

from vip_pipeline.assets import decisions as decision_assets
from vip_pipeline.assets import extract_shards, extracts
from vip_pipeline.definitions import build_resources, defs
from vip_pipeline.runner import PipelineFailed, run_pipeline
from vip_pipeline.sample import generate_sample
from vip_pipeline.sensors import landing_sensor
from vip_pipeline.storage.staging import StagingStore
from vip_pipeline.storage.warehouse import Warehouse

KEYS = {
    "monthly_account_activity": ["account_id", "month"],
    "monthly_client_metrics": ["client_id", "month"],
    "client_ltv": ["client_id", "as_of_month"],
    "vip_assessment": ["client_id", "as_of_month"],
    "client_segments": ["client_id", "as_of_month"],
    "rejected_rows": ["source_file", "row_number"],
    "load_audit": ["source_file"],
}
VOLATILE = ["run_id", "rejected_at", "loaded_at"]  # when and by which run: differ between any two runs
QUIET = dict(progress=lambda _: None)


@pytest.fixture(scope="module")
def bank(tmp_path_factory) -> Path:
    """A small synthetic bank: 40 clients, March–October 2026 (monthly history files, then daily files)."""
    landing = tmp_path_factory.mktemp("bank") / "landing"
    generate_sample(landing, clients=40, months=8, seed=5, end_date=date(2026, 10, 15))
    return landing


class Bank:
    """A copy of the sample bank (file times kept: they are the delivery order) with two databases."""

    def __init__(self, template: Path, root: Path, url: str):
        self.landing = root / "landing"
        shutil.copytree(template, self.landing, copy_function=shutil.copy2)
        self.root, self.url = root, url
        self.scratch_url = f"sqlite:///{root / 'scratch.db'}"

    def load(self, months: list[date] | None = None) -> list[str]:
        """A run (all landed months, or a refresh from `months`); returns its progress lines."""
        lines: list[str] = []
        run_pipeline(str(self.landing), self.url, str(self.root / "staging"), progress=lines.append, only_months=months)
        return lines

    def tables(self, url: str | None = None) -> dict[str, pd.DataFrame]:
        wh = Warehouse(url or self.url)
        return {
            t: wh.read(t).drop(columns=VOLATILE, errors="ignore").sort_values(k).reset_index(drop=True)
            for t, k in KEYS.items()
        }

    def assert_equals_a_run_from_scratch(self) -> dict[str, pd.DataFrame]:
        run_pipeline(str(self.landing), self.scratch_url, str(self.root / "scratch-staging"), **QUIET)
        refreshed, scratch = self.tables(), self.tables(self.scratch_url)
        for table in KEYS:
            pd.testing.assert_frame_equal(refreshed[table], scratch[table], check_exact=True, obj=table)
        return refreshed

    def deliver(self, name: str, frame: pd.DataFrame) -> Path:
        """Re-send `name` with these rows (all text), later than every file landed so far."""
        path = self.landing / name
        if name.endswith(".parquet"):
            frame.to_parquet(path, index=False)
        else:
            text = frame.to_csv(index=False)
            path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
        self._later(path)
        return path

    def _later(self, path: Path) -> None:
        """Make `path` delivered after every other file landed so far."""
        latest = max(p.stat().st_mtime_ns for p in self.landing.iterdir())
        os.utime(path, ns=(latest + 10**9, latest + 10**9))

    def hold_back(self, *names: str) -> None:
        """Take these files out of the landing directory; `land` delivers them later."""
        (self.root / "held").mkdir(exist_ok=True)
        for name in names:
            shutil.move(self.landing / name, self.root / "held" / name)

    def land(self, *names: str) -> None:
        """Deliver held-back files, later than every file landed so far."""
        for name in names:
            shutil.move(self.root / "held" / name, self.landing / name)
            self._later(self.landing / name)

    def read(self, name: str) -> pd.DataFrame:
        path = self.landing / name
        if name.endswith(".parquet"):
            return pd.read_parquet(path).astype(str)
        data = path.read_bytes()
        text = gzip.decompress(data) if name.endswith(".gz") else data
        return pd.read_csv(io.BytesIO(text), dtype=str, keep_default_na=False)


def spy_on_validation(monkeypatch) -> list:
    """Every (extract, files) the shard steps validate from now on, in this process (the real validation runs)."""
    validated = []
    real = extract_shards.validate_shard

    def spy(contract, files, *args):
        validated.append((contract.name, sorted(f.name for f in files)))
        return real(contract, files, *args)

    monkeypatch.setattr(extract_shards, "validate_shard", spy)
    return validated


def ltv_of(tables: dict[str, pd.DataFrame], month: str) -> pd.Series:
    ltv = tables["client_ltv"]
    return ltv[ltv["as_of_month"] == pd.Timestamp(month)].set_index("client_id")["ltv_usd"]


def test_restated_balances_of_an_old_month(bank, tmp_path, database_url):
    """April's balances re-sent with three accounts' last April balance raised by 1,000,000: April's ADB and
    closing balance change, May carries the new balance forward, and every later LTV follows."""
    b = Bank(bank, tmp_path, database_url)
    b.load()
    before = b.tables()
    april = b.read("balances_2026-04.parquet")
    first_in_may = b.read("balances_2026-05.parquet").groupby("account_id")["balance_date"].min()
    last = april.sort_values("balance_date").groupby("account_id").tail(1)
    carried = last["account_id"].map(first_in_may).fillna("9999") > "2026-05-01"  # May starts from April's state
    last = last[carried].index[:3]
    assert len(last) == 3
    april.loc[last, "balance"] = (april.loc[last, "balance"].astype(float) + 1_000_000).map("{:.2f}".format)
    b.deliver("balances_2026-04.parquet", april)
    b.load([date(2026, 4, 1)])
    after = b.assert_equals_a_run_from_scratch()

    act = after["monthly_account_activity"].set_index(["account_id", "month"])
    old = before["monthly_account_activity"].set_index(["account_id", "month"])
    moved = april.loc[last, "account_id"]
    may = [(a, pd.Timestamp("2026-05-01")) for a in moved]
    assert (act.loc[may, "adb"] > old.loc[may, "adb"]).all()  # carried forward into May
    assert not ltv_of(after, "2026-09-01").equals(ltv_of(before, "2026-09-01"))
    restated = Warehouse(database_url).read("superseded_values")
    assert sorted(restated["kind"]) == ["restated"] * 3
    assert set(restated["old_source_file"]) == {"balances_2026-04.parquet"}


def test_restated_transactions_of_an_old_month(bank, tmp_path, sqlite_url):
    """Five April fee debits re-sent at ten times their amount: April's fee income and margin change, and so
    does every later month's LTV; the months' metrics after April stay as they were (no balance changed)."""
    b = Bank(bank, tmp_path, sqlite_url)
    b.load()
    before = b.tables()
    name = "transactions_2026-04.csv.gz"
    txns = b.read(name)
    fees = txns[(txns["txn_type"] == "fee") & (txns["direction"] == "D")].index[:5]
    txns.loc[fees, "amount"] = (txns.loc[fees, "amount"].astype(float) * 10).map("{:.2f}".format)
    b.deliver(name, txns)
    progress = b.load([date(2026, 4, 1)])
    after = b.assert_equals_a_run_from_scratch()
    # the cascade stops where the inputs stop changing: no balance changed, so only April's metrics are recomputed
    # (March, the month before, and May … October are unchanged); the panel and decisions follow to the end
    assert any("monthly metrics" in line and "1 month(s) computed, 7 unchanged" in line for line in progress), progress
    april = pd.Timestamp("2026-04-01")
    margin = after["monthly_client_metrics"].set_index(["client_id", "month"])["margin_usd"]
    old_margin = before["monthly_client_metrics"].set_index(["client_id", "month"])["margin_usd"]
    assert (margin.xs(april, level="month") != old_margin.xs(april, level="month")).any()
    later = after["monthly_account_activity"]["month"] > april
    pd.testing.assert_frame_equal(after["monthly_account_activity"][later], before["monthly_account_activity"][later])
    assert not ltv_of(after, "2026-09-01").equals(ltv_of(before, "2026-09-01"))


def test_late_daily_file_for_a_month_already_loaded(bank, tmp_path, sqlite_url):
    """A daily balances file for 2026-05-20 lands after the monthly May file: its balance for an account that the
    monthly file also has on that day supersedes it, and a new account-day is added."""
    b = Bank(bank, tmp_path, sqlite_url)
    b.load()
    before = b.tables()
    may = b.read("balances_2026-05.parquet")
    day = may[may["balance_date"] == "2026-05-20"].head(2).copy()
    day["balance"] = ["777777.00", "-5.00"]
    b.deliver("balances_2026-05-20.csv", day)
    b.load([date(2026, 5, 1)])
    after = b.assert_equals_a_run_from_scratch()
    superseded = Warehouse(sqlite_url).read("superseded_values")
    assert list(superseded["kind"].unique()) == ["superseded"]
    assert set(superseded["old_source_file"]) == {"balances_2026-05.parquet"}
    assert set(superseded["new_source_file"]) == {"balances_2026-05-20.csv"}
    audit = after["load_audit"].set_index("source_file")
    assert audit.loc["balances_2026-05.parquet", "rows_superseded"] == len(superseded)
    assert not after["monthly_account_activity"].equals(before["monthly_account_activity"])


@pytest.mark.parametrize("shards", [1, 2])
def test_a_new_day_validates_only_its_files_and_publishes_what_a_run_from_scratch_does(
    bank, tmp_path, sqlite_url, monkeypatch, shards
):
    """The nightly: 2026-10-15's files held back, the bank loaded; then they land and October is refreshed. Only
    the new day's transactions and balances files are validated (the month's earlier files are as staged, with
    their rejected rows and audit), in every shard, and every table equals a run from scratch."""
    monkeypatch.setenv("VIP_SHARDS", str(shards))
    b = Bank(bank, tmp_path, sqlite_url)
    new_day = {e: f"{e}_2026-10-15.csv" for e in ("transactions", "balances", "fx_rates")}
    assert all((b.landing / name).exists() for name in new_day.values())
    earlier = b.read("transactions_2026-10-14.csv")
    repeated = len(earlier) + 1  # an earlier day's row rejected (a repeat, within the threshold): it stays so
    b.deliver("transactions_2026-10-14.csv", pd.concat([earlier, earlier.iloc[[0]]], ignore_index=True))
    b.hold_back(*new_day.values())
    b.load()
    before = b.tables()

    validated = spy_on_validation(monkeypatch)
    b.land(*new_day.values())
    b.load([date(2026, 10, 1)])
    assert sorted(validated) == sorted(
        [("balances", [new_day["balances"]]), ("transactions", [new_day["transactions"]])] * shards
    )
    after = b.assert_equals_a_run_from_scratch()
    audit = after["load_audit"].set_index("source_file")
    assert audit.loc[new_day["transactions"], "rows_accepted"] > 0
    rejected = after["rejected_rows"]
    assert rejected.loc[
        rejected["source_file"] == "transactions_2026-10-14.csv", ["row_number", "rule"]
    ].values.tolist() == [[repeated, "duplicate_redelivered"]]
    october = after["monthly_account_activity"]["month"] == pd.Timestamp("2026-10-01")
    assert not after["monthly_account_activity"][october].equals(
        before["monthly_account_activity"][before["monthly_account_activity"]["month"] == pd.Timestamp("2026-10-01")]
    )


def test_new_days_are_appended_to_the_staged_month_and_a_whole_validation_stages_it_as_one_file_again(
    bank, tmp_path, sqlite_url, monkeypatch
):
    """Two nightlies: 2026-10-15 (held back, then landed), then a 2026-10-16 made of its rows a day later. Each adds
    its accepted rows to October's staged transactions and balances as a part of their own (the month's earlier
    rows are not rewritten), and every table equals a run from scratch. Then 2026-10-14's transactions are re-sent:
    October's transactions are validated whole and staged as one file again, still equal to a run from scratch."""
    b = Bank(bank, tmp_path, sqlite_url)
    store = StagingStore(tmp_path / "staging")

    def staged(extract: str) -> list[str]:
        return [f.name for f in store.files(f"shards-of-1/{extract}", "2026-10-01/0")]

    day15 = {e: f"{e}_2026-10-15.csv" for e in ("transactions", "balances")}
    b.hold_back(*day15.values())
    b.load()
    assert staged("transactions") == staged("balances") == ["0.parquet"]
    b.land(*day15.values())
    b.load([date(2026, 10, 1)])
    assert staged("transactions") == staged("balances") == ["0.parquet", "0.part-1.parquet"]
    b.assert_equals_a_run_from_scratch()

    txns = b.read(day15["transactions"]).assign(booking_date="2026-10-16")
    txns["txn_id"] = txns["txn_id"] + "-16"
    txns_16 = "transactions_2026-10-16.csv"
    b.deliver(txns_16, txns)
    b.deliver("balances_2026-10-16.csv", b.read(day15["balances"]).assign(balance_date="2026-10-16"))
    validated = spy_on_validation(monkeypatch)
    b.load([date(2026, 10, 1)])
    assert sorted(validated) == [("balances", ["balances_2026-10-16.csv"]), ("transactions", [txns_16])]
    assert staged("transactions") == staged("balances") == ["0.parquet", "0.part-1.parquet", "0.part-2.parquet"]
    after = b.assert_equals_a_run_from_scratch()
    assert after["load_audit"].set_index("source_file").loc[txns_16, "rows_accepted"] == len(txns)

    b.deliver("transactions_2026-10-14.csv", b.read("transactions_2026-10-14.csv"))
    b.load([date(2026, 10, 1)])
    assert staged("transactions") == ["0.parquet"] and len(staged("balances")) == 3
    b.assert_equals_a_run_from_scratch()


def spy_on_decisions(monkeypatch) -> list:
    """The months each chunk of the decision step assesses (the real assessment runs): one month worker, so the
    chunks are assessed in this process, where the spy is."""
    monkeypatch.setenv("VIP_MONTH_WORKERS", "1")
    decided = []
    real = decision_assets.assess_panel

    def spy(panel, clients, months, rules):
        decided.append(sorted(f"{m:%Y-%m}" for m in months))
        return real(panel, clients, months, rules)

    monkeypatch.setattr(decision_assets, "assess_panel", spy)
    return decided


def test_decided_months_are_kept_while_their_inputs_are_unchanged_and_decided_again_when_the_clients_change(
    bank, tmp_path, sqlite_url, monkeypatch
):
    """The nightly of a month in progress decides nothing: September's decisions (complete, in the run's range)
    read the same panel window, clients and rules, so its rows, checks and metadata are kept. A re-sent clients
    snapshot (one client's annual sales, a VIP criterion) makes every complete month decided again, and every
    table equals a run from scratch."""
    b = Bank(bank, tmp_path, sqlite_url)
    new_day = [f"{e}_2026-10-15.csv" for e in ("transactions", "balances", "fx_rates")]
    b.hold_back(*new_day)
    b.load()
    decided = spy_on_decisions(monkeypatch)
    b.land(*new_day)
    lines = b.load([date(2026, 10, 1)])
    assert decided == [] and "0 complete month(s) decided, 1 unchanged since last run" in " ".join(lines)
    before = b.assert_equals_a_run_from_scratch()
    decided.clear()

    clients = b.read("clients_2026-10-15.csv")
    small = clients["annual_sales_usd"].replace("", "0").astype(float).idxmin()
    clients.loc[small, "annual_sales_usd"] = "900000000000"
    b.deliver("clients_2026-10-15.csv", clients)
    b.load()
    # March … September, every one, in chunks (each assessed with the month before it, for its movements)
    assert sorted({m for chunk in decided for m in chunk}) == [f"2026-{m:02d}" for m in range(3, 10)]
    assert decided[0][0] == "2026-03" and all(later[0] == chunk[-1] for chunk, later in zip(decided, decided[1:]))
    after = b.assert_equals_a_run_from_scratch()
    assert not after["vip_assessment"].equals(before["vip_assessment"])


def test_a_decided_month_that_is_complete_no_more_loses_its_decisions_and_gets_them_back_when_it_is_again(
    bank, tmp_path, sqlite_url
):
    """September's last balances (its 30th and every later day) withdrawn: September is in progress again, so
    its decisions are withdrawn too, although every other decided month is unchanged. Landed again: September
    is decided again (its rows were deleted, so its old marker must not keep it). Both equal a run from
    scratch."""
    b = Bank(bank, tmp_path, sqlite_url)
    b.load()
    late = sorted(p.name for p in b.landing.glob("balances_2026-*.csv") if p.name >= "balances_2026-09-30")
    assert late[0] == "balances_2026-09-30.csv" and late[-1] == "balances_2026-10-15.csv"
    b.hold_back(*late)
    b.load()
    tables = b.assert_equals_a_run_from_scratch()
    assert not (tables["client_segments"]["as_of_month"] == pd.Timestamp("2026-09-01")).any()
    b.land(*late)
    b.load()
    tables = b.assert_equals_a_run_from_scratch()
    assert (tables["client_segments"]["as_of_month"] == pd.Timestamp("2026-09-01")).any()


def test_snapshots_loaded_from_unchanged_files_are_kept_and_a_staged_frame_that_differs_is_loaded_again(
    bank, tmp_path, sqlite_url, monkeypatch
):
    """A second run over the same files loads no snapshot (clients, accounts, FX rates keep their staged rows and
    load records); a staged clients frame that no longer matches the digest recorded with its inputs (a row
    lost) is loaded again; a new client makes the accounts validated again. Every table equals a run from
    scratch."""
    b = Bank(bank, tmp_path, sqlite_url)
    b.load()
    loaded = []
    real_snapshot, real_extract = extracts.load_snapshot, extracts.validate_extract
    monkeypatch.setattr(extracts, "load_snapshot", lambda c, *a: loaded.append(c.name) or real_snapshot(c, *a))
    monkeypatch.setattr(extracts, "validate_extract", lambda c, *a: loaded.append(c.name) or real_extract(c, *a))
    lines = b.load()
    assert loaded == []
    assert any("clients" in line and "unchanged since the last run" in line for line in lines)
    staged = tmp_path / "staging" / "clients.parquet"
    pd.read_parquet(staged).iloc[1:].to_parquet(staged, index=False)
    b.load()
    assert loaded == ["clients"]
    b.assert_equals_a_run_from_scratch()

    loaded.clear()  # a new client: the accounts' reference changed, so they are validated again (FX rates not)
    clients = b.read("clients_2026-10-15.csv")
    b.deliver("clients_2026-10-15.csv", pd.concat([clients, clients.tail(1).assign(client_id="CNEW")]))
    b.load()
    assert loaded[:2] == ["clients", "accounts"] and set(loaded[2:]) == {"client_pnl"}  # its months name clients
    b.assert_equals_a_run_from_scratch()


def _october_files(landing: Path, extract: str) -> list[str]:
    return sorted(p.name for p in landing.glob(f"{extract}_2026-10*"))


@pytest.mark.parametrize("change", ["opens an account", "closes a named account"])
def test_a_new_accounts_snapshot_keeps_the_new_day_incremental_unless_it_changes_a_named_account(
    bank, tmp_path, sqlite_url, monkeypatch, change
):
    """The nightly with a new accounts snapshot. It opens A0000999 on the new day (the new day's transactions book
    T0000999 on it): no earlier row names it, so only the new day's files are validated. Or it closes A0000005,
    which earlier October rows name, on the new day: the month is validated whole. Either way every table equals
    a run from scratch."""
    b = Bank(bank, tmp_path, sqlite_url)
    new_day = {e: f"{e}_2026-10-15.csv" for e in ("transactions", "balances", "fx_rates")}
    b.hold_back(*new_day.values())
    b.load()

    accounts = b.read("accounts_2026-10-15.csv")
    assert (accounts["account_id"] != "A0000999").all()
    if change == "opens an account":
        opened = pd.DataFrame([{**accounts.iloc[0].to_dict(), "account_id": "A0000999", "opened_on": "2026-10-15"}])
        accounts = pd.concat([accounts, opened], ignore_index=True)
        txns = pd.read_csv(b.root / "held" / new_day["transactions"], dtype=str, keep_default_na=False)
        booked = {**txns.iloc[0].to_dict(), "txn_id": "T0000999", "account_id": "A0000999", "amount": "1234.56"}
        pd.concat([txns, pd.DataFrame([booked])]).to_csv(b.root / "held" / new_day["transactions"], index=False)
    else:
        assert any("A0000005" in (b.landing / n).read_text() for n in _october_files(b.landing, "transactions")[:-1])
        accounts.loc[accounts["account_id"] == "A0000005", "closed_on"] = "2026-10-15"

    validated = spy_on_validation(monkeypatch)
    b.deliver("accounts_2026-10-15.csv", accounts)
    b.land(*new_day.values())
    b.load([date(2026, 10, 1)])
    if change == "opens an account":
        expected = [("balances", [new_day["balances"]]), ("transactions", [new_day["transactions"]])]
    else:
        expected = [(e, _october_files(b.landing, e)) for e in ("balances", "transactions")]
    assert sorted(validated) == expected
    after = b.assert_equals_a_run_from_scratch()
    activity = after["monthly_account_activity"]
    opened = activity[(activity["account_id"] == "A0000999") & (activity["month"] == pd.Timestamp("2026-10-01"))]
    assert opened["credit_turnover"].sum() + opened["debit_turnover"].sum() == (
        pytest.approx(1234.56) if change == "opens an account" else 0
    )


def test_a_snapshot_opening_an_account_older_months_named_as_unknown_revalidates_those_months(
    bank, tmp_path, sqlite_url, monkeypatch
):
    """The sample's April and August transactions each book a row on A9999999, an account the bank never
    issued: `unknown_account_id`. A new accounts snapshot opens it on 15 October. Those months see only accounts
    opened by their end, so that alone left them as staged; a run from scratch now says
    `account_not_open_on:booking_date` (the account exists, not yet open). The run a new snapshot requests (every
    month) validates exactly those two months again — no other month, no October file — and every table equals
    a run from scratch."""
    monkeypatch.setenv("VIP_MONTH_WORKERS", "1")  # months in this process: the spy sees them
    b = Bank(bank, tmp_path, sqlite_url)
    b.load()
    files = sorted(p.name for p in b.landing.glob("transactions_*"))
    naming = [name for name in files if "A9999999" in b.read(name).to_csv()]
    assert naming == ["transactions_2026-04.csv.gz", "transactions_2026-08.csv.gz"]

    def rules_on_the_unknown_account() -> set[str]:
        rejected = b.tables()["rejected_rows"]
        return set(rejected.loc[rejected["raw_record"].str.contains('"A9999999"'), "rule"])

    assert rules_on_the_unknown_account() == {"unknown_account_id"}

    accounts = b.read("accounts_2026-10-15.csv")
    opened = pd.DataFrame([{**accounts.iloc[0].to_dict(), "account_id": "A9999999", "opened_on": "2026-10-15"}])
    validated = spy_on_validation(monkeypatch)
    b.deliver("accounts_2026-10-15.csv", pd.concat([accounts, opened], ignore_index=True))
    b.load()
    assert sorted(validated) == [("transactions", [name]) for name in naming]
    assert rules_on_the_unknown_account() == {"account_not_open_on:booking_date"}
    b.assert_equals_a_run_from_scratch()


def test_a_missing_fx_month_in_the_middle_publishes_the_months_before_it_and_the_rerun_the_rest(
    bank, tmp_path, sqlite_url, monkeypatch
):
    """May's FX file missing: the months are computed side by side (2 workers), but only March and April are
    published and the run fails naming May; June onwards, which may have been computed and staged, publish
    nothing. May's file lands: the re-run equals a run from scratch."""
    monkeypatch.setenv("VIP_MONTH_WORKERS", "2")
    b = Bank(bank, tmp_path, sqlite_url)
    b.hold_back("fx_rates_2026-05.csv")
    with pytest.raises(
        PipelineFailed, match=r"2026-05: FX rate missing: no \w{3} rate on or up to 7 days before 2026-05"
    ):
        b.load()
    published = Warehouse(sqlite_url).read("monthly_client_metrics")["month"].drop_duplicates().sort_values()
    assert [m.strftime("%Y-%m") for m in published] == ["2026-03", "2026-04"]
    b.land("fx_rates_2026-05.csv")
    b.load()
    after = b.assert_equals_a_run_from_scratch()
    assert after["monthly_client_metrics"]["month"].dt.strftime("%Y-%m").nunique() == 8


def test_after_a_refused_new_day_the_month_is_validated_whole_and_equals_a_run_from_scratch(
    bank, tmp_path, sqlite_url, monkeypatch
):
    """The new day's transactions file arrives without its amount column: refused, nothing of October published
    anew, and the staged load parts are of that failed attempt, not of the month's accepted rows. The corrected
    file is re-sent: the month is validated whole (not extended from parts of another validation), and every
    table equals a run from scratch."""
    b = Bank(bank, tmp_path, sqlite_url)
    name = "transactions_2026-10-15.csv"
    day = b.read(name)
    (b.landing / name).unlink()
    b.load()
    b.deliver(name, day.drop(columns="amount"))
    with pytest.raises(PipelineFailed, match=f"{name}: missing column\\(s\\) amount"):
        b.load([date(2026, 10, 1)])

    validated = spy_on_validation(monkeypatch)
    b.deliver(name, day)
    b.load([date(2026, 10, 1)])
    assert validated == [("transactions", _october_files(b.landing, "transactions"))]
    after = b.assert_equals_a_run_from_scratch()
    assert after["load_audit"].set_index("source_file").loc[name, "status"] == "accepted"


def test_resent_file_fixes_previously_rejected_rows(bank, tmp_path, sqlite_url):
    """The March transactions file had a negative amount (rejected); the core system re-sends the file with the
    amount's sign fixed: the row is accepted, its rejection is gone, March and every later LTV follow."""
    b = Bank(bank, tmp_path, sqlite_url)
    b.load()
    before = b.tables()
    name = "transactions_2026-03.csv.gz"
    rejected = before["rejected_rows"]
    bad = rejected[(rejected["source_file"] == name) & (rejected["rule"] == "not_positive:amount")]
    assert len(bad) == 1
    txns = b.read(name)
    row = int(bad["row_number"].iloc[0]) - 1  # row numbers count data rows from 1
    txns.loc[row, "amount"] = txns.loc[row, "amount"].lstrip("-")
    b.deliver(name, txns)
    b.load([date(2026, 3, 1)])
    after = b.assert_equals_a_run_from_scratch()
    assert name not in set(after["rejected_rows"]["source_file"])
    audit = after["load_audit"].set_index("source_file")
    assert audit.loc[name, "rows_rejected"] == 0
    accepted_before = before["load_audit"].set_index("source_file").loc[name, "rows_accepted"]
    assert audit.loc[name, "rows_accepted"] == accepted_before + 1
    assert not ltv_of(after, "2026-09-01").equals(ltv_of(before, "2026-09-01"))


def test_sensor_requests_the_whole_cascade_and_its_runs_refresh_it(bank, tmp_path, monkeypatch):
    """The sensor path itself: after a re-delivery of April's balances, the landing sensor asks for one run from
    the month before April to the latest month; executing its requests in order gives the scratch tables."""
    url = f"sqlite:///{tmp_path / 'vip.db'}"
    b = Bank(bank, tmp_path, url)
    monkeypatch.setenv("VIP_LANDING_DIR", str(b.landing))
    job = defs.resolve_job_def("refresh_month")
    resources = build_resources(str(b.landing), url, str(tmp_path / "staging"))
    instance = DagsterInstance.ephemeral()
    cursor = None

    def tick():
        nonlocal cursor
        result = landing_sensor.evaluate_tick(
            build_sensor_context(instance=instance, repository_def=defs.get_repository_def(), cursor=cursor)
        )
        cursor = result.cursor
        for request in result.run_requests:
            assert job.execute_in_process(instance=instance, resources=resources, tags=request.tags).success
        return result.run_requests

    (first,) = tick()
    assert (first.partition_key_range.start, first.partition_key_range.end) == ("2026-03-01", "2026-10-01")
    before = b.tables()
    april = b.read("balances_2026-04.parquet")
    last = april.sort_values("balance_date").groupby("account_id").tail(1).index[:2]
    april.loc[last, "balance"] = "123456.78"
    b.deliver("balances_2026-04.parquet", april)
    (cascade,) = tick()
    assert (cascade.partition_key_range.start, cascade.partition_key_range.end) == ("2026-03-01", "2026-10-01")
    assert cascade.tags["vip_pipeline/touched_months"] == "2026-04"
    assert tick() == []  # nothing new landed
    after = b.assert_equals_a_run_from_scratch()
    assert not ltv_of(after, "2026-09-01").equals(ltv_of(before, "2026-09-01"))
    instance.dispose()


def test_a_file_removed_from_the_landing_directory_is_withdrawn(bank, tmp_path, sqlite_url):
    """A daily transactions file of September is taken out of the landing directory after the load: the refresh
    publishes what a run from scratch over the remaining files publishes, and its values are recorded as
    withdrawn (old values kept, no new ones)."""
    b = Bank(bank, tmp_path, sqlite_url)
    b.load()
    gone = "transactions_2026-09-15.csv"
    rows = b.read(gone)
    assert len(rows) > 0
    (b.landing / gone).unlink()
    b.load([date(2026, 9, 1)])
    after = b.assert_equals_a_run_from_scratch()
    withdrawn = Warehouse(sqlite_url).read("superseded_values")
    assert set(withdrawn["kind"]) == {"withdrawn"} and set(withdrawn["old_source_file"]) == {gone}
    assert len(withdrawn) == len(rows) and withdrawn["new_record"].isna().all()
    # the load audit and rejected rows describe the files landed now, as a run from scratch does
    assert gone not in set(after["load_audit"]["source_file"])
