"""How each product's accounts behave: one row per product of the contract, in the contract's order."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vip_pipeline.contracts.extracts import PRODUCTS, TXN_TYPES

from .codes import PURPOSE_LABELS


@dataclass(frozen=True)
class Level:
    """A balance level in USD: ``low + span × u`` (u uniform in 0–1) times its basis.

    The basis is the client's monthly turnover × `factor` (``turnover``), one USD (``usd``) or the product's
    usual level (``usual``, a profile's multiple of it). Credit products take the negative.
    """

    low: float
    span: float
    basis: str = "turnover"
    factor: float = 1.0


@dataclass(frozen=True)
class ProductRow:
    """A product's postings (activity, credits, turnover, fees, own transfers), balance level and rate."""

    name: str
    activity: float  # weight of ordinary postings
    credit_share: float  # share of ordinary postings that are credits
    turnover: float  # posting size, as a fraction of the client's monthly turnover
    fee: float  # multiple of the client's monthly fee
    own_rate: float  # own-account transfers a month with the client's partner account
    own_fraction: float  # an own-account transfer's size, as a fraction of monthly turnover
    sparse: float  # share of accounts reporting changed balances only
    types: dict[str, float]  # txn_type probabilities of ordinary credits
    debit_types: dict[str, float] | None = None  # of ordinary debits (None: as credits)
    purposes: dict[str, float] = field(default_factory=lambda: {"other": 0.2, "": 0.8})
    debit_purposes: dict[str, float] | None = None
    level: Level | None = None  # None: the current account's share of turnover × the client's balance ratio
    rate: tuple[float, float] = (0.0, 0.0)  # yearly interest rate: low + span × v
    instalments: bool = False  # amortised, repaid monthly from the current account, in local currency
    revolving: bool = False  # a credit line whose use moves month to month
    own_transfers: bool = False  # its transfers go to or come from the client's main account


# ProductRow(name, activity, credit_share, turnover, fee, own_rate, own_fraction, sparse, ...)
TABLE = (
    ProductRow(
        "current", 3.0, 0.42, 1.0, 1.0, 0.6, 0.08, 0.12,
        types=dict(payment=0.55, transfer=0.25, cash=0.08, fx=0.07, other=0.05),
        debit_types=dict(payment=0.5, transfer=0.2, cash=0.1, card=0.1, fx=0.05, other=0.05),
        purposes={"other": 0.35, "": 0.65},
        debit_purposes={"salary": 0.1, "tax": 0.08, "loan": 0.02, "other": 0.3, "": 0.5},
        rate=(0.001, 0.004),  # only for clients paid interest on current accounts
    ),
    ProductRow(
        "deposit", 0.1, 0.5, 0.05, 0, 0.6, 0.1, 0.45, types=dict(transfer=0.9, other=0.1),
        level=Level(0.5, 2.5), rate=(0.005, 0.02), own_transfers=True,
    ),
    ProductRow(
        "savings", 0.2, 0.6, 0.03, 0, 0.6, 0.03, 0.45, types=dict(transfer=0.9, other=0.1),
        level=Level(0.2, 0.8), rate=(0.002, 0.013), own_transfers=True,
    ),
    ProductRow(
        "loan", 0.05, 0.5, 0.01, 0.2, 0, 0, 0.45, types=dict(transfer=0.2, loan=0.8), purposes={"loan": 1},
        level=Level(0.5, 3.5), rate=(0.045, 0.035), instalments=True, own_transfers=True,
    ),
    ProductRow(
        "overdraft", 0.6, 0.5, 0.2, 0.2, 0.2, 0.05, 0.12, types=dict(payment=0.5, transfer=0.4, cash=0.1),
        level=Level(0.05, 0.35), rate=(0.07, 0.04), revolving=True,
    ),
    ProductRow(
        "credit_line", 0.4, 0.5, 0.2, 0.3, 0.2, 0.05, 0.12, types=dict(payment=0.5, transfer=0.4, cash=0.1),
        level=Level(0.1, 0.7), rate=(0.06, 0.04), revolving=True,
    ),
    ProductRow(
        "leasing", 0.05, 0.5, 0.01, 0.2, 0, 0, 0.45, types=dict(transfer=0.2, loan=0.8), purposes={"loan": 1},
        level=Level(0.2, 1.3), rate=(0.05, 0.04), instalments=True, own_transfers=True,
    ),
    ProductRow(
        "card", 1.5, 0.1, 0.05, 0.3, 0.5, 0.03, 0.12,
        types=dict(transfer=0.7, other=0.3), debit_types=dict(cash=0.1, card=0.9),
        level=Level(0.02, 0.2), own_transfers=True,
    ),
    ProductRow(
        "payroll", 0.8, 0.15, 0.25, 0.5, 1.0, 0.25, 0.12,
        types=dict(transfer=1), debit_types=dict(payment=0.2, transfer=0.8), debit_purposes={"salary": 0.95, "": 0.05},
        level=Level(0.02, 0.2), own_transfers=True,
    ),
    ProductRow(
        "trade_finance", 0.3, 0.5, 0.2, 2.0, 0.2, 0.05, 0.45, types=dict(payment=0.6, transfer=0.3, other=0.1),
        level=Level(0.02, 0.2),
    ),
    ProductRow("fx", 1.0, 0.5, 0.3, 0.3, 0.5, 0.1, 0.12, types=dict(fx=1), level=Level(0.02, 0.2)),
    ProductRow(
        "cash_management", 1.0, 0.5, 0.4, 1.5, 0.5, 0.1, 0.12, types=dict(payment=0.3, transfer=0.6, cash=0.1),
        level=Level(0.02, 0.2),
    ),
    ProductRow(
        "guarantee", 0.05, 0.5, 0.01, 2.0, 0.2, 0.05, 0.45, types=dict(other=1), level=Level(0, 1, factor=0.05)
    ),
    ProductRow(
        "acquiring", 2.0, 0.9, 0.3, 0.8, 0.2, 0.05, 0.12,
        types=dict(card=0.95, other=0.05), debit_types=dict(transfer=0.8, other=0.2), level=Level(0.02, 0.2),
    ),
    ProductRow(
        "custody", 0.3, 0.5, 0.1, 1.5, 0.2, 0.05, 0.45, types=dict(transfer=0.5, other=0.5), level=Level(0.2, 1.8)
    ),
)  # fmt: skip
assert tuple(p.name for p in TABLE) == PRODUCTS, "one row per contract product, in the contract's order"


def column(attr: str) -> np.ndarray:
    """One attribute of every product, indexed by product code."""
    return np.array([getattr(p, attr) for p in TABLE])


ACTIVITY, CREDIT_SHARE, TURNOVER = column("activity"), column("credit_share"), column("turnover")
FEE, OWN_RATE, OWN_FRACTION, SPARSE = column("fee"), column("own_rate"), column("own_fraction"), column("sparse")
INSTALMENTS, REVOLVING, OWN_TRANSFERS = column("instalments"), column("revolving"), column("own_transfers")


def _cumulative(labels: tuple[str, ...], credit: str, debit: str) -> np.ndarray:
    """Cumulative probabilities of `labels` per (product, direction): row ``product * 2 + direction``."""
    p = np.zeros((len(TABLE), 2, len(labels)))
    for i, row in enumerate(TABLE):
        for d, probs in enumerate((getattr(row, credit), getattr(row, debit) or getattr(row, credit))):
            for label, prob in probs.items():
                p[i, d, labels.index(label)] = prob
    return np.cumsum(p, axis=2).reshape(len(TABLE) * 2, len(labels))


TYPE_CUM = _cumulative(TXN_TYPES, "types", "debit_types")
PURPOSE_CUM = _cumulative(PURPOSE_LABELS, "purposes", "debit_purposes")
