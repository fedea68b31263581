"""The Dagster UI as a data engineer sees it: the real `dagster-webserver`, its GraphQL API, and a
headless-Chromium screenshot of the asset graph (copied to docs/img/asset-graph.png for docs/operations.md).

One webserver is shared by the module. Before it starts, a small sample bank (2 months up to yesterday; no
VIP_FIRST_MONTH: the partitions start at the landing directory's first month) is run through the pipeline once
(`vip-pipeline run` with the same DAGSTER_HOME): the UI then shows what an engineer sees after a night,
materialised assets and passed checks. Run alone with `make screenshot`.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

from vip_pipeline.instance import local_instance_config
from vip_pipeline.launcher import WORKER_TAG
from vip_pipeline.landing.inventory import scan_landing
from vip_pipeline_tests.ui_support import (
    REPO_ROOT, Webserver, clean_env, find_chromium, in_ci, screenshot, venv_bin,
)

ASSETS = {"clients", "accounts", "fx_rates", "transactions", "balances", "client_pnl", "balance_state",
          "monthly_account_activity", "monthly_client_metrics", "client_panel", "client_ltv", "vip_assessment",
          "client_segments", "group_assessment", "segment_migrations"}
BLOCKING_CHECKS = {
    ("transactions", "rows_reconcile"), ("transactions", "no_refused_file"),
    ("clients", "rows_reconcile"), ("accounts", "no_refused_file"),
    ("monthly_account_activity", "adb_within_daily_range"), ("monthly_account_activity", "fx_coverage"),
    ("monthly_client_metrics", "reconciles_with_accounts"),
    ("client_panel", "ltv_carries_forward"), ("client_ltv", "ltv_matches_panel"), ("vip_assessment", "unique_key"),
    ("client_segments", "one_tier_and_category"),
}
DECIDED_MONTHLY = {"client_ltv", "vip_assessment", "client_segments", "group_assessment", "segment_migrations"}
DOCS_IMAGE = REPO_ROOT / "docs" / "img" / "asset-graph.png"

ASSET_NODES = """
{ assetNodes {
    assetKey { path }
    groupName
    hasAssetChecks
    assetChecksOrError { __typename ... on AssetChecks { checks { name blocking description
                                                                  executionForLatestMaterialization { status } } } }
    assetMaterializations(limit: 1) { runId partition }
} }"""

COLUMN_SCHEMA = """
query ($keys: [AssetKeyInput!]) {
  assetNodes(assetKeys: $keys) {
    assetKey { path }
    metadataEntries { label __typename
      ... on TableSchemaMetadataEntry { schema { columns { name type description } } } }
} }"""

REPOSITORY = """
{ repositoriesOrError { __typename ... on RepositoryConnection { nodes {
    name location { name }
    jobs { name isAssetJob tags { key value } }
    schedules { name cronSchedule executionTimezone pipelineName description }
    sensors { name minIntervalSeconds description targets { pipelineName } }
} } ... on PythonError { message } } }"""

RUNS = """{ runsOrError { __typename ... on Runs { results { runId status jobName tags { key value } } }
            ... on PythonError { message } } }"""
STALE = """
query ($keys: [AssetKeyInput!], $partitions: [String!]) {
  assetNodes(assetKeys: $keys) { assetKey { path } staleStatusByPartition(partitions: $partitions) } }"""


def _cli(env: dict[str, str], *args: str) -> None:
    done = subprocess.run([venv_bin("vip-pipeline"), *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"vip-pipeline {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def sample_end(today: date) -> date:
    """The sample's last day: yesterday, as the sample's default, unless that is in the previous month (on the 1st
    of a month): then today. The partitions end with the current month, so the data's last month must be it for
    that month to be the one in progress (before, these tests failed on the 1st of every month)."""
    yesterday = today - timedelta(days=1)
    return yesterday if yesterday.month == today.month else today


def test_the_samples_last_month_is_the_current_month_even_on_the_first():
    assert sample_end(date(2026, 12, 1)) == date(2026, 12, 1)
    assert sample_end(date(2026, 12, 2)) == date(2026, 12, 1)
    assert sample_end(date(2027, 1, 1)) == date(2027, 1, 1)
    assert sample_end(date(2026, 11, 30)) == date(2026, 11, 29)


@pytest.fixture(scope="module")
def webserver(tmp_path_factory):
    base = tmp_path_factory.mktemp("ui")
    home = base / "dagster_home"
    home.mkdir()
    # the project's local instance (pooled SQLite event log, read by the webserver too); launched runs start at
    # once (no daemon in this test): the UI's Materialize button then really runs
    (home / "dagster.yaml").write_text(
        local_instance_config(home, queue=False)
        + "run_coordinator:\n  module: dagster._core.run_coordinator\n  class: DefaultRunCoordinator\n")
    landing = base / "landing"
    env = clean_env(DAGSTER_HOME=str(home), VIP_LANDING_DIR=str(landing),
                    VIP_DATABASE_URL=f"sqlite:///{base / 'vip.db'}", VIP_STAGING_DIR=str(base / "staging"))
    _cli(env, "generate-sample", "--out", str(landing), "--clients", "12", "--months", "2",
         "--end-date", sample_end(date.today()).isoformat())
    _cli(env, "run", "--quiet")
    server = Webserver(env, base / "webserver.log")
    try:
        server.wait_ready(timeout=120)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def asset_nodes(webserver) -> dict[str, dict]:
    return {"/".join(n["assetKey"]["path"]): n for n in webserver.graphql(ASSET_NODES)["assetNodes"]}


def test_ui_shows_assets_checks_schedule_sensor_and_job(webserver, asset_nodes):
    assert webserver.server_info["dagster_version"].startswith("1.13.")
    assert ASSETS <= set(asset_nodes), f"missing assets: {sorted(ASSETS - set(asset_nodes))}"

    checks = {}
    for key, node in asset_nodes.items():
        result = node["assetChecksOrError"]
        assert result["__typename"] == "AssetChecks", f"{key}: {result}"
        assert node["hasAssetChecks"] == bool(result["checks"])
        checks.update({(key, c["name"]): c for c in result["checks"]})
    assert BLOCKING_CHECKS <= set(checks), f"missing checks: {sorted(BLOCKING_CHECKS - set(checks))}"
    for key in BLOCKING_CHECKS:
        assert checks[key]["blocking"] and checks[key]["description"], key
        # the seeding run executed every check: the UI shows its latest result next to the asset. The decisions'
        # latest partition is the month in progress: nothing decided, so its checks were skipped, not passed
        expected = "SKIPPED" if key[0] in DECIDED_MONTHLY else "SUCCEEDED"
        assert (checks[key]["executionForLatestMaterialization"] or {}).get("status") == expected, key
    assert all(asset_nodes[a]["assetMaterializations"] for a in ASSETS), "every asset materialised once"
    runs = webserver.graphql(RUNS)["runsOrError"]
    assert runs["__typename"] == "Runs" and runs["results"]
    assert {r["status"] for r in runs["results"]} == {"SUCCESS"}
    # the CLI's load is one named run of the job, tagged with its trigger and its range of months
    (load,) = runs["results"]
    tags = {t["key"]: t["value"] for t in load["tags"]}
    assert load["jobName"] == "refresh_month" and tags["vip_pipeline/trigger"] == "cli"
    assert tags["dagster/asset_partition_range_start"] < tags["dagster/asset_partition_range_end"]

    data = webserver.graphql(REPOSITORY)["repositoriesOrError"]
    assert data["__typename"] == "RepositoryConnection", data
    (repo,) = data["nodes"]
    jobs = {j["name"]: j for j in repo["jobs"]}
    schedules = {s["name"]: s for s in repo["schedules"]}
    sensors = {s["name"]: s for s in repo["sensors"]}
    assert "refresh_month" in jobs
    assert {"key": "vip_pipeline/queue", "value": "monthly"} in jobs["refresh_month"]["tags"]
    nightly = schedules["nightly_refresh"]
    assert nightly["pipelineName"] == "refresh_month"
    assert (nightly["cronSchedule"], nightly["executionTimezone"]) == ("0 2 * * *", "Europe/Sofia")  # VIP_* unset
    landing = sensors["landing_sensor"]
    assert [t["pipelineName"] for t in landing["targets"]] == ["refresh_month"]
    assert landing["minIntervalSeconds"] == 60


PARTITIONS = """
query ($keys: [AssetKeyInput!]) {
  assetNodes(assetKeys: $keys) { assetKey { path } kinds owners { ... on TeamAssetOwner { team } }
    tags { key value } metadataEntries { label ... on TextMetadataEntry { text } }
    partitionStats { numMaterialized numPartitions numFailed }
    assetMaterializations(limit: 5) { partition metadataEntries { label ... on IntMetadataEntry { intValue } } }
} }"""


def test_ui_a_sample_load_fills_every_partition_with_its_own_row_count(webserver):
    """No VIP_FIRST_MONTH: the partitions start where the data starts, so a complete load shows 100 %; each
    month's materialisation carries its own row count (not the range's); the catalog names owners, kinds,
    tags and the SQL table BI reads."""
    keys = [{"path": [a]} for a in ("balances", "monthly_account_activity", "client_segments", "client_panel")]
    nodes = {n["assetKey"]["path"][0]: n for n in webserver.graphql(PARTITIONS, {"keys": keys})["assetNodes"]}
    for name, node in nodes.items():
        stats = node["partitionStats"]
        assert stats["numPartitions"] >= 2 and stats["numMaterialized"] == stats["numPartitions"], (name, stats)
        counts = {
            m["partition"]: next(e["intValue"] for e in m["metadataEntries"] if e["label"] == "dagster/row_count")
            for m in node["assetMaterializations"]
        }
        assert len(counts) >= 2, (name, counts)
        if name in ("balances", "monthly_account_activity"):
            assert len(set(counts.values())) == len(counts), f"{name}: one row count stamped on every month {counts}"
        assert node["owners"] == [{"team": "bank-analytics"}], node["owners"]
        assert {"domain": "corporate_clients"}.items() <= {t["key"]: t["value"] for t in node["tags"]}.items()
    assert set(nodes["client_segments"]["kinds"]) == {"pandas", "sql"}
    assert {"key": "pii", "value": "client_name"} in nodes["client_segments"]["tags"]
    assert set(nodes["balances"]["kinds"]) == {"pandas", "parquet"}
    table = {e["label"]: e.get("text") for e in nodes["monthly_account_activity"]["metadataEntries"]}
    assert table["dagster/table_name"] == "monthly_account_activity"
    # the causes of the warnings that used to repeat in every step are gone
    log = webserver.log_path.read_text(errors="replace")
    for warning in ("allow_nonexistent_upstream_partitions", "varying BackfillPolicies"):
        assert warning not in log, f"{warning} in the webserver log"


CHECK_PARTITIONS = """
query ($keys: [AssetKeyInput!]) { assetNodes(assetKeys: $keys) { assetKey { path }
  assetChecksOrError { ... on AssetChecks { checks { name partitionStatuses { __typename
    ... on AssetCheckTimePartitionStatuses { ranges { startKey endKey status } } } } } } } }"""


def test_ui_shows_each_months_own_check_result(webserver):
    """The load was one range run, yet every month records its own check results: the monthly tables' checks
    passed for both months; the decisions' checks passed for the complete month, and the month in progress,
    which gets no decisions, shows them skipped, not passed."""
    keys = [{"path": ["monthly_account_activity"]}, {"path": ["client_segments"]}]
    nodes = {n["assetKey"]["path"][0]: n for n in webserver.graphql(CHECK_PARTITIONS, {"keys": keys})["assetNodes"]}

    def statuses(asset: str, check: str) -> dict[str, str]:
        (found,) = [c for c in nodes[asset]["assetChecksOrError"]["checks"] if c["name"] == check]
        assert found["partitionStatuses"]["__typename"] == "AssetCheckTimePartitionStatuses", found
        by_month = {}
        for r in found["partitionStatuses"]["ranges"]:
            assert r["startKey"] == r["endKey"] or r["status"] == "SUCCEEDED", r
            by_month[r["startKey"]] = by_month[r["endKey"]] = r["status"]
        return by_month

    activity = statuses("monthly_account_activity", "fx_coverage")
    segments = statuses("client_segments", "one_tier_and_category")
    first, current = min(activity), max(activity)
    assert first < current and set(activity.values()) == {"SUCCEEDED"}, activity
    assert segments == {first: "SUCCEEDED", current: "SKIPPED"}, segments


SEGMENT_EVENTS = """
{ assetNodes(assetKeys: [{path: ["client_segments"]}]) {
    assetMaterializations(limit: 5) { partition metadataEntries { label ... on TextMetadataEntry { text }
                                                                  ... on MarkdownMetadataEntry { mdStr } } } } }"""


def test_ui_each_decided_month_carries_its_own_distributions(webserver):
    """The decided month's materialisation carries its own distributions and pyramid; the month in progress
    carries none of them (they were stamped on every month of the range before), only its status and the
    pyramid of the latest decided month, titled with that month."""
    (node,) = webserver.graphql(SEGMENT_EVENTS)["assetNodes"]
    events = {m["partition"]: {e["label"]: e for e in m["metadataEntries"]} for m in node["assetMaterializations"]}
    decided, current = sorted(events)[-2:]
    assert events[decided]["status"]["text"] == "decided"
    assert {"category_distribution", "ltv_tier_distribution", "top_clients"} <= set(events[decided])
    assert events[current]["status"]["text"].startswith("in progress")
    assert not {"category_distribution", "ltv_tier_distribution", "top_clients"} & set(events[current])
    title = f"**LTV pyramid as of {decided[:7]}**"
    assert events[current]["ltv_pyramid"]["mdStr"].startswith(title)
    assert events[decided]["ltv_pyramid"]["mdStr"].startswith(title)


def test_ui_shows_column_schema(webserver):
    keys = [{"path": ["monthly_account_activity"]}, {"path": ["client_segments"]}, {"path": ["transactions"]}]
    nodes = webserver.graphql(COLUMN_SCHEMA, {"keys": keys})["assetNodes"]
    schemas = {}
    for node in nodes:
        entries = {e["label"]: e for e in node["metadataEntries"]}
        entry = entries.get("dagster/column_schema")
        assert entry and entry["__typename"] == "TableSchemaMetadataEntry", node["assetKey"]
        schemas[node["assetKey"]["path"][0]] = {c["name"]: c for c in entry["schema"]["columns"]}
    activity = schemas["monthly_account_activity"]
    assert {"account_id", "month", "adb", "adb_usd", "margin_usd"} <= set(activity)
    assert activity["adb_usd"]["type"] == "float" and activity["adb_usd"]["description"]
    assert {"client_id", "category", "ltv_tier"} <= set(schemas["client_segments"])
    assert {"txn_id", "amount"} <= set(schemas["transactions"])


def test_deploy_config_serialises_the_monthly_job(webserver):
    """deploy/dagster.yaml passes Dagster's instance schema and limits the tag the UI shows on refresh_month to 1."""
    from dagster import QueuedRunCoordinator
    from dagster._core.instance.config import dagster_instance_config
    from dagster._serdes import ConfigurableClassData

    config, _ = dagster_instance_config(str(REPO_ROOT / "deploy"))
    db = config["storage"]["postgres"]["postgres_db"]
    for field, var in {"username": "DAGSTER_PG_USERNAME", "password": "DAGSTER_PG_PASSWORD",
                       "hostname": "DAGSTER_PG_HOST", "db_name": "DAGSTER_PG_DB"}.items():
        assert db[field] == {"env": var}, field
    assert db["scheme"] == "postgresql+psycopg2", "psycopg 3 breaks dagster-postgres' NOTIFY (deploy/README.md)"
    coordinator = ConfigurableClassData(config["run_coordinator"]["module"], config["run_coordinator"]["class"],
                                        yaml.safe_dump(config["run_coordinator"]["config"])).rehydrate(QueuedRunCoordinator)
    (repo,) = webserver.graphql(REPOSITORY)["repositoriesOrError"]["nodes"]
    (job,) = [j for j in repo["jobs"] if j["name"] == "refresh_month"]
    limits = {
        (lim["key"], lim.get("value")): lim["limit"]
        for lim in coordinator.get_run_queue_config().tag_concurrency_limits
    }
    assert [limits.get((t["key"], t["value"])) for t in job["tags"]] == [1]
    assert config["run_retries"]["enabled"] and config["run_retries"]["max_retries"] == 2
    assert config["telemetry"] == {"enabled": False}


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


