"""Landing sensor: new or changed files request a refresh of the months they touch (once per file version)."""

from __future__ import annotations

import hashlib
import json
import os

from dagster import RunRequest, SensorEvaluationContext, SkipReason, sensor

from vip_pipeline.jobs import refresh_month
from vip_pipeline.landing.inventory import Inventory, LandedFile, scan_landing
from vip_pipeline.partitions import first_month, partition_key
from vip_pipeline.resources import DEFAULT_LANDING_DIR


def _signature(f: LandedFile) -> str:
    stat = f.path.stat()
    return f"{stat.st_mtime_ns}:{stat.st_size}"


def touched_months(changed: list[LandedFile], inventory: Inventory):
    """Delta files touch their own month; a new snapshot (clients, accounts) touches the latest month."""
    months = {f.month for f in changed if f.extract in ("transactions", "balances", "client_pnl", "fx_rates")}
    if any(f.extract in ("clients", "accounts") for f in changed) and inventory.months:
        months.add(inventory.months[-1])
    return sorted(m for m in months if m in set(inventory.months) and m >= first_month())


@sensor(
    job=refresh_month,
    minimum_interval_seconds=60,
    description="Watches the landing directory; each new or changed file requests its month's refresh.",
)
def landing_sensor(context: SensorEvaluationContext):
    landing = os.environ.get("VIP_LANDING_DIR", DEFAULT_LANDING_DIR)
    if not os.path.isdir(landing):
        return SkipReason(f"landing directory {landing} does not exist")
    inventory = scan_landing(landing)
    seen = json.loads(context.cursor) if context.cursor else {}
    current = {f.name: _signature(f) for f in inventory.files}
    changed = [f for f in inventory.files if seen.get(f.name) != current[f.name]]
    if not changed:
        return SkipReason(f"no new or changed files in {landing}")
    requests = []
    for month in touched_months(changed, inventory):
        versions = sorted(f"{f.name}@{current[f.name]}" for f in changed)
        digest = hashlib.sha1(json.dumps(versions).encode()).hexdigest()[:16]
        requests.append(
            RunRequest(
                run_key=f"landing-{month:%Y-%m}-{digest}",
                partition_key=partition_key(month),
                tags={"vip_pipeline/files": str(len(changed))},
            )
        )
    context.update_cursor(json.dumps(current, sort_keys=True))
    if not requests:
        return SkipReason(f"{len(changed)} changed file(s) touch no landed month")
    return requests
