"""The Dagster code location: assets (with their checks), the monthly job, the nightly schedule, the landing sensor."""

from __future__ import annotations

from dagster import Definitions, load_assets_from_modules

from vip_pipeline.assets import decisions, extracts, monthly
from vip_pipeline.jobs import refresh_month
from vip_pipeline.resources import (
    DecisionRulesResource,
    LandingResource,
    MetricRulesResource,
    StagingResource,
    WarehouseResource,
)
from vip_pipeline.schedules import nightly_refresh
from vip_pipeline.sensors import landing_sensor
from vip_pipeline.storage.staging import StagingIOManager

all_assets = load_assets_from_modules([extracts, monthly, decisions])


def build_resources(
    landing_dir: str | None = None, database_url: str | None = None, staging_dir: str | None = None
) -> dict:
    """Resources with explicit locations (CLI, tests) or, when None, the environment's defaults at run time."""
    staging = StagingResource(base_dir=staging_dir)
    return {
        "landing": LandingResource(landing_dir=landing_dir),
        "warehouse": WarehouseResource(database_url=database_url),
        "staging": staging,
        "staging_io_manager": StagingIOManager(base_dir=staging.store.base.as_posix()),
        "metric_rules": MetricRulesResource(),
        "decision_rules": DecisionRulesResource(),
    }


defs = Definitions(
    assets=all_assets,
    jobs=[refresh_month],
    schedules=[nightly_refresh],
    sensors=[landing_sensor],
    resources=build_resources(),
)
