"""Client decisions per complete as-of month: client_ltv, vip_assessment and client_segments.

Partitioned by month with a single-run backfill policy: a backfill (or `vip-pipeline run`) decides a
whole range of months in one pass. A decision as of M reads the client panel of M and of the 25 months
before it (a declared window), so the nightly cost does not grow with history and a change of any of
those months marks the decision stale. A month still in progress gets no decisions.
"""

import hashlib
import json
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import timedelta

import pandas as pd
from dagster import (
    AssetDep,
    AssetExecutionContext,
    BackfillPolicy,
    Failure,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)
from dagster._serdes import deserialize_value, serialize_value

from vip_pipeline import checks
from vip_pipeline.assets.metadata import (
    blocking_check,
    carried,
    monthly_check_results,
    evaluate,
    per_month,
    preview,
    table_spec,
    verdict,
)
from vip_pipeline.assets.pyramid import migrations_markdown, pyramid_markdown
from vip_pipeline.constants import DECISIONS
from vip_pipeline.contracts.tables import (
    CLIENT_LTV,
    CLIENT_SEGMENTS,
    GROUP_ASSESSMENT,
    SEGMENT_MIGRATIONS,
    TABLES,
    VIP_ASSESSMENT,
)
from vip_pipeline.decisions.assess import active_clients, assess_panel
from vip_pipeline.decisions.panel import PANEL_COLUMNS, window_start
from vip_pipeline.parallel import imap_months, month_workers
from vip_pipeline.partitions import (
    DECISION_WINDOW_MONTHS,
    decision_window,
    monthly_partitions,
    partition_key,
    this_and_previous_month,
)
from vip_pipeline.resources import (
    DATABASE_RETRY,
    DecisionRulesResource,
    LandingResource,
    StagingResource,
    WarehouseResource,
)
from vip_pipeline.storage.fingerprints import fingerprint, frame_digest
from vip_pipeline.storage.warehouse import PublishRefused, checked_frame
from vip_pipeline.timing import report, stage

DECISION_TABLES = ["client_ltv", "vip_assessment", "client_segments", "group_assessment", "segment_migrations"]

DECISION_CHECKS = [
    blocking_check(
        checks.ltv_matches_panel,
        "client_ltv",
        "LTV as of M = the client panel's running LTV (Σ monthly margin of the months ≤ M), and every active client "
        "with history has it.",
        monthly_partitions,
    ),
    blocking_check(checks.unique_key, "client_ltv", "One LTV row per client and complete month.", monthly_partitions),
    blocking_check(
        checks.unique_key, "vip_assessment", "One assessment per client and complete month.", monthly_partitions
    ),
    blocking_check(
        checks.one_tier_and_category,
        "client_segments",
        "Exactly one valid LTV tier and category per active client and complete month.",
        monthly_partitions,
    ),
    blocking_check(
        checks.members_are_active,
        "group_assessment",
        "Each group's members are the month's active clients with its group_id; every group with at least 2 of "
        "them is assessed.",
        monthly_partitions,
    ),
    blocking_check(
        checks.sums_match_members,
        "group_assessment",
        "Group LTV and scale sums equal the sums of the members' published measures; monopoly and strategic are "
        "any member's.",
        monthly_partitions,
    ),
    blocking_check(
        checks.migrations_add_up,
        "segment_migrations",
        "Per month and dimension, transitions add up to the active clients of the previous month (all but new) "
        "and of this month (all but gone), with their LTV.",
        monthly_partitions,
    ),
]


# The nightly run refreshes these every day: older than 26 hours means a night was missed.
NIGHTLY_FRESHNESS = FreshnessPolicy.time_window(fail_window=timedelta(hours=26), warn_window=timedelta(hours=25))


PANEL_WINDOW = AssetDep("client_panel", partition_mapping=decision_window)


def distribution(frame: pd.DataFrame, column: str) -> dict[str, int]:
    return {str(k): int(v) for k, v in frame[column].value_counts().sort_index().items()}


