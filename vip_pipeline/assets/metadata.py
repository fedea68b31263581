"""Metadata the Dagster UI shows: column schemas from the contracts, counts, previews."""

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, AssetSpec, MetadataValue, TableColumn, TableSchema

from vip_pipeline.contracts.extracts import ExtractContract
from vip_pipeline.contracts.tables import TableContract

EXTRACT_TYPES = {"date": "date", "month": "date", "number": "float", "bool": "bool"}


def column_schema(contract: ExtractContract | TableContract) -> dict:
    """`dagster/column_schema` metadata for an asset, from its contract."""
    if isinstance(contract, ExtractContract):
        columns = [
            TableColumn(c.name, EXTRACT_TYPES.get(c.kind, "string"), description=c.description)
            for c in contract.columns
        ]
    else:
        columns = [TableColumn(c.name, c.kind, description=c.description) for c in contract.columns]
    return {"dagster/column_schema": TableSchema(columns=columns)}


def table_spec(contract: TableContract, group: str, deps: list, **extra) -> AssetSpec:
    """The spec of an asset that publishes a table: its contract's name, description and column schema."""
    return AssetSpec(
        contract.name,
        description=contract.description,
        deps=deps,
        metadata=column_schema(contract),
        group_name=group,
        **extra,
    )


def preview(frame: pd.DataFrame, rows: int = 10) -> MetadataValue:
    return MetadataValue.md(frame.head(rows).to_markdown(index=False) if len(frame) else "_no rows_")


def check_results(evaluations: list[tuple[str, str, tuple[bool, dict]]]) -> list[AssetCheckResult]:
    """(asset, check name, (passed, metadata)) → Dagster check results."""
    return [
        AssetCheckResult(
            asset_key=asset, check_name=name, passed=bool(passed), metadata=meta, severity=AssetCheckSeverity.ERROR
        )
        for asset, name, (passed, meta) in evaluations
    ]


def failed_checks(results: list[AssetCheckResult]) -> str:
    """'asset.check, …' for the failed results (empty when all passed)."""
    return ", ".join(f"{r.asset_key.to_user_string()}.{r.check_name}" for r in results if not r.passed)
