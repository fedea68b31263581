"""Validated extracts: every landed row is accepted (typed, in staging) or rejected (in rejected_rows)."""

from datetime import date

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Failure,
    MetadataValue,
    Output,
    asset,
)

from vip_pipeline.assets.metadata import column_schema
from vip_pipeline.constants import EXTRACTS
from vip_pipeline.contracts.extracts import (
    ACCOUNTS,
    BALANCES,
    CLIENT_PNL,
    CLIENTS,
    FX_RATES,
    TRANSACTIONS,
    ExtractContract,
)
from vip_pipeline.landing.inventory import LandedFile
from vip_pipeline.landing.reader import UnreadableFile
from vip_pipeline.landing.validation import LoadResult, load_snapshot, validate_extract
from vip_pipeline.partitions import monthly_partitions
from vip_pipeline.resources import DATABASE_RETRY, LandingResource, WarehouseResource


def load_checks(name: str) -> list[AssetCheckSpec]:
    """Blocking checks of every extract: nothing downstream runs when one fails."""
    return [
        AssetCheckSpec(
            "rows_reconcile",
            asset=name,
            blocking=True,
            description="Every file: rows read = rows accepted + rows rejected (nothing lost).",
        ),
        AssetCheckSpec(
            "no_refused_file",
            asset=name,
            blocking=True,
            description="No file unparseable, missing columns, or above the rejected-share threshold.",
        ),
    ]


def publish_load(
    context: AssetExecutionContext, warehouse: WarehouseResource, result: LoadResult, files: list[LandedFile]
):
    """Record the load (rejected rows, audit), yield the accepted rows and the checks; stop when a file is refused."""
    now = pd.Timestamp.now(tz="UTC")
    rejected = result.rejected.assign(run_id=context.run_id, rejected_at=now)
    audit = result.audit.assign(run_id=context.run_id, loaded_at=now)
    with warehouse.publishing() as wh:
        wh.replace_files(rejected, audit, [f.name for f in files])
    metadata = {
        "files": MetadataValue.md("\n".join(f"- {f.name}" for f in files) or "_none_"),
        "rows_read": int(audit["rows_read"].sum()),
        "rows_accepted": int(audit["rows_accepted"].sum()),
        "rows_rejected": int(audit["rows_rejected"].sum()),
        "dagster/row_count": len(result.accepted),
    }
    unbalanced = audit[audit["rows_read"] != audit["rows_accepted"] + audit["rows_rejected"]]
    reconcile = AssetCheckResult(
        check_name="rows_reconcile",
        passed=unbalanced.empty,
        severity=AssetCheckSeverity.ERROR,
        metadata={"files": len(audit), "unbalanced_files": MetadataValue.json(unbalanced["source_file"].tolist())},
    )
    refused = AssetCheckResult(
        check_name="no_refused_file",
        passed=result.ok,
        severity=AssetCheckSeverity.ERROR,
        description=" | ".join(result.refused) or None,
        metadata={"refused_files": MetadataValue.json(result.refused), "rows_rejected": metadata["rows_rejected"]},
    )
    if not result.ok:
        yield reconcile
        yield refused
        raise Failure(
            allow_retries=False,
            description=f"{result.extract}: publication stopped, refused file(s): " + " | ".join(result.refused),
            metadata=metadata,
        )
    yield Output(result.accepted, metadata=metadata)
    yield reconcile
    yield refused


def snapshot(contract, files: list[LandedFile], landing: LandingResource, references=None) -> LoadResult:
    try:
        return load_snapshot(contract, files, landing.settings(), references)
    except UnreadableFile as exc:
        raise Failure(allow_retries=False, description=f"{contract.name}: {exc.reason} ({landing.path})") from exc


def extract_asset(contract: ExtractContract, monthly: bool = False):
    """The @asset every validated extract shares: staged as Parquet, blocking load checks, contract columns."""
    return asset(
        name=contract.name,
        group_name=EXTRACTS,
        io_manager_key="staging_io_manager",
        retry_policy=DATABASE_RETRY,
        partitions_def=monthly_partitions if monthly else None,
        metadata=column_schema(contract),
        check_specs=load_checks(contract.name),
        description=contract.description,
    )


def _month(context: AssetExecutionContext) -> date:
    return date.fromisoformat(context.partition_key)


@extract_asset(CLIENTS)
def clients(context: AssetExecutionContext, landing: LandingResource, warehouse: WarehouseResource):
    files = landing.inventory().of("clients")
    result = snapshot(CLIENTS, files, landing)
    yield from publish_load(context, warehouse, result, files)


@extract_asset(ACCOUNTS)
def accounts(
    context: AssetExecutionContext, landing: LandingResource, warehouse: WarehouseResource, clients: pd.DataFrame
):
    files = landing.inventory().of("accounts")
    result = snapshot(ACCOUNTS, files, landing, {"clients": pd.Index(clients["client_id"])})
    yield from publish_load(context, warehouse, result, files)


@extract_asset(FX_RATES)
def fx_rates(context: AssetExecutionContext, landing: LandingResource, warehouse: WarehouseResource):
    files = landing.inventory().of("fx_rates")
    result = validate_extract(FX_RATES, files, landing.settings())
    yield from publish_load(context, warehouse, result, files)


@extract_asset(TRANSACTIONS, monthly=True)
def transactions(
    context: AssetExecutionContext, landing: LandingResource, warehouse: WarehouseResource, accounts: pd.DataFrame
):
    files = landing.inventory().for_month("transactions", _month(context))
    result = validate_extract(
        TRANSACTIONS, files, landing.settings(), {"accounts": pd.Index(accounts["account_id"])}, accounts
    )
    yield from publish_load(context, warehouse, result, files)


@extract_asset(BALANCES, monthly=True)
def balances(
    context: AssetExecutionContext, landing: LandingResource, warehouse: WarehouseResource, accounts: pd.DataFrame
):
    files = landing.inventory().for_month("balances", _month(context))
    result = validate_extract(BALANCES, files, landing.settings(), {"accounts": pd.Index(accounts["account_id"])})
    yield from publish_load(context, warehouse, result, files)


@extract_asset(CLIENT_PNL, monthly=True)
def client_pnl(
    context: AssetExecutionContext, landing: LandingResource, warehouse: WarehouseResource, clients: pd.DataFrame
):
    files = landing.inventory().for_month("client_pnl", _month(context))
    result = validate_extract(CLIENT_PNL, files, landing.settings(), {"clients": pd.Index(clients["client_id"])})
    yield from publish_load(context, warehouse, result, files)