def _chromium_or_fail() -> str:
    """Debian's headless Chromium: missing FAILS in CI (CI=true), skips elsewhere with the reason."""
    found = find_chromium()
    if found is None:
        message = "headless Chromium not found (/usr/bin/chromium): apt-get install -y chromium"
        if in_ci():
            pytest.fail(f"CI: {message}")
        pytest.skip(message)
    return found


def test_asset_graph_screenshot(request, tmp_path):
    chromium = _chromium_or_fail()  # before the shared server is (maybe) started for nothing
    webserver = request.getfixturevalue("webserver")
    asset_nodes = request.getfixturevalue("asset_nodes")

    # The "Join the Dagster community" dialog covers a fresh UI on localhost: dismiss it for this
    # DAGSTER_HOME exactly as its Skip button does.
    assert webserver.graphql("mutation { setNuxSeen }")["setNuxSeen"] is True
    groups = sorted({n["groupName"] for n in asset_nodes.values()})
    # group ids of the graph's `expanded` parameter (global, or per code location behind a feature flag)
    expanded = [f"global@global:{g}" for g in groups] + [f"__repository__@{webserver.location}:{g}" for g in groups]
    url = f"{webserver.url}/asset-groups?expanded={','.join(expanded)}"  # "Lineage": the global asset graph

    out = tmp_path / "asset-graph.png"
    done = screenshot(chromium, url, out, tmp_path / "chromium-profile")
    assert done.returncode == 0 and out.exists(), f"chromium failed ({done.returncode}):\n{done.stdout[-3000:]}"
    assert _png_size(out) == (1600, 1000)
    size = out.stat().st_size
    assert size > 20_000, f"{size} bytes: the page did not render the graph\n{webserver.log_tail()}"
    assert size < 500_000, f"{size} bytes: too large to commit"
    DOCS_IMAGE.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(out, DOCS_IMAGE)


