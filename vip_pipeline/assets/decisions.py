"""Client decisions for every complete month: client_ltv, vip_assessment and client_segments."""

import pandas as pd
from dagster import AssetCheckSpec, AssetExecutionContext, AssetSpec, Failure, MaterializeResult, MetadataValue, multi_asset

from vip_pipeline import checks
from vip_pipeline.assets.metadata import check_results, column_schema, failed_checks, preview
from vip_pipeline.assets.pyramid import as_markdown, pyramid_png
from vip_pipeline.constants import DECISIONS
from vip_pipeline.contracts.tables import CLIENT_LTV, CLIENT_SEGMENTS, VIP_ASSESSMENT
from vip_pipeline.decisions.assess import active_clients, assess
from vip_pipeline.resources import DATABASE_RETRY, DecisionRulesResource, StagingResource, WarehouseResource
from vip_pipeline.timing import stage

def distribution(frame: pd.DataFrame, column: str) -> dict[str, int]:
    return {str(k): int(v) for k, v in frame[column].value_counts().sort_index().items()}

DECISION_CHECKS = [
    AssetCheckSpec("ltv_equals_sum_of_margins", asset="client_ltv", blocking=True,
                   description="LTV as of M = Σ monthly margin of the client's months ≤ M (recomputed)."),
    AssetCheckSpec("unique_key", asset="vip_assessment", blocking=True,
                   description="One assessment per client and complete month."),
    AssetCheckSpec("one_tier_and_category", asset="client_segments", blocking=True,
                   description="Exactly one valid LTV tier and category per active client and complete month."),
]


@multi_asset(
    retry_policy=DATABASE_RETRY,
    group_name=DECISIONS,
    check_specs=DECISION_CHECKS,
    specs=[
        AssetSpec("client_ltv", description=CLIENT_LTV.description, deps=["monthly_client_metrics", "clients"],
                  metadata=column_schema(CLIENT_LTV), group_name=DECISIONS),
        AssetSpec("vip_assessment", description=VIP_ASSESSMENT.description,
                  deps=["monthly_client_metrics", "clients"], metadata=column_schema(VIP_ASSESSMENT),
                  group_name=DECISIONS),
        AssetSpec("client_segments", description=CLIENT_SEGMENTS.description,
                  deps=["client_ltv", "vip_assessment"], metadata=column_schema(CLIENT_SEGMENTS),
                  group_name=DECISIONS),
    ],
)
def client_decisions(context: AssetExecutionContext, staging: StagingResource, warehouse: WarehouseResource,
                     decision_rules: DecisionRulesResource):
    """Re-evaluates every complete month from the published monthly metrics (cheap: one row per client-month),
    so changing a threshold needs no re-ingestion; the three tables are replaced in one transaction."""
    wh = warehouse.warehouse
    metrics = wh.read("monthly_client_metrics")
    clients = staging.store.read("clients")
    if clients is None:
        raise FileNotFoundError("clients are not materialised yet; materialise the extracts first")
    as_of = list(pd.to_datetime(sorted(metrics.loc[metrics["is_complete_month"], "month"].unique())))
    with stage("decisions") as timed:
        timed.rows = len(metrics)
        decisions = assess(metrics, clients, as_of, decision_rules.rules())
    results = check_results([
        ("client_ltv", "ltv_equals_sum_of_margins", checks.ltv_equals_sum_of_margins(decisions.client_ltv, metrics)),
        ("vip_assessment", "unique_key", checks.unique_key(decisions.vip_assessment, ["client_id", "as_of_month"])),
        ("client_segments", "one_tier_and_category",
         checks.one_tier_and_category(decisions.client_segments, len(active_clients(clients, as_of)))),
    ])
    if failed_checks(results):
        yield from results
        raise Failure(allow_retries=False, description=f"decisions not published: failed check(s) {failed_checks(results)}")
    with stage("publish") as timed:
        written = wh.replace_all({
            "client_ltv": decisions.client_ltv,
            "vip_assessment": decisions.vip_assessment,
            "client_segments": decisions.client_segments,
        })
        timed.rows = sum(written.values())
    segments = decisions.client_segments
    current = segments[segments["as_of_month"] == segments["as_of_month"].max()] if len(segments) else segments
    period = f"{pd.Timestamp(as_of[0]):%Y-%m} … {pd.Timestamp(as_of[-1]):%Y-%m}" if as_of else "no complete month"
    yield MaterializeResult(asset_key="client_ltv", metadata={
        "dagster/row_count": written["client_ltv"], "as_of_months": period,
        "top_clients": preview(decisions.client_ltv[decisions.client_ltv["as_of_month"] == decisions.client_ltv["as_of_month"].max()]
                               .nlargest(10, "ltv_usd")[["client_id", "ltv_usd", "tenure_months", "margin_cv"]]),
    })
    yield MaterializeResult(asset_key="vip_assessment", metadata={
        "dagster/row_count": written["vip_assessment"], "as_of_months": period,
        "eligible_current": int(current["vip_eligible"].sum()) if len(current) else 0,
    })
    picture = {}
    if len(current):
        as_of_label = f"{pd.Timestamp(current['as_of_month'].iloc[0]):%Y-%m}"
        png = pyramid_png(current, as_of_label)
        path = staging.store.write_bytes(f"reports/ltv_pyramid_{as_of_label}.png", png)
        picture = {"ltv_pyramid": MetadataValue.md(as_markdown(png)), "ltv_pyramid_png": MetadataValue.path(str(path))}
    yield MaterializeResult(asset_key="client_segments", metadata={
        **picture,
        "dagster/row_count": written["client_segments"], "as_of_months": period,
        "category_distribution": MetadataValue.json(distribution(current, "category")),
        "ltv_tier_distribution": MetadataValue.json(distribution(current, "ltv_tier")),
        "recommended_actions": MetadataValue.json(distribution(current.dropna(subset=["recommended_action"]),
                                                               "recommended_action")),
        "top_clients": preview(current.sort_values("ltv_rank")[["client_id", "name", "category", "ltv_tier", "ltv_usd"]]),
    })
    yield from results
