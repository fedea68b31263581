"""Client decisions (SPEC §1): LTV and its pyramid, VIP eligibility, service category, recommended action."""
