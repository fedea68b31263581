"""Monthly partitions, defined once for assets, schedules and sensors.

The first month is VIP_FIRST_MONTH (default 2015-01-01, read when definitions load: Dagster needs
it to draw the partitions); landed files before it are refused by name, never silently ignored.
The current month is a partition too (month-to-date).
"""

from __future__ import annotations

import os
from datetime import date

from dagster import MonthlyPartitionsDefinition, TimeWindowPartitionMapping

FIRST_MONTH = os.environ.get("VIP_FIRST_MONTH", "2015-01-01")

monthly_partitions = MonthlyPartitionsDefinition(start_date=FIRST_MONTH, end_offset=1)
previous_month = TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)
this_and_previous_month = TimeWindowPartitionMapping(start_offset=-1, end_offset=0)
# A decision as of M reads the client panel of M and of the 24 months before it: 12 + 12 for the growth
# criterion's two windows, plus one for the previous complete month that previous_category compares with.
DECISION_WINDOW_MONTHS = 24
decision_window = TimeWindowPartitionMapping(start_offset=-DECISION_WINDOW_MONTHS, end_offset=0)


def partition_key(month: date) -> str:
    return month.strftime("%Y-%m-01")


def first_month() -> date:
    return date.fromisoformat(FIRST_MONTH).replace(day=1)
