"""Transactions and balances validated in client shards: one step per shard, one step that audits and records.

A shard step walks the run's months in order; for each it reads the month's files, keeps the rows of its
clients' accounts (a row of an unknown account goes to the shard of the account id's own hash, so it is
rejected exactly once), validates them against the whole accounts snapshot and stages, per (month, shard),
the accepted rows (as pending), its rejected rows, its partial audit and the values superseded or
restated. The collecting step sums the partial audits per file (read = accepted + rejected holds per
shard, so it holds for the sum), applies the rejected-share threshold to the whole file, records the load in
one transaction per month, evaluates the load checks per month and only then makes the pending rows the
month's validated rows. A refused file stops publication with its name, as before.

One thing shards cannot see alone: a `txn_id` delivered on accounts of clients in different shards. The
collecting step looks for it (the `txn_id` column of every shard's rows) and refuses the month naming the ids
and files; unsharded, the newest delivery would have won (docs/decisions.md).
"""

import hashlib
import json
import os
import socket
from dataclasses import asdict, dataclass, replace
from datetime import date

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetSpec,
    Failure,
    GraphIn,
    GraphOut,
    In,
    MaterializeResult,
    MetadataValue,
    Nothing,
    OpExecutionContext,
    Out,
    graph,
    op,
)

from vip_pipeline.assets.extracts import _as_seen, file_checks, file_list, load_checks, load_outcome, record_load
from vip_pipeline.assets.fanout import graph_asset
from vip_pipeline.assets.metadata import carried, catalog, column_schema, monthly_check_results, per_month
from vip_pipeline.constants import EXTRACTS
from vip_pipeline.contracts.extracts import BALANCES, TRANSACTIONS, ExtractContract
from vip_pipeline.landing.inventory import month_end
from vip_pipeline.landing.validation import (
    SUPERSEDED_COLUMNS,
    LoadResult,
    empty_accepted,
    extend_validation,
    follows_in_period_order,
    restatements,
    sum_audits,
    validate_shard,
)
from vip_pipeline.parallel import map_months
from vip_pipeline.partitions import monthly_partitions
from vip_pipeline.resources import DATABASE_RETRY, LandingResource, StagingResource, WarehouseResource
from vip_pipeline.sharding import account_shards, part, part_key, shard_count
from vip_pipeline.storage.fingerprints import fingerprint, frame_digest
from vip_pipeline.storage.staging import StagingStore
from vip_pipeline.timing import stage

LOAD_PARTS = ("rejected", "audit", "superseded", "restated")
EARLIER_PARTS = LOAD_PARTS[:3]  # what a month's later validation reads back of its staged one
SNAPSHOT_COLUMNS = ["account_id", "client_id", "opened_on", "closed_on"]  # what validation reads of an account
NAMED = "named"  # the account ids a month's staged rows name (`named_accounts`)
STAGED_PARTS = (*LOAD_PARTS, NAMED)  # written together, with one marker (`parts_marker`)


def pending(shards: int, name: str) -> str:
    """A (month, shard)'s validated rows waiting for the collecting step: all of the month's."""
    return part(shards, f"{name}.pending")


def appended(shards: int, name: str) -> str:
    """A (month, shard)'s validated rows waiting for the collecting step: the new ones, to follow the staged ones."""
    return part(shards, f"{name}.appended")


def month_inputs(contract, files, known, month, settings, database_url: str, shards: int) -> str:
    """What validating a month reads (the same for every shard: they change together), as JSON: the fingerprint
    of the settings and the warehouse, the digest of the accounts as the month sees them, and the files'
    signatures. A month whose earlier files and settings did not change validates only its new files
    (`validated_since`)."""
    context = fingerprint(
        settings=asdict(settings), warehouse=hashlib.sha1(database_url.encode()).hexdigest(), shards=shards
    )
    accounts = frame_digest(_as_seen("accounts", known, month))
    return json.dumps({"context": context, "accounts": accounts, "files": sorted(f.signature() for f in files)})


def named_accounts(result: LoadResult) -> pd.Series:
    """The account ids a validation's rows name: its accepted rows' and those its rejected rows were delivered
    with (sorted, unique)."""

    def named(record: str):
        try:
            return json.loads(record).get("account_id")
        except (ValueError, AttributeError):  # a line that did not split names no account
            return None

    accepted = pd.Series(result.accepted["account_id"].unique()).astype(object)  # Arrow's hash on Arrow text
    ids = pd.concat([accepted, result.rejected["raw_record"].map(named).dropna()])
    return pd.Series(sorted(ids.unique()), dtype=object, name="account_id")


