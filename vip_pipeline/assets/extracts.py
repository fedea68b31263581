"""Validated extracts: every landed row is accepted (typed, in staging) or rejected (in rejected_rows)."""

from datetime import date

import pandas as pd
from dagster import AssetExecutionContext, Failure, MetadataValue, Output, asset

from vip_pipeline.assets.metadata import column_schema
from vip_pipeline.constants import EXTRACTS
from vip_pipeline.contracts.extracts import (
    ACCOUNTS, BALANCES, CLIENT_PNL, CLIENTS, FX_RATES, TRANSACTIONS,
)
from vip_pipeline.landing.inventory import LandedFile
from vip_pipeline.landing.validation import LoadResult, load_snapshot, validate_extract
from vip_pipeline.partitions import monthly_partitions
from vip_pipeline.resources import LandingResource, WarehouseResource

def record_load(context: AssetExecutionContext, warehouse: WarehouseResource, result: LoadResult,
                files: list[LandedFile]) -> dict:
    """Write the load's rejected rows and audit; stop publication (Failure) when a file is refused."""
    now = pd.Timestamp.now(tz="UTC")
    rejected = result.rejected.assign(run_id=context.run_id, rejected_at=now)
    audit = result.audit.assign(run_id=context.run_id, loaded_at=now)
    warehouse.warehouse.replace_files(rejected, audit, [f.name for f in files])
    metadata = {
        "files": MetadataValue.md("\n".join(f"- {f.name}" for f in files) or "_none_"),
        "rows_read": int(audit["rows_read"].sum()),
        "rows_accepted": int(audit["rows_accepted"].sum()),
        "rows_rejected": int(audit["rows_rejected"].sum()),
        "dagster/row_count": len(result.accepted),
    }
    if not result.ok:
        raise Failure(
            description=f"{result.extract}: publication stopped, refused file(s): " + " | ".join(result.refused),
            metadata=metadata,
        )
    return metadata

def _month(context: AssetExecutionContext) -> date:
    return date.fromisoformat(context.partition_key)

@asset(group_name=EXTRACTS, io_manager_key="staging_io_manager", metadata=column_schema(CLIENTS),
       description=CLIENTS.description)
def clients(context: AssetExecutionContext, landing: LandingResource, warehouse: WarehouseResource) -> Output:
    files = landing.inventory().of("clients")
    result = load_snapshot(CLIENTS, files, landing.settings())
    return Output(result.accepted, metadata=record_load(context, warehouse, result, files))

@asset(group_name=EXTRACTS, io_manager_key="staging_io_manager", metadata=column_schema(ACCOUNTS),
       description=ACCOUNTS.description)
def accounts(context: AssetExecutionContext, landing: LandingResource, warehouse: WarehouseResource,
             clients: pd.DataFrame) -> Output:
    files = landing.inventory().of("accounts")
    result = load_snapshot(ACCOUNTS, files, landing.settings(), {"clients": pd.Index(clients["client_id"])})
    return Output(result.accepted, metadata=record_load(context, warehouse, result, files))

@asset(group_name=EXTRACTS, io_manager_key="staging_io_manager", metadata=column_schema(FX_RATES),
       description=FX_RATES.description)
def fx_rates(context: AssetExecutionContext, landing: LandingResource, warehouse: WarehouseResource) -> Output:
    files = landing.inventory().of("fx_rates")
    result = validate_extract(FX_RATES, files, landing.settings())
    return Output(result.accepted, metadata=record_load(context, warehouse, result, files))

@asset(group_name=EXTRACTS, io_manager_key="staging_io_manager", partitions_def=monthly_partitions,
       metadata=column_schema(TRANSACTIONS), description=TRANSACTIONS.description)
def transactions(context: AssetExecutionContext, landing: LandingResource, warehouse: WarehouseResource,
                 accounts: pd.DataFrame) -> Output:
    files = landing.inventory().for_month("transactions", _month(context))
    result = validate_extract(TRANSACTIONS, files, landing.settings(),
                              {"accounts": pd.Index(accounts["account_id"])}, accounts)
    return Output(result.accepted, metadata=record_load(context, warehouse, result, files))

@asset(group_name=EXTRACTS, io_manager_key="staging_io_manager", partitions_def=monthly_partitions,
       metadata=column_schema(BALANCES), description=BALANCES.description)
def balances(context: AssetExecutionContext, landing: LandingResource, warehouse: WarehouseResource,
             accounts: pd.DataFrame) -> Output:
    files = landing.inventory().for_month("balances", _month(context))
    result = validate_extract(BALANCES, files, landing.settings(), {"accounts": pd.Index(accounts["account_id"])})
    return Output(result.accepted, metadata=record_load(context, warehouse, result, files))

@asset(group_name=EXTRACTS, io_manager_key="staging_io_manager", partitions_def=monthly_partitions,
       metadata=column_schema(CLIENT_PNL), description=CLIENT_PNL.description)
def client_pnl(context: AssetExecutionContext, landing: LandingResource, warehouse: WarehouseResource,
               clients: pd.DataFrame) -> Output:
    files = landing.inventory().for_month("client_pnl", _month(context))
    result = validate_extract(CLIENT_PNL, files, landing.settings(), {"clients": pd.Index(clients["client_id"])})
    return Output(result.accepted, metadata=record_load(context, warehouse, result, files))
