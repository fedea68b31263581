"""The bench's baseline (vip_pipeline/baseline.py) computes what the pipeline publishes, so that the bench's
ratio compares like with like: the real pipeline and the baseline on the same clean sample bank (no injected bad
rows, so validation rejects nothing), every published metric and decision compared row by row.

The sample has 27 months (the growth criterion needs 24), a month in progress, daily and monthly files, two
client snapshots and economic groups; floats agree within 1e-6 relative (the pipeline sums with a Kahan
compensation, DuckDB plainly), labels and flags exactly.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date

import numpy as np
import pandas as pd
import pytest

from vip_pipeline import baseline
from vip_pipeline.contracts.extracts import CREDIT_PRODUCTS
from vip_pipeline.contracts.tables import TABLES
from vip_pipeline.metrics.margin import MarginRules
from vip_pipeline.runner import run_pipeline
from vip_pipeline.sample import generate_sample
from vip_pipeline.storage.warehouse import Warehouse

NOT_IN_THE_BASELINE = {  # published columns the baseline does not compute (informational, or a source flag)
    "monthly_account_activity": {"min_balance", "max_balance", "revenue_usd", "cost_usd"},
    "monthly_client_metrics": {"margin_source"},
    "client_ltv": {"margin_mean_12m_usd", "margin_std_12m_usd"},
    "vip_assessment": {"client_type"},
    "client_segments": {"client_type", "related_party", "criteria_met", "vip_eligible"},  # compared in vip_assessment
}


def compared(table: str, keys: list[str]) -> list[str]:
    """Every published column of `table` but its keys and those the baseline does not compute."""
    skip = set(keys) | NOT_IN_THE_BASELINE.get(table, set())
    return [c for c in TABLES[table].column_names if c not in skip]




@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """(the warehouse the pipeline published, the baseline's DuckDB connection, the landing directory) for one
    clean sample bank."""
    root = tmp_path_factory.mktemp("baseline")
    landing = root / "landing"
    generate_sample(landing, clients=120, months=27, seed=3, end_date=date(2026, 10, 14), bad_rows=False)
    url = f"sqlite:///{root / 'vip.db'}"
    run_pipeline(str(landing), url, str(root / "staging"), progress=lambda _: None)
    con, _ = baseline.run_baseline(landing)
    return Warehouse(url), con, landing


def _normalised(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in out:
        if column in ("month", "as_of_month", "period_end", "first_month"):
            out[column] = pd.to_datetime(out[column])
    return out


def assert_same(published: pd.DataFrame, computed: pd.DataFrame, keys: list[str], columns: list[str]) -> None:
    """The same keys, and per column the same values: floats within 1e-6 relative, the rest exactly."""
    both = _normalised(published).merge(
        _normalised(computed), on=keys, how="outer", suffixes=("_pipeline", "_baseline"), indicator=True
    )
    only = both[both["_merge"] != "both"]
    assert only.empty, f"rows in one side only:\n{only[keys + ['_merge']].head(10)}"
    for column in columns:
        ours, theirs = both[f"{column}_pipeline"], both[f"{column}_baseline"]
        if pd.api.types.is_float_dtype(ours) or pd.api.types.is_float_dtype(theirs):
            same = np.isclose(ours.astype(float), theirs.astype(float), rtol=1e-6, atol=1e-9, equal_nan=True)
        else:
            same = (ours.astype(object) == theirs.astype(object)) | (ours.isna() & theirs.isna())
        diff = both.loc[~np.asarray(same), keys + [f"{column}_pipeline", f"{column}_baseline"]]
        assert diff.empty, f"{column} differs in {len(diff)} row(s):\n{diff.head(10)}"


def test_rules_restated_in_the_baseline_are_the_pipelines():
    assert baseline.MARGIN == asdict(MarginRules())
    assert baseline.CREDIT_PRODUCTS == CREDIT_PRODUCTS


def test_monthly_metrics_equal_the_published_tables(both):
    wh, con, _ = both
    assert_same(
        wh.read("monthly_account_activity"),
        con.sql("SELECT * FROM monthly_account_activity").df(),
        ["account_id", "month"],
        compared("monthly_account_activity", ["account_id", "month"]),
    )
    assert_same(
        wh.read("monthly_client_metrics"),
        con.sql("SELECT * FROM monthly_client_metrics").df(),
        ["client_id", "month"],
        compared("monthly_client_metrics", ["client_id", "month"]),
    )


def test_decisions_equal_the_published_tables(both):
    wh, con, _ = both
    segments = con.sql("SELECT * FROM client_segments").df()
    keys = ["client_id", "as_of_month"]
    for table in ("client_ltv", "vip_assessment", "client_segments"):
        assert_same(wh.read(table), segments, keys, compared(table, keys))
    assert_same(
        wh.read("group_assessment"),
        con.sql("SELECT * FROM group_assessment").df(),
        ["group_id", "as_of_month"],
        compared("group_assessment", ["group_id", "as_of_month"]),
    )
    assert_same(
        wh.read("segment_migrations"),
        con.sql("SELECT * FROM segment_migrations").df(),
        ["as_of_month", "dimension", "from_value", "to_value"],
        ["clients", "ltv_usd"],
    )
    # the comparison means something: every tier and category, growth, and VIP through a group only
    assert set(segments["ltv_tier"]) == {"most_valuable", "strategic", "workhorse", "ballast"}
    assert set(segments["category"]) == {"key", "vip", "corporate", "mass"}
    assert segments["growth_met"].any()
    assert (segments["group_vip_eligible"] & ~segments["vip_eligible"] & (segments["category"] == "vip")).any()


def test_run_alone_writes_its_tables_and_counts(both, tmp_path, capsys):
    wh, _, landing = both
    assert baseline.main(["--landing", str(landing), "--out", str(tmp_path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{t}.parquet" for t in baseline.TABLES)
    assert printed["rows"]["monthly_client_metrics"] == len(wh.read("monthly_client_metrics"))
    assert len(pd.read_parquet(tmp_path / "client_segments.parquet")) == len(wh.read("client_segments"))


def test_bench_runs_the_baseline_after_the_full_run_and_reports_the_ratio(both, tmp_path, monkeypatch):
    """bench.py's wiring, with the pipeline runs stubbed: the baseline runs for real (in its own process) on
    the files of the full run, and report.json / report.md carry its wall, peak RSS and full ÷ baseline."""
    from vip_pipeline import bench

    _, _, landing = both
    seen = []

    def dataset(root, months, clients, progress):
        home = root / f"bank-{months}"
        home.mkdir(exist_ok=True)
        if not (home / "landing").exists():
            (home / "landing").symlink_to(landing)
        (home / "summary.json").write_text(json.dumps({"rows": {"balances": 1}}))
        return home

    def run(landing_dir, work, extra):
        seen.append(("run", landing_dir, tuple(extra)))
        return {"wall_s": 30.0, "peak_rss_mb": 100, "peak_tree_pss_mb": 160, "stages": {}, "months_computed": 1,
                "months_unchanged": 0}

    real_baseline = bench._baseline

    def baseline_run(landing_dir, work, full):
        seen.append(("baseline", landing_dir, ()))
        return real_baseline(landing_dir, work, full)

    monkeypatch.setattr(bench, "_dataset", dataset)
    monkeypatch.setattr(bench, "_run", run)
    monkeypatch.setattr(bench, "_baseline", baseline_run)
    monkeypatch.setattr(bench, "_nightly", lambda home, work: run(home / "landing", work, ["--month"]))
    monkeypatch.setattr(bench, "_correction", lambda home, work: {**run(home, work, []), "restated": "b.parquet"})
    first = {"wall_s": 7.0, "launch_command_s": 1.0, "queue_s": 0.5, "process_start_s": 2.5, "run_s": 4.0}
    queued = {"wall_s": 5.0, "launch_command_s": 1.0, "queue_s": 0.5, "process_start_s": 0.2, "run_s": 4.3}
    queued["first_run"] = first
    monkeypatch.setattr(bench, "_queued_nightly", lambda home, work: queued)
    assert bench.run_benchmark(tmp_path, clients=3, progress=lambda _: None) == 0

    assert [kind for kind, _, extra in seen if not extra][:2] == ["run", "baseline"]  # right after the full run
    report = json.loads((tmp_path / "report.json").read_text())
    for months in (24, 12):
        base = report[f"baseline_{months}m"]
        assert base["wall_s"] > 0 and base["peak_rss_mb"] > 0
        assert base["full_over_baseline"] == round(30.0 / base["wall_s"], 2)
        assert base["rows"]["client_segments"] > 0
    text = (tmp_path / "report.md").read_text()
    assert f"| 24 months | 30.0 | {report['baseline_24m']['wall_s']} |" in text
    assert "full ÷ baseline" in text
    assert report["queued_nightly_24m"] == queued and "queue 0.5 s, run process start 0.2 s" in text
    assert "first run, which starts the warm process (imports, definitions), nothing new to do: wall 7.0 s" in text
    assert "wall 30.0 s, peak RSS 100 MB, whole process tree 160 MB (PSS)" in text


def test_the_stage_table_counts_months_run_side_by_side_once():
    """read 10 s + validate 20 s in two workers that overlapped 12 s, in a 25 s run: 18 s of stages, 7 s the rest."""
    from vip_pipeline import bench

    stages = {"read": {"seconds": 10.0, "rows": 100}, "validate": {"seconds": 20.0, "rows": 100},
              "overlap": {"seconds": 12.0, "rows": 0}}
    lines = bench._table("a run", {"wall_s": 25.0, "peak_rss_mb": 50, "stages": stages})
    assert "| *− months side by side (counted in two workers above)* | −12.0 | | |" in lines
    assert lines[-2] == "| *Σ stages / the rest (start-up, Dagster)* | 18.0 / 7.0 | | 28% of the wall |"
    assert not any(line.startswith("| overlap") for line in lines)