def accounts_named(known: pd.DataFrame, ids: pd.Series, month: date) -> str:
    """The digest of the snapshot's rows (client, opening day, a closing day by the month's end) of the accounts
    `ids`, absent ones included by their absence: all a month's verdicts on the rows naming them depend on
    besides the rows themselves. A new snapshot that only adds accounts no row named, or closes one after the
    month, leaves it unchanged; one that closes a named account within the month, moves one to another client or
    opens one the rows named as unknown does not."""
    rows = known.loc[known["account_id"].isin(ids), SNAPSHOT_COLUMNS]
    rows = rows.assign(closed_on=rows["closed_on"].where(rows["closed_on"] <= pd.Timestamp(month_end(month))))
    return frame_digest(rows.sort_values("account_id", kind="stable").reset_index(drop=True))


def snapshot_digest(known: pd.DataFrame) -> str:
    """The digest of the whole accounts snapshot as validation reads it: when it is as at a month's validation,
    so are the accounts its rows name (no need to read which they are)."""
    return frame_digest(known[SNAPSHOT_COLUMNS].sort_values("account_id", kind="stable").reset_index(drop=True))


def parts_marker(inputs: str, named: str, snapshot: str) -> str:
    """The marker of a validation's load parts: its inputs, the digest of the accounts its rows name and the
    digest of the snapshot it was validated against."""
    return json.dumps({**json.loads(inputs), "named": named, "snapshot": snapshot})


@dataclass(frozen=True)
class Staged:
    """What a (month, shard)'s staged validation is of: its files' signatures and the digests of the accounts its
    rows name and of the snapshot."""

    files: frozenset
    named: str
    snapshot: str


def earlier_validation(store: StagingStore, shards: int, name: str, where: str, inputs: str) -> Staged | None:
    """What the validation staged for this (month, shard) is of, when its rows and load parts come from one
    validation with today's settings of files still landed unchanged; None otherwise: the month is validated
    whole."""
    try:
        before, now = json.loads(store.fingerprint(part(shards, name), where)), json.loads(inputs)
        parts = [json.loads(store.fingerprint(part(shards, f"{name}.{p}"), where)) for p in STAGED_PARTS]
    except (TypeError, ValueError):  # nothing staged, or staged before markers named their files
        return None
    digests = {(p.get("named"), p.get("snapshot")) for p in parts}
    if len(digests) != 1 or any({**before, "named": p.get("named"), "snapshot": p.get("snapshot")} != p for p in parts):
        return None
    if before["context"] != now["context"] or not set(before["files"]) <= set(now["files"]):
        return None
    ((named, snapshot),) = digests
    return Staged(frozenset(before["files"]), named, snapshot)


def names_unchanged(staged: Staged, store, shards: int, name: str, where: str, month: date, known, snapshot) -> bool:
    """Whether the accounts a (month, shard)'s staged rows name are as when it was validated: the snapshot is the
    one it was validated against, or the digest of those accounts (their ids are staged) is the same."""
    if staged.snapshot == snapshot:
        return True
    ids = store.read(part(shards, f"{name}.{NAMED}"), where)
    return accounts_named(known, ids["account_id"], month) == staged.named


def names_as_staged(store, shards: int, name: str, where: str, month: date, inputs: str, known, snapshot) -> bool:
    """Whether a month whose files, settings and accounts as it sees them did not change can keep its staged
    validation: the accounts its rows name are as when it was validated (a new snapshot can open an account its
    rows named as unknown, later than the month: a run from scratch would say `account_not_open_on`)."""
    staged = earlier_validation(store, shards, name, where, inputs)
    return staged is not None and names_unchanged(staged, store, shards, name, where, month, known, snapshot)


@dataclass
class Extended:
    """A month's validation extended by the files delivered since. With `appended` (one shard, every new file after
    the staged ones in period order), the month's accepted rows are the staged ones followed by `appended`, and
    `result.accepted` holds only their key and account columns (what counting and naming the accounts read)."""

    result: LoadResult
    appended: pd.DataFrame | None = None


