"""Landing sensor: new or changed files request one run that refreshes every month they invalidate."""

from __future__ import annotations

import hashlib
import json
import os

from dagster import RunRequest, SensorEvaluationContext, SkipReason, sensor

from vip_pipeline.jobs import range_tags, refresh_month, refresh_range
from vip_pipeline.landing.inventory import Inventory, LandedFile, scan_landing
from vip_pipeline.partitions import first_month
from vip_pipeline.constants import DEFAULT_LANDING_DIR

SNAPSHOTS = ("clients", "accounts")


def touched_months(changed: list[LandedFile], inventory: Inventory):
    """Months whose own files changed (deltas and FX rates); a new snapshot touches the latest month."""
    months = {f.month for f in changed if f.extract not in SNAPSHOTS}
    if any(f.extract in SNAPSHOTS for f in changed) and inventory.months:
        months.add(inventory.months[-1])
    landed = set(inventory.months)
    return sorted(m for m in months if m in landed and m >= first_month())


@sensor(
    job=refresh_month,
    minimum_interval_seconds=60,
    description="Watches the landing directory; new or changed files request one run over every month they "
    "invalidate: from the first touched month (or the month before it) to the latest.",
)
def landing_sensor(context: SensorEvaluationContext):
    landing = os.environ.get("VIP_LANDING_DIR", DEFAULT_LANDING_DIR)
    if not os.path.isdir(landing):
        return SkipReason(f"landing directory {landing} does not exist")
    inventory = scan_landing(landing)
    seen = json.loads(context.cursor) if context.cursor else {}
    current = {f.name: f.signature() for f in inventory.files}
    changed = [f for f in inventory.files if seen.get(f.name) != current[f.name]]
    if not changed:
        return SkipReason(f"no new or changed files in {landing}")
    context.update_cursor(json.dumps(current, sort_keys=True))
    touched = touched_months(changed, inventory)
    if not touched:
        return SkipReason(f"{len(changed)} changed file(s) touch no landed month")
    start, end = refresh_range(inventory, touched, any(f.extract in SNAPSHOTS for f in changed))
    versions = sorted(current[f.name] for f in changed)
    digest = hashlib.sha1(json.dumps(versions).encode()).hexdigest()[:16]
    return RunRequest(
        run_key=f"landing-{digest}",
        tags={
            **range_tags(start, end),
            "vip_pipeline/trigger": "sensor",
            "vip_pipeline/files": str(len(changed)),
            "vip_pipeline/touched_months": ",".join(f"{m:%Y-%m}" for m in touched),
        },
    )
