"""Metadata the Dagster UI shows: column schemas from the contracts, counts, previews."""

import warnings

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, AssetSpec, BetaWarning, DagsterType, MetadataValue
from dagster_pandera import pandera_schema_to_dagster_type

from vip_pipeline.contracts.extracts import ExtractContract
from vip_pipeline.contracts.tables import TableContract

def pandera_type(contract: ExtractContract | TableContract) -> DagsterType:
    """The Dagster type of a contract's pandera schema (dagster-pandera): its type check validates the frame
    lazily, and the UI shows the schema with its named checks."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)
        return pandera_schema_to_dagster_type(contract.pandera_schema())


def column_schema(contract: ExtractContract | TableContract) -> dict:
    """`dagster/column_schema` metadata for an asset, from its contract's pandera schema (the table schema
    dagster-pandera derives from it: types, nullability, uniqueness, named checks), for assets whose output
    is not the frame itself (the warehouse writes it) or to show beside the pandera Dagster type."""
    table_schema = pandera_type(contract).metadata["schema"]
    return {"dagster/column_schema": table_schema.schema}


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
