"""Nightly refresh of the current month (and, on the first days of a month, the previous one for late data)."""

from __future__ import annotations

import os
from datetime import date

import pandas as pd
from dagster import RunRequest, ScheduleEvaluationContext, SkipReason, schedule

from vip_pipeline.jobs import range_tags, refresh_month, refresh_range
from vip_pipeline.landing.inventory import scan_landing
from vip_pipeline.constants import DEFAULT_LANDING_DIR

NIGHTLY_CRON = os.environ.get("VIP_NIGHTLY_CRON", "0 2 * * *")
NIGHTLY_TIMEZONE = os.environ.get("VIP_NIGHTLY_TIMEZONE", "Europe/Sofia")
LATE_DATA_DAYS = int(os.environ.get("VIP_LATE_DATA_DAYS", "3"))


def months_to_refresh(today: date, landed: list[date], late_data_days: int = LATE_DATA_DAYS) -> list[date]:
    """The current month, plus the previous one during the first `late_data_days` days; only months with data."""
    current = today.replace(day=1)
    wanted = [current]
    if today.day <= late_data_days:
        wanted.insert(0, (pd.Timestamp(current) - pd.DateOffset(months=1)).date())
    return [m for m in wanted if m in set(landed)]


@schedule(
    job=refresh_month,
    cron_schedule=NIGHTLY_CRON,
    execution_timezone=NIGHTLY_TIMEZONE,
    description="Every night: refresh the current month and everything downstream (previous month too "
    "on the first days, for late data).",
)
def nightly_refresh(context: ScheduleEvaluationContext):
    today = context.scheduled_execution_time.date()
    landing = os.environ.get("VIP_LANDING_DIR", DEFAULT_LANDING_DIR)
    inventory = scan_landing(landing)
    months = months_to_refresh(today, inventory.months)
    if not months:
        return SkipReason(f"no extracts landed for {today:%Y-%m} in {landing}")
    start, end = refresh_range(inventory, months)
    return RunRequest(run_key=f"nightly-{today}", tags={**range_tags(start, end), "vip_pipeline/trigger": "schedule"})
