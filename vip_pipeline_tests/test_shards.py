"""Client shards: the monthly metrics fanned out into one step per shard publish exactly what one step does."""

from __future__ import annotations

import subprocess
import sys
import zlib

import pandas as pd
import pytest

from dagster import Definitions

from vip_pipeline.definitions import build_assets, build_refresh_job, build_resources
from vip_pipeline.runner import PipelineFailed, run_pipeline
from vip_pipeline.sharding import account_shards, accounts_of_shard, shard_count, shard_of
from vip_pipeline.storage.warehouse import Warehouse
from vip_pipeline_tests.tiny_bank import FILES, write_tiny_bank
from vip_pipeline_tests.shard_support import assert_same_tables, published, two_month_sample


def test_shard_of_is_crc32_of_the_utf8_id_and_stable_across_processes():
    ids = pd.Series(["c1", "CL-000042", "Клиент-7", ""])
    expected = [zlib.crc32(i.encode("utf-8")) % 4 for i in ids]
    assert shard_of(ids, 4).tolist() == expected
    # Python's hash() is salted per process: the shard must not be
    code = (
        "import pandas as pd; from vip_pipeline.sharding import shard_of; "
        "print(shard_of(pd.Series(['c1', 'CL-000042', 'Клиент-7', '']), 4).tolist())"
    )
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONHASHSEED": "123"}
    )
    assert other.stdout.strip() == str(expected)
    assert shard_of(ids, 1).tolist() == [0, 0, 0, 0]


def test_a_rows_shard_is_its_accounts_clients_shard_or_its_own_hash_when_unknown():
    accounts = pd.DataFrame({"account_id": ["A1", "A2", "B1"], "client_id": ["c1", "c1", "c2"]})
    rows = pd.Series(["B1", "A2", "ZZ9", "", "A1"])
    expected = [zlib.crc32(b"c2") % 4, zlib.crc32(b"c1") % 4, zlib.crc32(b"ZZ9") % 4, 0, zlib.crc32(b"c1") % 4]
    assert account_shards(rows, accounts, 4).tolist() == expected


def test_every_account_is_in_its_clients_shard_and_in_exactly_one():
    accounts = pd.DataFrame(
        {"account_id": [f"A{i}" for i in range(200)], "client_id": [f"c{i // 3}" for i in range(200)]}
    )
    parts = [accounts_of_shard(accounts, k, 5) for k in range(5)]
    assert sorted(pd.concat(parts)["account_id"]) == sorted(accounts["account_id"])
    for k, part in enumerate(parts):
        clients = set(part["client_id"])
        assert set(accounts.loc[accounts["client_id"].isin(clients), "account_id"]) == set(part["account_id"]), k


def test_vip_shards_is_validated(monkeypatch):
    monkeypatch.setenv("VIP_SHARDS", "0")
    with pytest.raises(ValueError, match="VIP_SHARDS"):
        shard_count()
    monkeypatch.setenv("VIP_SHARDS", "four")
    with pytest.raises(ValueError, match="VIP_SHARDS"):
        shard_count()


def test_four_shards_run_as_four_steps_and_publish_what_one_step_publishes(tmp_path, database_url):
    """A two-month sample (bad rows, a month-to-date month) with VIP_SHARDS=1 and with 4 shards: the published
    tables are identical to the last bit, and the 4-shard run really executed 4 shard steps then one publish."""
    landing = two_month_sample(tmp_path / "landing")
    one_url = f"sqlite:///{tmp_path / 'one.db'}"
    run_pipeline(str(landing), one_url, str(tmp_path / "staging-1"), progress=lambda _: None, shards=1)
    months = run_pipeline(str(landing), database_url, str(tmp_path / "staging-4"), progress=lambda _: None, shards=4)
    assert len(months) == 2
    expected, actual = published(one_url), published(database_url)
    assert len(expected["monthly_account_activity"]) > 100 and len(expected["client_segments"]) > 0
    assert len(expected["rejected_rows"]) > 0  # the sample's bad rows
    assert_same_tables(expected, actual)


def test_a_sharded_rerun_skips_every_unchanged_shard_month(tmp_path, sqlite_url):
    landing = two_month_sample(tmp_path / "landing", clients=30)
    lines: list[str] = []
    for _ in range(2):
        lines.clear()
        run_pipeline(str(landing), sqlite_url, str(tmp_path / "staging"), progress=lines.append, shards=3)
    assert any("monthly metrics" in line and "0 month(s) computed, 2 unchanged" in line for line in lines), lines


