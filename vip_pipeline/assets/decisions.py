"""Client decisions per complete as-of month: client_ltv, vip_assessment and client_segments.

Partitioned by month with a single-run backfill policy: a backfill (or `vip-pipeline run`) decides a
whole range of months in one pass over the client panel, the nightly run decides only its month, so the
nightly cost does not grow with history. A month still in progress gets no decisions.
"""

from datetime import timedelta

import pandas as pd
from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    BackfillPolicy,
    Failure,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from vip_pipeline import checks
from vip_pipeline.assets.metadata import check_results, failed_checks, preview, table_spec
from vip_pipeline.assets.pyramid import as_markdown, pyramid_png
from vip_pipeline.constants import DECISIONS
from vip_pipeline.contracts.tables import CLIENT_LTV, CLIENT_SEGMENTS, VIP_ASSESSMENT
from vip_pipeline.decisions.assess import active_clients, assess
from vip_pipeline.partitions import monthly_partitions
from vip_pipeline.resources import (
    DATABASE_RETRY,
    DecisionRulesResource,
    LandingResource,
    StagingResource,
    WarehouseResource,
)
from vip_pipeline.timing import stage

DECISION_CHECKS = [
    AssetCheckSpec(
        "ltv_equals_sum_of_margins",
        asset="client_ltv",
        blocking=True,
        description="LTV as of M = Σ monthly margin of the client's months ≤ M (recomputed).",
    ),
    AssetCheckSpec(
        "unique_key", asset="client_ltv", blocking=True, description="One LTV row per client and complete month."
    ),
    AssetCheckSpec(
        "unique_key", asset="vip_assessment", blocking=True, description="One assessment per client and complete month."
    ),
    AssetCheckSpec(
        "one_tier_and_category",
        asset="client_segments",
        blocking=True,
        description="Exactly one valid LTV tier and category per active client and complete month.",
    ),
]


# The nightly run refreshes these every day: older than 26 hours means a night was missed.
NIGHTLY_FRESHNESS = FreshnessPolicy.time_window(fail_window=timedelta(hours=26), warn_window=timedelta(hours=25))


def distribution(frame: pd.DataFrame, column: str) -> dict[str, int]:
    return {str(k): int(v) for k, v in frame[column].value_counts().sort_index().items()}


@multi_asset(
    group_name=DECISIONS,
    partitions_def=monthly_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    retry_policy=DATABASE_RETRY,
    check_specs=DECISION_CHECKS,
    specs=[
        table_spec(CLIENT_LTV, DECISIONS, ["monthly_client_metrics", "clients"], freshness_policy=NIGHTLY_FRESHNESS),
        table_spec(
            VIP_ASSESSMENT, DECISIONS, ["monthly_client_metrics", "clients"], freshness_policy=NIGHTLY_FRESHNESS
        ),
        table_spec(CLIENT_SEGMENTS, DECISIONS, ["client_ltv", "vip_assessment"], freshness_policy=NIGHTLY_FRESHNESS),
    ],
)
def client_decisions(
    context: AssetExecutionContext,
    landing: LandingResource,
    staging: StagingResource,
    warehouse: WarehouseResource,
    decision_rules: DecisionRulesResource,
):
    """Decides the run's months from the monthly client metrics up to the last of them (cheap: one row per
    client-month), so changing a threshold needs no re-ingestion; the three tables' months are replaced in
    one transaction."""
    store = staging.store
    inventory = landing.inventory()
    months = [pd.Timestamp(k) for k in context.partition_keys]
    as_of = [m for m in months if inventory.is_complete(m.date())]
    clients = store.read("clients")
    if clients is None:
        raise Failure(
            allow_retries=False, description="clients are not materialised yet; materialise the extracts first"
        )
    metrics = store.read_months("monthly_client_metrics", up_to=max(months).date())
    previous = [m for m in metrics["month"].unique() if m < min(months)] if len(metrics) else []
    # the previous complete month is decided again, only to fill previous_category / previous_ltv_tier
    earlier = (
        [max(previous)] if previous and as_of and inventory.is_complete(pd.Timestamp(max(previous)).date()) else []
    )
    with stage("decisions") as timed:
        timed.rows = len(metrics)
        decisions = assess(metrics, clients, [*earlier, *as_of], decision_rules.rules())
    ltv, vip, segments = (
        frame[frame["as_of_month"].isin(as_of)]
        for frame in (decisions.client_ltv, decisions.vip_assessment, decisions.client_segments)
    )
    results = check_results(
        [
            ("client_ltv", "ltv_equals_sum_of_margins", checks.ltv_equals_sum_of_margins(ltv, metrics)),
            ("client_ltv", "unique_key", checks.unique_key(ltv, ["client_id", "as_of_month"])),
            ("vip_assessment", "unique_key", checks.unique_key(vip, ["client_id", "as_of_month"])),
            (
                "client_segments",
                "one_tier_and_category",
                checks.one_tier_and_category(segments, len(active_clients(clients, as_of))),
            ),
        ]
    )
    if failed_checks(results):
        yield from results
        raise Failure(
            allow_retries=False, description=f"decisions not published: failed check(s) {failed_checks(results)}"
        )
    with stage("publish") as timed, warehouse.publishing() as wh:
        written = wh.replace_partitions({"client_ltv": ltv, "vip_assessment": vip, "client_segments": segments}, months)
        timed.rows = sum(written.values())
    yield from _materializations(store, written, months, as_of, ltv, segments)
    yield from results


def _materializations(
    store,
    written: dict[str, int],
    months: list[pd.Timestamp],
    as_of: list[pd.Timestamp],
    ltv: pd.DataFrame,
    segments: pd.DataFrame,
):
    """What the UI shows: counts, the period, top clients, distributions and the pyramid picture."""
    period = (
        f"{as_of[0]:%Y-%m} … {as_of[-1]:%Y-%m}"
        if as_of
        else f"{months[-1]:%Y-%m} is in progress: no decisions until it is complete"
    )
    latest = max(as_of) if as_of else None
    current = segments[segments["as_of_month"] == latest]
    yield MaterializeResult(
        asset_key="client_ltv",
        metadata={
            "dagster/row_count": written["client_ltv"],
            "as_of_months": period,
            "top_clients": preview(
                ltv[ltv["as_of_month"] == latest].nlargest(10, "ltv_usd")[
                    ["client_id", "ltv_usd", "tenure_months", "margin_cv"]
                ]
            ),
        },
    )
    yield MaterializeResult(
        asset_key="vip_assessment",
        metadata={
            "dagster/row_count": written["vip_assessment"],
            "as_of_months": period,
            "eligible_latest_month": int(current["vip_eligible"].sum()),
        },
    )
    picture = {}
    if len(current):
        png = pyramid_png(current, f"{latest:%Y-%m}")
        path = store.write_bytes(f"reports/ltv_pyramid_{latest:%Y-%m}.png", png)
        picture = {"ltv_pyramid": MetadataValue.md(as_markdown(png)), "ltv_pyramid_png": MetadataValue.path(str(path))}
    yield MaterializeResult(
        asset_key="client_segments",
        metadata={
            **picture,
            "dagster/row_count": written["client_segments"],
            "as_of_months": period,
            "category_distribution": MetadataValue.json(distribution(current, "category")),
            "ltv_tier_distribution": MetadataValue.json(distribution(current, "ltv_tier")),
            "recommended_actions": MetadataValue.json(
                distribution(current.dropna(subset=["recommended_action"]), "recommended_action")
            ),
            "top_clients": preview(
                current.sort_values("ltv_rank")[["client_id", "name", "category", "ltv_tier", "ltv_usd"]]
            ),
        },
    )
