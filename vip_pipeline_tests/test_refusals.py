"""What a refusal leaves published, now that the workers prepare the next months while the run's process writes:
a month whose table breaks its contract is not published (the months before it are), and a decision check that
fails in the last chunk of months rolls back the chunks already written in the run's transaction."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from vip_pipeline import checks
from vip_pipeline.assets import month_shard
from vip_pipeline.runner import PipelineFailed, run_pipeline
from vip_pipeline.storage.warehouse import Warehouse
from vip_pipeline_tests.tiny_bank import write_tiny_bank

MARCH = pd.Timestamp("2024-03-01")


@pytest.fixture(autouse=True)
def in_this_process(monkeypatch):
    """One month worker: the steps run their months here, where the patches below apply (two months in a chunk
    each: the decisions still write chunk by chunk)."""
    monkeypatch.setenv("VIP_MONTH_WORKERS", "1")


def test_a_month_breaking_its_tables_contract_is_not_published_and_the_months_before_it_are(tmp_path, monkeypatch):
    landing = write_tiny_bank(tmp_path / "landing")
    url = f"sqlite:///{tmp_path / 'vip.db'}"
    compute = month_shard.compute_month

    def zero_days_in_march(period, *args):
        metrics = compute(period, *args)
        if period.month == MARCH:
            metrics.account_activity["days_in_period"] = 0  # the contract: 1–31
        return metrics

    monkeypatch.setattr(month_shard, "compute_month", zero_days_in_march)
    with pytest.raises(PipelineFailed) as failed:
        run_pipeline(str(landing), url, str(tmp_path / "staging"), progress=lambda _: None)
    message = str(failed.value)
    assert "monthly_account_activity: publish refused" in message and "days_in_period" in message
    activity = Warehouse(url).read("monthly_account_activity")
    assert set(activity["month"]) == {pd.Timestamp("2024-02-01")}  # February published, March not
    assert not (tmp_path / "staging" / "balance_state" / "2024-03-01.parquet").exists()


def test_a_decision_check_failing_in_the_last_chunk_leaves_every_months_decisions_as_they_were(tmp_path, monkeypatch):
    landing = write_tiny_bank(tmp_path / "landing")
    url, staging = f"sqlite:///{tmp_path / 'vip.db'}", str(tmp_path / "staging")
    run_pipeline(str(landing), url, staging, progress=lambda _: None)
    before = {t: Warehouse(url).read(t) for t in ("client_ltv", "client_segments", "vip_assessment")}
    assert set(before["client_segments"]["as_of_month"]) == {pd.Timestamp("2024-02-01"), MARCH}

    # March's last balance re-sent with another value: both complete months are decided again
    restated = landing / "balances_2024-03-31.csv"
    restated.write_text("account_id,balance_date,balance\nA1,2024-03-31,2500\n")
    os.utime(restated, ns=(restated.stat().st_mtime_ns + 10**9,) * 2)
    one_tier = checks.one_tier_and_category

    def fails_in_march(segments, *args):
        passed, metadata = one_tier(segments, *args)
        return (passed and not (segments["as_of_month"] == MARCH).any()), metadata

    monkeypatch.setattr(checks, "one_tier_and_category", fails_in_march)
    with pytest.raises(PipelineFailed, match=r"decisions 2024-03 not published: failed check\(s\) client_segments"):
        run_pipeline(str(landing), url, staging, progress=lambda _: None)
    for table, rows in before.items():  # February was written first, in the same transaction: rolled back too
        pd.testing.assert_frame_equal(Warehouse(url).read(table), rows)
