"""Render the contracts as Markdown (docs/data-contract.md is this output; a test keeps them in sync)."""

from __future__ import annotations

from vip_pipeline.contracts.extracts import EXTRACTS
from vip_pipeline.contracts.tables import TABLES

HEADER = """# Data contract

Generated from the pandera schemas in `vip_pipeline/contracts/` by
`python -m vip_pipeline.contracts.render > docs/data-contract.md`: every rule below is a named check of the
extract's schema (`ExtractContract.pandera_schema`) or of the table's (`TableContract.pandera_schema`).

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
        rules = [f"`{check.error}`: {check.description}" for check in c.schema_rules()]
        rules.append(
            f"key ({', '.join(c.key)}): a repeated key is `duplicate_redelivered` (same values) or "
            "`duplicate_key_conflict` (other values, same file); a later file supersedes (see decisions.md)"
        )
        lines += [
            f"### {c.name}{' (full snapshot: the latest file wins)' if c.snapshot else ' (deltas)'}",
            "",
            c.description,
            "",
            "Rules (a rejected row lists the ones it failed):",
            "",
            *[f"- {r}" for r in rules],
            "",
            "| column | type | required | description |",
            "|---|---|---|---|",
        ]
        for col in c.columns:
            kind = f"{col.kind} (empty = {col.default})" if col.default else col.kind
            lines.append(f"| {col.name} | {kind} | {'yes' if col.required else 'no'} | {col.description} |")
        lines.append("")
    lines += ["## Published tables", ""]
    for t in TABLES.values():
        key = f"primary key ({', '.join(t.primary_key)}), unique" if t.primary_key else "no key (a log)"
        schema = t.pandera_schema()
        lines += [
            f"### {t.name}",
            "",
            f"{t.description} — {key}.",
            "",
            "| column | type | nullable | rules | description |",
            "|---|---|---|---|---|",
        ]
        for c in t.columns:
            rules = "; ".join(f"`{check.error}` ({check.description})" for check in schema.columns[c.name].checks)
            nullable = "yes" if schema.columns[c.name].nullable else "no"
            lines.append(f"| {c.name} | {c.kind} | {nullable} | {rules} | {c.description} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