def validated_since(contract, files, store, shards, where, month, inputs, validate, known, snapshot) -> Extended | None:
    """The month's validation from its staged one and `validate(the files delivered since)`, or None when it
    must be validated whole: the staged one is not of today's files and settings (`earlier_validation`), the
    accounts its rows name changed (`names_unchanged`), or a new file repeats an accepted key
    (`extend_validation`). The staged accepted rows are read whole only when the new rows do not simply follow
    them (a late file for an earlier day, client shards); otherwise their keys are read, and the new rows are
    appended to them (the nightly: a day's rows, not the month's, written)."""
    staged = earlier_validation(store, shards, contract.name, where, inputs)
    if staged is None:
        return None
    with stage("validate"):
        if not names_unchanged(staged, store, shards, contract.name, where, month, known, snapshot):
            return None
    with stage("read"):
        parts = {p: store.read(part(shards, f"{contract.name}.{p}"), where) for p in EARLIER_PARTS}
    new = [f for f in files if f.signature() not in staged.files]
    added = validate(new) if new else None
    appending = added is not None and shards == 1 and follows_in_period_order(files, parts["audit"], added.audit)
    keys = list(dict.fromkeys([*contract.key, "account_id"])) if appending else None
    with stage("read"):
        accepted = store.read(part(shards, contract.name), where, columns=keys)
    earlier = LoadResult(contract.name, accepted, parts["rejected"], parts["audit"], [], parts["superseded"])
    if added is None:
        nothing = [f.iloc[:0] for f in (accepted, earlier.rejected, earlier.audit)]
        added = LoadResult(contract.name, *nothing, superseded=earlier.superseded.iloc[:0])
    new_rows = added.accepted
    if appending:
        added = replace(added, accepted=new_rows[keys])
    with stage("validate"):
        result = extend_validation(contract, files, earlier, added)
    return None if result is None else Extended(result, new_rows if appending else None)


def validate_shard_months(
    contract: ExtractContract,
    keys: list[str],
    store: StagingStore,
    landing: LandingResource,
    database_url: str,
    shard: int,
    shards: int,
) -> dict:
    """Validate (or skip, when its inputs did not change) each month of `keys` for one shard; stage the parts.
    The months to validate do not depend on each other: they run side by side (`parallel.map_months`)."""
    inventory, settings = landing.inventory(), landing.settings()
    known = store.read("accounts")
    if known is None:
        raise Failure(allow_retries=False, description="accounts is not materialised: load the snapshots first")
    months, todo = {}, {}
    with stage("validate"):
        snapshot = snapshot_digest(known)
    for key in keys:
        month = date.fromisoformat(key)
        files = inventory.for_month(contract.name, month)
        where = part_key(key, shard)
        with stage("validate"):  # what the month's validation would read, against what its staged one read
            inputs = month_inputs(contract, files, known, month, settings, database_url, shards)
            unchanged = store.fingerprint(part(shards, contract.name), where) == inputs and names_as_staged(
                store, shards, contract.name, where, month, inputs, known, snapshot
            )
        if unchanged:
            months[key] = {"status": "unchanged", "accepted": store.rows(part(shards, contract.name), where)}
        else:
            todo[key] = (contract, files, inputs, snapshot, month, where, store, known, settings, shard, shards)
    months.update(zip(todo, map_months(validate_month, list(todo.values()))))
    return {"shard": shard, "months": months, "pid": os.getpid(), "host": socket.gethostname()}


