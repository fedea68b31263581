"""Metadata the Dagster UI shows: column schemas from the contracts, counts, previews."""

import pandas as pd
from dagster import MetadataValue, TableColumn, TableSchema

from vip_pipeline.contracts.extracts import ExtractContract
from vip_pipeline.contracts.tables import TableContract

EXTRACT_TYPES = {"date": "date", "month": "date", "number": "float", "bool": "bool"}

def column_schema(contract: ExtractContract | TableContract) -> dict:
    """`dagster/column_schema` metadata for an asset, from its contract."""
    if isinstance(contract, ExtractContract):
        columns = [TableColumn(c.name, EXTRACT_TYPES.get(c.kind, "string"), description=c.description)
                   for c in contract.columns]
    else:
        columns = [TableColumn(c.name, c.kind, description=c.description) for c in contract.columns]
    return {"dagster/column_schema": TableSchema(columns=columns)}

def preview(frame: pd.DataFrame, rows: int = 10) -> MetadataValue:
    return MetadataValue.md(frame.head(rows).to_markdown(index=False) if len(frame) else "_no rows_")
