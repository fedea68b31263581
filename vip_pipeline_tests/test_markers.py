"""The markers that let a run keep a decided month: what changes a month's marker and what does not (the runs
that rely on them are in test_corrections.py)."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from vip_pipeline.assets.decisions import decision_markers
from vip_pipeline.decisions.rules import DecisionRules
from vip_pipeline.landing.inventory import scan_landing
from vip_pipeline.storage.fingerprints import frame_digest
from vip_pipeline.storage.staging import StagingStore

MONTHS = pd.date_range("2023-01-01", "2025-07-01", freq="MS")  # 31 months of data; July 2025 in progress
JUNE = pd.Timestamp("2025-06-01")
URL = "sqlite:///vip.db"


def _panel(month, ltv: float = 1.0) -> pd.DataFrame:
    return pd.DataFrame({"client_id": ["C1"], "month": [pd.Timestamp(month)], "ltv_usd": [ltv]})


@pytest.fixture
def world(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    for month in MONTHS[:-1]:
        (landing / f"balances_{month:%Y-%m}.csv").write_text("account_id,balance_date,balance\n")
    (landing / "balances_2025-07-10.csv").write_text("account_id,balance_date,balance\n")
    store = StagingStore(tmp_path / "staging")
    for month in MONTHS:
        store.write("client_panel", _panel(month), f"{month:%Y-%m-%d}", frame_digest(_panel(month)))
    clients = pd.DataFrame({"client_id": ["C1"], "annual_sales_usd": [5.0]})
    return landing, store, clients


def _marker(landing, store, clients, rules=DecisionRules(), url=URL, month=JUNE):
    return decision_markers(store, scan_landing(landing), [month], clients, rules, url)[month]


def test_a_decided_months_marker_changes_with_each_input_it_reads_and_only_those(world):
    landing, store, clients = world
    before = _marker(landing, store, clients)
    assert before is not None and before == _marker(landing, store, clients)
    assert _marker(landing, store, clients, rules=dataclasses.replace(DecisionRules(), top_share=0.3)) != before
    assert _marker(landing, store, clients, url="sqlite:///other.db") != before
    assert _marker(landing, store, clients.assign(annual_sales_usd=6.0)) != before

    def restated(month: str) -> str:
        store.write("client_panel", _panel(month, 2.0), month, frame_digest(_panel(month, 2.0)))
        marker = _marker(landing, store, clients)
        store.write("client_panel", _panel(month), month, frame_digest(_panel(month)))
        return marker

    # June's declared window is June and the 25 months before (client_panel's partition mapping): May 2023 is read,
    # April 2023 is not; July (after June) is not either
    assert restated("2025-06-01") != before
    assert restated("2023-05-01") != before
    assert restated("2023-04-01") == before
    assert restated("2025-07-01") == before
    assert _marker(landing, store, clients) == before


def test_a_window_month_whose_panel_has_no_digest_gives_no_marker(world):
    landing, store, clients = world
    store.write("client_panel", _panel("2024-06-01"), "2024-06-01")  # staged without a digest
    assert _marker(landing, store, clients) is None
    store.write("client_panel", _panel("2023-02-01"), "2023-02-01")  # outside the window
    store.write("client_panel", _panel("2024-06-01"), "2024-06-01", frame_digest(_panel("2024-06-01")))
    assert _marker(landing, store, clients) is not None


def test_a_window_month_becoming_complete_changes_the_marker(world):
    landing, store, clients = world
    july = pd.Timestamp("2025-07-01")
    before, months = _marker(landing, store, clients, month=july), scan_landing(landing).months
    assert before is not None and not scan_landing(landing).is_complete(july.date())
    (landing / "balances_2025-07-10.csv").rename(landing / "balances_2025-07-31.csv")  # July's last day landed
    assert scan_landing(landing).months == months and scan_landing(landing).is_complete(july.date())
    assert _marker(landing, store, clients, month=july) != before