def validate_month(contract, files, inputs, snapshot, month, where, store, known, settings, shard, shards) -> dict:
    """Validate one (month, shard) — its new files only when it can (`validated_since`) — and stage its
    accepted rows (pending) and load parts, each marked with the inputs it is of."""
    references = {"accounts": pd.Index(known["account_id"])}

    def by_account(account_ids: pd.Series):
        return account_shards(account_ids, known, shards)

    def validate(some: list) -> LoadResult:
        return validate_shard(contract, some, settings, references, known, by_account if shards > 1 else None, shard)

    extended = validated_since(contract, files, store, shards, where, month, inputs, validate, known, snapshot)
    if extended is not None:  # the earlier files' rows are as staged: nothing of them can be restated
        validated, restated = "new files", pd.DataFrame(columns=SUPERSEDED_COLUMNS)
        result, new_rows = extended.result, extended.appended
    else:
        validated, result, new_rows = "all files", validate(files), None
        with stage("validate"):
            restated = restatements(contract, store.read(part(shards, contract.name), where), result.accepted)
    with stage("validate"):
        ids = named_accounts(result)
        marker = parts_marker(inputs, accounts_named(known, ids, month), snapshot)
    frames = dict(zip(STAGED_PARTS, (result.rejected, result.audit, result.superseded, restated, ids.to_frame())))
    with stage("publish"):  # staged for the collecting step
        for name, frame in frames.items():
            store.write(part(shards, f"{contract.name}.{name}"), frame, where, marker)
        if new_rows is None:  # the month's accepted rows, to replace the staged ones
            store.remove(appended(shards, contract.name), where)
            store.write(pending(shards, contract.name), result.accepted, where, inputs)
        else:  # the new rows, to follow the staged ones
            store.remove(pending(shards, contract.name), where)
            store.write(appended(shards, contract.name), new_rows, where, inputs)
    return {"status": "validated", "validated": validated, "accepted": len(result.accepted)}


def shard_step(contract: ExtractContract, shard: int, shards: int):
    @op(
        name=f"{contract.name}_shard_{shard}_of_{shards}",
        ins={"accounts": In(Nothing)},
        out=Out(dict, description="Manifest: per month, validated or unchanged, and the rows accepted."),
        description=f"Validate the {contract.name} rows of the clients in shard {shard} of {shards}, month by month.",
        tags={"vip_pipeline/shard": str(shard)},
    )
    def validate_months(
        context: OpExecutionContext, landing: LandingResource, staging: StagingResource, warehouse: WarehouseResource
    ) -> dict:
        return validate_shard_months(
            contract, context.partition_keys, staging.store, landing, warehouse.warehouse.url, shard, shards
        )

    return validate_months


def gathered(store: StagingStore, shards: int, name: str, key: str) -> pd.DataFrame:
    frames = [store.read(part(shards, name), part_key(key, k)) for k in range(shards)]
    missing = [k for k, f in enumerate(frames) if f is None]
    if missing:
        raise Failure(allow_retries=False, description=f"{name} of {key[:7]}: shard(s) {missing} not staged")
    kept = [f for f in frames if len(f)]
    return pd.concat(kept, ignore_index=True) if kept else frames[0]


def cross_shard_duplicates(store: StagingStore, contract: ExtractContract, shards: int, key: str) -> list[str]:
    """Keys of the contract (txn_id) accepted by more than one shard in the month: refusal reasons."""
    if shards == 1 or list(contract.key) != ["txn_id"]:
        return []
    frames = []
    for k in range(shards):
        path = store.path(pending(shards, contract.name), part_key(key, k))
        frames.append(pd.read_parquet(path, columns=["txn_id", "source_file"]).assign(shard=k))
    ids = pd.concat(frames, ignore_index=True)
    spread = ids.groupby("txn_id")["shard"].nunique()
    clashing = spread[spread > 1].index
    if not len(clashing):
        return []
    files = sorted(ids.loc[ids["txn_id"].isin(clashing), "source_file"].unique())
    shown = ", ".join(map(str, clashing[:5])) + (" …" if len(clashing) > 5 else "")
    return [
        f"{key[:7]}: {len(clashing)} txn_id(s) ({shown}) delivered on accounts of clients in different shards, in "
        f"{', '.join(files)}: correct the files, or run this month with VIP_SHARDS=1 (the newest delivery wins)"
    ]


def collect_step(contract: ExtractContract, shards: int, month_checks: list):
    @op(
        name=f"{contract.name}_collect",
        ins={f"shard_{k}": In(dict) for k in range(shards)},
        out={name: Out(Nothing) for name in [contract.name, *[s.get_python_identifier() for s in month_checks]]},
        retry_policy=DATABASE_RETRY,
        description=f"Sum the shards' audits per file, record the {contract.name} load and check every month.",
    )
    def collect(
        context: AssetExecutionContext,
        landing: LandingResource,
        staging: StagingResource,
        warehouse: WarehouseResource,
        **manifests: dict,
    ):
        ordered = [manifests[f"shard_{k}"] for k in range(shards)]
        yield from _collect(context, contract, month_checks, landing, staging.store, warehouse, ordered, shards)

    return collect


