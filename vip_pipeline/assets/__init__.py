"""Thin Dagster assets around the pure rules: extracts → monthly metrics → client decisions."""

import warnings

from dagster import BetaWarning, PreviewWarning

# Every partitioned asset uses a single-run backfill policy on purpose (a range of months is one step that walks
# them in order); Dagster 1.13 marks that parameter beta and would say so once per asset at every load.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=BetaWarning)
# A monthly asset's checks are partitioned like it, so that each month of a range run records its own result;
# Dagster 1.13 marks partitioned check specs "preview" and would say so once per check at every load.
warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=PreviewWarning)
