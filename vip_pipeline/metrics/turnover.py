"""Turnover by direction, settlement turnover and exports (SPEC §2)."""

from __future__ import annotations

import numpy as np
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
    return _own_transfer(txns, accounts, _owners(accounts, txns["account_id"]))


def _owners(accounts: pd.DataFrame, account_ids: pd.Series) -> pd.Series:
    """The client of each account id (NaN when the snapshot does not know it)."""
    return account_ids.map(accounts.set_index("account_id")["client_id"])


def _own_transfer(txns: pd.DataFrame, accounts: pd.DataFrame, mine: pd.Series) -> pd.Series:
    theirs = _owners(accounts, txns["counterparty_account_id"])
    return theirs.notna() & (theirs == mine)


def client_flows(txns: pd.DataFrame, accounts: pd.DataFrame) -> pd.DataFrame:
    """Per client: settlement turnover (credits on current accounts, no interest, no own transfers) and exports.

    `txns` needs account_id, amount_usd, direction, txn_type, counterparty_account_id, purpose.
    """
    at = pd.Index(accounts["account_id"]).get_indexer(txns["account_id"])  # one lookup for product and client
    known = at >= 0
    client = pd.Series(accounts["client_id"].to_numpy()[at], index=txns.index).where(known)  # NaN: unknown
    product = np.where(known, accounts["product"].to_numpy()[at], None)
    credit = txns["direction"] == "C"
    settlement = (
        credit
        & (product == SETTLEMENT_PRODUCT)
        & (txns["txn_type"] != "interest")
        & ~_own_transfer(txns, accounts, client)
    )
    parts = pd.DataFrame(
        {
            "client_id": client,
            "settlement_turnover_usd": txns["amount_usd"].where(settlement, 0.0),
            "export_usd": txns["amount_usd"].where(credit & (txns["purpose"] == "export"), 0.0),
        }
    )
    return parts.groupby("client_id", sort=True).sum().reset_index()
