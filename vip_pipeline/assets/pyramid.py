"""Pictures for the segments materialisation, drawn as small Markdown tables: the UI shows Markdown under 1,000
characters inline on the asset page (longer Markdown, such as an embedded PNG, only behind a click). The LTV
pyramid, and the movement between tiers since the previous month."""

from __future__ import annotations

import pandas as pd

LEVELS = ["most_valuable", "strategic", "workhorse", "ballast"]  # top to base


def pyramid_markdown(segments: pd.DataFrame, as_of: str) -> str:
    """The pyramid in a few hundred characters of Markdown: centred bars of fixed widths (most valuable the
    narrowest at the top, ballast the widest at the base), each level with its clients, share and Σ LTV."""
    counts = segments["ltv_tier"].value_counts()
    ltv = segments.groupby("ltv_tier")["ltv_usd"].sum()
    rows = [
        f"**LTV pyramid as of {as_of}**: {len(segments):,} active clients",
        "",
        "| pyramid | tier | clients | share | Σ LTV |",
        "|:---:|---|---:|---:|---:|",
    ]
    for level, tier in enumerate(LEVELS):
        n, total = int(counts.get(tier, 0)), float(ltv.get(tier, 0.0))
        money = f"{'−' if total < 0 else ''}${abs(total):,.0f}"
        bar = "█" * (2 + 3 * level)
        rows.append(f"| {bar} | {tier.replace('_', ' ')} | {n:,} | {n / max(len(segments), 1):.0%} | {money} |")
    return "\n".join(rows)


TIER_ORDER = ["new", "most_valuable", "strategic", "workhorse", "ballast", "gone"]


def migrations_markdown(migrations: pd.DataFrame, as_of: str) -> str:
    """Tier → tier matrix of one month's segment_migrations as a small Markdown table: clients per cell, rows the
    tier the month before (or new), columns the tier now (or gone); the diagonal, who stayed put, in bold."""
    tiers = migrations[migrations["dimension"] == "ltv_tier"]
    rows, columns = [t for t in TIER_ORDER if t != "gone"], [t for t in TIER_ORDER if t != "new"]
    matrix = (
        tiers.pivot_table(index="from_value", columns="to_value", values="clients", aggfunc="sum", fill_value=0)
        .reindex(index=rows, columns=columns)
        .fillna(0)
        .astype(int)
    )
    label = {t: t.replace("_", " ") for t in TIER_ORDER}
    lines = [
        f"**Movement between LTV tiers, {as_of}** (clients; rows: the month before)",
        "",
        "| from \\ to | " + " | ".join(label[c] for c in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for row in rows:
        cells = [f"**{n}**" if row == column else str(n) for column, n in matrix.loc[row].items()]
        lines.append(f"| {label[row]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
