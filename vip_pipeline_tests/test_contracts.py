"""The contracts: docs in sync, SQL DDL typed with keys and indexes, pandera schemas usable."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
import sqlalchemy as sa

from vip_pipeline.contracts.extracts import CLIENTS, EXTRACTS, TEXT, _parse_number
from vip_pipeline.contracts.render import render
from vip_pipeline.contracts.tables import TABLES
from vip_pipeline.landing.validation import empty_accepted
from vip_pipeline.storage.warehouse import PublishRefused, Warehouse, WarehouseRejected

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


def _typed_clients(**changes) -> pd.DataFrame:
    """Two accepted clients as the loader types them (optional values missing), with `changes` applied."""
    frame = pd.DataFrame({
        "client_id": ["c1", "c2"], "name": ["One", "Two"], "client_type": ["corporate", "sme"],
        "related_party": ["none", "shareholder"], "industry": [None, "steel"], "region": [None, None],
        "onboarded_on": pd.to_datetime(["2020-01-01", "2021-06-01"]), "offboarded_on": pd.to_datetime([None, None]),
        "annual_sales_usd": [np.nan, 6e6], "monopoly_position": [False, True], "strategic": [True, False],
        "service_model": ["standard", "vip"], "group_id": [None, "G1"], "source_file": "clients_2024-03-31.csv",
    })
    return frame.assign(**changes)


def test_typed_extract_schema_checks_types_nulls_and_the_key():
    """The schema of accepted rows (the snapshot assets' Dagster type): typed columns, required columns and
    optional ones with a default (related_party → none) non-null, the key unique; optional values may be
    missing. Its columns carry the contract's descriptions and names."""
    schema = CLIENTS.pandera_schema()
    assert (schema.name, schema.description) == ("clients", CLIENTS.description)
    for column in CLIENTS.columns:
        assert (schema.columns[column.name].title, schema.columns[column.name].description) == (
            column.name, column.description)
    schema.validate(_typed_clients())  # optional industry, region, offboarded_on, sales, group_id missing: valid
    broken = {
        "duplicate key": _typed_clients(client_id=["c1", "c1"]),
        "missing required value": _typed_clients(client_id=["c1", None]),
        "missing defaulted enum": _typed_clients(related_party=["none", None]),
        "untyped text": _typed_clients(client_id=[1, 2]),
        "untyped date": _typed_clients(onboarded_on=["2020-01-01", "2021-06-01"]),
    }
    for what, frame in broken.items():
        with pytest.raises(pa.errors.SchemaError):
            schema.validate(frame)
            pytest.fail(what)


# ----------------------------------------------------------------------------------------------
# the pandera schemas are the rules: the document lists exactly their checks
# ----------------------------------------------------------------------------------------------

def _documented_rules(section: str) -> set[str]:
    """Rule names in a document section: backticked `kind:column` names and `x_before_y` / `unknown_x` names."""
    return set(re.findall(r"`([a-z_]+:[a-z_]+|[a-z_]+_before_[a-z_]+|unknown_[a-z_]+)`", section))


def _section(doc: str, name: str) -> str:
    start = doc.index(f"### {name}")
    end = doc.find("\n### ", start + 1)
    return doc[start:] if end < 0 else doc[start:end]


def test_every_schema_rule_is_documented_and_every_documented_rule_is_in_the_schema():
    doc = (ROOT / "docs" / "data-contract.md").read_text()
    for contract in EXTRACTS.values():
        in_schema = {check.error for check in contract.schema_rules()}
        assert in_schema == set(contract.rule_names()), contract.name  # the order rejected rows list them in
        assert _documented_rules(_section(doc, contract.name)) == in_schema, contract.name
    for table in TABLES.values():
        schema = table.pandera_schema()
        in_schema = {check.error for column in schema.columns.values() for check in column.checks}
        assert _documented_rules(_section(doc, table.name)) == in_schema, table.name


def test_the_ranges_and_enums_of_the_published_tables_are_in_their_schemas():
    rules = {check.error for t in TABLES.values() for c in t.pandera_schema().columns.values() for check in c.checks}
    assert {
        "not_allowed:ltv_tier", "not_allowed:category", "not_allowed:recommended_action", "not_allowed:dimension",
        "below_minimum:criteria_met", "above_maximum:criteria_met", "below_minimum:days_in_period",
        "above_maximum:days_in_period", "not_finite:adb",
    } <= rules


# ----------------------------------------------------------------------------------------------
# publishing: a frame that breaks its table's schema is refused and nothing is written
# ----------------------------------------------------------------------------------------------

MONTH = pd.Timestamp("2024-03-01")


def _segments(n: int = 3) -> pd.DataFrame:
    return pd.DataFrame({
        "client_id": [f"c{i}" for i in range(n)], "as_of_month": MONTH, "name": "n", "client_type": "corporate",
        "related_party": "none", "category": "corporate", "ltv_tier": "workhorse", "ltv_usd": 1.0,
        "ltv_rank": range(1, n + 1), "criteria_met": 2, "vip_eligible": False, "previous_category": None,
        "previous_ltv_tier": None, "service_model": "standard", "recommended_action": None, "group_id": None,
        "group_vip_eligible": False,
    })


def _activity() -> pd.DataFrame:
    columns = TABLES["monthly_account_activity"].columns
    row = {c.name: (0.0 if c.kind == "float" else 0 if c.kind == "int" else True if c.kind == "bool" else "x")
           for c in columns}
    row.update(month=MONTH, period_end=pd.Timestamp("2024-03-31"), days_in_period=31, txn_count=1)
    return pd.DataFrame([{**row, "account_id": f"a{i}"} for i in range(3)])


@pytest.mark.parametrize("table, frame, broken, column", [
    ("client_segments", _segments, lambda f: pd.concat([f, f.iloc[[0]]]), "client_id"),  # a duplicate key
    ("client_segments", _segments, lambda f: f.assign(ltv_tier=["workhorse", "platinum", "ballast"]), "ltv_tier"),
    ("client_segments", _segments, lambda f: f.assign(criteria_met=[0, 6, 5]), "criteria_met"),
    ("client_segments", _segments, lambda f: f.assign(recommended_action=["approach", "call", None]),
     "recommended_action"),
    ("monthly_account_activity", _activity, lambda f: f.assign(adb=[1.0, np.nan, 2.0]), "adb"),  # a NaN ADB
    ("monthly_account_activity", _activity, lambda f: f.assign(days_in_period=[31, 0, 30]), "days_in_period"),
])
def test_a_frame_breaking_its_table_schema_is_refused_and_the_table_is_unchanged(
    database_url, table, frame, broken, column
):
    wh = Warehouse(database_url)
    wh.ensure_schema()
    good = frame()
    wh.replace_partitions({table: good}, MONTH)
    before = wh.read(table)
    assert len(before) == len(good)
    with pytest.raises(PublishRefused) as refused:
        wh.replace_partitions({"client_segments": _segments(5), table: broken(frame())}, MONTH)
    assert isinstance(refused.value, WarehouseRejected)  # the asset fails without retries
    assert refused.value.table == table and column in refused.value.columns and refused.value.count >= 1
    assert table in str(refused.value) and column in str(refused.value)
    carried = pickle.loads(pickle.dumps(refused.value))  # as a month worker hands it back to the step
    assert type(carried) is PublishRefused and str(carried) == str(refused.value) and carried.table == table
    pd.testing.assert_frame_equal(wh.read(table), before)  # nothing written, not even the valid frame
    assert wh.count("client_segments") == (len(good) if table == "client_segments" else 0)


NUMBERS = [  # (delivered text, value): plain decimals (Arrow's cast), then what only pandas parses or refuses
    ("1.5", 1.5),
    ("-2", -2.0),
    ("1e3", 1000.0),
    ("+0.25", 0.25),
    (".5", 0.5),
    ("5.", 5.0),
    ("-.5e-3", -0.0005),
    ("00012", 12.0),
    ("1e-400", 0.0),  # below the smallest double: zero
    ("4.9e-324", 5e-324),
    ("0.1000000000000000055511151231257827", 0.1),  # correctly rounded
    ("123456789012345678901234567890", 1.2345678901234568e29),
    (" 1", 1.0),  # not plain: pandas reads it (the reader trims every value; other callers may not)
    ("2\t", 2.0),
    ("1e400", np.nan),  # beyond a double: infinite, so not a finite number
    ("inf", np.nan),
    ("-inf", np.nan),
    ("nan", np.nan),
    ("NaN", np.nan),
    ("1,5", np.nan),
    ("1_000", np.nan),
    ("0x10", np.nan),
    ("١٢", np.nan),
    ("1e", np.nan),
    (".", np.nan),
    ("-", np.nan),
    ("", np.nan),
]


@pytest.mark.parametrize("arrow", [True, False], ids=["arrow-text", "python-text"])
@pytest.mark.parametrize("order", [1, -1], ids=["as-listed", "reversed"])
def test_numbers_parse_to_their_value_or_null_whatever_the_other_values(arrow, order):
    """Amounts and balances: a plain decimal is read by Arrow's cast, anything else by pandas, value by value; a
    non-finite or unparseable value is null (its rule rejects the row). One value pandas must read (or one out of a
    double's range) changes nothing for the others."""
    text, expected = zip(*NUMBERS[::order])
    series = pd.Series(list(text), index=range(10, 10 + len(text)))
    if arrow:
        series = series.astype(TEXT)
    values = _parse_number(series, np.array([bool(t) for t in text]))
    np.testing.assert_array_equal(values.to_numpy(), np.array(expected))
    assert list(values.index) == list(series.index) and values.dtype == "float64"
    plain = NUMBERS[:11]  # every value Arrow reads: the same values
    arrow_only = _parse_number(pd.Series([t for t, _ in plain], dtype=TEXT), np.ones(len(plain), dtype=bool))
    np.testing.assert_array_equal(arrow_only.to_numpy(), np.array([v for _, v in plain]))