def test_the_graph_has_one_step_per_shard_and_one_publish_step(tmp_path):
    job = build_refresh_job(str(tmp_path), f"sqlite:///{tmp_path / 'x.db'}", str(tmp_path / "s"), shards=3)
    inner = job.graph.node_dict["monthly_metrics"].definition.node_dict
    assert sorted(inner) == ["metrics_shard_0_of_3", "metrics_shard_1_of_3", "metrics_shard_2_of_3", "publish"]


def _asset_graph(shards: int) -> dict:
    graph = Definitions(assets=build_assets(shards), resources=build_resources()).resolve_asset_graph()
    described = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        described[key.to_user_string()] = (
            sorted(p.to_user_string() for p in node.parent_keys),
            {p.to_user_string(): repr(node.partition_mappings.get(p)) for p in node.parent_keys},
            sorted(c.to_user_string() for c in node.check_keys),
            repr(node.backfill_policy),
            repr(node.partitions_def),
            sorted(node.metadata),
            node.tags,
            node.description,
        )
    return described


def test_the_asset_graph_is_the_same_for_every_number_of_shards():
    """Assets, deps and their partition mappings, checks, policies and metadata: only the steps differ."""
    one = _asset_graph(1)
    assert one["monthly_client_metrics"][0] == ["accounts", "client_pnl", "monthly_account_activity"]
    assert "balance_state" in one["balance_state"][0]  # its own previous month
    assert one == _asset_graph(4)


# Sharded validation (transactions and balances). In the tiny bank, client c1 (accounts A1, A2) is in shard 1
# of 4 and c2 (B1) in shard 3; an unknown account ZZ9 goes by its own hash to shard 2.
GOOD = "".join(f"g{i},A1,2024-02-{1 + i % 28:02d},1,D,card,,,\n" for i in range(200))


def _run(tmp_path, name: str, files: dict, shards: int) -> str:
    """Run `files` (landed once per test: the same files, modification times included) into `<name>.db`."""
    landing = tmp_path / "landing"
    landed = {p.name: p.read_text() for p in landing.iterdir()} if landing.exists() else {}
    if landed != files:
        write_tiny_bank(landing, files)
    url = f"sqlite:///{tmp_path / f'{name}.db'}"
    run_pipeline(str(landing), url, str(tmp_path / f"staging-{name}"), progress=lambda _: None, shards=shards)
    return url


def test_the_rejected_share_is_judged_on_the_whole_file_not_on_a_shard(tmp_path):
    """One bad row among 203 (0.5 %) is accepted, although its shard alone holds 1 bad row of 2; the audit,
    the rejected rows and every table equal the unsharded run's."""
    assert shard_of(pd.Series(["c1", "c2", "ZZ9"]), 4).tolist() == [1, 3, 2]
    files = dict(FILES)
    bad = "b1,B1,2024-02-12,2,D,card,,,\nbad1,B1,2024-02-12,-5,D,card,,,\n"
    files["transactions_2024-02.csv"] = FILES["transactions_2024-02.csv"] + GOOD + bad
    one, four = _run(tmp_path, "one", files, 1), _run(tmp_path, "four", files, 4)
    rejected = Warehouse(four).read("rejected_rows")
    assert rejected[["source_file", "rule"]].values.tolist() == [["transactions_2024-02.csv", "not_positive:amount"]]
    audit = Warehouse(four).read("load_audit").set_index("source_file")
    assert audit.loc["transactions_2024-02.csv", ["rows_read", "rows_accepted", "rows_rejected"]].tolist() == [
        205, 204, 1,
    ]  # fmt: skip
    assert audit.loc["transactions_2024-02.csv", "status"] == "accepted"
    assert_same_tables(published(one), published(four))


