"""Per-stage wall time and row counts, accumulated in-process for the benchmark report."""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class Stage:
    seconds: float = 0.0
    rows: int = 0


TIMINGS: dict[str, Stage] = defaultdict(Stage)


@contextmanager
def stage(name: str):
    """`with stage("validate") as s: ...; s.rows = n` adds the elapsed time and rows to the stage's totals."""
    record = Stage()
    started = time.perf_counter()
    try:
        yield record
    finally:
        TIMINGS[name].seconds += time.perf_counter() - started
        TIMINGS[name].rows += record.rows


def snapshot() -> dict[str, dict]:
    return {name: {"seconds": round(s.seconds, 3), "rows": s.rows} for name, s in TIMINGS.items()}


_listeners: list = []


@contextmanager
def reporting(listener):
    """Send `report()` messages to `listener` (the CLI's progress) while the block runs."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


def report(message: str) -> None:
    """A progress line for whoever is listening (the CLI); nothing otherwise."""
    for listener in _listeners:
        listener(message)
