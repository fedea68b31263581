"""Render the contracts as Markdown (docs/data-contract.md is this output; a test keeps them in sync)."""

from __future__ import annotations

from vip_pipeline.contracts.extracts import EXTRACTS
from vip_pipeline.contracts.tables import TABLES

HEADER = """# Data contract

Generated from `vip_pipeline/contracts/` by `python -m vip_pipeline.contracts.render > docs/data-contract.md`.

Files land in `VIP_LANDING_DIR` named `<extract>_<YYYY-MM-DD>.<ext>` (one business day) or
`<extract>_<YYYY-MM>.<ext>` (a whole month); `<ext>` is `csv`, `csv.gz` or `parquet`. CSV: header row,
UTF-8 (or `VIP_CSV_ENCODING`), `,` (or `VIP_CSV_DELIMITER`), ISO dates, `.` decimal point, booleans
`true/false` (also `t/f`, `1/0`, `yes/no`). Every row that breaks a rule below goes to `rejected_rows`
with the rule's name; see `docs/decisions.md` for duplicates, re-deliveries and refused files.

## Input extracts
"""


def render() -> str:
    lines = [HEADER]
    for c in EXTRACTS.values():
        rules = [f"key: ({', '.join(c.key)}) unique → `duplicate_redelivered` / `duplicate_key_conflict`"]
        rules += [f"`{col}` must exist in {target} → `unknown_{col}`" for col, target in c.references.items()]
        if c.period_column:
            rules.append(f"`{c.period_column}` inside the file's period → `outside_file_period:{c.period_column}`")
        if c.account_open_on:
            rules.append(
                f"`{c.account_open_on}` on a day the account is open → `account_not_open_on:{c.account_open_on}`"
            )
        rules += [f"`{a}` ≥ `{b}` → `{a}_before_{b}`" for a, b in c.not_before]
        lines += [
            f"### {c.name}{' (full snapshot: the latest file wins)' if c.snapshot else ' (deltas)'}",
            "",
            c.description,
            "",
            *[f"- {r}" for r in rules],
            "",
            "| column | type | required | rule | description |",
            "|---|---|---|---|---|",
        ]
        for col in c.columns:
            rule = []
            if col.values:
                rule.append("one of " + ", ".join(col.values))
            if col.positive:
                rule.append("> 0")
            elif col.minimum is not None:
                rule.append(f"≥ {col.minimum:g}")
            if col.default:
                rule.append(f"empty = {col.default}")
            lines.append(
                f"| {col.name} | {col.kind} | {'yes' if col.required else 'no'} | {'; '.join(rule)} | "
                f"{col.description} |"
            )
        lines.append("")
    lines += ["## Published tables", ""]
    for t in TABLES.values():
        key = f"primary key ({', '.join(t.primary_key)})" if t.primary_key else "no key (a log)"
        lines += [
            f"### {t.name}",
            "",
            f"{t.description} — {key}.",
            "",
            "| column | type | nullable | description |",
            "|---|---|---|---|",
        ]
        lines += [f"| {c.name} | {c.kind} | {'yes' if c.nullable else 'no'} | {c.description} |" for c in t.columns]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
