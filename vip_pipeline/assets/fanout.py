"""A graph-backed multi-asset whose assets look exactly like the `AssetSpec`s they were declared with.

The sharded assets (monthly metrics, transactions and balances) are graphs: N shard steps and one step that
collects them. `AssetsDefinition.from_graph` takes what a spec holds (description, metadata, tags and kinds,
owners, deps, the deps among the assets themselves) as separate mappings; this module passes them, so the
asset graph is the same whatever N is.
"""

from dagster import AssetKey, AssetsDefinition, AssetSpec, GraphDefinition, PartitionMapping

from vip_pipeline.assets.extracts import SINGLE_RUN
from vip_pipeline.partitions import monthly_partitions


def graph_asset(
    graph_def: GraphDefinition,
    specs: list[AssetSpec],
    inputs: dict[str, tuple[str, PartitionMapping | None]],
    check_specs: list,
    group: str,
) -> AssetsDefinition:
    """The graph as monthly-partitioned assets with a single-run backfill policy: its outputs are named after
    the specs' assets, its inputs `{input name: (upstream asset, partition mapping)}`."""
    by_name = {spec.key.to_user_string(): spec for spec in specs}
    return AssetsDefinition.from_graph(
        graph_def,
        keys_by_input_name={name: AssetKey(asset) for name, (asset, _) in inputs.items()},
        keys_by_output_name={name: AssetKey(name) for name in by_name},
        internal_asset_deps={name: {dep.asset_key for dep in spec.deps} for name, spec in by_name.items()},
        partitions_def=monthly_partitions,
        partition_mappings={name: m for name, (_, m) in inputs.items() if m is not None},
        group_name=group,
        descriptions_by_output_name={name: spec.description for name, spec in by_name.items()},
        metadata_by_output_name={name: spec.metadata for name, spec in by_name.items()},
        tags_by_output_name={name: spec.tags for name, spec in by_name.items()},
        owners_by_output_name={name: spec.owners for name, spec in by_name.items()},
        backfill_policy=SINGLE_RUN,
        check_specs=check_specs,
    )
