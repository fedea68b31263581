"""Data contracts: the input extracts (SPEC §3) and the published tables (SPEC §4)."""
