"""The decision step decides its complete months in chunks, side by side: each chunk is assessed with the month
before it, so its first month still gets its previous category and tier and its movements. Deciding in chunks must
give every table exactly as deciding all the months at once."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from vip_pipeline.assets.decisions import DECISION_TABLES, decide_chunk, decision_chunks
from vip_pipeline.contracts.tables import TABLES
from vip_pipeline.decisions.assess import assess_panel
from vip_pipeline.decisions.rules import DecisionRules
from vip_pipeline.landing.inventory import scan_landing
from vip_pipeline.runner import run_pipeline
from vip_pipeline.sample import generate_sample
from vip_pipeline.storage.staging import StagingStore
from vip_pipeline.storage.warehouse import checked_frame

MONTHS = [pd.Timestamp(f"2026-{m:02d}-01") for m in range(3, 10)]  # the sample's complete months


@pytest.mark.parametrize(
    ("workers", "earlier", "expected"),
    [
        ("1", [], [([3, 4, 5, 6], [3, 4, 5, 6]), ([6, 7, 8, 9], [7, 8, 9])]),
        ("2", [2], [([2, 3, 4], [3, 4]), ([4, 5, 6], [5, 6]), ([6, 7, 8], [7, 8]), ([8, 9], [9])]),
        ("8", [], [([3], [3])] + [([m - 1, m], [m]) for m in range(4, 10)]),
    ],
)
def test_the_months_are_chunked_in_order_each_chunk_with_the_month_before_it(monkeypatch, workers, earlier, expected):
    monkeypatch.setenv("VIP_MONTH_WORKERS", workers)
    months = [pd.Timestamp(f"2026-{m:02d}-01") for m in earlier]
    chunks = decision_chunks(months, MONTHS)
    assert [([m.month for m in assessed], [m.month for m in own]) for assessed, own in chunks] == expected
    assert decision_chunks(months, []) == []


def test_deciding_in_chunks_equals_deciding_every_month_at_once(tmp_path, monkeypatch):
    landing = tmp_path / "landing"
    generate_sample(landing, clients=40, months=8, seed=5, end_date=date(2026, 10, 15))
    staging = tmp_path / "staging"
    run_pipeline(str(landing), f"sqlite:///{tmp_path / 'vip.db'}", str(staging), progress=lambda _: None)
    store, inventory = StagingStore(staging), scan_landing(landing)
    assert [pd.Timestamp(m) for m in inventory.months if inventory.is_complete(m)] == MONTHS
    keys = [f"{m:%Y-%m-%d}" for m in pd.date_range("2026-03-01", "2026-10-01", freq="MS")]
    panel = pd.concat(store.read_partitions("client_panel", keys).values(), ignore_index=True)
    clients, rules = store.read("clients"), DecisionRules()

    whole = assess_panel(panel, clients, MONTHS, rules)
    expected = dict(
        zip(
            DECISION_TABLES,
            (
                whole.client_ltv,
                whole.vip_assessment,
                whole.client_segments,
                whole.group_assessment,
                whole.segment_migrations,
            ),
        )
    )
    assert len(expected["segment_migrations"]) and expected["client_segments"]["previous_ltv_tier"].notna().any()
    for workers in ("1", "2", "8"):  # 2, 4 and 7 chunks
        monkeypatch.setenv("VIP_MONTH_WORKERS", workers)
        chunks = [decide_chunk(panel, clients, assessed, own, rules) for assessed, own in decision_chunks([], MONTHS)]
        assert not any(c.failures or c.refused for c in chunks)
        assert sorted(m for c in chunks for m in c.metadata) == MONTHS
        for name in DECISION_TABLES:
            key = list(TABLES[name].primary_key)
            got = pd.concat([c.tables[name] for c in chunks], ignore_index=True).sort_values(key, ignore_index=True)
            want = checked_frame(TABLES[name], expected[name]).sort_values(key, ignore_index=True)
            pd.testing.assert_frame_equal(got, want, obj=f"{name} ({workers} workers)")
