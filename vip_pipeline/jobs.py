"""The job the schedule and sensor launch: one month and everything up- and downstream of it."""

from dagster import AssetSelection, define_asset_job

from vip_pipeline.partitions import monthly_partitions

SERIAL_TAG = {"vip_pipeline/queue": "monthly"}  # deploy/dagster.yaml runs these one at a time, in order

refresh_month = define_asset_job(
    "refresh_month",
    selection=AssetSelection.all(),
    partitions_def=monthly_partitions,
    tags=SERIAL_TAG,
    description="Validate the month's extracts (and the snapshots), compute its metrics, decide the month if complete.",
)
