"""Turnover by direction, settlement turnover and exports (SPEC §2)."""

from __future__ import annotations

import pandas as pd

SETTLEMENT_PRODUCT = "current"


def account_turnover(txns: pd.DataFrame) -> pd.DataFrame:
    """Per account: credit/debit turnover (account currency and USD), txn count, fee and interest flows (USD).

    `txns` needs account_id, amount, amount_usd, direction, txn_type.
    """
    credit = txns["direction"] == "C"
    debit = ~credit
    interest = txns["txn_type"] == "interest"
    parts = pd.DataFrame(
        {
            "account_id": txns["account_id"],
            "credit_turnover": txns["amount"].where(credit, 0.0),
            "credit_turnover_usd": txns["amount_usd"].where(credit, 0.0),
            "debit_turnover": txns["amount"].where(debit, 0.0),
            "debit_turnover_usd": txns["amount_usd"].where(debit, 0.0),
            "txn_count": 1,
            "fee_income_usd": txns["amount_usd"].where(debit & (txns["txn_type"] == "fee"), 0.0),
            "interest_income_usd": txns["amount_usd"].where(debit & interest, 0.0),
            "interest_expense_usd": txns["amount_usd"].where(credit & interest, 0.0),
        }
    )
    return parts.groupby("account_id", sort=True).sum().reset_index()


def is_own_transfer(txns: pd.DataFrame, accounts: pd.DataFrame) -> pd.Series:
    """True where the counterparty account belongs to the same client as the booked account."""
    owner = accounts.set_index("account_id")["client_id"]
    mine = txns["account_id"].map(owner)
    theirs = txns["counterparty_account_id"].map(owner)
    return theirs.notna() & (theirs == mine)


def client_flows(txns: pd.DataFrame, accounts: pd.DataFrame) -> pd.DataFrame:
    """Per client: settlement turnover (credits on current accounts, no interest, no own transfers) and exports.

    `txns` needs account_id, amount_usd, direction, txn_type, counterparty_account_id, purpose.
    """
    acct = accounts.set_index("account_id")
    credit = txns["direction"] == "C"
    settlement = (
        credit
        & (txns["account_id"].map(acct["product"]) == SETTLEMENT_PRODUCT)
        & (txns["txn_type"] != "interest")
        & ~is_own_transfer(txns, accounts)
    )
    parts = pd.DataFrame(
        {
            "client_id": txns["account_id"].map(acct["client_id"]),
            "settlement_turnover_usd": txns["amount_usd"].where(settlement, 0.0),
            "export_usd": txns["amount_usd"].where(credit & (txns["purpose"] == "export"), 0.0),
        }
    )
    return parts.groupby("client_id", sort=True).sum().reset_index()