PAGES = {  # docs/img/<name>.png: what a data engineer opens after a load
    "asset-client-segments": "/assets/client_segments",
    "partitions-monthly-activity": "/assets/monthly_account_activity?view=partitions",
    "runs": "/runs",
}


@pytest.mark.parametrize("name", sorted(PAGES))
def test_page_screenshots(request, tmp_path, name):
    """The asset page (metadata, pyramid), a partitions tab (every month filled) and the runs page (one named
    run per load), rendered by headless Chromium from the same sample load and kept in docs/img/."""
    chromium = _chromium_or_fail()
    webserver = request.getfixturevalue("webserver")
    assert webserver.graphql("mutation { setNuxSeen }")["setNuxSeen"] is True
    out = tmp_path / f"{name}.png"
    done = screenshot(chromium, f"{webserver.url}{PAGES[name]}", out, tmp_path / "chromium-profile")
    assert done.returncode == 0 and out.exists(), f"chromium failed ({done.returncode}):\n{done.stdout[-3000:]}"
    assert _png_size(out) == (1600, 1000)
    size = out.stat().st_size
    assert 20_000 < size < 600_000, f"{size} bytes: the page did not render (or is too large to commit)"
    shutil.copyfile(out, DOCS_IMAGE.parent / f"{name}.png")


