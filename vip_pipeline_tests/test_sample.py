"""Tests of the synthetic bank generator (`vip_pipeline.sample`)."""

from __future__ import annotations

import calendar
import gzip
import hashlib
import io
import json
import re
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vip_pipeline.sample import COLUMNS, generate_sample

END = date(2026, 3, 18)
KW = dict(clients=40, months=4, end_date=END, daily_months=1, seed=7)
FIRST_DAY = date(2025, 12, 1)
FILE_NAME = re.compile(
    r"^(?P<extract>clients|accounts|transactions|balances|fx_rates)"
    r"_(?P<period>\d{4}-\d{2}(?:-\d{2})?)\.(?P<ext>csv|csv\.gz|parquet)$"
)
ENUMS = {
    "client_type": {"corporate", "sme", "bank", "individual"},
    "related_party": {"none", "subsidiary", "shareholder", "affiliate"},
    "service_model": {"vip", "standard", "mass"},
    "product": {"current", "deposit", "savings", "loan", "overdraft", "credit_line", "leasing", "card", "payroll",
                "trade_finance", "fx", "cash_management", "guarantee", "acquiring", "custody"},
    "direction": {"C", "D"},
    "txn_type": {"payment", "transfer", "cash", "card", "fee", "interest", "fx", "loan", "other"},
    "purpose": {"export", "import", "salary", "tax", "loan", "other", ""},
}


def _read(path: Path) -> pd.DataFrame:
    if path.name.endswith(".parquet"):
        table = pq.read_table(path)
        assert all(pa.types.is_string(t) for t in table.schema.types), path.name
        return table.to_pandas()
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        raw = gzip.decompress(raw)
    text = raw.decode("utf-8")
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


def _period(name: str) -> tuple[str, str]:
    """(first day, last day) of a file's period as ISO strings."""
    p = FILE_NAME.match(name)["period"]
    if len(p) == 10:
        return p, p
    y, m = map(int, p.split("-"))
    return f"{p}-01", f"{p}-{calendar.monthrange(y, m)[1]:02d}"


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    out = tmp_path_factory.mktemp("bank")
    summary = generate_sample(out, **KW)
    frames = {}
    for f in sorted(out.iterdir()):
        frames[f.name] = _read(f)
    return out, summary, frames


def _concat(frames, extract):
    parts = [df.assign(_file=name) for name, df in frames.items() if FILE_NAME.match(name)["extract"] == extract]
    return pd.concat(parts, ignore_index=True)


def _latest(frames, extract):
    return frames[max(n for n in frames if n.startswith(extract + "_"))]


