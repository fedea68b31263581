"""Replay mutmut's mutants in ONE pytest process: a faster runner for slow, loaded machines.

`mutmut run` starts a test process per mutant; on a busy two-core machine that costs seconds of start-up per
mutant before any test runs. This pytest plugin collects the level-1 tests once, then for each mutant sets
mutmut's `MUTANT_UNDER_TEST`, runs the tests mutmut's stats say reach the mutated function (fastest first,
stopping at the first failure, as mutmut does; tests that killed the function's last mutants go first) and
records killed (1) or survived (0). Mutants whose function no test reaches get 33, like mutmut. A mutant that
runs longer than `MUTATION_REPLAY_TIMEOUT` seconds (default 180) or exhausts the memory limit counts as killed
(mutmut's timeout / out-of-memory), noted in the output.

Run from mutants/ after `mutmut run` has generated the mutants and its stats (an interrupted run is enough):

    cd mutants && MUTATION_REPLAY="vip_pipeline.decisions.ltv.*" PYTHONPATH=../scripts ../.venv/bin/python \
        -m pytest -q -p mutation_replay -p no:cacheprovider -p no:xdist vip_pipeline_tests/test_decisions.py ...

Tests added since mutmut's stats run for every mutant, after the others. Results go to mutmut's `.meta` files
(only mutants mutmut has not checked yet, unless MUTATION_REPLAY_FORCE=1), so `scripts/mutation_report.py`
counts them.
"""

from __future__ import annotations

import fnmatch
import json
import os
import resource
import signal
import time
from pathlib import Path

import pytest
from _pytest.runner import runtestprotocol

KILLED, SURVIVED, NO_TESTS = 1, 0, 33


class _Timeout(BaseException):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def _metas() -> dict[str, Path]:
    out = {}
    for meta in Path("vip_pipeline").glob("**/*.py.meta"):
        for name in json.loads(meta.read_text()).get("exit_code_by_key", {}):
            out[name] = meta
    return out


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session):
    patterns = os.environ.get("MUTATION_REPLAY", "").split()
    if not patterns:
        return None
    force = os.environ.get("MUTATION_REPLAY_FORCE") == "1"
    timeout = int(os.environ.get("MUTATION_REPLAY_TIMEOUT", "180"))
    limit = int(os.environ.get("MUTATION_REPLAY_MEMORY_GB", "4")) << 30
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    stats = json.loads(Path("mutmut-stats.json").read_text())
    tests_of, duration = stats["tests_by_mangled_function_name"], stats["duration_by_test"]
    items = {item.nodeid: item for item in session.items}
    # tests added since mutmut collected its stats: run after the others for every reached function
    new_tests = [nodeid for nodeid in items if nodeid not in duration]
    metas = _metas()
    codes = {meta: json.loads(meta.read_text()) for meta in set(metas.values())}
    names = sorted(n for n in metas if any(fnmatch.fnmatch(n, p) for p in patterns))
    signal.signal(signal.SIGALRM, _alarm)
    started, done, killers = time.monotonic(), 0, {}
    for name in names:
        data = codes[metas[name]]
        if data["exit_code_by_key"].get(name) is not None and not force:
            continue
        tests = sorted(
            (t for t in tests_of.get(name.rsplit("__mutmut_", 1)[0], ()) if t in items),
            key=lambda t: duration.get(t, 0.0),
        )
        tests += new_tests
        function = name.rsplit("__mutmut_", 1)[0]  # tests that killed this function's mutants before go first
        tests = [
            *(t for t in killers.get(function, []) if t in tests),
            *(t for t in tests if t not in killers.get(function, [])),
        ]
        code, why = (NO_TESTS, "no test reaches it") if not tests else (SURVIVED, "")
        os.environ["MUTANT_UNDER_TEST"] = name
        t0, ran = time.monotonic(), 0
        signal.alarm(timeout)
        try:
            for nodeid in tests:
                ran += 1
                reports = runtestprotocol(items[nodeid], log=False, nextitem=None)
                if any(r.failed for r in reports):
                    code, why = KILLED, nodeid
                    killers.setdefault(function, [])
                    killers[function] = [nodeid, *(t for t in killers[function] if t != nodeid)][:5]
                    break
        except _Timeout:
            code, why = KILLED, f"timeout after {timeout} s"
        except MemoryError:
            code, why = KILLED, "out of memory"
        finally:
            signal.alarm(0)
            os.environ["MUTANT_UNDER_TEST"] = ""
        data["exit_code_by_key"][name] = code
        metas[name].write_text(json.dumps(data, indent=4))
        done += 1
        label = {KILLED: "killed", SURVIVED: "SURVIVED", NO_TESTS: "no tests"}[code]
        print(f"{label:9s} {name}  {why}  ({ran} tests, {time.monotonic() - t0:.1f} s)", flush=True)
    print(f"{done} mutants replayed in {time.monotonic() - started:.0f} s", flush=True)
    return True