@multi_asset(
    group_name=DECISIONS,
    partitions_def=monthly_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    retry_policy=DATABASE_RETRY,
    check_specs=DECISION_CHECKS,
    specs=[
        table_spec(
            CLIENT_LTV,
            DECISIONS,
            [PANEL_WINDOW, "clients"],
            lineage={
                "ltv_usd": [("client_panel", "ltv_usd")],
                "tenure_months": [("client_panel", "tenure_months")],
                "margin_cv": [("client_panel", "margin_usd")],
            },
            freshness_policy=NIGHTLY_FRESHNESS,
        ),
        table_spec(
            VIP_ASSESSMENT,
            DECISIONS,
            [PANEL_WINDOW, "clients"],
            lineage={
                "avg_monthly_settlement_turnover_usd": [("client_panel", "settlement_turnover_usd")],
                "turnover_growth": [("client_panel", "settlement_turnover_usd")],
                "annual_sales_usd": [("clients", "annual_sales_usd")],
                "monopoly_met": [("clients", "monopoly_position")],
                "strategic_met": [("clients", "strategic")],
            },
            freshness_policy=NIGHTLY_FRESHNESS,
        ),
        table_spec(
            CLIENT_SEGMENTS,
            DECISIONS,
            ["client_ltv", "vip_assessment"],
            lineage={
                "ltv_usd": [("client_ltv", "ltv_usd")],
                "criteria_met": [("vip_assessment", "criteria_met")],
                "vip_eligible": [("vip_assessment", "vip_eligible")],
                "group_id": [("clients", "group_id")],
                "service_model": [("clients", "service_model")],
            },
            freshness_policy=NIGHTLY_FRESHNESS,
        ),
        table_spec(
            GROUP_ASSESSMENT,
            DECISIONS,
            [PANEL_WINDOW, "clients"],
            lineage={"group_ltv_usd": [("client_panel", "ltv_usd")], "group_id": [("clients", "group_id")]},
            freshness_policy=NIGHTLY_FRESHNESS,
        ),
        table_spec(
            SEGMENT_MIGRATIONS,
            DECISIONS,
            [AssetDep("client_segments", partition_mapping=this_and_previous_month)],
            freshness_policy=NIGHTLY_FRESHNESS,
        ),
    ],
)
def client_decisions(
    context: AssetExecutionContext,
    landing: LandingResource,
    staging: StagingResource,
    warehouse: WarehouseResource,
    decision_rules: DecisionRulesResource,
):
    """Decides the run's complete months from the client panel of their window (one row per client and month),
    so changing a threshold needs no re-ingestion; the three tables' months are replaced in one transaction.
    When no complete month's inputs changed since it was decided (the nightly of a month in progress), the
    published rows are kept and their checks and metadata carried."""
    store = staging.store
    inventory = landing.inventory()
    months = [pd.Timestamp(k) for k in context.partition_keys]
    as_of = [m for m in months if inventory.is_complete(m.date())]
    clients = store.read("clients")
    if clients is None:
        raise Failure(
            allow_retries=False, description="clients are not materialised yet; materialise the extracts first"
        )
    rules = decision_rules.rules()
    with stage("decisions"):  # what each month's decisions read, against what they read when published
        markers = decision_markers(store, inventory, as_of, clients, rules, warehouse.warehouse.url)
        decided = {m: decided_before(store, m, markers[m]) for m in as_of}
    was_decided = any((store.base / _decision_file(m)).exists() for m in months if m not in as_of)  # complete no more
    if as_of and all(metadata is not None for metadata in decided.values()) and not was_decided:
        yield from _unchanged(context, months, as_of, decided)
        return
    with stage("decisions"):
        panel, earlier = read_panel_window(store, inventory, months, as_of)
    for month in months:  # every month of the run is replaced: until then none counts as decided
        forget_decision(store, month)
    # the complete months in chunks, each decided (with the month before it, for its movements), checked and
    # conformed by the month workers while this process writes the chunks before it, all in one transaction
    tasks = [(panel, clients, assessed, own, rules) for assessed, own in decision_chunks(earlier, as_of)]
    evaluated, failures, decided, written = [], [], {}, dict.fromkeys(DECISION_TABLES, 0)
    try:
        with warehouse.publishing() as wh, ExitStack() as transaction:
            insert = transaction.enter_context(wh.replacing(DECISION_TABLES, months))
            for chunk in imap_months(decide_chunk, tasks):
                evaluated += chunk.evaluations
                failures += chunk.failures
                decided.update(chunk.metadata)
                if chunk.refused:
                    raise chunk.refused
                if not failures:
                    with stage("publish") as timed:
                        for name, rows in insert(chunk.tables).items():
                            written[name] += rows
                            timed.rows += rows
            if failures:
                raise NotDecided  # nothing of the run's months is written
            with stage("publish"):
                transaction.close()  # committed
    except NotDecided:
        yield from monthly_check_results(context, evaluated)
        raise failures[0] from None
    with stage("publish"):
        for month in as_of:
            remember_decision(store, month, markers[month], decided[month])
    report(f"  ✓ decisions                {len(as_of):>4} complete month(s) decided")
    yield from _materializations(context, months, decided, written)
    yield from monthly_check_results(context, evaluated)


