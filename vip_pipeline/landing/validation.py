"""Split an extract's rows into accepted (typed) and rejected (with the failed rules), file by file.

Every row read ends up in exactly one of the two: accepted + rejected = read, per file.
The row rules are the extract's pandera schema (`ExtractContract.pandera_schema(delivery)`), validated
lazily on the whole extract at once: every row in its failure cases is rejected with the names of the
checks it failed. What is about deliveries rather than rows stays here: unreadable or structurally wrong
files, duplicate keys across deliveries (the newest wins), the rejected-share threshold, the audit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

import pandera.pandas as pa

from vip_pipeline.contracts.extracts import DTYPES, TEXT, Delivery, ExtractContract, arrow_text
from vip_pipeline.landing.inventory import LandedFile, delivery_order
from vip_pipeline.landing.reader import ROW, RawFile, UnreadableFile, read_raw
from vip_pipeline.timing import stage

FILE = "_file"
REJECTED_COLUMNS = ["extract", "source_file", "row_number", "rule", "raw_record"]
AUDIT_COLUMNS = [
    "extract",
    "source_file",
    "rows_read",
    "rows_accepted",
    "rows_rejected",
    "rows_redelivered",
    "rows_superseded",
    "status",
    "note",
    "delivered_at",
]
REDELIVERED = "duplicate_redelivered"


@dataclass(frozen=True)
class ReadSettings:
    """How CSV files are read and how much rejection a file may have before it is refused."""

    encoding: str = "utf-8"
    delimiter: str = ","
    max_rejected_share: float = 0.01


@dataclass
class LoadResult:
    """Accepted rows (typed), rejected rows (with reasons) and one audit row per file."""

    extract: str
    accepted: pd.DataFrame
    rejected: pd.DataFrame
    audit: pd.DataFrame
    refused: list[str] = field(default_factory=list)  # "<file>: <reason>" for every file that blocks publication
    superseded: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SUPERSEDED_COLUMNS))

    @property
    def ok(self) -> bool:
        return not self.refused


def empty_accepted(contract: ExtractContract) -> pd.DataFrame:
    """Accepted rows of an extract with no files: no rows, the contract's types (and the source file)."""
    columns = {c.name: pd.Series(dtype=DTYPES.get(c.kind, object)) for c in contract.columns}
    return pd.DataFrame({**columns, "source_file": pd.Series(dtype=object)})


