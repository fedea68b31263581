"""Print the mutation score of the last `mutmut run` (read from mutants/**/*.meta) and the survivors.

Equivalent mutants (no test can kill them: the behaviour is the same) are listed in docs/testing.md, one table
row each, starting with "| `<mutant name>` | equivalent |"; they are left out of the score. Every other
mutant that was not killed (survived, no test reaches it, suspicious) is printed, with its diff command.

Run from the repository root after `mutmut run` (`make mutate` does both). Exit code 1 when the score of the
non-equivalent mutants is below 95 %.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

KILLED = {1, 3, 36, -24, 24, 152, 255, 37}  # failed tests, pytest internal error, timeout, type check
SURVIVED, NOT_CHECKED, NO_TESTS = 0, None, {5, 33}
TARGET = 0.95


def equivalent_mutants(doc: Path = Path("docs/testing.md")) -> dict[str, str]:
    found = {}
    for line in doc.read_text(encoding="utf-8").splitlines() if doc.exists() else []:
        m = re.match(r"\|\s*`([\w.ǁ]+__mutmut_\d+)`\s*\|\s*equivalent\s*\|\s*(.*?)\s*\|", line)
        if m:
            found[m.group(1)] = m.group(2)
    return found


def _order(item: tuple[str, object]) -> tuple[str, int]:
    stem, number = item[0].rsplit("_", 1)
    return stem, int(number)


def main() -> int:
    metas = sorted(Path("mutants").glob("**/*.py.meta"))
    if not metas:
        print("no mutmut results: run `make mutate` (or `mutmut run`) first")
        return 1
    equivalent = equivalent_mutants()
    per_module: dict[str, Counter] = {}
    open_survivors, unchecked = [], 0
    for meta in metas:
        codes = json.loads(meta.read_text()).get("exit_code_by_key", {})
        for name, code in sorted(codes.items(), key=_order):
            module = name.split(".x")[0]
            c = per_module.setdefault(module, Counter())
            if code is NOT_CHECKED:
                unchecked += 1
                c["not checked"] += 1
            elif name in equivalent:
                c["equivalent"] += 1
            elif code in KILLED:
                c["killed"] += 1
            else:
                c["not killed"] += 1
                status = "survived" if code == SURVIVED else "no test reaches it" if code in NO_TESTS else str(code)
                open_survivors.append((name, status))
    total = Counter()
    print(f"{'module':45s} {'killed':>7s} {'not killed':>11s} {'equivalent':>11s} {'score':>7s}")
    for module, c in sorted(per_module.items()):
        total.update(c)
        counted = c["killed"] + c["not killed"]
        score = c["killed"] / counted if counted else 1.0
        print(f"{module:45s} {c['killed']:7d} {c['not killed']:11d} {c['equivalent']:11d} {score:7.1%}")
    counted = total["killed"] + total["not killed"]
    score = total["killed"] / counted if counted else 1.0
    print(f"{'TOTAL':45s} {total['killed']:7d} {total['not killed']:11d} {total['equivalent']:11d} {score:7.1%}")
    print(f"\nmutation score: {total['killed']} killed of {counted} non-equivalent mutants = {score:.1%} "
          f"(target {TARGET:.0%}); {total['equivalent']} equivalent mutants left out (docs/testing.md)")
    if unchecked:
        print(f"{unchecked} mutants not checked yet: the run was interrupted; `make mutate` again resumes it")
    if open_survivors:
        print(f"\n{len(open_survivors)} mutants not killed (see each with `.venv/bin/mutmut show <name>`):")
        for name, status in open_survivors:
            print(f"  {name}: {status}")
    return 0 if score >= TARGET and not unchecked else 1


if __name__ == "__main__":
    sys.exit(main())
