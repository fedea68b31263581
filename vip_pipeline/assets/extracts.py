"""Validated extracts: every landed row is accepted (typed, in staging) or rejected (in rejected_rows).

Snapshots (clients, accounts) and FX rates are one staged frame each. Transactions, balances and the
client P&L are monthly partitions; a run over a range of months validates them in order in one step,
and a month whose files and references did not change since it was staged is not validated again.
"""

import hashlib
import json
from dataclasses import asdict
from datetime import date
from pathlib import Path

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    BackfillPolicy,
    DataVersion,
    Failure,
    MaterializeResult,
    MetadataValue,
    Output,
    asset,
)

from vip_pipeline import checks
from vip_pipeline.assets.metadata import (
    blocking_check,
    carried,
    check_results,
    monthly_check_results,
    catalog,
    column_schema,
    evaluate,
    pandera_type,
    per_month,
    verdict,
)
from vip_pipeline.constants import EXTRACTS
from vip_pipeline.contracts.extracts import (
    ACCOUNTS,
    CLIENT_PNL,
    CLIENTS,
    FX_RATES,
    ExtractContract,
)
from vip_pipeline.landing.inventory import LandedFile, month_end, parse_file_name
from vip_pipeline.landing.reader import UnreadableFile
from vip_pipeline.landing.validation import LoadResult, load_snapshot, restatements, validate_extract
from vip_pipeline.partitions import monthly_partitions
from vip_pipeline.resources import DATABASE_RETRY, LandingResource, StagingResource, WarehouseResource
from vip_pipeline.storage.fingerprints import accounts_as_seen, fingerprint, frame_digest
from vip_pipeline.timing import report, stage

SINGLE_RUN = BackfillPolicy.single_run()


def load_checks(name: str, partitions_def=None) -> list[AssetCheckSpec]:
    """Blocking checks of every extract: nothing downstream runs when one fails."""
    return [
        blocking_check(checks.rows_reconcile, name, checks.rows_reconcile.__doc__, partitions_def),
        blocking_check(checks.no_refused_file, name, checks.no_refused_file.__doc__, partitions_def),
    ]


def file_checks(extract: str, results: list[LoadResult]) -> list[tuple[str, str, tuple[bool, dict]]]:
    """The load checks over the files read: every row accounted for, no file refused."""
    refused = [reason for r in results for reason in r.refused]
    return [
        evaluate(extract, checks.rows_reconcile, audit_of(results)),
        evaluate(extract, checks.no_refused_file, refused),
    ]


def audit_of(results: list[LoadResult]) -> pd.DataFrame:
    """The load audit rows of the files read (none read: an empty frame)."""
    audits = [r.audit for r in results if len(r.audit)]
    return pd.concat(audits, ignore_index=True) if audits else pd.DataFrame()


def record_load(
    context: AssetExecutionContext,
    warehouse: WarehouseResource,
    result: LoadResult,
    files: list[LandedFile],
    restated: pd.DataFrame | None = None,
    month: date | None = None,
) -> None:
    """Record what was read: rejected rows, the audit and the replaced values, replacing what the same files
    recorded before. Files of the extract (of `month`, for a monthly one) that are no longer landed lose
    their audit and rejected rows too: the tables describe the files landed now; their values are kept as
    withdrawn."""
    now = pd.Timestamp.now(tz="UTC")
    superseded = pd.concat([result.superseded.assign(kind="superseded"), restated], ignore_index=True)
    landed = {f.name for f in files}
    old_file = superseded["old_source_file"]
    superseded["kind"] = superseded["kind"].fillna(old_file.isin(landed).map({True: "restated", False: "withdrawn"}))
    superseded = superseded.assign(
        month=old_file.map(lambda name: pd.Timestamp(parse_file_name(Path(name)).month)),
        run_id=context.run_id,
        recorded_at=now,
    )
    with warehouse.publishing() as wh:
        vanished = {
            name
            for name in wh.recorded_files(result.extract) - landed
            if month is None or parse_file_name(Path(name)).month == month
        }
        wh.record_load(
            result.rejected.assign(run_id=context.run_id, rejected_at=now),
            result.audit.assign(run_id=context.run_id, loaded_at=now),
            superseded,
            sorted(landed | vanished),
        )


def load_outcome(
    context: AssetExecutionContext, extract: str, results: list[LoadResult], files: list[LandedFile], unchanged=0
) -> tuple[list[AssetCheckResult], Failure | None]:
    """The load checks over every file read, and the step's failure when a file is refused."""
    audit = audit_of(results)
    refused = [reason for r in results for reason in r.refused]
    rows = {k: int(audit[k].sum()) if len(audit) else 0 for k in ("rows_read", "rows_accepted", "rows_rejected")}
    results, failure = verdict(file_checks(extract, results), extract)
    context.log.info(f"{extract}: {len(files)} file(s) read, {rows}")
    mark = "✗" if refused else "✓"
    report(
        f"  {mark} {extract:<24} {len(files):>4} file(s) read, {rows['rows_accepted']:>10,} rows accepted, "
        f"{rows['rows_rejected']:,} rejected" + (f"; {unchanged} month(s) unchanged" if unchanged else "")
    )
    if failure and refused:
        failure = Failure(
            allow_retries=False,
            description=f"{extract}: publication stopped, refused file(s): " + " | ".join(refused),
            metadata=rows,
        )
    return results, failure


