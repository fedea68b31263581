"""Asset group names: the pipeline's stages as the Dagster UI shows them."""

EXTRACTS = "validated_extracts"
MONTHLY = "monthly_metrics"
DECISIONS = "client_decisions"

DEFAULT_LANDING_DIR = "data/landing"
