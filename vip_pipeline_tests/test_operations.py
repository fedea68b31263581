"""Schedule, sensor and the monthly job, evaluated the way the Dagster daemon does."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date, datetime
from zoneinfo import ZoneInfo

from dagster import DagsterInstance, PartitionKeyRange, build_schedule_context, build_sensor_context

from vip_pipeline.definitions import build_resources, defs
from vip_pipeline.schedules import months_to_refresh, nightly_refresh
from vip_pipeline.sensors import landing_sensor
from vip_pipeline.storage.warehouse import Warehouse
from vip_pipeline_tests.tiny_bank import write_tiny_bank

SOFIA = ZoneInfo("Europe/Sofia")


@contextmanager
def ephemeral_instance():
    """An in-memory instance (instance_for_test leaves a global load context pointing at its deleted temp dir)."""
    instance = DagsterInstance.ephemeral()
    try:
        yield instance
    finally:
        instance.dispose()


REPO = defs.get_repository_def()


def test_months_to_refresh_adds_previous_month_on_first_days():
    landed = [date(2024, 2, 1), date(2024, 3, 1)]
    assert months_to_refresh(date(2024, 3, 2), landed, late_data_days=3) == [date(2024, 2, 1), date(2024, 3, 1)]
    assert months_to_refresh(date(2024, 3, 4), landed, late_data_days=3) == [date(2024, 3, 1)]
    assert months_to_refresh(date(2024, 4, 10), landed) == []  # nothing landed for April yet


def test_nightly_schedule_requests_one_run_from_the_month_before(tmp_path, monkeypatch):
    monkeypatch.setenv("VIP_LANDING_DIR", str(write_tiny_bank(tmp_path / "landing")))
    assert nightly_refresh.cron_schedule == "0 2 * * *" and nightly_refresh.execution_timezone == "Europe/Sofia"
    with ephemeral_instance() as instance:
        ctx = build_schedule_context(instance=instance, repository_def=REPO,
                                     scheduled_execution_time=datetime(2024, 3, 2, 2, tzinfo=SOFIA))
        (request,) = nightly_refresh.evaluate_tick(ctx).run_requests
        # the current month, the late-data month, as one run over the range (its months are walked in order)
        assert request.partition_key_range == PartitionKeyRange("2024-02-01", "2024-03-01")
        assert request.tags["vip_pipeline/trigger"] == "schedule" and request.run_key == "nightly-2024-03-02"
        ctx = build_schedule_context(instance=instance, repository_def=REPO,
                                     scheduled_execution_time=datetime(2024, 5, 20, 2, tzinfo=SOFIA))
        result = nightly_refresh.evaluate_tick(ctx)
        assert not result.run_requests and "no extracts landed for 2024-05" in result.skip_message


def test_landing_sensor_requests_one_run_per_file_version_over_the_months_it_invalidates(tmp_path, monkeypatch):
    landing = write_tiny_bank(tmp_path / "landing")
    monkeypatch.setenv("VIP_LANDING_DIR", str(landing))
    with ephemeral_instance() as instance:
        first = landing_sensor.evaluate_tick(build_sensor_context(instance=instance, repository_def=REPO))
        (request,) = first.run_requests
        assert request.partition_key_range == PartitionKeyRange("2024-02-01", "2024-03-01")
        assert request.tags["vip_pipeline/trigger"] == "sensor"
        again = landing_sensor.evaluate_tick(
            build_sensor_context(instance=instance, repository_def=REPO, cursor=first.cursor))
        assert not again.run_requests and "no new or changed files" in again.skip_message
        (landing / "transactions_2024-03-05.csv").write_text(
            "txn_id,account_id,booking_date,amount,direction,txn_type,counterparty_account_id,counterparty_country,purpose\n"
            "t5,A1,2024-03-05,1,D,card,,,\n")
        new = landing_sensor.evaluate_tick(
            build_sensor_context(instance=instance, repository_def=REPO, cursor=first.cursor))
        (late,) = new.run_requests
        # March changed; February is in the range because a new file can complete the month before it
        assert late.partition_key_range == PartitionKeyRange("2024-02-01", "2024-03-01")
        assert late.tags["vip_pipeline/touched_months"] == "2024-03"
        assert late.run_key != request.run_key


def test_refresh_month_job_runs_through_dagster(tmp_path):
    landing = write_tiny_bank(tmp_path / "landing")
    url = f"sqlite:///{tmp_path / 'vip.db'}"
    job = defs.resolve_job_def("refresh_month")
    resources = build_resources(str(landing), url, str(tmp_path / "staging"))
    with ephemeral_instance() as instance:
        for month in ("2024-02-01", "2024-03-01"):
            result = job.execute_in_process(partition_key=month, instance=instance, resources=resources)
            assert result.success
        checks = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
        assert checks and all(c.passed for c in checks)
        assert {c.check_name for c in checks} >= {"rows_reconcile", "no_refused_file", "adb_within_daily_range",
                                                  "ltv_matches_panel", "ltv_carries_forward",
                                                  "one_tier_and_category"}
        # a monthly asset's checks are recorded against the month (the snapshots' are not partitioned)
        monthly = {c.partition for c in checks if c.asset_key.path[0] not in ("clients", "accounts", "fx_rates")}
        assert monthly == {"2024-03-01"}
    assert Warehouse(url).count("client_segments") == 4


def test_month_without_landed_data_is_refused(tmp_path):
    landing = write_tiny_bank(tmp_path / "landing")
    job = defs.resolve_job_def("refresh_month")
    resources = build_resources(str(landing), f"sqlite:///{tmp_path / 'vip.db'}", str(tmp_path / "staging"))
    result = job.execute_in_process(partition_key="2024-05-01", instance=DagsterInstance.ephemeral(),
                                    resources=resources, raise_on_error=False)
    assert not result.success
    failures = [e.step_failure_data.error.message for e in result.all_events if e.is_step_failure]
    assert any("no transactions or balances landed for 2024-05" in m for m in failures)
