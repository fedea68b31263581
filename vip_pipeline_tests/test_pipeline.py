"""The real asset graph materialised through Dagster into SQLite and a real PostgreSQL server."""

from __future__ import annotations

import subprocess
from datetime import date
from pathlib import Path
import sys

import pandas as pd
import pytest
import sqlalchemy as sa
from dagster import AssetKey, DagsterInstance, materialize

from vip_pipeline.definitions import all_assets, build_resources, defs
from vip_pipeline.resources import DecisionRulesResource
from vip_pipeline.runner import PipelineFailed, refresh, run_pipeline
from vip_pipeline.storage.warehouse import Warehouse
from vip_pipeline_tests.tiny_bank import FILES, write_tiny_bank

PUBLISHED = ["monthly_account_activity", "monthly_client_metrics", "client_ltv", "vip_assessment", "client_segments"]
MONTHLY_METRICS = ["balance_state", "monthly_account_activity", "monthly_client_metrics"]
DECISIONS = ["client_ltv", "vip_assessment", "client_segments", "group_assessment", "segment_migrations"]


def run(tmp_path, url, files=None):
    landing = write_tiny_bank(tmp_path / "landing", files)
    return run_pipeline(str(landing), url, str(tmp_path / "staging"), progress=lambda _: None)


def snapshot(url) -> dict[str, pd.DataFrame]:
    wh = Warehouse(url)
    keys = {"monthly_account_activity": ["account_id", "month"], "monthly_client_metrics": ["client_id", "month"]}
    return {t: wh.read(t).sort_values(keys.get(t, ["client_id", "as_of_month"])).reset_index(drop=True)
            for t in PUBLISHED}


def test_definitions_load():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"clients", "accounts", "transactions", "balances", "fx_rates", "client_pnl", "balance_state",
            *PUBLISHED} <= keys
    defs.resolve_all_job_defs()


def test_pipeline_publishes_hand_computed_metrics(tmp_path, database_url):
    assert [m.isoformat() for m in run(tmp_path, database_url)] == ["2024-02-01", "2024-03-01"]
    wh = Warehouse(database_url)
    act = wh.read("monthly_account_activity").set_index(["account_id", "month"])
    feb, mar = pd.Timestamp("2024-02-01"), pd.Timestamp("2024-03-01")
    # A2: 500 EUR from Feb 15 (15 of 29 days) → ADB 7,500 / 29; USD: Feb 15–18 at 1.1, Feb 19–29 at 1.2
    assert act.loc[("A2", feb), "adb"] == pytest.approx(7500 / 29)
    assert act.loc[("A2", feb), "adb_usd"] == pytest.approx((4 * 550 + 11 * 600) / 29)
    # March: Mar 1–3 still at the Feb 26 rate 1.2 (within 7 days), then 1.0
    assert act.loc[("A2", mar), "adb_usd"] == pytest.approx((3 * 600 + 28 * 500) / 31)
    # A1: 1,000 carried forward from Feb 1 for Mar 1–30, 2,000 on Mar 31
    assert act.loc[("A1", mar), "adb"] == pytest.approx((30 * 1000 + 2000) / 31)
    assert act.loc[("A1", mar), "closing_balance"] == 2000
    # B1 closed Mar 20: 20 days of 100, then 0
    assert act.loc[("B1", mar), "adb"] == pytest.approx(2000 / 31)
    assert act.loc[("B1", mar), "closing_balance"] == 0
    assert bool(act.loc[("A1", mar), "is_complete_month"])
    metrics = wh.read("monthly_client_metrics").set_index(["client_id", "month"])
    # settlement: t1 700,000 counts; t3 is a transfer from the client's own deposit A2; t4 is interest
    assert metrics.loc[("c1", feb), "settlement_turnover_usd"] == pytest.approx(700_000)
    assert metrics.loc[("c1", feb), "export_usd"] == pytest.approx(700_000)
    assert metrics.loc[("c1", mar), "settlement_turnover_usd"] == 0
    assert metrics.loc[("c1", feb), "products_used"] == 2
    segments = wh.read("client_segments")
    assert len(segments) == 4  # 2 active clients × 2 complete months
    assert set(segments["as_of_month"]) == {feb, mar}
    audit = wh.read("load_audit")
    assert (audit["rows_read"] == audit["rows_accepted"] + audit["rows_rejected"]).all()
    # clients 2, accounts 3, fx 1 + 4 + 4, balances 3 + 1, transactions 3 + 1
    assert audit["rows_read"].sum() == 2 + 3 + 1 + 4 + 4 + 3 + 1 + 3 + 1


