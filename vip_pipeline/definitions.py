"""The Dagster code location: assets (with their checks), the monthly job, the nightly schedule, the landing sensor."""

from __future__ import annotations

from dagster import Definitions, load_assets_from_modules

from vip_pipeline.assets import decisions, extract_shards, extracts, monthly
from vip_pipeline.assets.extract_shards import sharded_extract
from vip_pipeline.assets.monthly import monthly_metrics_asset
from vip_pipeline.contracts.extracts import BALANCES, TRANSACTIONS
from vip_pipeline.jobs import refresh_job, refresh_month
from vip_pipeline.resources import (
    DecisionRulesResource,
    LandingResource,
    MetricRulesResource,
    StagingResource,
    WarehouseResource,
)
from vip_pipeline.schedules import nightly_refresh
from vip_pipeline.sharding import shard_count
from vip_pipeline.sensors import landing_sensor
from vip_pipeline.storage.staging import StagingIOManager

all_assets = load_assets_from_modules([extracts, extract_shards, monthly, decisions])  # with $VIP_SHARDS client shards
LOADED_SHARDS = shard_count()
SHARDED = {  # the assets whose steps depend on N, by their keys
    frozenset(monthly.monthly_metrics.keys): monthly_metrics_asset,
    frozenset(extract_shards.transactions.keys): lambda n: sharded_extract(TRANSACTIONS, n),
    frozenset(extract_shards.balances.keys): lambda n: sharded_extract(BALANCES, n),
}


def build_assets(shards: int | None = None) -> list:
    """The assets with `shards` client shards in the monthly metrics (None: $VIP_SHARDS, as loaded)."""
    if shards is None or shards == LOADED_SHARDS:
        return all_assets
    return [SHARDED[frozenset(a.keys)](shards) if frozenset(a.keys) in SHARDED else a for a in all_assets]


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


def build_refresh_job(
    landing_dir: str,
    database_url: str,
    staging_dir: str,
    shards: int,
    executor: str = "in_process",
    scheduler: str | None = None,
):
    """The `refresh_month` job with explicit locations, shards and executor. A reconstructable job is rebuilt
    from these arguments in every worker process (`runner.refresh`), so a worker needs no environment of
    its own beyond VIP_FIRST_MONTH."""
    return Definitions(
        assets=build_assets(shards),
        jobs=[refresh_job(executor, scheduler)],
        resources=build_resources(landing_dir, database_url, staging_dir),
    ).get_job_def("refresh_month")
