"""The pictures of the segments materialisation: small Markdown tables the UI shows inline (under 1,000 chars)."""

from __future__ import annotations

import pandas as pd

from vip_pipeline.assets.pyramid import migrations_markdown, pyramid_markdown


def test_pyramid_levels_top_to_base_with_clients_share_and_ltv():
    """10 active clients: most valuable 1 (LTV 500), strategic 2 (100 + 200), workhorse 3 (3 × 10), ballast 4
    (4 × −5): shares 10 %, 20 %, 30 %, 40 %; Σ LTV $500, $300, $30, −$20; bars 2, 5, 8, 11 wide, centred."""
    segments = pd.DataFrame(
        {
            "ltv_tier": ["most_valuable"] + ["strategic"] * 2 + ["workhorse"] * 3 + ["ballast"] * 4,
            "ltv_usd": [500.0, 100.0, 200.0, 10.0, 10.0, 10.0, -5.0, -5.0, -5.0, -5.0],
        }
    )
    text = pyramid_markdown(segments, "2026-10")
    assert len(text) < 1000
    lines = text.splitlines()
    assert lines[0] == "**LTV pyramid as of 2026-10**: 10 active clients"
    assert lines[3] == "|:---:|---|---:|---:|---:|"
    assert lines[4:] == [
        "| ██ | most valuable | 1 | 10% | $500 |",
        "| █████ | strategic | 2 | 20% | $300 |",
        "| ████████ | workhorse | 3 | 30% | $30 |",
        "| ███████████ | ballast | 4 | 40% | −$20 |",
    ]


def test_a_tier_without_clients_keeps_its_level():
    text = pyramid_markdown(pd.DataFrame({"ltv_tier": ["ballast"], "ltv_usd": [0.0]}), "2026-10")
    assert "| █████ | strategic | 0 | 0% | $0 |" in text.splitlines()


def test_migrations_matrix_rows_before_columns_now_diagonal_bold():
    """ltv_tier moves: 3 stayed strategic, 1 strategic → most valuable, 2 new → ballast, 1 workhorse gone; the
    category rows are not part of this matrix."""
    moves = pd.DataFrame(
        {
            "dimension": ["ltv_tier"] * 4 + ["category"],
            "from_value": ["strategic", "strategic", "new", "workhorse", "vip"],
            "to_value": ["strategic", "most_valuable", "ballast", "gone", "vip"],
            "clients": [3, 1, 2, 1, 9],
        }
    )
    lines = migrations_markdown(moves, "2026-10").splitlines()
    assert lines[2] == "| from \\ to | most valuable | strategic | workhorse | ballast | gone |"
    assert lines[4:] == [
        "| new | 0 | 0 | 0 | 2 | 0 |",
        "| most valuable | **0** | 0 | 0 | 0 | 0 |",
        "| strategic | 1 | **3** | 0 | 0 | 0 |",
        "| workhorse | 0 | 0 | **0** | 0 | 1 |",
        "| ballast | 0 | 0 | 0 | **0** | 0 |",
    ]