def test_rerun_and_single_month_rerun_leave_identical_tables(tmp_path, database_url):
    run(tmp_path, database_url)
    first = snapshot(database_url)
    run(tmp_path, database_url)
    resources = build_resources(str(tmp_path / "landing"), database_url, str(tmp_path / "staging"))
    result = materialize(all_assets, selection=[AssetKey(k) for k in MONTHLY_METRICS], resources=resources,
                         partition_key="2024-02-01", instance=DagsterInstance.ephemeral())
    assert result.success
    second = snapshot(database_url)
    for table in PUBLISHED:
        pd.testing.assert_frame_equal(first[table], second[table], obj=table)


def test_corrupt_file_stops_publication_and_names_the_file(tmp_path, database_url):
    files = dict(FILES)
    files["transactions_2024-03-04.csv"] = "txn_id;account_id;booking_date\nt9;A1;2024-03-04\n"
    with pytest.raises(PipelineFailed, match=r"transactions_2024-03-04\.csv.*missing column"):
        run(tmp_path, database_url, files)
    wh = Warehouse(database_url)
    for table in PUBLISHED:
        assert wh.count(table) == 0, table
    audit = wh.read("load_audit")
    refused = audit[audit["status"] == "refused"]
    assert refused["source_file"].tolist() == ["transactions_2024-03-04.csv"]


def test_rejected_rows_are_kept_and_good_rows_published(tmp_path, sqlite_url):
    files = dict(FILES)
    good = "".join(f"g{i},A1,2024-02-{1 + i % 28:02d},1,D,card,,,\n" for i in range(200))
    files["transactions_2024-02.csv"] = FILES["transactions_2024-02.csv"] + good + "bad1,A1,2024-02-08,-5,D,card,,,\n"
    run(tmp_path, sqlite_url, files)
    wh = Warehouse(sqlite_url)
    rejected = wh.read("rejected_rows")
    assert rejected[["source_file", "row_number", "rule"]].values.tolist() == [
        ["transactions_2024-02.csv", 204, "not_positive:amount"]]
    assert '"amount":"-5"' in rejected["raw_record"].iloc[0]
    act = wh.read("monthly_account_activity").set_index(["account_id", "month"])
    assert act.loc[("A1", pd.Timestamp("2024-02-01")), "txn_count"] == 3 + 200


def test_missing_fx_rate_names_currency_and_day(tmp_path, sqlite_url):
    files = dict(FILES)
    files["fx_rates_2024-03.csv"] = "rate_date,currency,usd_per_unit\n2024-03-04,EUR,1.0\n"
    with pytest.raises(PipelineFailed, match=r"EUR.*2024-03-12"):
        run(tmp_path, sqlite_url, files)
    wh = Warehouse(sqlite_url)
    assert wh.count("client_segments") == 0
    with wh.engine.connect() as conn:
        months = conn.execute(sa.text("SELECT DISTINCT month FROM monthly_account_activity")).scalars().all()
    assert [str(m)[:10] for m in months] == ["2024-02-01"]  # March published nothing


