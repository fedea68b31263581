"""Metadata the Dagster UI shows: column schemas from the contracts, counts, previews."""

import warnings
from collections.abc import Callable, Iterator

import pandas as pd

from dagster import (
    AssetCheckEvaluation,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    AssetRecordsFilter,
    AssetSpec,
    BetaWarning,
    DagsterType,
    Failure,
    MetadataValue,
    Output,
    PartitionsDefinition,
    TableColumn,
    TableColumnDep,
    TableColumnLineage,
    TableSchema,
)
from dagster._core.definitions.asset_checks.asset_check_evaluation import (  # the target of an evaluation
    AssetCheckEvaluationTargetMaterializationData,
)
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
    derived = pandera_type(contract).metadata["schema"].schema
    kinds = {c.name: _kind(contract, c.kind) for c in contract.columns}
    columns = [  # the contract's kind (date, float, str…) rather than the pandas dtype (datetime64[ns], object…)
        TableColumn(
            c.name, kinds.get(c.name, c.type), description=c.description, constraints=c.constraints, tags=c.tags
        )
        for c in derived.columns
    ]
    return {"dagster/column_schema": TableSchema(columns=columns, constraints=derived.constraints)}


def _kind(contract: ExtractContract | TableContract, kind: str) -> str:
    return EXTRACT_TYPES.get(kind, "string") if isinstance(contract, ExtractContract) else kind


EXTRACT_TYPES = {"date": "date", "month": "date", "number": "float", "bool": "bool"}
OWNERS = ["team:bank-analytics"]
CLIENT_NAMES = {"client_segments", "clients"}  # tables that show client names: personal data for individuals


def catalog(layer: str, name: str) -> dict:
    """What the catalog shows of an asset besides its schema: owners and tags (domain, layer, pii)."""
    tags = {"domain": "corporate_clients", "layer": layer}
    if name in CLIENT_NAMES:
        tags["pii"] = "client_name"
    return {"owners": OWNERS, "tags": tags}


def table_spec(contract: TableContract, group: str, deps: list, lineage: dict | None = None, **extra) -> AssetSpec:
    """The spec of an asset that publishes a table: its contract's name, description, column schema, the SQL
    table BI reads (`dagster/table_name`) and, where given, which upstream columns a column derives from."""
    metadata = {**column_schema(contract), "dagster/table_name": contract.name}
    if lineage:
        metadata["dagster/column_lineage"] = column_lineage(lineage)
    return AssetSpec(
        contract.name,
        description=contract.description,
        deps=deps,
        metadata=metadata,
        group_name=group,
        kinds={"pandas", "sql"},
        **catalog(group, contract.name),
        **extra,
    )


def column_lineage(lineage: dict[str, list[tuple[str, str]]]) -> TableColumnLineage:
    """{column: [(upstream asset, upstream column), …]} as Dagster column lineage."""
    return TableColumnLineage(
        deps_by_column={
            column: [TableColumnDep(asset_key=AssetKey(asset), column_name=upstream) for asset, upstream in deps]
            for column, deps in lineage.items()
        }
    )


def per_month(context, asset: str, key: str, metadata: dict) -> None:
    """Metadata of one month of a range run: each partition's materialisation records its own figures."""
    context.add_asset_metadata(metadata, asset_key=asset, partition_key=key)


def preview(frame: pd.DataFrame, rows: int = 10) -> MetadataValue:
    """The first rows as a Markdown table, amounts as money (1,866,190.00, not 1.86619e+06)."""
    if not len(frame):
        return MetadataValue.md("_no rows_")
    shown = frame.head(rows).copy()
    for column in shown.columns[shown.dtypes == "float64"]:
        shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:,.2f}")
    return MetadataValue.md(shown.to_markdown(index=False, disable_numparse=True))


def blocking_check(
    check: Callable, asset: str, description: str, partitions_def: PartitionsDefinition | None = None
) -> AssetCheckSpec:
    """A blocking check's spec, named after the function in `vip_pipeline/checks.py` that evaluates it: the UI,
    the code and the docs use one name. A monthly asset's checks are partitioned like it: each month of a range
    run records its own result."""
    return AssetCheckSpec(
        check.__name__, asset=asset, blocking=True, description=description, partitions_def=partitions_def
    )


def evaluate(asset: str, check: Callable, *args) -> tuple[str, str, tuple[bool, dict]]:
    """Evaluate a check on what is about to be published."""
    return asset, check.__name__, check(*args)


def verdict(evaluations: list[tuple[str, str, tuple[bool, dict]]], what: str):
    """The check results, and the failure that stops publication when one failed (None when all passed).
    Every publishing asset yields the results, then raises the failure or publishes."""
    results = check_results(evaluations)
    failed = failed_checks(results)
    failure = Failure(allow_retries=False, description=f"{what} not published: failed check(s) {failed}")
    return results, (failure if failed else None)


def check_results(evaluations: list[tuple[str, str, tuple[bool, dict]]]) -> list[AssetCheckResult]:
    """(asset, check name, (passed, metadata)) → Dagster check results."""
    return [
        AssetCheckResult(
            asset_key=asset, check_name=name, passed=bool(passed), metadata=meta, severity=AssetCheckSeverity.ERROR
        )
        for asset, name, (passed, meta) in evaluations
    ]


Evaluation = tuple[str, str, tuple[bool, dict]]
UNCHANGED = {"status": "unchanged since its last run: the rows these checks passed then are kept"}


def carried(specs: list[AssetCheckSpec]) -> list[Evaluation]:
    """A month skipped as unchanged keeps the rows that passed its checks when published (a month's fingerprint
    is stored only after its checks passed and it was published), so its checks pass again, saying why."""
    return [(spec.asset_key.to_user_string(), spec.name, (True, UNCHANGED)) for spec in specs]


def monthly_check_results(context, evaluations: list[tuple[str, Evaluation]]) -> Iterator:
    """After the run's materialisations: each month's check evaluations, recorded against its partition and the
    materialisation it checked (so the UI shows it as that month's current result), then the checks' step
    outputs, which let the blocked assets downstream run."""
    targets = _run_materializations(context, {(asset, key) for key, (asset, _, _) in evaluations})
    for key, (asset, name, (passed, meta)) in evaluations:
        yield AssetCheckEvaluation(
            asset_key=AssetKey(asset),
            check_name=name,
            passed=bool(passed),
            metadata=meta,
            severity=AssetCheckSeverity.ERROR,
            blocking=True,
            partition=key,
            target_materialization_data=targets.get((asset, key)),
        )
    selected = context.selected_asset_check_keys
    for output_name, spec in context.assets_def.check_specs_by_output_name.items():
        if spec.key in selected:
            yield Output(None, output_name=output_name)


def _run_materializations(context, wanted: set[tuple[str, str]]) -> dict:
    """(asset, partition) → this run's materialisation of it, as a check's target."""
    targets = {}
    for asset in {a for a, _ in wanted}:
        keys = sorted(k for a, k in wanted if a == asset)
        found = context.instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=keys), limit=len(keys)
        ).records
        for record in found:
            if record.run_id == context.run_id:
                targets.setdefault(
                    (asset, record.partition_key),
                    AssetCheckEvaluationTargetMaterializationData(
                        storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
                    ),
                )
    return targets


def failed_checks(results: list[AssetCheckResult]) -> str:
    """'asset.check, …' for the failed results (empty when all passed)."""
    return ", ".join(f"{r.asset_key.to_user_string()}.{r.check_name}" for r in results if not r.passed)