def _collect(context, contract, month_checks, landing, store, warehouse, manifests, shards):
    inventory, settings = landing.inventory(), landing.settings()
    name = contract.name
    results, read, unchanged, evaluated, accepted_total = [], [], [], [], 0
    for key in context.partition_keys:
        month = date.fromisoformat(key)
        files = inventory.for_month(name, month)
        accepted = sum(m["months"][key]["accepted"] for m in manifests)
        if all(m["months"][key]["status"] == "unchanged" for m in manifests):
            unchanged.append(key[:7])
            evaluated += [(key, e) for e in carried(month_checks)]
            per_month(context, name, key, {"dagster/row_count": accepted, "status": "unchanged since its last run"})
            continue
        with stage("validate"):  # the shards' validations of the month, as one
            loads = {part_name: gathered(store, shards, f"{name}.{part_name}", key) for part_name in LOAD_PARTS}
            audit = sum_audits([loads["audit"]], settings.max_rejected_share)
            rejected = loads["rejected"].sort_values(["source_file", "row_number"], kind="stable", ignore_index=True)
            refused = [f"{a.source_file}: {a.note}" for a in audit.itertuples() if a.status == "refused"]
            refused += cross_shard_duplicates(store, contract, shards, key)
            result = LoadResult(name, empty_accepted(contract), rejected, audit, refused, loads["superseded"])
            restated = loads["restated"] if result.ok else None
        with stage("publish"):
            record_load(context, warehouse, result, files, restated, month)
            if result.ok:
                for k in range(shards):
                    new_rows = store.path(appended(shards, name), part_key(key, k)).exists()
                    source = appended(shards, name) if new_rows else pending(shards, name)
                    store.promote(source, part(shards, name), part_key(key, k), append=new_rows)
        per_month(
            context,
            name,
            key,
            {
                "dagster/row_count": accepted,
                "status": "validated",
                "validated": (
                    "the files delivered since its last run"
                    if all(m["months"][key].get("validated") == "new files" for m in manifests)
                    else "every file of the month"
                ),
                "files": file_list(files),
                "rows_rejected": int(audit["rows_rejected"].sum()) if len(audit) else 0,
                "rows_superseded": len(result.superseded),
            },
        )
        results.append(result)
        read += files
        accepted_total += accepted
        evaluated += [(key, e) for e in file_checks(name, [result])]
    _, failure = load_outcome(context, name, results, read, len(unchanged))
    if failure:
        yield from monthly_check_results(context, evaluated)
        raise failure
    where = sorted({f"{m['host']} (pid {m['pid']})" for m in manifests})
    yield MaterializeResult(
        asset_key=name,
        metadata={
            "files": file_list(read),
            "months_validated": len(results),
            "months_unchanged": MetadataValue.json(unchanged),
            "rows_accepted": accepted_total,
            **({"shards_ran_on": MetadataValue.json(where)} if shards > 1 else {}),
        },
    )
    yield from monthly_check_results(context, evaluated)


def sharded_extract(contract: ExtractContract, shards: int):
    """The monthly extract `contract` (referencing accounts) validated in `shards` client shards."""
    month_checks = load_checks(contract.name, monthly_partitions)
    spec = AssetSpec(
        contract.name,
        group_name=EXTRACTS,
        deps=["accounts"],
        metadata=column_schema(contract),
        description=contract.description,
        kinds={"pandas", "parquet"},
        **catalog(EXTRACTS, contract.name),
    )
    steps = [shard_step(contract, k, shards) for k in range(shards)]
    collect = collect_step(contract, shards, month_checks)
    outputs = [contract.name, *[s.get_python_identifier() for s in month_checks]]

    def body(accounts):
        return dict(zip(outputs, collect(**{f"shard_{k}": step(accounts=accounts) for k, step in enumerate(steps)})))

    graph_def = graph(
        name=contract.name,
        ins={"accounts": GraphIn()},
        out={name: GraphOut() for name in outputs},
        description=f"{contract.name}: validated in {shards} client shard(s), then audited and recorded.",
    )(body)
    return graph_asset(graph_def, [spec], {"accounts": ("accounts", None)}, month_checks, EXTRACTS)


transactions = sharded_extract(TRANSACTIONS, shard_count())
balances = sharded_extract(BALANCES, shard_count())