def test_a_file_over_the_threshold_across_shards_is_refused_by_name(tmp_path):
    files = dict(FILES)
    bad = "".join(f"bad{i},{acct},2024-02-12,-5,D,card,,,\n" for i, acct in enumerate(["A1", "B1", "ZZ9"]))
    files["transactions_2024-02.csv"] = FILES["transactions_2024-02.csv"] + GOOD + bad  # 3 of 206: 1.5 %
    with pytest.raises(PipelineFailed, match=r"transactions_2024-02\.csv: 3 of 206 rows rejected \(1\.5%\)"):
        _run(tmp_path, "four", files, 4)
    wh = Warehouse(f"sqlite:///{tmp_path / 'four.db'}")
    assert wh.count("monthly_account_activity") == 0
    assert sorted(wh.read("rejected_rows")["raw_record"].str.extract(r'"txn_id":"(\w+)"')[0]) == [
        "bad0", "bad1", "bad2",
    ]  # fmt: skip


def test_unknown_accounts_are_rejected_once_and_a_corrupt_file_stops_everything_once(tmp_path):
    files = dict(FILES)
    files["transactions_2024-02.csv"] = FILES["transactions_2024-02.csv"] + GOOD + "u1,ZZ9,2024-02-08,5,D,card,,,\n"
    one, four = _run(tmp_path, "one", files, 1), _run(tmp_path, "four", files, 4)
    rejected = Warehouse(four).read("rejected_rows")
    assert rejected["rule"].str.contains("account_id").tolist() == [True] and len(rejected) == 1
    assert_same_tables(published(one), published(four))

    files["transactions_2024-03-04.csv"] = "txn_id;account_id;booking_date\nt9;A1;2024-03-04\n"
    with pytest.raises(PipelineFailed, match=r"transactions_2024-03-04\.csv.*missing column"):
        _run(tmp_path, "corrupt", files, 4)
    wh = Warehouse(f"sqlite:///{tmp_path / 'corrupt.db'}")
    assert wh.count("monthly_account_activity") == 0 and wh.count("client_segments") == 0
    audit = wh.read("load_audit")
    refused = audit[audit["status"] == "refused"]
    assert refused[["source_file", "rows_read", "rows_rejected"]].values.tolist() == [
        ["transactions_2024-03-04.csv", 1, 1]
    ]  # counted once, not once per shard


def test_a_txn_id_on_accounts_in_two_shards_is_refused_naming_it(tmp_path):
    """Unsharded, the second t1 (same file, another account) is a rejected conflict; shards cannot see it
    alone, so the collecting step refuses the month naming the id and the file (docs/decisions.md)."""
    files = dict(FILES)
    files["transactions_2024-02.csv"] = FILES["transactions_2024-02.csv"] + GOOD + "t1,B1,2024-02-12,7,D,card,,,\n"
    one = _run(tmp_path, "one", files, 1)
    assert "duplicate_key_conflict" in Warehouse(one).read("rejected_rows")["rule"].tolist()
    with pytest.raises(PipelineFailed, match=r"1 txn_id\(s\) \(t1\) delivered on accounts of clients in different"):
        _run(tmp_path, "four", files, 4)
    assert Warehouse(f"sqlite:///{tmp_path / 'four.db'}").count("monthly_account_activity") == 0


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_reading_a_shards_rows_keeps_their_row_numbers(tmp_path, ext):
    """`read_raw(keep=…)` returns only the selected accounts' rows, numbered as in the whole file; rows the parser
    could not split come back whole (the caller sends them to shard 0)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from vip_pipeline.landing.inventory import parse_file_name
    from vip_pipeline.landing.reader import ROW, read_raw

    path = tmp_path / f"balances_2024-02.{ext}"
    rows = [("A1", "2024-02-01", "1"), ("B1", "2024-02-01", "2"), ("A1", "2024-02-02", "3"), ("C1", "2024-02-02", "4")]
    if ext == "csv":
        lines = ["account_id,balance_date,balance"] + [",".join(r) for r in rows[:2]] + ["x,y"]
        path.write_text("\n".join(lines + [",".join(r) for r in rows[2:]]) + "\n")
    else:
        pd.DataFrame(rows, columns=["account_id", "balance_date", "balance"]).to_parquet(path)
    keep = lambda ids: pc.is_in(ids, value_set=pa.array(["A1"])).to_numpy(zero_copy_only=False)  # noqa: E731
    raw = read_raw(parse_file_name(path), keep=keep)
    numbers = [1, 4] if ext == "csv" else [1, 3]  # the CSV's malformed line 3 keeps its number
    assert raw.rows[["account_id", "balance", ROW]].values.tolist() == [
        ["A1", "1", numbers[0]],
        ["A1", "3", numbers[1]],
    ]
    assert len(raw.malformed) == (1 if ext == "csv" else 0)