def _rules(
    contract: ExtractContract,
    rows: pd.DataFrame,
    periods: pd.DataFrame,
    references: dict[str, pd.Index],
    accounts: pd.DataFrame | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows with typed columns (the schema's parsers) and a frame of boolean failures, one column per
    rule, from the lazy validation's failure cases."""
    for column, target in contract.references.items():
        if target not in references:
            raise ValueError(f"{contract.name}: the accepted keys of {target} are needed to check {column}")
    if contract.account_open_on and accounts is None:
        raise ValueError(f"{contract.name}: accounts are needed to check {contract.account_open_on}")
    delivery = Delivery(rows, periods["start"].to_numpy(), periods["end"].to_numpy(), references, accounts)
    rules = contract.rule_names()
    failed = np.zeros((len(rows), len(rules)), dtype=bool)
    try:
        # the contract's columns as views of `rows`, one block each: the parsers replace a column with its typed
        # values without copying the others, and the delivered text stays in `rows`
        columns = pd.DataFrame({c: rows[c] for c in contract.column_names}, copy=False)
        typed = contract.pandera_schema(delivery).validate(columns, lazy=True, inplace=True)
    except pa.errors.SchemaErrors as exc:
        typed = exc.data
        cases = exc.failure_cases
        rule = pd.Categorical(cases["check"], categories=rules).codes
        if (rule < 0).any() or cases["index"].isna().any():  # a check that broke, or a rule without a name
            raise RuntimeError(f"{contract.name}: validation did not run as designed:\n{exc}") from None
        failed[rows.index.get_indexer(cases["index"].astype("int64")), rule] = True
    return typed, pd.DataFrame(failed, index=rows.index, columns=rules)


def _describe(failed: pd.DataFrame) -> pd.Series:
    """'rule_a; rule_b' for every row with at least one failure."""
    hit = failed[failed.any(axis=1)]
    if hit.empty:
        return pd.Series(dtype=object)
    names = np.where(hit.to_numpy(), np.array([f"{c}; " for c in hit.columns], dtype=object), "")
    return pd.Series(names.sum(axis=1), index=hit.index).str.rstrip("; ")


def _raw_records(rows: pd.DataFrame, columns: list[str]) -> pd.Series:
    if rows.empty:
        return pd.Series(dtype=object)
    return pd.Series(
        rows[columns].to_json(orient="records", lines=True, force_ascii=False).splitlines(), index=rows.index
    )


def read_files(contract: ExtractContract, files: list[LandedFile], settings: ReadSettings, keep=None):
    """Read every file; unreadable or structurally wrong files become refusals, not exceptions. `keep`: only
    the rows whose account ids it selects (`read_raw`)."""
    raws: list[RawFile] = []
    refusals: list[dict] = []
    required = {c.name for c in contract.columns if c.required}
    for f in files:
        try:
            raw = read_raw(f, settings.encoding, settings.delimiter, keep)
        except UnreadableFile as exc:
            refusals.append({"source_file": f.name, "reason": exc.reason})
            continue
        present = set(raw.rows.columns) - {ROW}
        missing = [c for c in contract.column_names if c not in present]
        if required & set(missing):
            hint = (
                "" if len(present) > 1 else f"; only one column found: is the delimiter {settings.delimiter!r} right?"
            )
            refusals.append(
                {
                    "source_file": f.name,
                    "reason": f"missing column(s) {', '.join(missing)}{hint}",
                    "rows_read": raw.rows_read,
                    "raw": raw,
                }
            )
            continue
        for name in missing:  # absent optional columns are read as empty values
            raw.rows[name] = pd.array([""] * len(raw.rows), dtype=TEXT)
        raws.append(raw)
    return raws, refusals


def validate_extract(
    contract: ExtractContract,
    files: list[LandedFile],
    settings: ReadSettings = ReadSettings(),
    references: dict[str, pd.Index] | None = None,
    accounts: pd.DataFrame | None = None,
) -> LoadResult:
    """Read and validate the given files of one extract, in order; the first occurrence of a key wins.

    `references` holds the accepted keys of referenced extracts; `accounts` (account_id, opened_on,
    closed_on) is needed for extracts whose date must fall on a day the account is open.
    """
    if not files:
        return LoadResult(
            contract.name,
            empty_accepted(contract),
            pd.DataFrame(columns=REJECTED_COLUMNS),
            pd.DataFrame(columns=AUDIT_COLUMNS),
        )
    files = sorted(files, key=delivery_order)
    with stage("read") as timed:
        raws, refusals = read_files(contract, files, settings)
        timed.rows = sum(r.rows_read for r in raws)
    with stage("validate") as timed:
        timed.rows = sum(r.rows_read for r in raws)
        result = _validate(contract, files, settings, references, accounts, raws, refusals)
        result.accepted = with_object_text(result.accepted)
        return result


def with_object_text(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with its Arrow-backed text columns as Python strings (None when missing), in place."""
    for name, column in frame.items():
        if isinstance(column.dtype, pd.ArrowDtype):
            frame[name] = arrow_text(column).to_numpy(zero_copy_only=False)
    return frame


def _validate(
    contract: ExtractContract,
    files: list[LandedFile],
    settings: ReadSettings,
    references: dict[str, pd.Index] | None,
    accounts: pd.DataFrame | None,
    raws: list[RawFile],
    refusals: list[dict],
) -> LoadResult:
    frames, malformed = [], []
    names = contract.column_names
    extras_of = {raw.file.name: [c for c in raw.rows.columns if c not in (*names, ROW)] for raw in raws}
    for raw in raws:
        frames.append(raw.rows)
        if len(raw.malformed):
            malformed.append(raw.malformed.assign(source_file=raw.file.name))
    sizes = [len(f) for f in frames]  # rows are concatenated file by file: repeat each file's name and period
    if frames:  # the file names added after concatenating: one copy of the rows, not two
        rows = pd.concat(frames, ignore_index=True)
        rows[FILE] = np.repeat(np.array([raw.file.name for raw in raws], dtype=object), sizes)
    else:
        rows = pd.DataFrame({**{c: pd.Series(dtype=TEXT) for c in names}, ROW: [], FILE: []})
    extras = [c for c in rows.columns if c not in (*names, ROW, FILE)]
    raw_columns = names + extras
    rows[extras] = rows[extras].fillna("") if extras else rows[extras]

    periods = pd.DataFrame(
        {
            "start": np.repeat(np.array([raw.file.period_start for raw in raws], dtype="datetime64[ns]"), sizes),
            "end": np.repeat(np.array([raw.file.period_end for raw in raws], dtype="datetime64[ns]"), sizes),
        },
        index=rows.index,
    )
    typed, failed = _rules(contract, rows, periods, references or {}, accounts)

    failing = failed.any(axis=1)
    duplicates = delivered_versions(rows.loc[~failing] if failing.any() else rows, list(contract.key), names)
    failed[REDELIVERED] = duplicates.redelivered.reindex(rows.index, fill_value=False)
    failed["duplicate_key_conflict"] = duplicates.conflict.reindex(rows.index, fill_value=False)

    reasons = _describe(failed)
    rejected_rows = rows.loc[reasons.index]
    rejected = pd.DataFrame(
        {
            "extract": contract.name,
            "source_file": rejected_rows[FILE],
            "row_number": rejected_rows[ROW].astype("int64"),
            "rule": reasons,
            "raw_record": _raw_records(rejected_rows, raw_columns),
        }
    )
    for r in refusals:  # rows of a file refused for its columns are kept too, with the file's reason
        if "raw" in r and len(r["raw"].rows):
            whole = r["raw"].rows
            malformed.append(
                pd.DataFrame(
                    {
                        ROW: whole[ROW],
                        "raw": _raw_records(whole, [c for c in whole.columns if c != ROW]),
                        "rule": f"file_refused: {r['reason']}",
                        "source_file": r["source_file"],
                    }
                )
            )
        if "raw" in r and len(r["raw"].malformed):  # and its lines that did not split: counted as read, so kept
            malformed.append(
                r["raw"].malformed.assign(rule=f"file_refused: {r['reason']}", source_file=r["source_file"])
            )
    if malformed:
        m = pd.concat(malformed, ignore_index=True)
        rejected = pd.concat(
            [
                rejected,
                pd.DataFrame(
                    {
                        "extract": contract.name,
                        "source_file": m["source_file"],
                        "row_number": m[ROW].astype("int64"),
                        "rule": m["rule"],
                        "raw_record": m["raw"],
                    }
                ),
            ],
            ignore_index=True,
        )
    rejected = rejected.sort_values(["source_file", "row_number"], kind="stable").reset_index(drop=True)

    superseded = _superseded(contract, rows, duplicates, raw_columns)
    kept = _period_ordered(rows, sizes, [raw.file.name for raw in raws], files, reasons.index, duplicates)
    # the contract's columns (`typed` has no other): a new frame, the source file is added in place, unless it is
    # every row as it came: `typed` then
    accepted = typed if len(kept) == len(typed) and (kept[1:] > kept[:-1]).all() else typed.take(kept)
    accepted["source_file"] = rows[FILE].to_numpy()[kept]
    accepted.index = pd.RangeIndex(len(accepted))

    audit = _audit(contract.name, files, raws, rejected, refusals, extras_of, settings, superseded)
    refused = [f"{a.source_file}: {a.note}" for a in audit.itertuples() if a.status == "refused"]
    return LoadResult(contract.name, accepted, rejected, audit, refused, superseded)


def _period_ordered(
    rows: pd.DataFrame, sizes: list[int], names: list[str], files: list[LandedFile], rejected: pd.Index, versions
) -> np.ndarray:
    """Positions of the rows to accept (not rejected, not superseded) in period order (file period, name, row),
    whatever the delivery order: sums do not depend on when a file arrived. `rows` come file by file (`names`,
    `sizes`), each file's in row order: when the files came in period order nothing is reordered."""
    keep = np.ones(len(rows), dtype=bool)  # rows has a RangeIndex: labels are positions
    keep[rejected.to_numpy(dtype="int64")] = False
    keep[versions.superseded_by.index.to_numpy(dtype="int64")] = False
    kept = np.flatnonzero(keep)
    period_order = {f.name: i for i, f in enumerate(sorted(files))}
    rank = np.repeat(np.array([period_order[n] for n in names], dtype="int64"), sizes)[kept]
    if (np.diff(rank) < 0).any():
        kept = kept[np.argsort(rank, kind="stable")]  # by file; a stable sort keeps each file's rows in row order
    return kept


@dataclass(frozen=True)
class Versions:
    """How the valid rows sharing a key relate: rejected repeats, and the rows a later delivery replaced."""

    redelivered: pd.Series  # bool: same values as the version before it (harmless re-delivery)
    conflict: pd.Series  # bool: another value for a key already in the same file (the file's first wins)
    superseded_by: pd.Series  # for each replaced row, the index of the row that replaced it


def delivered_versions(valid: pd.DataFrame, key: list[str], names: list[str]) -> Versions:
    """Rows come in delivery order (file by file). Within one file the first row of a key wins and a
    later one is a conflict; across files the newest delivery wins, and a row repeating the version
    before it changes nothing (re-delivered). Only rows whose key occurs more than once are looked at."""
    clash = valid.duplicated(key, keep=False)
    none = pd.Series(False, index=valid.index)
    if not clash.any():
        return Versions(redelivered=none, conflict=none, superseded_by=pd.Series(dtype="int64"))
    valid = valid[clash]
    in_file = valid.duplicated([FILE, *key], keep="first")
    same_in_file = valid.duplicated([FILE, *names], keep="first")
    firsts = valid[~in_file]
    fingerprint = pd.util.hash_pandas_object(firsts[names], index=False)
    previous = fingerprint.groupby([firsts[k] for k in key], sort=False).shift(1)
    repeat = fingerprint.eq(previous)
    versions = firsts[~repeat]
    newest = versions.groupby(key, sort=False).cumcount(ascending=False) == 0
    winner = versions[newest][key].reset_index().rename(columns={"index": "winner"})
    replaced = versions[~newest][key].reset_index().merge(winner, on=key, how="left").set_index("index")
    redelivered = (in_file & same_in_file) | repeat.reindex(valid.index, fill_value=False)
    return Versions(
        redelivered=redelivered.reindex(none.index, fill_value=False),
        conflict=(in_file & ~same_in_file).reindex(none.index, fill_value=False),
        superseded_by=replaced["winner"].rename_axis(None),
    )


SUPERSEDED_COLUMNS = [
    "extract",
    "key",
    "old_source_file",
    "old_row_number",
    "old_record",
    "new_source_file",
    "new_record",
]


def _superseded(contract: ExtractContract, rows: pd.DataFrame, versions: Versions, columns: list[str]) -> pd.DataFrame:
    """One row per value a later delivery replaced: which key, which file it came from, old and new values."""
    old = rows.loc[versions.superseded_by.index]
    new = rows.loc[versions.superseded_by.to_numpy()]
    return pd.DataFrame(
        {
            "extract": contract.name,
            "key": _raw_records(old, list(contract.key)).to_numpy(),
            "old_source_file": old[FILE].to_numpy(),
            "old_row_number": old[ROW].astype("int64").to_numpy(),
            "old_record": _raw_records(old, columns).to_numpy(),
            "new_source_file": new[FILE].to_numpy(),
            "new_record": _raw_records(new, columns).to_numpy(),
        },
        columns=SUPERSEDED_COLUMNS,
    )


def _audit(
    extract: str,
    files: list[LandedFile],
    raws: list[RawFile],
    rejected: pd.DataFrame,
    refusals: list[dict],
    extras_of: dict[str, list[str]],
    settings: ReadSettings,
    superseded: pd.DataFrame,
) -> pd.DataFrame:
    """One row per file: read = accepted + rejected, and whether the file blocks publication."""
    read = {r.file.name: r.rows_read for r in raws}
    counts = rejected.groupby("source_file")["rule"].agg(
        rejected="size", redelivered=lambda r: (r == REDELIVERED).sum()
    )
    replaced = superseded["old_source_file"].value_counts()
    refused = {r["source_file"]: r for r in refusals}
    records = []
    for f in files:
        if f.name in refused:
            r = refused[f.name]
            n = int(r.get("rows_read", 0))
            records.append((extract, f.name, n, 0, n, 0, 0, "refused", r["reason"], f.delivered_at))
            continue
        n = read[f.name]
        rej = int(counts["rejected"].get(f.name, 0))
        redelivered = int(counts["redelivered"].get(f.name, 0))
        extras = extras_of.get(f.name)
        note = f"extra column(s) ignored: {', '.join(extras)}" if extras else ""
        records.append(
            (
                extract,
                f.name,
                n,
                n - rej,
                rej,
                redelivered,
                int(replaced.get(f.name, 0)),
                "accepted",
                note,
                f.delivered_at,
            )
        )
    return apply_threshold(pd.DataFrame.from_records(records, columns=AUDIT_COLUMNS), settings.max_rejected_share)


def apply_threshold(audit: pd.DataFrame, max_rejected_share: float) -> pd.DataFrame:
    """Refuse every file not already refused whose share of rejected rows (re-deliveries not counted) exceeds
    the threshold; the note says how many and keeps what it said before."""
    audit = audit.copy()
    for i, row in audit.iterrows():
        n, bad = int(row["rows_read"]), int(row["rows_rejected"]) - int(row["rows_redelivered"])
        share = bad / n if n else 0.0
        if row["status"] != "refused" and share > max_rejected_share:
            note = (
                f"{bad} of {n} rows rejected ({share:.1%}), above the {max_rejected_share:.1%} threshold; "
                "see rejected_rows"
            )
            audit.loc[i, ["status", "note"]] = ["refused", note + (f"; {row['note']}" if row["note"] else "")]
    return audit


SUMMED = ["rows_read", "rows_accepted", "rows_rejected", "rows_redelivered", "rows_superseded"]


def sum_audits(audits: list[pd.DataFrame], max_rejected_share: float) -> pd.DataFrame:
    """The audit of files read in client shards (`validate_shard`, without the threshold): per file the shards'
    counts summed (each row was read by exactly one shard), refused when a shard refused it for its structure
    (every shard sees that) or when the whole file's rejected share exceeds the threshold."""
    parts = pd.concat([a for a in audits if len(a)], ignore_index=True) if any(len(a) for a in audits) else None
    if parts is None:
        return pd.DataFrame(columns=AUDIT_COLUMNS)
    parts["refused"] = parts["status"] == "refused"
    grouped = parts.groupby("source_file", sort=False)
    summed = grouped[SUMMED].sum().astype("int64")
    first = grouped[["extract", "note", "delivered_at"]].first()
    refused = grouped["refused"].any()
    note = parts[parts["refused"]].groupby("source_file", sort=False)["note"].first()
    audit = first.join(summed).assign(
        status=refused.map({True: "refused", False: "accepted"}),
        note=note.reindex(first.index).fillna(first["note"]),
    )
    audit = audit.reset_index()[AUDIT_COLUMNS]
    return apply_threshold(audit, max_rejected_share)


def validate_shard(
    contract: ExtractContract,
    files: list[LandedFile],
    settings: ReadSettings,
    references: dict[str, pd.Index],
    accounts: pd.DataFrame | None,
    shard_of_ids,
    shard: int,
) -> LoadResult:
    """`validate_extract` on the rows of one client shard: each file is parsed whole, and only its rows whose
    `shard_of_ids(account ids)` is `shard` are kept, before they become Python strings (rows the parser could
    not split go to shard 0; a file without an account_id column: all its rows to the shard of ""). The
    audit counts this shard's rows and applies no threshold: `sum_audits` does, on the whole file.
    `shard_of_ids` None: a single shard, every row."""
    if not files:
        return validate_extract(contract, files, settings, references, accounts)
    files = sorted(files, key=delivery_order)
    raws, refusals = [], []
    with stage("read") as timed:
        for f in files:
            if shard_of_ids is None:  # one shard: every row is the shard's
                read, refused = read_files(contract, [f], settings)
                raws += read
                refusals += refused
                continue
            read, refused = read_files(contract, [f], settings, lambda ids: shard_of_ids(ids) == shard)
            raws += [_rows_of(raw, shard_of_ids, shard) for raw in read]
            for r in refused:
                if "raw" in r:
                    r = {**r, "raw": _rows_of(r["raw"], shard_of_ids, shard)}
                    r["rows_read"] = r["raw"].rows_read
                refusals.append(r)
        timed.rows = sum(r.rows_read for r in raws)
    unlimited = ReadSettings(settings.encoding, settings.delimiter, float("inf"))
    with stage("validate") as timed:
        timed.rows = sum(r.rows_read for r in raws)
        return _validate(contract, files, unlimited, references, accounts, raws, refusals)


def extend_validation(
    contract: ExtractContract, files: list[LandedFile], earlier: LoadResult, added: LoadResult
) -> LoadResult | None:
    """What validating all of a month's `files` at once gives, from the validation of its earlier files
    (`earlier`) and that of the files delivered since (`added`); None when a key of the new files is already
    accepted (a re-delivery or a new version: only the month's files together decide which wins).

    Every other rule is decided by the row alone or among rows of the same key, so the earlier files' results
    stand: the accepted rows keep their period order (file period, then row), the rejected rows their file
    and row order, the audit and the superseded values their delivery order (of the file, of the old value's)."""
    key = list(contract.key)
    if len(added.accepted) and len(earlier.accepted) and _any_key_in(added.accepted[key], earlier.accepted[key]):
        return None
    period_rank = {f.name: i for i, f in enumerate(sorted(files))}
    delivery_rank = {f.name: i for i, f in enumerate(sorted(files, key=delivery_order))}

    def both(frames: tuple[pd.DataFrame, pd.DataFrame], rank: dict | None = None, by: str = "source_file"):
        """The two parts' rows; with `rank`, stably in the rank of their file (each file's rows are in one part,
        already in order): as they are when every file of the earlier part ranks before the new ones (the
        nightly's new day), without ranking each row."""
        kept = [f for f in frames if len(f)] or [frames[1]]
        joined = pd.concat(kept, ignore_index=True) if len(kept) > 1 else kept[0].reset_index(drop=True)
        if rank is None or (by == "source_file" and _ranked_before(earlier.audit, added.audit, rank)):
            return joined
        order = np.argsort(joined[by].map(rank).to_numpy(), kind="stable")
        return joined.iloc[order].reset_index(drop=True)

    rejected = both((earlier.rejected, added.rejected))
    audit = both((earlier.audit, added.audit), delivery_rank)
    return LoadResult(
        contract.name,
        both((earlier.accepted, added.accepted), period_rank),
        rejected.sort_values(["source_file", "row_number"], kind="stable").reset_index(drop=True),
        audit,
        [f"{a.source_file}: {a.note}" for a in audit.itertuples() if a.status == "refused"],
        both((earlier.superseded, added.superseded), delivery_rank, "old_source_file"),
    )


def follows_in_period_order(files: list[LandedFile], earlier_audit: pd.DataFrame, added_audit: pd.DataFrame) -> bool:
    """Whether the files validated since (`added_audit`) all come after the earlier ones in period order: the
    month's accepted rows are then the earlier ones followed by the new ones (`extend_validation`)."""
    return _ranked_before(earlier_audit, added_audit, {f.name: i for i, f in enumerate(sorted(files))})


def _ranked_before(earlier_audit: pd.DataFrame, added_audit: pd.DataFrame, rank: dict) -> bool:
    """Whether every file of the earlier validation (its audit has a row per file) ranks before every new one."""
    earlier_ranks = [rank.get(f, np.nan) for f in earlier_audit["source_file"]]
    added_ranks = [rank.get(f, np.nan) for f in added_audit["source_file"]]
    return not earlier_ranks or not added_ranks or bool(np.max(earlier_ranks) < np.min(added_ranks))


def _any_key_in(keys: pd.DataFrame, others: pd.DataFrame) -> bool:
    """Whether any row of `keys` is a row of `others` (same columns): a hash lookup, not a merge."""
    if keys.shape[1] == 1:
        return bool(keys.iloc[:, 0].isin(others.iloc[:, 0]).any())
    return bool(pd.MultiIndex.from_frame(keys).isin(pd.MultiIndex.from_frame(others)).any())


def _rows_of(raw: RawFile, shard_of_ids, shard: int) -> RawFile:
    """The shard's part of a file `read_raw(keep=…)` read: its rows as read when it has an account_id column
    (`keep` selected them in Arrow), else every row or none by the shard of "" (no account); the lines the
    parser could not split go to shard 0."""
    malformed = raw.malformed if shard == 0 else raw.malformed.iloc[0:0]
    if "account_id" in raw.rows:
        return RawFile(raw.file, raw.rows, malformed)
    mine = shard_of_ids(pd.Series("", index=raw.rows.index)) == shard
    return RawFile(raw.file, raw.rows[mine].reset_index(drop=True), malformed)


def load_snapshot(
    contract: ExtractContract,
    files: list[LandedFile],
    settings: ReadSettings,
    references: dict[str, pd.Index] | None = None,
) -> LoadResult:
    """Load the latest file of a full-snapshot extract; older files are audited as superseded."""
    if not files:
        raise UnreadableFile(f"{contract.name}_*", f"no {contract.name} extract in the landing directory")
    latest, older = files[-1], files[:-1]
    result = validate_extract(contract, [latest], settings, references)
    superseded = pd.DataFrame.from_records(
        [
            (contract.name, f.name, 0, 0, 0, 0, 0, "superseded", f"superseded by {latest.name}", f.delivered_at)
            for f in older
        ],
        columns=AUDIT_COLUMNS,
    )
    result.audit = pd.concat([superseded, result.audit], ignore_index=True) if older else result.audit
    return result


def restatements(contract: ExtractContract, before: pd.DataFrame | None, after: pd.DataFrame) -> pd.DataFrame:
    """Values a file re-sent under the same name changed: keys whose accepted value came from a file before
    and now comes from the same file with other values, or is gone (`before`/`after`: accepted rows).
    A key another file now carries is a supersession, recorded when the files are validated together."""
    key, names = list(contract.key), contract.column_names
    if before is None or before.empty:
        return pd.DataFrame(columns=SUPERSEDED_COLUMNS)
    extra = [c for c in names if c not in key]
    new = with_object_text(after[[*names, "source_file"]].copy()).rename(
        columns={c: f"{c}_new" for c in [*extra, "source_file"]}
    )
    merged = before[[*names, "source_file"]].merge(new, on=key, how="left", indicator=True)
    gone = merged["_merge"] == "left_only"
    differs = pd.Series(False, index=merged.index)
    for c in extra:
        a, b = merged[c], merged[f"{c}_new"]
        differs |= ~((a == b) | (a.isna() & b.isna()))
    hit = merged[gone | (differs & (merged["source_file_new"] == merged["source_file"]))]
    lost = (hit["_merge"] == "left_only").to_numpy()
    now = hit[[c if c in key else f"{c}_new" for c in names]].set_axis(names, axis=1)
    return pd.DataFrame(
        {
            "extract": contract.name,
            "key": _json_records(hit, key).to_numpy(),
            "old_source_file": hit["source_file"].to_numpy(),
            "old_row_number": None,
            "old_record": _json_records(hit, names).to_numpy(),
            "new_source_file": hit["source_file_new"].where(~lost, None).to_numpy(),
            "new_record": _json_records(now, names).where(~lost, None).to_numpy(),
        },
        columns=SUPERSEDED_COLUMNS,
    )


def _json_records(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """Typed values as JSON objects, dates as YYYY-MM-DD."""
    out = frame[columns].copy()
    for c in columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            out[c] = out[c].dt.strftime("%Y-%m-%d")
    return _raw_records(out, columns).set_axis(frame.index) if len(out) else pd.Series(dtype=object)
