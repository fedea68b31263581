"""Months that do not depend on each other, run side by side on this machine's cores inside one step.

A full load spends most of its time validating months, and a month's validation needs nothing of another
month's. `map_months` runs such a per-month function in a pool of worker processes: fresh processes forked by a
fork server (not forks of the run's process, which has Dagster's threads), the pipeline's modules preloaded
there, so a worker starts in milliseconds; after each month a worker gives back to the system the memory the
month freed (`release_memory`: on bank-M's 12 months the run's processes together peaked at 2.3 GB without it,
1.7 GB with it). The pool lives as long as the run's process.
The workers' stage timings come back with their results and are added to the run's, and the seconds they ran
side by side are recorded as the `overlap` stage, so that the run's wall time is still accounted for.

In order, in-process instead: one task, one worker (`VIP_MONTH_WORKERS=1`), fewer than 4 tasks while the run has no
pool yet (starting one costs about 2 s), or a process that may not start children (a Dask worker is a daemon
process: there, parallelism is the cluster's).
"""

from __future__ import annotations

import atexit
import ctypes
import gc
import multiprocessing
import multiprocessing.forkserver
import os
import sys
import time
import types
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager

import pyarrow as pa

from vip_pipeline.sharding import count_setting
from vip_pipeline.timing import TIMINGS

PRELOAD = ["vip_pipeline.assets.extract_shards"]  # what a worker imports once, in the fork server
# Starting the fork server and its first workers takes ≈ 2 s (a month of validation ≈ 1–2 s): fewer months than
# this run in order unless the run's pool is already up.
MONTHS_TO_START_A_POOL = 4
_pools: dict[int, ProcessPoolExecutor] = {}


def month_workers() -> int:
    """Worker processes per step: $VIP_MONTH_WORKERS, default the cores this process may use."""
    return count_setting("VIP_MONTH_WORKERS", len(os.sched_getaffinity(0)))


def _context():
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def _pool(workers: int) -> ProcessPoolExecutor:
    if workers not in _pools:
        # gc.freeze: the collector passes over what the worker started with (the preloaded modules) for good, so
        # collecting after a month looks at that month's objects only (0.1 → ≈0.01 s a month)
        _pools[workers] = ProcessPoolExecutor(workers, mp_context=_context(), initializer=gc.freeze)
    return _pools[workers]


def start_early(months: int) -> None:
    """Start the fork server now when a run is about to map `months` months side by side: its imports (≈ 1.5 s)
    then run in its own process while the run loads the snapshots, instead of before the first month."""
    if months < MONTHS_TO_START_A_POOL or month_workers() <= 1 or multiprocessing.current_process().daemon:
        return
    _context()
    multiprocessing.forkserver.ensure_running()


@contextmanager
def _empty_main_module():
    """A new worker imports the run's main module again unless it has none: a script without an
    `if __name__ == "__main__"` guard (a test's wrapper of the CLI, say) would run again in every worker."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


@atexit.register
def _shutdown() -> None:
    for pool in _pools.values():
        pool.shutdown(cancel_futures=True)
    _pools.clear()


def release_memory() -> None:
    """Give the memory that finished work freed back to the system (Python's collector, Arrow's pool, glibc's
    `malloc_trim`), so that what a process holds between tasks is what it still uses."""
    gc.collect()
    pa.default_memory_pool().release_unused()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _timed(fn: Callable, args: tuple) -> tuple[object, dict[str, tuple[float, int]]]:
    """In a worker: `fn(*args)` and what it added to each stage's seconds and rows; then the month's memory is
    given back."""
    before = {name: (s.seconds, s.rows) for name, s in TIMINGS.items()}
    try:
        result = fn(*args)
    finally:
        release_memory()
    added = {}
    for name, s in TIMINGS.items():
        seconds, rows = before.get(name, (0.0, 0))
        added[name] = (s.seconds - seconds, s.rows - rows)
    return result, added


def map_months(fn: Callable, tasks: list[tuple]) -> list:
    """`[fn(*task) for task in tasks]`, the tasks side by side in worker processes when that can help. `fn` must
    be a module-level function and the tasks picklable; results come back in the tasks' order."""
    return list(imap_months(fn, tasks))


def imap_months(fn: Callable, tasks: list[tuple]) -> Iterator:
    """`map_months`, each result as soon as it and those before it are done: the caller works on a month while the
    workers go on with the next ones. The seconds the caller's stages and the workers' ran side by side count as
    `overlap`. Closing the iterator early cancels the months not started."""
    workers = min(month_workers(), len(tasks))
    starting = workers not in _pools and len(tasks) < MONTHS_TO_START_A_POOL
    if workers <= 1 or starting or multiprocessing.current_process().daemon:
        for task in tasks:
            yield fn(*task)
        return
    started, staged, pending = time.perf_counter(), _stage_seconds(), None
    try:
        with _empty_main_module():  # the workers start (if they have not) while the tasks are submitted
            pending = _pool(workers).map(_timed, [fn] * len(tasks), tasks)
        for result, added in pending:
            for name, (seconds, rows) in added.items():
                TIMINGS[name].seconds += seconds
                TIMINGS[name].rows += rows
            yield result
    except BrokenProcessPool:  # a worker died (killed, out of memory): this step fails, the next gets a new pool
        _pools.pop(workers).shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        if pending is not None:
            pending.close()
        # the stage seconds added meanwhile (the workers', the caller's) beyond the wall time ran side by side
        TIMINGS["overlap"].seconds += max(_stage_seconds() - staged - (time.perf_counter() - started), 0.0)


def _stage_seconds() -> float:
    return sum(s.seconds for name, s in TIMINGS.items() if name != "overlap")