def file_list(files: list[LandedFile]) -> MetadataValue:
    return MetadataValue.md("\n".join(f"- {f.name}" for f in files) or "_none_")


def snapshot_asset(contract: ExtractContract):
    """The @asset of a whole-bank extract: staged as Parquet, blocking load checks, contract columns."""
    return asset(
        name=contract.name,
        group_name=EXTRACTS,
        io_manager_key="staging_io_manager",
        retry_policy=DATABASE_RETRY,
        metadata=column_schema(contract),
        check_specs=load_checks(contract.name),
        description=contract.description,
        kinds={"pandas", "parquet"},
        **catalog(EXTRACTS, contract.name),
        dagster_type=pandera_type(contract),  # the type check validates the accepted rows
    )


def _snapshot_output(context, warehouse, store, inputs: str, result: LoadResult, files, restated=None):
    """Record the load, yield the accepted rows with a data version (their digest: an identical re-load makes
    nothing downstream stale) and the checks; the inputs are remembered with the digest (`unchanged_snapshot`)."""
    with stage("publish"):
        record_load(context, warehouse, result, files, restated)
    checks, failure = load_outcome(context, result.extract, [result], files)
    if failure:
        yield from checks
        raise failure
    digest = frame_digest(result.accepted)
    text = json.dumps({"inputs": inputs, "digest": digest})
    store.write_bytes(_inputs_file(result.extract), text.encode())
    yield Output(
        result.accepted,
        data_version=DataVersion(digest),
        metadata={"files": file_list(files), "dagster/row_count": len(result.accepted)},
    )
    yield from checks


def snapshot_inputs(files: list[LandedFile], landing: LandingResource, warehouse: WarehouseResource, **references):
    """What loading a snapshot reads: its files' signatures, the settings, the references' digests and where the
    load is recorded."""
    return fingerprint(
        files=[f.signature() for f in files],
        settings=asdict(landing.settings()),
        references={name: frame_digest(frame) for name, frame in references.items()},
        warehouse=hashlib.sha1(warehouse.warehouse.url.encode()).hexdigest(),
    )


def _inputs_file(name: str) -> str:
    """Where a snapshot's inputs and the digest of its accepted rows are kept, in staging."""
    return f"{name}.inputs.json"


def unchanged_snapshot(context, store, name: str, inputs: str, files: list[LandedFile]):
    """The Output and carried checks of a snapshot loaded before from the same inputs (its staged rows, checked
    against the digest recorded with the inputs: a staged frame that differs is loaded again), or None."""
    path = store.base / _inputs_file(name)
    saved = json.loads(path.read_text()) if path.exists() else {}
    if saved.get("inputs") != inputs:
        return None
    frame = store.read(name)
    if frame is None or frame_digest(frame) != saved["digest"]:
        return None
    report(f"  ✓ {name:<24} {len(files):>4} file(s) unchanged since the last run, {len(frame):>10,} rows")
    output = Output(
        frame,
        data_version=DataVersion(saved["digest"]),
        metadata={
            "files": file_list(files),
            "dagster/row_count": len(frame),
            "status": "unchanged since its last run",
        },
    )
    return [output, *check_results(carried(context.assets_def.check_specs))]


def _snapshot(contract, files: list[LandedFile], landing: LandingResource, references=None) -> LoadResult:
    try:
        return load_snapshot(contract, files, landing.settings(), references)
    except UnreadableFile as exc:
        raise Failure(allow_retries=False, description=f"{contract.name}: {exc.reason} ({landing.path})") from exc


def _snapshot_step(context, landing, staging, warehouse, name: str, load, **references):
    """A snapshot's step: kept when loaded before from the same inputs, else `load(files)` → (result, restated),
    recorded and yielded."""
    store, files = staging.store, landing.inventory().of(name)
    inputs = snapshot_inputs(files, landing, warehouse, **references)
    if (unchanged := unchanged_snapshot(context, store, name, inputs, files)) is not None:
        yield from unchanged
        return
    result, restated = load(files)
    yield from _snapshot_output(context, warehouse, store, inputs, result, files, restated)


@snapshot_asset(CLIENTS)
def clients(
    context: AssetExecutionContext, landing: LandingResource, staging: StagingResource, warehouse: WarehouseResource
):
    def load(files):
        return _snapshot(CLIENTS, files, landing), None

    yield from _snapshot_step(context, landing, staging, warehouse, "clients", load)