def test_deterministic_bytes(bank, tmp_path):
    out, summary, _ = bank
    again = generate_sample(tmp_path / "again", **KW)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(p.name for p in (tmp_path / "again").iterdir())
    for name in names:
        assert (out / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name
    assert again["rows"] == summary["rows"] and again["bad_rows"] == summary["bad_rows"]


def test_file_names_and_formats(bank):
    out, summary, frames = bank
    names = sorted(frames)
    assert names == summary["files"]
    for name in names:
        m = FILE_NAME.match(name)
        assert m, name
        extract, period, ext = m["extract"], m["period"], m["ext"]
        date.fromisoformat(period if len(period) == 10 else period + "-01")
        if extract in ("clients", "accounts"):
            assert len(period) == 10 and ext == "csv"
        elif len(period) == 7:  # monthly history files
            assert ext == {"transactions": "csv.gz", "balances": "parquet", "fx_rates": "csv"}[extract], name
        else:
            assert ext == "csv", name
            assert date.fromisoformat(period) <= END
    # daily files only in the last month, up to end_date; fx rates on weekdays only
    daily = [n for n in names if len(FILE_NAME.match(n)["period"]) == 10 and not n.startswith(("clients", "accounts"))]
    assert daily and all(FILE_NAME.match(n)["period"] >= "2026-03-01" for n in daily)
    fx_days = [date.fromisoformat(FILE_NAME.match(n)["period"]) for n in daily if n.startswith("fx_rates")]
    assert fx_days and all(d.weekday() < 5 for d in fx_days)
    txn_days = [date.fromisoformat(FILE_NAME.match(n)["period"]) for n in daily if n.startswith("transactions")]
    assert all(d.weekday() < 5 for d in txn_days)
    assert f"clients_{END}.csv" in names and f"accounts_{END}.csv" in names
    assert "fx_rates_2025-11.csv" in names  # rates for the days before the first month
    for month in ("2025-12", "2026-01", "2026-02"):
        assert {f"transactions_{month}.csv.gz", f"balances_{month}.parquet", f"fx_rates_{month}.csv"} <= set(names)


def test_contract_columns(bank):
    _, _, frames = bank
    for name, df in frames.items():
        assert list(df.columns) == COLUMNS[FILE_NAME.match(name)["extract"]], name


def test_rows_inside_file_period(bank):
    _, summary, frames = bank
    bad_dates = {(b["file"], b["row"]) for b in summary["bad_rows"] if b["kind"] == "booking_date_outside_period"}
    date_col = {"transactions": "booking_date", "balances": "balance_date", "fx_rates": "rate_date"}
    for name, df in frames.items():
        extract = FILE_NAME.match(name)["extract"]
        if extract not in date_col:
            continue
        lo, hi = _period(name)
        values = df[date_col[extract]]
        outside = [i + 1 for i, v in enumerate(values) if not lo <= v <= hi]
        assert all((name, r) in bad_dates for r in outside), (name, outside)


def test_old_clients_snapshot_differs(bank):
    _, _, frames = bank
    snaps = sorted(n for n in frames if n.startswith("clients_"))
    assert len(snaps) == 2 and snaps[-1] == f"clients_{END}.csv"
    old, new = frames[snaps[0]].set_index("client_id"), frames[snaps[1]].set_index("client_id")
    common = old.index.intersection(new.index)
    assert len(common) >= len(new) * 0.8
    assert (old.loc[common, "name"] != new.loc[common, "name"]).sum() >= 1


def test_master_data_mix(bank):
    _, _, frames = bank
    clients = _latest(frames, "clients")
    accounts = _latest(frames, "accounts")
    assert clients.client_id.is_unique and accounts.account_id.is_unique
    assert set(clients.client_type) == ENUMS["client_type"]
    assert set(clients.related_party) == ENUMS["related_party"]
    assert set(clients.service_model) <= ENUMS["service_model"] and "vip" in set(clients.service_model)
    assert set(clients.monopoly_position) <= {"true", "false"} and set(clients.strategic) <= {"true", "false"}
    assert (clients.monopoly_position == "true").any() and (clients.strategic == "true").any()
    assert set(accounts["product"]) <= ENUMS["product"]
    assert set(accounts.client_id) <= set(clients.client_id)
    assert len(set(clients.client_id) - set(accounts.client_id)) >= 1  # clients without accounts
    assert (clients.onboarded_on > str(FIRST_DAY)).any()  # onboarded inside the window
    assert (clients.offboarded_on != "").any()
    per_client = accounts.groupby("client_id").size()
    assert per_client.min() >= 1 and per_client.max() <= 7
    assert len(set(accounts.currency)) >= 3
    opened_mid = (accounts.opened_on > str(FIRST_DAY)) & (accounts.opened_on <= str(END))
    closed_mid = (accounts.closed_on >= str(FIRST_DAY)) & (accounts.closed_on < str(END))
    assert opened_mid.any() and closed_mid.any()
    assert ((accounts.closed_on == "") | (accounts.closed_on >= accounts.opened_on)).all()


@pytest.fixture(scope="module")
def default_sized_clients(tmp_path_factory):
    """The clients snapshot of a bank of the CLI's default size (300 clients), over a short window."""
    out = tmp_path_factory.mktemp("groups")
    summary = generate_sample(out, **{**KW, "clients": 300})
    return _read(out / f"clients_{END}.csv"), summary


def test_economic_groups_of_every_kind(default_sized_clients):
    clients, summary = default_sized_clients
    members = clients[clients["group_id"] != ""]
    sizes = members.groupby("group_id").size()
    # about 5-10 % of the clients are in groups, every group has at least 2 clients
    assert 0.05 * len(clients) <= len(members) <= 0.10 * len(clients)
    assert sizes.min() >= 2
    assert summary["groups"]["groups"] == len(sizes) and summary["groups"]["members"] == len(members)
    assert all(count >= 1 for count in summary["groups"]["kinds"].values()), summary["groups"]
    # a parent with 2 to 5 subsidiaries: groups of 3 to 6 companies; and sizes never above 6
    companies = members[members["client_type"] != "individual"].groupby("group_id").size()
    assert (companies.between(3, 6)).any() and sizes.max() <= 6
    individual = members["client_type"] == "individual"
    left = members["offboarded_on"] != ""
    by_group = members.assign(individual=individual, left=left, company_left=~individual & left,
                              company_stays=~individual & ~left, individual_stays=individual & ~left)
    flags = by_group.groupby("group_id")[["individual", "company_left", "company_stays", "individual_stays"]].sum()
    # a group with an individual member beside companies that stay
    assert ((flags["individual"] >= 1) & (flags["company_stays"] >= 1)).any()
    # a group whose only non-individual member left, with >= 2 individuals still active (still assessed)
    assert ((flags["company_left"] == 1) & (flags["company_stays"] == 0) & (flags["individual_stays"] >= 2)).any()
    # members onboarded inside the window, and a member that is a related party (stays `key`)
    assert (members["onboarded_on"] > str(FIRST_DAY)).any()
    assert (members["related_party"] != "none").any()
    # VIP only together: two companies, 2 criteria each by construction — one with annual sales > 5M (and
    # >= 4 products), the other strategic (and a large turnover); no monopoly flag, so 3 criteria together
    together = [g for g, kind in summary["groups"]["kind_of"].items() if kind == "vip_together"]
    pair = members[members["group_id"] == together[0]]
    assert len(pair) == 2 and (pair["client_type"] != "individual").all()
    assert (pair["strategic"] == "true").sum() == 1 and (pair["monopoly_position"] == "false").all()
    assert (pair["annual_sales_usd"].replace("", "0").astype(float) > 5e6).any()


def test_transaction_edge_cases(bank):
    _, summary, frames = bank
    accounts = _latest(frames, "accounts").set_index("account_id")
    tx = _concat(frames, "transactions")
    bad = {(b["file"], b["row"]) for b in summary["bad_rows"]}
    tx = tx[[(f, i + 1) not in bad for f, i in zip(tx._file, tx.groupby("_file").cumcount())]]
    assert tx.txn_id.is_unique
    assert (pd.to_numeric(tx.amount) > 0).all()
    assert tx.amount.str.fullmatch(r"\d+\.\d{2}").all()
    for col in ("direction", "txn_type", "purpose"):
        assert set(tx[col]) <= ENUMS[col], col
    # booked only on days the account is open
    opened = tx.account_id.map(accounts.opened_on)
    closed = tx.account_id.map(accounts.closed_on).replace("", "9999-12-31")
    assert ((tx.booking_date >= opened) & (tx.booking_date <= closed)).all()
    # own-account transfers: credit with a counterparty account of the same client
    same_client = tx.counterparty_account_id.map(accounts.client_id) == tx.account_id.map(accounts.client_id)
    own = tx[same_client & (tx.direction == "C") & (tx.counterparty_account_id != tx.account_id)]
    assert (own.account_id.map(accounts["product"]) == "current").any()
    exports = tx[tx.purpose == "export"]
    assert len(exports) and (exports.direction == "C").all() and (exports.counterparty_country != "BG").all()
    interest = tx[tx.txn_type == "interest"]
    assert set(interest.direction) == {"C", "D"}
    credit = {"loan", "overdraft", "credit_line", "leasing"}
    assert interest[interest.direction == "D"].account_id.map(accounts["product"]).isin(credit).all()
    assert ((tx.txn_type == "fee") & (tx.direction == "D")).any()


def test_balances(bank):
    _, summary, frames = bank
    accounts = _latest(frames, "accounts").set_index("account_id")
    bal = _concat(frames, "balances")
    assert not bal.duplicated(["account_id", "balance_date"]).any()
    numeric = pd.to_numeric(bal.balance, errors="coerce")
    bad = [b for b in summary["bad_rows"] if b["kind"] == "unparseable_balance"]
    assert numeric.isna().sum() == len(bad)
    product = bal.account_id.map(accounts["product"])
    loans, deposits = numeric[product == "loan"].dropna(), numeric[product.isin(["deposit", "savings"])].dropna()
    assert (loans <= 0).all() and (loans < 0).any()
    assert (deposits >= 0).all() and (deposits > 0).any()
    opened = bal.account_id.map(accounts.opened_on)
    closed = bal.account_id.map(accounts.closed_on).replace("", "9999-12-31")
    assert ((bal.balance_date >= opened) & (bal.balance_date <= closed)).all()
    # the penultimate month is complete: a balances file and rows on/after its last calendar day
    files = [n for n in frames if n.startswith("balances_")]
    assert any(_period(n)[1] >= "2026-02-28" for n in files if _period(n)[0] <= "2026-02-28")
    assert (bal.balance_date >= "2026-02-28").any()
    # sparse accounts: gaps of more than a week while open
    days = pd.to_datetime(bal.balance_date)
    gaps = days.groupby(bal.account_id).apply(lambda s: s.sort_values().diff().max())
    assert (gaps > pd.Timedelta(days=7)).sum() >= 0.05 * len(gaps)
    assert (gaps <= pd.Timedelta(days=4)).sum() >= 0.5 * len(gaps)


def test_fx_rates_cover_every_data_day(bank):
    _, _, frames = bank
    fx = _concat(frames, "fx_rates")
    assert "USD" not in set(fx.currency)
    assert {"EUR", "GBP", "BGN", "CHF"} <= set(fx.currency)
    assert (pd.to_numeric(fx.usd_per_unit) > 0).all()
    first = str(FIRST_DAY)
    for ccy, g in fx.groupby("currency"):
        days = sorted(date.fromisoformat(d) for d in g.rate_date)
        assert days[0] <= FIRST_DAY - timedelta(days=1) and days[-1] >= END - timedelta(days=3)
        assert max((b - a).days for a, b in zip(days, days[1:])) <= 7, ccy
        assert str(days[0]) < first


def test_bad_rows_summary(bank):
    _, summary, frames = bank
    assert summary["bad_rows"]
    kinds = set()
    for entry in summary["bad_rows"]:
        name, row, kind = entry["file"], entry["row"], entry["kind"]
        kinds.add(kind)
        assert len(FILE_NAME.match(name)["period"]) == 7  # monthly history files only
        df = frames[name]
        assert len(df) >= 500 and sum(e["file"] == name for e in summary["bad_rows"]) < 0.01 * len(df)
        rec = df.iloc[row - 1]
        if kind == "negative_amount":
            assert float(rec.amount) < 0
        elif kind == "unknown_account":
            assert rec.account_id not in set(_latest(frames, "accounts").account_id)
        elif kind == "duplicate_txn_id":
            assert (df == rec).all(axis=1).sum() == 2
        elif kind == "booking_date_outside_period":
            lo, hi = _period(name)
            assert not lo <= rec.booking_date <= hi
        elif kind == "unparseable_balance":
            assert rec.balance == "12,5x"
        else:
            raise AssertionError(kind)
    assert len(kinds) >= 3


def test_summary_row_counts(bank):
    _, summary, frames = bank
    for extract in COLUMNS:
        n = sum(len(df) for name, df in frames.items() if FILE_NAME.match(name)["extract"] == extract)
        assert summary["rows"][extract] == n, extract


def test_no_bad_rows_when_disabled(tmp_path):
    s = generate_sample(tmp_path, **{**KW, "bad_rows": False})
    assert s["bad_rows"] == []
    tx = pd.concat(_read(tmp_path / n) for n in s["files"] if n.startswith("transactions_"))
    assert tx.txn_id.is_unique and (pd.to_numeric(tx.amount) > 0).all()


def test_full_balances_and_daily_month_end(tmp_path):
    s = generate_sample(tmp_path, clients=12, months=2, end_date=END, daily_months=2, full_balances=True)
    names = set(s["files"])
    # every calendar day of the daily months has a balances file, weekends included
    day = date(2026, 2, 1)
    while day <= END:
        assert f"balances_{day}.csv" in names, day
        day += timedelta(days=1)
    accounts = _read(tmp_path / f"accounts_{END}.csv")
    bal = pd.concat(_read(tmp_path / n) for n in names if n.startswith("balances_"))
    counts = bal.groupby("account_id").size()
    for a in accounts.itertuples():
        lo = max(date.fromisoformat(a.opened_on), date(2026, 2, 1))
        hi = min(date.fromisoformat(a.closed_on) if a.closed_on else END, END)
        expected = max((hi - lo).days + 1, 0)
        assert counts.get(a.account_id, 0) == expected, a.account_id


def test_month_end_balances_file_without_full_history(tmp_path):
    s = generate_sample(tmp_path, clients=12, months=2, end_date=END, daily_months=2, bad_rows=False)
    names = set(s["files"])
    assert "balances_2026-02-28.csv" in names  # a Saturday: month-end snapshot completes February
    assert "fx_rates_2026-02-28.csv" not in names and "transactions_2026-02-28.csv" not in names
    assert "fx_rates_2026-01.csv" in names


# The same seed gives the same files: SHA-256 over every file's name and content (parquet: its rows and
# schema, so a pyarrow upgrade that changes the file's metadata does not count) plus the summary.
# Recorded from the generator before it became the `vip_pipeline.sample` package; a change here means
# every test bank, the demo and the benchmark changed.
FINGERPRINT_END = date(2026, 3, 18)
FINGERPRINTS = {
    "monthly_with_bad_rows": (
        dict(clients=40, months=4, seed=3, daily_months=0),
        "5efe2c9c8d0d4c175ee107c996acf4d14b204e24cbbf34763b099d4599e6eeef",
    ),
    "full_balances": (
        dict(clients=40, months=4, seed=3, daily_months=1, full_balances=True),
        "ed9d59e4736840d1e9d2b398bb7fee5173ff746fda3658dfdc2106e6a43ea368",
    ),
    "daily_months": (
        dict(clients=40, months=4, seed=3, daily_months=3, txns_per_account_month=9.0),
        "fe70e072fa9baed9946f8f5249db253e1255e2e97cb22f6d2d72a1a76b21dd19",
    ),
    "groups_of_every_kind": (  # parent groups and every kind of injected bad row
        dict(clients=320, months=6, seed=3, daily_months=1),
        "b349410474d58a1ff686dd9e23ba8b44791bd78ff336111f3515652bccb5b0eb",
    ),
}


def _fingerprint(out: Path, summary: dict) -> str:
    digest = hashlib.sha256()
    for path in sorted(out.iterdir()):
        digest.update(path.name.encode() + b"\0")
        if path.name.endswith(".parquet"):
            table = pq.read_table(path)
            digest.update(str(table.schema).encode() + repr(table.to_pylist()).encode())
        else:
            digest.update(path.read_bytes())
    digest.update(json.dumps({k: v for k, v in summary.items() if k != "out_dir"}, sort_keys=True).encode())
    return digest.hexdigest()


@pytest.mark.parametrize("case", sorted(FINGERPRINTS))
def test_same_seed_same_files_as_recorded(case, tmp_path):
    kwargs, expected = FINGERPRINTS[case]
    summary = generate_sample(tmp_path, end_date=FINGERPRINT_END, **kwargs)
    assert summary["bad_rows"] or case != "monthly_with_bad_rows"
    assert _fingerprint(tmp_path, summary) == expected, case
