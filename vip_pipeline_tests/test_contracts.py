"""The contracts: docs in sync, SQL DDL typed with keys and indexes, pandera schemas usable."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from vip_pipeline.contracts.extracts import EXTRACTS
from vip_pipeline.contracts.render import render
from vip_pipeline.contracts.tables import TABLES
from vip_pipeline.landing.validation import empty_accepted
from vip_pipeline.storage.warehouse import Warehouse

ROOT = Path(__file__).resolve().parents[1]


def test_data_contract_doc_is_generated_from_the_code():
    assert (ROOT / "docs" / "data-contract.md").read_text() == render(), \
        "regenerate: python -m vip_pipeline.contracts.render > docs/data-contract.md"


def test_every_column_is_described():
    for contract in [*EXTRACTS.values(), *TABLES.values()]:
        for column in contract.columns:
            assert column.description.strip(), f"{contract.name}.{column.name}"


def test_published_tables_have_typed_columns_keys_and_indexes(database_url):
    wh = Warehouse(database_url)
    wh.ensure_schema()
    wh.ensure_schema()  # idempotent
    inspector = sa.inspect(wh.engine)
    for name, contract in TABLES.items():
        columns = {c["name"]: c for c in inspector.get_columns(name)}
        assert list(columns) == contract.column_names
        assert inspector.get_pk_constraint(name)["constrained_columns"] == list(contract.primary_key)
        indexed = {tuple(i["column_names"]) for i in inspector.get_indexes(name)}
        assert set(contract.indexes) <= indexed, name
        for c in contract.columns:
            assert columns[c.name]["nullable"] == c.nullable, f"{name}.{c.name}"
    assert {"client_segments_current", "vip_prospects"} <= set(inspector.get_view_names())


def test_pandera_schemas_accept_empty_typed_frames():
    for contract in EXTRACTS.values():
        contract.pandera_schema().validate(empty_accepted(contract))
