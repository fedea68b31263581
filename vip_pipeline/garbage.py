"""Python's cyclic garbage collector in a `vip-pipeline run` process.

Loading the code, Dagster's definitions, the job and the instance makes ≈ 260 k objects that live as long as the
process, and each full collection walks all of them again. The run's process pauses the collector while it
loads, then freezes what it loaded out of later collections (`gc.freeze`) and collects what the run makes in a
larger young generation. Measured on a 24-month bank-M run: the run's process spent 0.78 s collecting (1,608
young, 146 middle, 5 full collections), 0.25 s with both (0.45 s with the freeze alone)."""

from __future__ import annotations

import gc

YOUNG_GENERATION = 10_000  # objects allocated before a young collection (Python's default: 700)


def pause_while_loading() -> None:
    gc.disable()


def resume_after_loading() -> None:
    """Freeze what was loaded, then collect again: nothing unless `pause_while_loading` paused the collector (a
    test's process, or a second run in one process, keeps Python's defaults)."""
    if gc.isenabled():
        return
    gc.freeze()
    gc.set_threshold(YOUNG_GENERATION, *gc.get_threshold()[1:])
    gc.enable()
