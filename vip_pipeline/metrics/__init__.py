"""Monthly metrics (SPEC §2) as pure functions over DataFrames: FX, balances/ADB, turnover, margin."""
