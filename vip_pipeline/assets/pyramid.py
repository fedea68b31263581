"""Pictures for the segments materialisation: the LTV pyramid as a small Markdown table (the UI shows Markdown
under 1,000 characters inline on the asset page) and as a PNG, and the movement between tiers since the previous
month."""

from __future__ import annotations

import base64
import io

import pandas as pd

LEVELS = [("most_valuable", "#1b7837"), ("strategic", "#5aae61"), ("workhorse", "#d9f0d3"), ("ballast", "#c2a5cf")]


def _pyplot():
    """matplotlib, imported when a picture is drawn (0.5 s that a run without decisions does not pay)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(plt, fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


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
    for level, (tier, _) in enumerate(LEVELS):
        n, total = int(counts.get(tier, 0)), float(ltv.get(tier, 0.0))
        money = f"{'−' if total < 0 else ''}${abs(total):,.0f}"
        bar = "█" * (2 + 3 * level)
        rows.append(f"| {bar} | {tier.replace('_', ' ')} | {n:,} | {n / max(len(segments), 1):.0%} | {money} |")
    return "\n".join(rows)


def pyramid_png(segments: pd.DataFrame, as_of: str) -> bytes:
    """The pyramid as a pyramid: most valuable at the narrow top, ballast at the wide base (fixed bands, so the
    shape reads at a glance), each level labelled beside it with its clients and Σ LTV."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    counts = segments["ltv_tier"].value_counts()
    ltv = segments.groupby("ltv_tier")["ltv_usd"].sum()
    for level, (tier, colour) in enumerate(LEVELS):  # level 0 is the top
        top, bottom = 0.12 + 0.22 * level, 0.12 + 0.22 * (level + 1)
        y0, y1 = len(LEVELS) - level, len(LEVELS) - level - 1
        ax.fill([-top, top, bottom, -bottom], [y0, y0, y1, y1], color=colour, edgecolor="#333333")
        n, total = int(counts.get(tier, 0)), float(ltv.get(tier, 0.0))
        share = n / max(len(segments), 1)
        money = f"{'−' if total < 0 else ''}${abs(total):,.0f}"
        ax.text(1.1, y1 + 0.5, f"{tier.replace('_', ' ')}: {n} clients ({share:.0%}), LTV {money}", va="center")
    ax.set_xlim(-1.05, 2.9)
    ax.set_ylim(0, len(LEVELS))
    ax.axis("off")
    ax.set_title(f"LTV pyramid as of {as_of} ({len(segments)} active clients)")
    return _png(plt, fig)


TIER_ORDER = ["new", "most_valuable", "strategic", "workhorse", "ballast", "gone"]


def migrations_png(migrations: pd.DataFrame, as_of: str) -> bytes:
    """Tier → tier matrix of one month's segment_migrations (clients per cell; the diagonal stayed put)."""
    tiers = migrations[migrations["dimension"] == "ltv_tier"]
    matrix = (
        tiers.pivot_table(index="from_value", columns="to_value", values="clients", aggfunc="sum", fill_value=0)
        .reindex(index=[t for t in TIER_ORDER if t != "gone"], columns=[t for t in TIER_ORDER if t != "new"])
        .fillna(0)
        .astype(int)
    )
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.imshow(matrix.to_numpy(), cmap="Greens")
    ax.set_xticks(range(len(matrix.columns)), [c.replace("_", " ") for c in matrix.columns], rotation=30)
    ax.set_yticks(range(len(matrix.index)), [i.replace("_", " ") for i in matrix.index])
    darkest = max(int(matrix.to_numpy().max()), 1)
    for (row, col), n in pd.DataFrame(matrix.to_numpy()).stack().items():
        if n:
            colour = "white" if n > 0.6 * darkest else "black"
            ax.text(col, row, str(n), ha="center", va="center", fontsize=9, color=colour)
    ax.set_xlabel(f"tier as of {as_of}")
    ax.set_ylabel("tier the month before")
    ax.set_title(f"Movement between LTV tiers, {as_of}")
    return _png(plt, fig)


def as_markdown(png: bytes, title: str = "LTV pyramid") -> str:
    return f"![{title}](data:image/png;base64,{base64.b64encode(png).decode()})"