@snapshot_asset(ACCOUNTS)
def accounts(
    context: AssetExecutionContext,
    landing: LandingResource,
    staging: StagingResource,
    warehouse: WarehouseResource,
    clients: pd.DataFrame,
):
    client_ids = pd.Index(clients["client_id"])

    def load(files):
        return _snapshot(ACCOUNTS, files, landing, {"clients": client_ids}), None

    yield from _snapshot_step(
        context, landing, staging, warehouse, "accounts", load, clients=client_ids.to_frame(index=False)
    )


@snapshot_asset(FX_RATES)
def fx_rates(
    context: AssetExecutionContext, landing: LandingResource, staging: StagingResource, warehouse: WarehouseResource
):
    def load(files):
        result = validate_extract(FX_RATES, files, landing.settings())
        with stage("validate"):
            restated = restatements(FX_RATES, staging.store.read("fx_rates"), result.accepted) if result.ok else None
        return result, restated

    yield from _snapshot_step(context, landing, staging, warehouse, "fx_rates", load)


def _as_seen(reference: str, frame: pd.DataFrame, month: date) -> pd.DataFrame:
    """What a month's validation reads of its reference extract (fingerprinted to skip unchanged months)."""
    end = pd.Timestamp(month_end(month))
    if reference == "accounts":
        return accounts_as_seen(frame, end, ["account_id", "opened_on", "closed_on"])
    return frame.loc[frame["onboarded_on"] <= end, ["client_id"]].sort_values("client_id")


def monthly_extract(contract: ExtractContract, reference: str):
    """A monthly extract: each month of the run is validated in order against the snapshot `reference`."""
    key_column = {"accounts": "account_id", "clients": "client_id"}[reference]
    month_checks = load_checks(contract.name, monthly_partitions)

    @asset(
        name=contract.name,
        group_name=EXTRACTS,
        partitions_def=monthly_partitions,
        backfill_policy=SINGLE_RUN,
        deps=[reference],
        retry_policy=DATABASE_RETRY,
        metadata=column_schema(contract),
        check_specs=month_checks,
        description=contract.description,
        kinds={"pandas", "parquet"},
        **catalog(EXTRACTS, contract.name),
    )
    def load_months(
        context: AssetExecutionContext,
        landing: LandingResource,
        staging: StagingResource,
        warehouse: WarehouseResource,
    ):
        store, inventory, settings = staging.store, landing.inventory(), landing.settings()
        known = store.read(reference)
        if known is None:
            raise Failure(allow_retries=False, description=f"{reference} is not materialised: load the snapshots first")
        references = {reference: pd.Index(known[key_column])}
        results, read, unchanged, evaluated = [], [], [], []
        for key in context.partition_keys:
            month = date.fromisoformat(key)
            files = inventory.for_month(contract.name, month)
            with stage("validate"):  # what the month's validation reads, against what its staged one read
                inputs = fingerprint(
                    files=[f.signature() for f in files],
                    reference=frame_digest(_as_seen(reference, known, month)),
                    settings=asdict(settings),
                    warehouse=hashlib.sha1(warehouse.warehouse.url.encode()).hexdigest(),  # where the load is recorded
                )
                unchanged_month = store.fingerprint(contract.name, key) == inputs
            if unchanged_month:
                unchanged.append(key[:7])
                evaluated += [(key, e) for e in carried(month_checks)]
                per_month(
                    context,
                    contract.name,
                    key,
                    {
                        "dagster/row_count": store.rows(contract.name, key),
                        "status": "unchanged since its last run",
                    },
                )
                continue
            result = validate_extract(contract, files, settings, references, known if reference == "accounts" else None)
            with stage("validate"):
                restated = (
                    restatements(contract, store.read(contract.name, key), result.accepted) if result.ok else None
                )
            with stage("publish"):
                record_load(context, warehouse, result, files, restated, month)
                if result.ok:
                    store.write(contract.name, result.accepted, key, inputs)
            accepted = len(result.accepted)
            per_month(
                context,
                contract.name,
                key,
                {
                    "dagster/row_count": accepted,
                    "status": "validated",
                    "files": file_list(files),
                    "rows_rejected": int(result.audit["rows_rejected"].sum()) if len(result.audit) else 0,
                    "rows_superseded": len(result.superseded),
                },
            )
            result.accepted = result.accepted.iloc[0:0].copy()  # staged; keep only what the checks need in memory
            results.append((result, accepted))
            read += files
            evaluated += [(key, e) for e in file_checks(contract.name, [result])]
        _, failure = load_outcome(context, contract.name, [r for r, _ in results], read, len(unchanged))
        if failure:
            yield from monthly_check_results(context, evaluated)
            raise failure
        yield MaterializeResult(
            metadata={
                "files": file_list(read),
                "months_validated": len(results),
                "months_unchanged": MetadataValue.json(unchanged),
                "rows_accepted": sum(n for _, n in results),
            }
        )
        yield from monthly_check_results(context, evaluated)

    return load_months


client_pnl = monthly_extract(CLIENT_PNL, "clients")  # transactions and balances: extract_shards.py
