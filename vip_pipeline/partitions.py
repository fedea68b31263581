"""Monthly partitions, defined once for assets, schedules and sensors.

The first month is read when definitions load (Dagster needs it to draw the partitions): VIP_FIRST_MONTH
when set (production sets it once, to the first month of the history it keeps), else the first month that
has data in the landing directory (so a sample load or a new installation shows every partition filled),
else 2015-01. Landed files before it are refused by name, never silently ignored. The current month is a
partition too (month-to-date). After older history lands, reload the code location.
"""

from __future__ import annotations

import os
from datetime import date

from dagster import MonthlyPartitionsDefinition, TimeWindowPartitionMapping

from vip_pipeline.constants import DEFAULT_LANDING_DIR
from vip_pipeline.landing.inventory import scan_landing


def _first_month() -> str:
    configured = os.environ.get("VIP_FIRST_MONTH")
    if configured:
        return configured
    landing = os.environ.get("VIP_LANDING_DIR", DEFAULT_LANDING_DIR)
    landed = scan_landing(landing).months if os.path.isdir(landing) else []
    return partition_key(landed[0]) if landed else "2015-01-01"


def partition_key(month: date) -> str:
    return month.strftime("%Y-%m-01")


FIRST_MONTH = _first_month()

monthly_partitions = MonthlyPartitionsDefinition(start_date=FIRST_MONTH, end_offset=1)
previous_month = TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)
this_and_previous_month = TimeWindowPartitionMapping(start_offset=-1, end_offset=0)
# A decision as of M reads the client panel of M and of the 25 months before it: 12 + 12 for the growth
# criterion's two windows, the running sums at the month before them, and one more for the previous complete
# month that previous_category compares with.
DECISION_WINDOW_MONTHS = 25
decision_window = TimeWindowPartitionMapping(start_offset=-DECISION_WINDOW_MONTHS, end_offset=0)


def first_month() -> date:
    return date.fromisoformat(FIRST_MONTH).replace(day=1)