def test_the_pyramid_is_on_the_asset_page_without_a_click(webserver, tmp_path):
    """The segments' latest materialisation shows the LTV pyramid inline (Markdown under the UI's 1,000-character
    limit for inline Markdown): its four levels, narrow at the top, are in the rendered page."""
    chromium = _chromium_or_fail()
    done = screenshot(chromium, f"{webserver.url}/assets/client_segments", None, tmp_path / "chromium-profile")
    assert done.returncode == 0, done.stdout[-3000:]
    assert "LTV pyramid as of" in done.stdout, "the pyramid is not on the page without a click"
    pyramid = done.stdout[done.stdout.index("LTV pyramid as of"):]
    levels = [pyramid.index(f"<td>{tier}</td>") for tier in ("most valuable", "strategic", "workhorse", "ballast")]
    assert levels == sorted(levels), "levels out of order"
    assert pyramid.index(">██<") < pyramid.index(">███████████<"), "narrow top, wide base"


LAUNCH = """
mutation ($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on RunConfigValidationInvalid { errors { message } } ... on InvalidSubsetError { message }
} }"""
RUN_STATUS = """query ($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status } } }"""


RUN_TAGS = """query ($id: ID!) { runOrError(runId: $id) { ... on Run { tags { key value } } } }"""


def test_manual_materialisation_from_the_ui(webserver):
    """What the Materialize button does: launch the monthly job for a partition through the webserver, whose
    run launcher forks the run from its warm process (vip_pipeline/launcher.py)."""
    run_id = _launch(webserver, f"{scan_landing(webserver.env['VIP_LANDING_DIR']).months[-1]:%Y-%m-01}")
    tags = {t["key"]: t["value"] for t in webserver.graphql(RUN_TAGS, {"id": run_id})["runOrError"]["tags"]}
    worker = json.loads(tags[WORKER_TAG])
    assert worker["pid"] != webserver.proc.pid


