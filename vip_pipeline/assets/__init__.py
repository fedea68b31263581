"""Thin Dagster assets around the pure rules: extracts → monthly metrics → client decisions."""
