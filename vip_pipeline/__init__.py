"""vip_pipeline: LTV pyramid, VIP eligibility and service categories for corporate clients."""