def _launch(webserver, month: str, assets: list[str] | None = None) -> str:
    """Launch refresh_month for a month through the webserver (as the UI's Materialize does); wait for success."""
    repo = webserver.graphql(REPOSITORY)["repositoriesOrError"]["nodes"][0]
    selector = {"repositoryLocationName": repo["location"]["name"], "repositoryName": repo["name"],
                "jobName": "refresh_month"}
    if assets:
        selector["assetSelection"] = [{"path": [a]} for a in assets]
    params = {"selector": selector, "executionMetadata": {"tags": [{"key": "dagster/partition", "value": month}]}}
    launched = webserver.graphql(LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    status, deadline = None, time.monotonic() + 240
    while time.monotonic() < deadline:
        status = webserver.graphql(RUN_STATUS, {"id": run_id})["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(1)
    assert status == "SUCCESS", f"run {run_id} ended {status}\n{webserver.log_tail()}"
    return run_id


def test_a_corrected_month_shows_stale_until_the_cascade_recomputes_it(webserver):
    """A re-delivered balances file of the first month, its extract re-materialised alone: the month's metrics
    show "upstream changed" (STALE) in the UI; after the cascade (`vip-pipeline run --month`) they are FRESH."""
    landing = Path(webserver.env["VIP_LANDING_DIR"])
    first = scan_landing(landing).months[0]
    month = f"{first:%Y-%m-01}"
    path = scan_landing(landing).for_month("balances", first)[0].path
    lines = path.read_text().splitlines()
    account, day, value = lines[1].split(",")
    lines[1] = f"{account},{day},{float(value) + 1000:.2f}"
    path.write_text("\n".join(lines) + "\n")

    keys = [{"path": ["monthly_account_activity"]}, {"path": ["balance_state"]}]

    def status() -> dict[str, str]:
        nodes = webserver.graphql(STALE, {"keys": keys, "partitions": [month]})["assetNodes"]
        return {n["assetKey"]["path"][0]: n["staleStatusByPartition"][0] for n in nodes}

    assert status() == {"monthly_account_activity": "FRESH", "balance_state": "FRESH"}
    _launch(webserver, month, ["balances"])
    assert status() == {"monthly_account_activity": "STALE", "balance_state": "STALE"}
    _cli(webserver.env, "run", "--quiet", "--month", first.strftime("%Y-%m"))
    assert status() == {"monthly_account_activity": "FRESH", "balance_state": "FRESH"}