def test_cli_run_prints_summary(tmp_path):
    landing = write_tiny_bank(tmp_path / "landing")
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    done = subprocess.run([sys.executable, "-m", "vip_pipeline.cli", "run", "--landing", str(landing),
                           "--database-url", url, "--staging-dir", str(tmp_path / "staging")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "client_segments" in done.stdout and "Client segments as of 2024-03" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "vip_pipeline.cli", "run", "--landing", str(tmp_path / "nowhere"),
                          "--database-url", url], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "FAILED: landing directory" in bad.stdout and "does not exist" in bad.stdout
    assert "Traceback" not in bad.stdout + bad.stderr


def test_the_cli_ends_with_its_exit_code_and_only_the_program_skips_the_teardown(tmp_path):
    """`vip-pipeline` ends its process without Python's teardown (an exit handler registered first, cli.py): the
    code main() returned, argparse's or an uncaught error's is still the process's, and its output is all there;
    importing the module changes nothing."""
    cli = [sys.executable, "-m", "vip_pipeline.cli"]
    database = f"sqlite:///{tmp_path / 'v.db'}"
    upgrade = subprocess.run([*cli, "db", "upgrade", "--database-url", database], capture_output=True, text=True,
                             timeout=120)
    assert upgrade.returncode == 0 and "database sqlite:///" in upgrade.stdout, upgrade.stdout + upgrade.stderr
    assert subprocess.run([*cli, "--help"], capture_output=True, timeout=120).returncode == 0
    usage = subprocess.run([*cli, "no-such-command"], capture_output=True, text=True, timeout=120)
    assert usage.returncode == 2 and "invalid choice" in usage.stderr
    crash = subprocess.run([*cli, "summary", "--database-url", "nosuchdb://x"], capture_output=True, timeout=120)
    assert crash.returncode == 1
    imported = "import sys, vip_pipeline.cli; sys.exit(3)"  # a test or a tool importing the CLI keeps its own code
    assert subprocess.run([sys.executable, "-c", imported], timeout=120).returncode == 3
    # as the program, the interpreter's teardown (which would finalise this object) does not run
    program = (
        "import sys\nsys.argv[0] = 'vip-pipeline'\nimport vip_pipeline.cli as cli\n"
        "class Noisy:\n    def __del__(self):\n        print('teardown ran', flush=True)\n"
        "noisy = Noisy()\nsys.exit(cli.main(['--help']))\n"
    )
    ended = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert ended.returncode == 0 and "usage: vip-pipeline" in ended.stdout and "teardown ran" not in ended.stdout
    as_import = program.replace("sys.argv[0] = 'vip-pipeline'", "pass")
    imported_ended = subprocess.run([sys.executable, "-c", as_import], capture_output=True, text=True, timeout=120)
    assert "teardown ran" in imported_ended.stdout


def test_threshold_change_redecides_without_reingesting(tmp_path, sqlite_url):
    run(tmp_path, sqlite_url)
    wh = Warehouse(sqlite_url)
    audit_rows = wh.count("load_audit")
    before = wh.read("vip_assessment").set_index(["client_id", "as_of_month"])
    c1_march = ("c1", pd.Timestamp("2024-03-01"))
    # c1: annual sales 6,000,000 > 5,000,000 (scale) + monopoly → 2 criteria; raise the sales bar above its sales
    assert before.loc[c1_march, "scale_met"] and before.loc[c1_march, "criteria_met"] == 2
    resources = build_resources(str(tmp_path / "landing"), sqlite_url, str(tmp_path / "staging"))
    resources["decision_rules"] = DecisionRulesResource(annual_sales_usd=7_000_000)
    result = materialize(all_assets, selection=[AssetKey(k) for k in DECISIONS], resources=resources,
                         instance=DagsterInstance.ephemeral(),
                         tags={"dagster/asset_partition_range_start": "2024-02-01",
                               "dagster/asset_partition_range_end": "2024-03-01"})
    assert result.success
    after = wh.read("vip_assessment").set_index(["client_id", "as_of_month"])
    assert not after.loc[c1_march, "scale_met"] and after.loc[c1_march, "criteria_met"] == 1
    assert wh.count("load_audit") == audit_rows  # no extract was read again


def test_dagster_cli_validates_the_code_location():
    root = Path(__file__).resolve().parents[1]
    dagster = str(Path(sys.executable).parent / "dagster")
    done = subprocess.run([dagster, "definitions", "validate", "-w", "workspace.yaml"],
                          cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation successful" in done.stdout + done.stderr


def test_month_by_month_runs_publish_the_same_tables_as_one_range_run(tmp_path):
    """The nightly path (one run per month, in order) and a full load (one run over the range) agree."""
    ranged, monthly = f"sqlite:///{tmp_path / 'range.db'}", f"sqlite:///{tmp_path / 'monthly.db'}"
    landing = write_tiny_bank(tmp_path / "landing")
    run_pipeline(str(landing), ranged, str(tmp_path / "staging-range"), progress=lambda _: None)
    for month in (date(2024, 2, 1), date(2024, 3, 1)):
        refresh(str(landing), monthly, str(tmp_path / "staging-monthly"), month, month, progress=lambda _: None)
    one, two = snapshot(ranged), snapshot(monthly)
    for table in PUBLISHED:
        pd.testing.assert_frame_equal(one[table], two[table], obj=table)


def test_clients_without_group_id_publish_no_groups(tmp_path, sqlite_url):
    """The tiny bank's clients file has no group_id column (files from before groups): it loads, no client is in a
    group, no group is assessed, and the categories are the clients' own (c1 is not eligible alone)."""
    assert "group_id" not in FILES["clients_2024-03-31.csv"].splitlines()[0]
    run(tmp_path, sqlite_url)
    wh = Warehouse(sqlite_url)
    segments = wh.read("client_segments")
    assert segments["group_id"].isna().all() and not segments["group_vip_eligible"].any()
    assert wh.count("group_assessment") == 0
    assert set(segments["category"]) == {"corporate", "mass"}


def test_a_group_vip_only_together_is_published_with_its_members(tmp_path, sqlite_url):
    """The tiny bank's two clients put in one group G, c2 marked strategic. Alone, c1 meets 2 criteria (scale:
    sales 6M > 5M; monopoly) and c2 meets 1 (strategic): neither is eligible. The group: products current +
    deposit = 2 (no), scale on Σ sales 6M (yes), monopoly (c1), strategic (c2), growth (< 24 months: no) = 3 →
    VIP-eligible. Both members become category vip; c1 (served standard) gets approach; c2 is served as VIP and
    eligible through its group, so no review."""
    files = dict(FILES)
    header, c1, c2 = files["clients_2024-03-31.csv"].splitlines()
    c2 = c2.replace(",false,false,vip", ",false,true,vip")  # monopoly_position false, strategic true
    files["clients_2024-03-31.csv"] = "\n".join([header + ",group_id", c1 + ",G", c2 + ",G"]) + "\n"
    run(tmp_path, sqlite_url, files)
    wh = Warehouse(sqlite_url)
    march = pd.Timestamp("2024-03-01")
    group = wh.read("group_assessment").set_index(["group_id", "as_of_month"]).loc[("G", march)]
    assert (group["members"], group["products_used"], group["criteria_met"]) == (2, 2, 3)
    assert bool(group["scale_met"]) and bool(group["monopoly_met"]) and bool(group["strategic_met"])
    assert bool(group["group_vip_eligible"]) and not bool(group["growth_met"])
    vip = wh.read("vip_assessment").set_index(["client_id", "as_of_month"])
    assert (vip.loc[("c1", march), "criteria_met"], vip.loc[("c2", march), "criteria_met"]) == (2, 1)
    segments = wh.read("client_segments").set_index(["client_id", "as_of_month"])
    for client, action in (("c1", "approach"), ("c2", None)):
        row = segments.loc[(client, march)]
        assert (row["group_id"], bool(row["group_vip_eligible"]), bool(row["vip_eligible"])) == ("G", True, False)
        assert (row["category"], row["recommended_action"]) == ("vip", action)
