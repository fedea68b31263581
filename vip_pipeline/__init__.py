"""vip_pipeline: LTV pyramid, VIP eligibility and service categories for corporate clients."""

__version__ = "0.2.0"
