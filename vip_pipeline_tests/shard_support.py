"""Helpers of the shard and engine tests: a small two-month sample and the published tables to compare."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from vip_pipeline.contracts.tables import TABLES
from vip_pipeline.sample import generate_sample
from vip_pipeline.storage.warehouse import Warehouse

RUN_COLUMNS = {"run_id", "rejected_at", "loaded_at", "recorded_at"}  # differ between any two runs


def two_month_sample(landing: Path, clients: int = 60) -> Path:
    """Two months of a sample bank (the second month-to-date, as daily files; with a few bad rows)."""
    generate_sample(landing, clients=clients, months=2, end_date=date(2026, 2, 20), daily_months=1, seed=5)
    return landing


def published(url: str) -> dict[str, pd.DataFrame]:
    """Every published table, without the columns that name the run, in a canonical row order."""
    wh = Warehouse(url)
    tables = {}
    for name in TABLES:
        frame = wh.read(name)
        frame = frame.drop(columns=[c for c in frame.columns if c in RUN_COLUMNS])
        tables[name] = frame.sort_values(list(frame.columns), ignore_index=True, na_position="first")
    return tables


def assert_same_tables(expected: dict[str, pd.DataFrame], actual: dict[str, pd.DataFrame]) -> None:
    """Equal to the last bit, table by table (a failure names the table)."""
    assert expected.keys() == actual.keys()
    for name in expected:
        pd.testing.assert_frame_equal(expected[name], actual[name], check_exact=True, obj=name)