class NotDecided(Exception):
    """A decision check failed: the run's transaction is rolled back."""


@dataclass
class DecidedChunk:
    """Some complete months decided: their check evaluations (and failures), metadata and tables, conformed to their
    contracts (or why a contract refused them)."""

    evaluations: list
    failures: list
    metadata: dict
    tables: dict[str, pd.DataFrame]
    refused: PublishRefused | None = None


CHUNKS_PER_WORKER = 2


def decision_chunks(earlier: list[pd.Timestamp], as_of: list[pd.Timestamp]) -> list[tuple[list, list]]:
    """The complete months in consecutive chunks, as (the months to assess, the chunk's own months): each chunk is
    assessed with the complete month before it (`earlier` for the first), which fills its previous category and
    tier and its movements, and is then left out."""
    if not as_of:
        return []
    size = -(-len(as_of) // min(len(as_of), CHUNKS_PER_WORKER * month_workers()))
    chunks = [as_of[i : i + size] for i in range(0, len(as_of), size)]
    return [(([*earlier] if k == 0 else [chunks[k - 1][-1]]) + own, own) for k, own in enumerate(chunks)]


def decide_chunk(panel, clients, assessed: list[pd.Timestamp], own: list[pd.Timestamp], rules) -> DecidedChunk:
    """In a worker: the decisions of the chunk's own months, their checks, metadata and conformed tables."""
    with stage("decisions") as timed:
        timed.rows = int(panel["month"].isin(own).sum())
        decisions = assess_panel(panel, clients, assessed, rules)
    ltv, vip, segments, groups, migrations = (
        frame[frame["as_of_month"].isin(own)]
        for frame in (
            decisions.client_ltv,
            decisions.vip_assessment,
            decisions.client_segments,
            decisions.group_assessment,
            decisions.segment_migrations,
        )
    )
    members = segments[["client_id", "as_of_month", "group_id", "ltv_usd"]].merge(
        vip.drop(columns="client_type"), on=["client_id", "as_of_month"]
    )
    frames = {
        "ltv": ltv,
        "vip": vip,
        "segments": segments,
        "groups": groups,
        "members": members,
        "migrations": migrations,
    }
    evaluated, failures = [], []
    for month in own:
        month_frames = {name: frame[frame["as_of_month"] == month] for name, frame in frames.items()}
        with stage("checks"):
            evaluations = decision_checks(month, month_frames, panel, decisions.client_segments, clients)
        evaluated += [(partition_key(month.date()), e) for e in evaluations]
        _, failure = verdict(evaluations, f"decisions {month:%Y-%m}")
        if failure:
            failures.append(failure)
    if failures:
        return DecidedChunk(evaluated, failures, {}, {})
    tables = dict(zip(DECISION_TABLES, (ltv, vip, segments, groups, migrations)))
    with stage("metadata"):
        metadata = {m: decided_metadata(m, tables) for m in own}
    with stage("publish"):
        try:
            checked = {name: checked_frame(TABLES[name], frame) for name, frame in tables.items()}
        except PublishRefused as exc:
            return DecidedChunk(evaluated, [], metadata, {}, exc)
    return DecidedChunk(evaluated, [], metadata, checked)


def _unchanged(context, months: list[pd.Timestamp], as_of: list[pd.Timestamp], decided: dict):
    """Every complete month of the run is decided on unchanged inputs: its rows stay; its checks passed then."""
    report(f"  ✓ decisions                   0 complete month(s) decided, {len(as_of)} unchanged since last run")
    yield from _materializations(context, months, decided, dict.fromkeys(DECISION_TABLES, 0))
    evaluated = [(partition_key(m.date()), e) for m in as_of for e in carried(DECISION_CHECKS)]
    yield from monthly_check_results(context, evaluated)


def _materializations(context, months: list[pd.Timestamp], decided: dict, written: dict[str, int]):
    """Each month's metadata on its partitions (a month in progress: the pyramid of the latest decided one), then
    one materialisation per table."""
    with stage("metadata"):
        for month in months:
            key = partition_key(month.date())
            metadata = decided.get(month) or in_progress_metadata(month, decided)
            for name, values in metadata.items():
                per_month(context, name, key, values)
    as_of = sorted(decided)
    period = f"{as_of[0]:%Y-%m} … {as_of[-1]:%Y-%m}" if as_of else "none: the run's months are in progress"
    for name in DECISION_TABLES:
        yield MaterializeResult(
            asset_key=name, metadata={"rows_written_by_the_run": written[name], "as_of_months": period}
        )


def decision_markers(store, inventory, as_of: list[pd.Timestamp], clients, rules, database_url: str) -> dict:
    """Per complete month, a fingerprint of what its decisions read: the panel of its declared window (the month
    and the 25 before; the previous month decided again for its movements reads the same rows, and the panel's
    running sums carry any older change into them), which of those months are complete, the clients, the rules
    and the warehouse. None (decide again) while a panel month has no digest."""
    data_months = set(pd.to_datetime(inventory.months))
    complete = {partition_key(m.date()) for m in data_months if inventory.is_complete(m.date())}
    clients_digest = frame_digest(clients)
    markers = {}
    for month in as_of:
        window = pd.date_range(window_start(month, DECISION_WINDOW_MONTHS), month, freq="MS")
        keys = [partition_key(m.date()) for m in window if m in data_months]
        panel = [store.fingerprint("client_panel", k) for k in keys]
        markers[month] = (
            None
            if None in panel
            else fingerprint(
                panel=dict(zip(keys, panel)),
                complete=[k for k in keys if k in complete],
                clients=clients_digest,
                rules=asdict(rules),
                warehouse=hashlib.sha1(database_url.encode()).hexdigest(),
            )
        )
    return markers


def _decision_file(month: pd.Timestamp) -> str:
    """Where a decided month's marker and metadata are kept, in staging."""
    return f"client_decisions/{partition_key(month.date())}.json"


def decided_before(store, month: pd.Timestamp, marker: str | None) -> dict | None:
    """The metadata a month was published with, if it was decided on the inputs `marker` identifies."""
    path = store.base / _decision_file(month)
    if marker is None or not path.exists():
        return None
    saved = json.loads(path.read_text())
    return deserialize_value(saved["metadata"]) if saved["marker"] == marker else None


def remember_decision(store, month: pd.Timestamp, marker: str | None, metadata: dict) -> None:
    if marker is not None:
        text = json.dumps({"marker": marker, "metadata": serialize_value(metadata)})
        store.write_bytes(_decision_file(month), text.encode())


def forget_decision(store, month: pd.Timestamp) -> None:
    (store.base / _decision_file(month)).unlink(missing_ok=True)


def decision_checks(month: pd.Timestamp, frames: dict, panel, all_segments, clients) -> list:
    """The decision checks of one complete month, on what is about to be published for it (against the month's
    panel rows: the only ones its LTV rows can match)."""
    return [
        evaluate("client_ltv", checks.ltv_matches_panel, frames["ltv"], panel[panel["month"] == month]),
        evaluate("client_ltv", checks.unique_key, frames["ltv"], ["client_id", "as_of_month"]),
        evaluate("vip_assessment", checks.unique_key, frames["vip"], ["client_id", "as_of_month"]),
        evaluate(
            "client_segments",
            checks.one_tier_and_category,
            frames["segments"],
            len(active_clients(clients, [month])),
        ),
        evaluate("group_assessment", checks.members_are_active, frames["groups"], frames["segments"]),
        evaluate("group_assessment", checks.sums_match_members, frames["groups"], frames["members"]),
        evaluate("segment_migrations", checks.migrations_add_up, frames["migrations"], all_segments, [month]),
    ]


def read_panel_window(store, inventory, months: list[pd.Timestamp], as_of: list[pd.Timestamp]):
    """The client panel of the declared window (the run's months and the 25 before the first), and the previous
    complete month, decided again only to fill previous_category / previous_ltv_tier."""
    window = pd.date_range(window_start(months[0], DECISION_WINDOW_MONTHS), months[-1], freq="MS")
    data_months = set(pd.to_datetime(inventory.months))
    keys = [partition_key(m.date()) for m in window if m in data_months]
    frames = store.read_partitions("client_panel", keys)
    missing = [k[:7] for k in keys if k not in frames]
    if missing:
        raise Failure(
            allow_retries=False, description=f"client_panel not materialised for {', '.join(missing)}; materialise it"
        )
    panel = pd.concat(frames.values(), ignore_index=True) if frames else pd.DataFrame(columns=PANEL_COLUMNS)
    before = months[0] - pd.DateOffset(months=1)
    earlier = [before] if as_of and before in data_months and inventory.is_complete(before.date()) else []
    return panel, earlier


def in_progress_metadata(month: pd.Timestamp, decided: dict) -> dict:
    """A month in progress has no decisions: its partitions show the pyramid of the latest decided month of the
    run, titled with that month, as what is current."""
    status = "in progress: decided once the month is complete"
    metadata = {name: {"dagster/row_count": 0, "status": status} for name in DECISION_TABLES}
    current = max((m for m in decided if m < month), default=None)
    if current is not None:
        metadata["client_segments"]["ltv_pyramid"] = decided[current]["client_segments"]["ltv_pyramid"]
    return metadata


def decided_metadata(month: pd.Timestamp, tables: dict[str, pd.DataFrame]) -> dict:
    """A decided month's own figures on each decision table's partition: row count, status, its distributions,
    top clients and groups, the pyramid and the tier movements (small Markdown tables the UI shows inline)."""
    of = {name: frame[frame["as_of_month"] == month] for name, frame in tables.items()}
    metadata = {name: {"dagster/row_count": len(frame), "status": "decided"} for name, frame in of.items()}
    ltv, segments, groups, moves = (
        of["client_ltv"],
        of["client_segments"],
        of["group_assessment"],
        of["segment_migrations"],
    )
    metadata["client_ltv"]["top_clients"] = preview(
        ltv.nlargest(10, "ltv_usd")[["client_id", "ltv_usd", "tenure_months", "margin_cv"]]
    )
    metadata["vip_assessment"]["eligible"] = int(of["vip_assessment"]["vip_eligible"].sum())
    metadata["client_segments"].update(
        {
            "ltv_pyramid": MetadataValue.md(pyramid_markdown(segments, f"{month:%Y-%m}")),
            "category_distribution": MetadataValue.json(distribution(segments, "category")),
            "ltv_tier_distribution": MetadataValue.json(distribution(segments, "ltv_tier")),
            "recommended_actions": MetadataValue.json(
                distribution(segments.dropna(subset=["recommended_action"]), "recommended_action")
            ),
            "top_clients": preview(
                segments.sort_values("ltv_rank")[["client_id", "name", "category", "ltv_tier", "ltv_usd"]]
            ),
        }
    )
    if len(moves):
        metadata["client_segments"]["ltv_tier_migrations"] = MetadataValue.md(
            migrations_markdown(moves, f"{month:%Y-%m}")
        )
    metadata["group_assessment"].update(
        {
            "eligible": int(groups["group_vip_eligible"].sum()),
            "groups": preview(
                groups.sort_values("group_ltv_rank")[
                    ["group_id", "members", "group_ltv_usd", "criteria_met", "group_vip_eligible"]
                ]
            ),
        }
    )
    tiers = moves[(moves["dimension"] == "ltv_tier") & (moves["from_value"] != moves["to_value"])]
    metadata["segment_migrations"]["tier_moves"] = preview(tiers[["from_value", "to_value", "clients", "ltv_usd"]])
    return metadata
