"""Pictures for the segments materialisation (PNG, shown inline in the UI): the LTV pyramid and the movement
between tiers since the previous month."""

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


def pyramid_png(segments: pd.DataFrame, as_of: str) -> bytes:
    """Tiers from the top (most valuable) to the bottom (ballast), width ∝ clients, labelled with Σ LTV."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    counts = segments["ltv_tier"].value_counts()
    ltv = segments.groupby("ltv_tier")["ltv_usd"].sum()
    widest = max(int(counts.max()) if len(counts) else 1, 1)
    for level, (tier, colour) in enumerate(reversed(LEVELS)):
        n = int(counts.get(tier, 0))
        width = max(n / widest, 0.02)
        ax.barh(level, width, left=-width / 2, color=colour, edgecolor="#333333", height=0.9)
        total = float(ltv.get(tier, 0.0))
        ax.text(
            0,
            level,
            f"{tier.replace('_', ' ')}: {n} clients, LTV {'−' if total < 0 else ''}${abs(total):,.0f}",
            ha="center",
            va="center",
            fontsize=9,
        )
    ax.set_xlim(-0.55, 0.55)
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
