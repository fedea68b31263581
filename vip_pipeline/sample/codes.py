"""Integer codes of the contract's enums, as the generator's numpy arrays hold them, and the sample's currencies.

A code is the value's position in the contract's tuple (`vip_pipeline.contracts.extracts`), so a file column is
``LABELS[code]``; each namespace's attributes are the values upper-cased: ``Product.CURRENT``,
``ClientType.INDIVIDUAL``, ``TxnType.FEE``. The codes are plain ints so numpy keeps the arrays' small dtypes.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from vip_pipeline.contracts.extracts import (
    CLIENT_TYPES,
    CREDIT_PRODUCTS,
    DIRECTIONS,
    PRODUCTS,
    PURPOSES,
    RELATED_PARTIES,
    SERVICE_MODELS,
    TXN_TYPES,
)


def codes(values: tuple[str, ...]) -> SimpleNamespace:
    """``NAME -> position`` of each value of an enum."""
    return SimpleNamespace(**{value.upper(): i for i, value in enumerate(values)})


Product = codes(PRODUCTS)
ClientType = codes(CLIENT_TYPES)
Related = codes(RELATED_PARTIES)
Service = codes(SERVICE_MODELS)
TxnType = codes(TXN_TYPES)
Purpose = codes(PURPOSES)
Direction = SimpleNamespace(CREDIT=DIRECTIONS.index("C"), DEBIT=DIRECTIONS.index("D"))
PURPOSE_LABELS = PURPOSES + ("",)  # the last code: no purpose (an empty cell)
NO_PURPOSE = len(PURPOSES)
IS_CREDIT_PRODUCT = np.isin(np.arange(len(PRODUCTS)), [PRODUCTS.index(p) for p in CREDIT_PRODUCTS])

# the sample's currencies (the contract accepts any ISO 4217 code) and their starting USD value
CURRENCIES = ("USD", "EUR", "GBP", "BGN", "CHF")
Currency = codes(CURRENCIES)
BGN_PER_EUR = 1.95583  # currency board peg
BASE_USD_PER_UNIT = np.array([1.0, 1.08, 1.27, 1.08 / BGN_PER_EUR, 1.12])
# counterparty countries; the first is the bank's own (domestic)
COUNTRIES = ("BG", "DE", "FR", "IT", "ES", "NL", "AT", "GR", "RO", "TR", "GB", "US", "CN", "CH", "PL", "RS")
