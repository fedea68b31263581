"""Monthly metrics (SPEC §2) as pure functions over DataFrames: FX, balances/ADB, turnover, margin."""

# The transaction columns the monthly metrics read (turnover, own transfers, settlement, exports): the pipeline
# reads only these back from staging, and the bench's baseline keeps only these. Kept free of pandas: the
# baseline imports it.
TXN_COLUMNS = ("account_id", "booking_date", "amount", "direction", "txn_type", "counterparty_account_id", "purpose")
