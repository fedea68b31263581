"""Synthetic bank: writes a realistic landing directory in the SPEC §3 data contract.

`generate_sample(out_dir, ...)` creates the core-banking extracts of a made-up corporate
bank — client and account snapshots, transactions, end-of-day balances and FX rates — so
the pipeline, its tests, the demo and the benchmark have data with every case they must
handle:

* a client mix (corporate / sme / bank / individual, related parties, clients onboarded or
  offboarded inside the window, clients without accounts) built from *profiles* that land
  in every VIP outcome: VIP-served and eligible, eligible but not served (``approach``),
  exactly two criteria (``watch``), VIP-served but no longer eligible (``review``), wealthy
  individuals meeting three criteria (never eligible), loss-making "ballast" clients;
* economic groups (``group_id``, about 7 % of the clients): parents with 2–5 subsidiaries (one with a
  related party and a late-onboarded member), pairs that are VIP only together, groups with an
  individual member, a group whose only company leaves, a member onboarded late (see `_build_groups`);
* size-dependent activity: big clients book many large transactions, mass clients a few
  small ones; monthly fees, interest both ways, loan repayments, own-account transfers,
  exports and imports;
* dense and sparse (changes-only) balance histories, or a full calendar-day history;
* history months as monthly files (``csv.gz`` transactions, ``parquet`` balances, ``csv``
  rates), the latest months as daily files, the last month month-to-date;
* a few contract-breaking rows in the big monthly history files (listed in the summary).

Everything is vectorised with numpy per month and written with pyarrow, so 5,000 clients ×
24 months with a full balance history take a minute or two. Output is byte-for-byte
deterministic for the same arguments.
"""

from __future__ import annotations

import datetime as _dt
import gzip
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from vip_pipeline.contracts.extracts import EXTRACTS, PRODUCTS, PURPOSES, TXN_TYPES

__all__ = ["generate_sample", "COLUMNS"]

# --------------------------------------------------------------------------- contract
COLUMNS: dict[str, list[str]] = {
    name: EXTRACTS[name].column_names for name in ("clients", "accounts", "transactions", "balances", "fx_rates")
}

# product indices, in the contract's PRODUCTS order
(CUR, DEP, SAV, LOAN, OVD, CRL, LEAS, CARD, PAY, TF, FXP, CM, GUAR, ACQ, CUST) = range(15)
IS_CREDIT_PRODUCT = np.zeros(15, dtype=bool)
IS_CREDIT_PRODUCT[[LOAN, OVD, CRL, LEAS]] = True

CURRENCIES = ("USD", "EUR", "GBP", "BGN", "CHF")
USD, EUR, GBP, BGN, CHF = range(5)
BGN_PER_EUR = 1.95583  # currency board peg
BASE_USD_PER_UNIT = np.array([1.0, 1.08, 1.27, 1.08 / BGN_PER_EUR, 1.12])

(T_PAY, T_TRF, T_CASH, T_CARD, T_FEE, T_INT, T_FX, T_LOAN, T_OTHER) = range(9)
P_EXPORT, P_IMPORT, P_SALARY, P_TAX, P_LOAN, P_OTHER, P_NONE = range(7)
COUNTRIES = ("BG", "DE", "FR", "IT", "ES", "NL", "AT", "GR", "RO", "TR", "GB", "US", "CN", "CH", "PL", "RS")

CLIENT_TYPES = ("corporate", "sme", "bank", "individual")
RELATED_PARTIES = ("none", "subsidiary", "shareholder", "affiliate")
SERVICE_MODELS = ("vip", "standard", "mass")

# Client profiles. Each lands in a known place of the VIP rules (SPEC §1) when the window is long
# enough: criteria are products>=4, scale, monopoly, strategic, growth.
PROFILES = (
    "big_vip",
    "big_approach",
    "watch_products",
    "watch_strategic",
    "review",
    "ballast",
    "mid",
    "small",
    "bank_large",
    "bank_small",
    "retail",
    "wealthy",
)
(
    BIG_VIP,
    BIG_APPROACH,
    WATCH_PRODUCTS,
    WATCH_STRATEGIC,
    REVIEW,
    BALLAST,
    MID,
    SMALL,
    BANK_LARGE,
    BANK_SMALL,
    RETAIL,
    WEALTHY,
) = range(12)

# profile -> turnover (median USD/month, sigma, min, max) of settlement credits on current accounts
_TURNOVER = {
    BIG_VIP: (3e6, 0.7, 9e5, 6e7),
    BIG_APPROACH: (2e6, 0.6, 8e5, 4e7),
    WATCH_PRODUCTS: (3e5, 0.6, 6e4, 2e6),
    WATCH_STRATEGIC: (1.3e6, 0.4, 7e5, 6e6),
    REVIEW: (1.2e5, 0.4, 6e4, 2.5e5),
    BALLAST: (8e4, 0.5, 2e4, 4e5),
    MID: (1.5e5, 0.6, 5.5e4, 4.5e5),
    SMALL: (1.5e4, 0.7, 1e3, 4.5e4),
    BANK_LARGE: (5e6, 0.7, 1e6, 1e8),
    BANK_SMALL: (2e4, 0.5, 3e3, 4.5e4),
    RETAIL: (3e3, 0.6, 3e2, 2e4),
    WEALTHY: (4e4, 0.5, 1e4, 1.5e5),
}
# annual sales (median, sigma, min, max); None = not reported
_SALES = {
    BIG_VIP: (4e7, 0.8, 6e6, 2e9),
    BIG_APPROACH: (3e7, 0.7, 6e6, 1e9),
    WATCH_PRODUCTS: (1.5e7, 0.5, 6e6, 2e8),
    WATCH_STRATEGIC: (3e6, 0.4, 5e5, 4.5e6),
    REVIEW: (2e6, 0.4, 5e5, 4.5e6),
    BALLAST: (2e6, 0.5, 3e5, 4.8e6),
    MID: (2e6, 0.6, 2e5, 4.9e6),
    SMALL: (4e5, 0.8, 3e4, 3e6),
}
# distinct products: (low, high) uniform, or {k: p}
_N_PRODUCTS = {
    BIG_VIP: (5, 7),
    BIG_APPROACH: (4, 6),
    WATCH_PRODUCTS: (4, 5),
    WATCH_STRATEGIC: (2, 3),
    REVIEW: (1, 3),
    BALLAST: (5, 7),
    MID: {1: 0.1, 2: 0.35, 3: 0.4, 4: 0.15},
    SMALL: {1: 0.2, 2: 0.45, 3: 0.35},
    BANK_LARGE: (4, 6),
    BANK_SMALL: {1: 0.3, 2: 0.7},
    RETAIL: {1: 0.15, 2: 0.45, 3: 0.4},
    WEALTHY: (4, 5),
}
_EXTRA_CURRENT = {BIG_VIP: 0.4, BIG_APPROACH: 0.3, BANK_LARGE: 0.5, MID: 0.1}
_ACTIVITY = {
    BIG_VIP: 6,
    BIG_APPROACH: 5,
    WATCH_PRODUCTS: 4,
    WATCH_STRATEGIC: 3,
    REVIEW: 1.5,
    BALLAST: 1.0,
    MID: 2,
    SMALL: 0.7,
    BANK_LARGE: 6,
    BANK_SMALL: 0.7,
    RETAIL: 0.5,
    WEALTHY: 0.8,
}
_FEE = {
    BIG_VIP: (300, 2500),
    BIG_APPROACH: (200, 1500),
    WATCH_PRODUCTS: (150, 800),
    WATCH_STRATEGIC: (100, 600),
    REVIEW: (50, 200),
    BALLAST: (0, 0),
    MID: (30, 200),
    SMALL: (5, 40),
    BANK_LARGE: (500, 3000),
    BANK_SMALL: (20, 80),
    RETAIL: (2, 8),
    WEALTHY: (10, 40),
}
# current-account balance as a fraction of monthly turnover
_BAL = {
    BIG_VIP: (0.2, 0.6),
    BIG_APPROACH: (0.15, 0.5),
    WATCH_PRODUCTS: (0.1, 0.4),
    WATCH_STRATEGIC: (0.1, 0.4),
    REVIEW: (0.05, 0.15),
    BALLAST: (0.15, 0.5),
    MID: (0.1, 0.45),
    SMALL: (0.15, 0.8),
    BANK_LARGE: (0.3, 1.0),
    BANK_SMALL: (0.3, 1.0),
    RETAIL: (0.5, 3.0),
    WEALTHY: (1.0, 3.0),
}
_EXPORTER = {
    BIG_VIP: 0.5,
    BIG_APPROACH: 0.4,
    WATCH_PRODUCTS: 0.2,
    WATCH_STRATEGIC: 0.2,
    BALLAST: 0.1,
    MID: 0.3,
    SMALL: 0.1,
}
_SERVICE = {
    BIG_VIP: (1, 0, 0),
    BIG_APPROACH: (0, 1, 0),
    WATCH_PRODUCTS: (0, 1, 0),
    WATCH_STRATEGIC: (0, 1, 0),
    REVIEW: (1, 0, 0),
    BALLAST: (0, 1, 0),
    MID: (0, 0.95, 0.05),
    SMALL: (0, 0.4, 0.6),
    BANK_LARGE: (0.7, 0.3, 0),
    BANK_SMALL: (0, 0.5, 0.5),
    RETAIL: (0, 0, 1),
    WEALTHY: (0, 1, 0),
}
# first four accounts of these profiles are opened before the window and never closed,
# so "products >= 4" holds in every month
_PROTECTED = (BIG_VIP, BIG_APPROACH, WATCH_PRODUCTS, WATCH_STRATEGIC, BANK_LARGE, WEALTHY)

# weights of the non-current products (deposit .. custody) per profile
_W = {
    "big": [3, 0.5, 3, 1.5, 2, 1.5, 2, 3, 2, 2, 2, 2, 1, 0.5],
    "mid": [3, 1, 2, 2, 1, 1, 2, 2, 0.5, 0.5, 0.3, 0.5, 1, 0.1],
    "review": [0, 0, 2, 2, 1, 1, 2, 2, 0.5, 0.5, 0.3, 1, 0.5, 0],
    "ballast": [3, 0.5, 4, 3, 3, 3, 1, 0.5, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2],
    "small": [1, 1, 0.7, 1.5, 0.3, 0.5, 2, 1, 0.1, 0.1, 0.1, 0.1, 1, 0.1],
    "bank_large": [3, 0, 0.5, 0, 1, 0, 0, 0, 2, 3, 2, 2, 0, 3],
    "bank_small": [2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1],
    "retail": [2, 3, 1.5, 1, 0.5, 0, 4, 0, 0, 0, 0, 0, 0, 0],
    "wealthy": [3, 3, 0.5, 0, 0, 0, 2, 0, 0, 1, 0, 0, 0, 3],
}
_PROFILE_WEIGHTS = {
    BIG_VIP: "big",
    BIG_APPROACH: "big",
    WATCH_PRODUCTS: "big",
    WATCH_STRATEGIC: "mid",
    REVIEW: "review",
    BALLAST: "ballast",
    MID: "mid",
    SMALL: "small",
    BANK_LARGE: "bank_large",
    BANK_SMALL: "bank_small",
    RETAIL: "retail",
    WEALTHY: "wealthy",
}

# per product:        cur  dep  sav  loan ovd  crl  leas card pay  tf   fx   cm   guar acq  cust
_ACT_FACTOR = np.array([3.0, 0.1, 0.2, 0.05, 0.6, 0.4, 0.05, 1.5, 0.8, 0.3, 1.0, 1.0, 0.05, 2.0, 0.3])
_P_CREDIT = np.array([0.42, 0.5, 0.6, 0.5, 0.5, 0.5, 0.5, 0.1, 0.15, 0.5, 0.5, 0.5, 0.5, 0.9, 0.5])
_TURNOVER_FACTOR = np.array([1.0, 0.05, 0.03, 0.01, 0.2, 0.2, 0.01, 0.05, 0.25, 0.2, 0.3, 0.4, 0.01, 0.3, 0.1])
_FEE_FACTOR = np.array([1.0, 0, 0, 0.2, 0.2, 0.3, 0.2, 0.3, 0.5, 2.0, 0.3, 1.5, 2.0, 0.8, 1.5])
_OWN_RATE = np.array([0.6, 0.6, 0.6, 0, 0.2, 0.2, 0, 0.5, 1.0, 0.2, 0.5, 0.5, 0.2, 0.2, 0.2])
_OWN_FRAC = np.array([0.08, 0.1, 0.03, 0, 0.05, 0.05, 0, 0.03, 0.25, 0.05, 0.1, 0.1, 0.05, 0.05, 0.05])
_P_SPARSE = np.array([0.12, 0.45, 0.45, 0.45, 0.12, 0.12, 0.45, 0.12, 0.12, 0.45, 0.12, 0.12, 0.45, 0.12, 0.45])

# txn_type probabilities of the ordinary activity per (product, direction); fees and interest are posted apart
_TYPE_P = np.zeros((15, 2, 9))
_TYPE_P[CUR, 0] = [0.55, 0.25, 0.08, 0, 0, 0, 0.07, 0, 0.05]
_TYPE_P[CUR, 1] = [0.5, 0.2, 0.1, 0.1, 0, 0, 0.05, 0, 0.05]
_TYPE_P[[DEP, SAV], :] = [0, 0.9, 0, 0, 0, 0, 0, 0, 0.1]
_TYPE_P[[LOAN, LEAS], :] = [0, 0.2, 0, 0, 0, 0, 0, 0.8, 0]
_TYPE_P[[OVD, CRL], :] = [0.5, 0.4, 0.1, 0, 0, 0, 0, 0, 0]
_TYPE_P[CARD, 0] = [0, 0.7, 0, 0, 0, 0, 0, 0, 0.3]
_TYPE_P[CARD, 1] = [0, 0, 0.1, 0.9, 0, 0, 0, 0, 0]
_TYPE_P[PAY, 0] = [0, 1, 0, 0, 0, 0, 0, 0, 0]
_TYPE_P[PAY, 1] = [0.2, 0.8, 0, 0, 0, 0, 0, 0, 0]
_TYPE_P[TF, :] = [0.6, 0.3, 0, 0, 0, 0, 0, 0, 0.1]
_TYPE_P[FXP, :] = [0, 0, 0, 0, 0, 0, 1, 0, 0]
_TYPE_P[CM, :] = [0.3, 0.6, 0.1, 0, 0, 0, 0, 0, 0]
_TYPE_P[GUAR, :] = [0, 0, 0, 0, 0, 0, 0, 0, 1]
_TYPE_P[ACQ, 0] = [0, 0, 0, 0.95, 0, 0, 0, 0, 0.05]
_TYPE_P[ACQ, 1] = [0, 0.8, 0, 0, 0, 0, 0, 0, 0.2]
_TYPE_P[CUST, :] = [0, 0.5, 0, 0, 0, 0, 0, 0, 0.5]
_TYPE_CUM = np.cumsum(_TYPE_P, axis=2).reshape(30, 9)

# purpose probabilities (export, import, salary, tax, loan, other, none) per (product, direction);
# exports / imports of current accounts come from the client's trade shares
_PURP_P = np.zeros((15, 2, 7))
_PURP_P[:, :] = [0, 0, 0, 0, 0, 0.2, 0.8]
_PURP_P[CUR, 0] = [0, 0, 0, 0, 0, 0.35, 0.65]
_PURP_P[CUR, 1] = [0, 0, 0.1, 0.08, 0.02, 0.3, 0.5]
_PURP_P[PAY, 1] = [0, 0, 0.95, 0, 0, 0, 0.05]
_PURP_P[[LOAN, LEAS], :] = [0, 0, 0, 0, 1, 0, 0]
_PURP_CUM = np.cumsum(_PURP_P, axis=2).reshape(30, 7)

_INDUSTRIES = (
    "manufacturing",
    "retail trade",
    "wholesale",
    "construction",
    "energy",
    "telecom",
    "transport",
    "agriculture",
    "it services",
    "real estate",
    "pharma",
    "food processing",
    "tourism",
    "mining",
)
_REGIONS = ("Sofia", "Plovdiv", "Varna", "Burgas", "Ruse", "Stara Zagora", "Pleven", "Veliko Tarnovo", "")
_ADJ = (
    "Balkan",
    "Rila",
    "Pirin",
    "Danube",
    "Black Sea",
    "Thracian",
    "Vitosha",
    "Rhodope",
    "Struma",
    "Maritsa",
    "Iskar",
    "Stara Planina",
    "Golden",
    "Nova",
    "Orbit",
    "Alpha",
    "Delta",
    "Prime",
    "Unity",
    "Eagle",
    "Lion",
    "Summit",
    "Crystal",
    "Evergreen",
)
_NOUN = (
    "Steel",
    "Logistics",
    "Foods",
    "Energy",
    "Textiles",
    "Pharma",
    "Motors",
    "Construction",
    "Telecom",
    "Agro",
    "Trade",
    "Chemicals",
    "Software",
    "Wines",
    "Tobacco",
    "Timber",
    "Glass",
    "Paper",
    "Mining",
    "Tourism",
    "Dairy",
    "Plastics",
    "Electronics",
    "Shipping",
)
_SUFFIX = {0: ("AD", "EAD", "OOD", "Holding AD", "Group AD"), 1: ("EOOD", "OOD", "ET")}
_BANK_WORD = ("Bank", "Investment Bank", "Commercial Bank", "Savings Bank")
_FIRST = (
    "Ivan",
    "Maria",
    "Georgi",
    "Elena",
    "Dimitar",
    "Petya",
    "Nikolay",
    "Desislava",
    "Stefan",
    "Kalina",
    "Todor",
    "Radostina",
    "Martin",
    "Vesela",
    "Aleksandar",
    "Yana",
)
_LAST = (
    "Petrov",
    "Ivanova",
    "Georgiev",
    "Dimitrova",
    "Nikolov",
    "Stoyanova",
    "Todorov",
    "Hristova",
    "Kolev",
    "Angelova",
    "Marinov",
    "Popova",
)

_EPOCH = _dt.date(1970, 1, 1)
_NEVER = np.int64(10**7)  # "not closed / not offboarded" sentinel day number (year ~29000)
_BAD_TXN_KINDS = ("negative_amount", "unknown_account", "duplicate_txn_id", "booking_date_outside_period")
_MIN_ROWS_FOR_BAD = 500


# --------------------------------------------------------------------------- day helpers
def _day(d: _dt.date) -> int:
    return (d - _EPOCH).days


def _date(i: int) -> _dt.date:
    return _EPOCH + _dt.timedelta(days=int(i))


def _weekday(days):
    return (np.asarray(days) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0


def _is_business(days):
    return _weekday(days) < 5


def _snap_forward(days):
    w = _weekday(days)
    return np.asarray(days) + np.where(w == 5, 2, np.where(w == 6, 1, 0))


def _snap_back(days):
    w = _weekday(days)
    return np.asarray(days) - np.where(w == 5, 1, np.where(w == 6, 2, 0))


def _uniform_day(rng, lo, hi):
    """A business day uniformly in [lo, hi] (arrays); snapped back into the range when it overflows."""
    lo = np.asarray(lo, dtype=np.int64)
    hi = np.maximum(np.asarray(hi, dtype=np.int64), lo)
    d = lo + np.floor(rng.random(np.broadcast(lo, hi).shape) * (hi - lo + 1)).astype(np.int64)
    d = _snap_forward(d)
    return np.where(d > hi, _snap_back(np.minimum(d, hi)), d)


def _month_index(days) -> np.ndarray:
    """Months since 1970-01 of day numbers."""
    return np.asarray(days).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


# --------------------------------------------------------------------------- arrow helpers
def _dates(days) -> pa.Array:
    return pa.array(np.asarray(days, dtype=np.int32)).cast(pa.date32())


def _money(values, scale: int = 2) -> pa.Array:
    v = np.round(np.asarray(values, dtype=np.float64), scale) + 0.0  # + 0.0 drops negative zeros
    return pa.array(v).cast(pa.decimal128(18, scale))


def _categorical(codes, labels, null_code: int | None = None) -> pa.Array:
    codes = np.asarray(codes)
    mask = None if null_code is None else (codes == null_code) | (codes < 0)
    idx = pa.array(np.where(mask, 0, codes).astype(np.int32) if mask is not None else codes.astype(np.int32), mask=mask)
    return pa.DictionaryArray.from_arrays(idx, pa.array(list(labels), pa.string()))


def _ids(prefix: str, numbers, width: int) -> pa.Array:
    s = pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string())
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(s, width, "0"), "")


def _csv_bytes(table: pa.Table) -> bytes:
    header = (",".join(table.column_names) + "\n").encode()
    if table.num_rows == 0:
        return header
    buf = pa.BufferOutputStream()
    pacsv.write_csv(table, buf, write_options=pacsv.WriteOptions(include_header=False, quoting_style="none"))
    return header + buf.getvalue().to_pybytes()


def _write_csv(table: pa.Table, path: Path, gz: bool = False) -> None:
    data = _csv_bytes(table)
    if gz:
        data = gzip.compress(data, compresslevel=6, mtime=0)
    path.write_bytes(data)


def _write_parquet_text(table: pa.Table, path: Path) -> None:
    """Parquet with every column as ISO/plain text (the reader validates text)."""
    cols = [c if pa.types.is_string(c.type) else pc.cast(c, pa.string()) for c in table.columns]
    pq.write_table(pa.table(cols, names=table.column_names), path, compression="snappy")


# --------------------------------------------------------------------------- master data
def _draw_lognormal(rng, n, spec):
    med, sigma, lo, hi = spec
    return np.clip(med * np.exp(sigma * rng.standard_normal(n)), lo, hi)


def _build_clients(rng, n: int, ws: int, we: int) -> dict:
    ctype = rng.choice(4, size=n, p=[0.55, 0.25, 0.08, 0.12])
    if n >= 4:  # every client type present
        for t in range(4):
            if not (ctype == t).any():
                counts = np.bincount(ctype, minlength=4)
                donor = np.flatnonzero(ctype == counts.argmax())[-1]
                ctype[donor] = t

    profile = np.empty(n, dtype=np.int64)
    quotas = {
        0: (
            [
                (BIG_VIP, 0.08, True),
                (BIG_APPROACH, 0.05, True),
                (WATCH_PRODUCTS, 0.04, True),
                (WATCH_STRATEGIC, 0.03, True),
                (REVIEW, 0.04, True),
                (BALLAST, 0.05, True),
                (MID, 0.36, False),
            ],
            SMALL,
            8,
        ),
        1: ([(WATCH_STRATEGIC, 0.03, False), (MID, 0.36, False)], SMALL, 99),
        2: ([(BANK_LARGE, 0.4, True)], BANK_SMALL, 2),
        3: ([(WEALTHY, 0.12, True)], RETAIL, 2),
    }
    for t in range(4):
        idx = np.flatnonzero(ctype == t)
        perm = idx[rng.permutation(len(idx))]
        spec, default, min_for_must = quotas[t]
        pos = 0
        for prof, share, must in spec:
            k = int(round(share * len(idx)))
            if must and k == 0 and len(idx) >= min_for_must:
                k = 1
            k = min(k, len(idx) - pos)
            profile[perm[pos : pos + k]] = prof
            pos += k
        profile[perm[pos:]] = default

    c = {"type": ctype, "profile": profile}
    turnover = np.zeros(n)
    sales = np.full(n, np.nan)
    growth = np.zeros(n)
    n_products = np.zeros(n, dtype=np.int64)
    extra_current = np.zeros(n, dtype=bool)
    activity = np.zeros(n)
    fee = np.zeros(n)
    bal = np.zeros(n)
    export_share = np.zeros(n)
    import_share = np.zeros(n)
    service = np.ones(n, dtype=np.int64)
    monopoly = np.zeros(n, dtype=bool)
    strategic = np.zeros(n, dtype=bool)
    for prof in range(len(PROFILES)):
        m = profile == prof
        k = int(m.sum())
        turnover[m] = _draw_lognormal(rng, k, _TURNOVER[prof])
        if prof in _SALES:
            s = np.round(_draw_lognormal(rng, k, _SALES[prof]), -3)
            if prof in (MID, SMALL, BALLAST):
                s[rng.random(k) < 0.06] = np.nan  # not reported
            sales[m] = s
        if prof in (BIG_VIP, BIG_APPROACH, BANK_LARGE):
            share_fast = {BIG_VIP: 0.4, BIG_APPROACH: 0.25, BANK_LARGE: 0.2}[prof]
            fast = rng.random(k) < share_fast
            growth[m] = np.where(fast, rng.uniform(0.3, 0.6, k), rng.uniform(-0.05, 0.1, k))
        elif prof in (WATCH_PRODUCTS, WATCH_STRATEGIC, BALLAST):
            growth[m] = rng.uniform(-0.08, 0.06, k)  # flat: growth never reaches +25 %
        elif prof == REVIEW:
            growth[m] = rng.uniform(-0.4, -0.1, k)  # a declining former VIP
        else:
            growth[m] = rng.normal(0.03, 0.1, k)
        spec = _N_PRODUCTS[prof]
        if isinstance(spec, dict):
            n_products[m] = rng.choice(list(spec), size=k, p=list(spec.values()))
        else:
            n_products[m] = rng.integers(spec[0], spec[1] + 1, k)
        extra_current[m] = (rng.random(k) < _EXTRA_CURRENT.get(prof, 0)) & (n_products[m] < 7)
        activity[m] = _ACTIVITY[prof] * np.exp(0.3 * rng.standard_normal(k))
        flo, fhi = _FEE[prof]
        fee[m] = rng.uniform(flo, fhi, k)
        blo, bhi = _BAL[prof]
        bal[m] = rng.uniform(blo, bhi, k)
        exporter = rng.random(k) < _EXPORTER.get(prof, 0)
        export_share[m] = np.where(exporter, rng.uniform(0.1, 0.6, k), 0)
        importer = rng.random(k) < (0.3 if prof in (BIG_VIP, BIG_APPROACH, MID, SMALL, WATCH_PRODUCTS) else 0)
        import_share[m] = np.where(importer, rng.uniform(0.05, 0.3, k), 0)
        service[m] = rng.choice(3, size=k, p=_SERVICE[prof])
        mono = rng.random(k)
        strat = rng.random(k)
        if prof == BIG_VIP:
            monopoly[m] = mono < 0.5
            strategic[m] = ~monopoly[m] | (strat < 0.4)
        elif prof == BIG_APPROACH:
            monopoly[m] = mono < 0.4
            strategic[m] = ~monopoly[m] | (strat < 0.2)
        elif prof in (WATCH_STRATEGIC, WEALTHY):
            strategic[m] = True
        elif prof == BANK_LARGE:
            monopoly[m] = mono < 0.3
            strategic[m] = (strat < 0.4) | ((service[m] == 0) & ~monopoly[m])
        elif prof == MID:
            monopoly[m] = mono < 0.02
            strategic[m] = strat < 0.03
    # tiny banks still show both flags
    if (profile == BIG_VIP).any() and not monopoly.any():
        monopoly[np.flatnonzero(profile == BIG_VIP)[0]] = True
    # ballast: fees waived for most
    waived = (profile == BALLAST) & (rng.random(n) < 0.8)
    fee[(profile == BALLAST) & ~waived] = rng.uniform(1, 5, int(((profile == BALLAST) & ~waived).sum()))
    fee[waived] = 0.0
    cur_interest = np.isin(profile, (BIG_VIP, BIG_APPROACH, BANK_LARGE)) & (rng.random(n) < 0.4)

    # related parties: ~4 % of non-individuals, at least one of each kind
    related = np.zeros(n, dtype=np.int64)
    cand = np.flatnonzero(np.isin(profile, (BIG_VIP, BALLAST, MID, SMALL, BANK_LARGE, BANK_SMALL)))
    n_rel = min(len(cand), max(3 if n >= 10 else 0, int(round(0.04 * n))))
    if n_rel:
        chosen = np.sort(rng.choice(cand, size=n_rel, replace=False))
        related[chosen] = 1 + np.arange(n_rel) % 3
        # a related party served as VIP whatever its numbers: key, never "review"
        service[chosen[0]] = 0

    # lifecycle
    onboarded = _uniform_day(rng, np.full(n, _day(_dt.date(2001, 1, 1))), np.full(n, ws - 60))
    mutable = np.isin(profile, (MID, SMALL, RETAIL, BANK_SMALL, BALLAST)) & (related == 0)
    new = mutable & (rng.random(n) < 0.10)
    if n >= 10 and not new.any() and mutable.any():
        new[np.flatnonzero(mutable)[0]] = True
    if we - ws > 20:
        onboarded[new] = _uniform_day(rng, np.full(int(new.sum()), ws + 1), np.full(int(new.sum()), we - 5))
    else:
        new[:] = False
    no_accounts = np.zeros(n, dtype=bool)
    cand = np.flatnonzero(np.isin(profile, (MID, SMALL, RETAIL)) & (related == 0))
    n_none = min(len(cand), max(1 if n >= 20 else 0, int(round(0.02 * n))))
    if n_none:
        no_accounts[rng.choice(cand, size=n_none, replace=False)] = True
    offboarded = np.full(n, _NEVER, dtype=np.int64)
    cand = np.flatnonzero(np.isin(profile, (MID, SMALL, RETAIL, BANK_SMALL)) & (related == 0) & ~no_accounts)
    n_off = min(len(cand), max(1 if n >= 20 else 0, int(round(0.03 * n))))
    if n_off and we - ws > 40:
        off = np.sort(rng.choice(cand, size=n_off, replace=False))
        lo = np.maximum(onboarded[off] + 30, ws + 15)
        day = _uniform_day(rng, lo, np.full(n_off, we - 3))
        ok = lo <= we - 3
        offboarded[off[ok]] = day[ok]

    c.update(
        turnover=turnover,
        sales=sales,
        growth=growth,
        n_products=n_products,
        extra_current=extra_current,
        activity=activity,
        fee=fee,
        bal=bal,
        export_share=export_share,
        import_share=import_share,
        service=service,
        monopoly=monopoly,
        strategic=strategic,
        related=related,
        onboarded=onboarded,
        offboarded=offboarded,
        no_accounts=no_accounts,
        cur_interest=cur_interest,
        onboarded_in_window=new,
    )
    c["name"], c["industry"], c["region"] = _client_names(rng, ctype)
    return c


# economic groups: kinds of group the sample must hold (SPEC §1 "Economic groups")
GROUP_KINDS = ("parent", "vip_together", "with_individual", "member_left", "late_member")


def _build_groups(rng, c: dict, share: float = 0.07) -> tuple[np.ndarray, dict]:
    """group_id per client ("" = none) and the group kind of each group id.

    Chosen among the clients already built (their numbers are not changed), with a generator of its own so
    the rest of the sample stays as it was:

    * ``vip_together`` — a WATCH_PRODUCTS client (products ≥ 4 + scale) with a WATCH_STRATEGIC one
      (scale + strategic): 2 criteria each, 3 together (products, scale, strategic);
    * ``member_left`` — a small company that is offboarded inside the window with two individuals (a wealthy
      one meeting 3 criteria): eligible while the company is there, then a group of individuals only;
    * ``with_individual`` — a mid-sized company, a small one and their owner (an individual);
    * ``late_member`` — a company and a client onboarded inside the window: assessed only once both are active;
    * ``parent`` — a large or mid-sized parent with 2–5 subsidiaries; the first takes a related party (which
      stays ``key``) and a late-onboarded subsidiary. Parent groups are added until about `share` of the
      clients are in groups (one of each special kind per 300 clients).
    """
    n = len(c["type"])
    group = np.full(n, "", dtype=object)
    kinds: dict[str, str] = {}
    free = np.ones(n, dtype=bool)
    plain = (c["related"] == 0) & ~c["no_accounts"]
    settled = plain & ~c["onboarded_in_window"] & (c["offboarded"] >= _NEVER)
    company = c["type"] != 3
    profile = c["profile"]

    def pick(mask: np.ndarray, k: int = 1) -> np.ndarray:
        cand = np.flatnonzero(mask & free)
        if len(cand) < k:
            return np.zeros(0, dtype=np.int64)
        chosen = np.sort(rng.choice(cand, size=k, replace=False))
        free[chosen] = False
        return chosen

    def found(kind: str, members: list[np.ndarray]) -> bool:
        """Make a group of the picked members when every part was found; give them back otherwise."""
        every = np.concatenate(members) if members else np.zeros(0, dtype=np.int64)
        if any(len(m) == 0 for m in members) or len(every) < 2:
            free[every] = True
            return False
        gid = f"G{len(kinds) + 1:04d}"
        group[every] = gid
        kinds[gid] = kind
        return True

    rounds = max(1, n // 300)
    for _ in range(rounds):
        found(
            "vip_together",
            [pick(settled & (profile == WATCH_PRODUCTS)), pick(settled & (profile == WATCH_STRATEGIC) & company)],
        )
        leaver = pick(plain & company & (c["offboarded"] < _NEVER))
        rich = pick(settled & (profile == WEALTHY))
        if not len(rich):
            rich = pick(settled & (profile == RETAIL))
        found("member_left", [leaver, rich, pick(settled & (profile == RETAIL))])
        found(
            "with_individual",
            [
                pick(settled & (profile == MID) & company),
                pick(settled & (profile == SMALL)),
                pick(settled & (c["type"] == 3)),
            ],
        )
        found("late_member", [pick(settled & (profile == MID) & company), pick(plain & c["onboarded_in_window"])])
    parents = settled & (c["type"] == 0) & np.isin(profile, (BIG_VIP, BIG_APPROACH, MID))
    subsidiaries = settled & company & np.isin(profile, (MID, SMALL, BALLAST, REVIEW))
    first = True
    while (group != "").sum() < share * n:
        parent = pick(parents & (profile == BIG_VIP)) if first else np.zeros(0, dtype=np.int64)
        parent = parent if len(parent) else pick(parents)
        size = int(rng.integers(2, 6))  # subsidiaries
        extra = []
        if first:  # the first parent group's subsidiaries include a related party and one onboarded late
            related = pick((c["related"] != 0) & company & ~c["no_accounts"])
            late = pick(plain & company & c["onboarded_in_window"])
            extra = [m for m in (related, late) if len(m)]
        rest = size - len(extra)
        members = [parent, *extra] + ([pick(subsidiaries, rest)] if rest > 0 else [])
        if not found("parent", members):
            break
        first = False
    return group, kinds


def _client_names(rng, ctype):
    n = len(ctype)
    a = rng.integers(0, len(_ADJ), n)
    b = rng.integers(0, len(_NOUN), n)
    s = rng.integers(0, 5, n)
    f = rng.integers(0, len(_FIRST), n)
    last = rng.integers(0, len(_LAST), n)
    ind = rng.integers(0, len(_INDUSTRIES), n)
    reg = rng.integers(0, len(_REGIONS), n)
    names, industries, regions = [], [], []
    for i in range(n):
        t = int(ctype[i])
        if t == 3:
            names.append(f"{_FIRST[f[i]]} {_LAST[last[i]]}")
            industries.append("")
        elif t == 2:
            names.append(f"{_ADJ[a[i]]} {_BANK_WORD[s[i] % 4]} AD")
            industries.append("banking")
        else:
            suffixes = _SUFFIX[t]
            names.append(f"{_ADJ[a[i]]} {_NOUN[b[i]]} {suffixes[s[i] % len(suffixes)]}")
            industries.append(_INDUSTRIES[ind[i]])
        regions.append(_REGIONS[reg[i]])
    # CSV quoting and UTF-8 edge cases
    corp = np.flatnonzero(ctype == 0)
    if len(corp):
        names[corp[0]] = 'Smith, Jones & Co "Trading" Ltd'
    sme = np.flatnonzero(ctype == 1)
    if len(sme):
        names[sme[0]] = "Тракия Агро ЕООД"
    return names, industries, regions


def _build_accounts(rng, c: dict, ws: int, we: int) -> dict:
    n = len(c["type"])
    profile = c["profile"]
    n_acc = np.where(c["no_accounts"], 0, c["n_products"] + c["extra_current"])
    # choose distinct non-current products with the Gumbel top-k trick (vectorised sampling w/o replacement)
    weights = np.array([_W[_PROFILE_WEIGHTS[p]] for p in range(len(PROFILES))], dtype=float)[profile]
    with np.errstate(divide="ignore"):
        score = np.log(weights) - np.log(-np.log(rng.random(weights.shape)))
    order = np.argsort(-score, axis=1, kind="stable") + 1  # product codes 1..14, best first
    mat = np.zeros((n, 8), dtype=np.int64)  # column j = product of the client's j-th account
    mat[:, 1:] = order[:, :7]
    extra_pos = c["n_products"]
    mat[np.arange(n), np.minimum(extra_pos, 7)] = np.where(
        c["extra_current"], CUR, mat[np.arange(n), np.minimum(extra_pos, 7)]
    )
    pos_grid = np.broadcast_to(np.arange(8), (n, 8))
    take = pos_grid < n_acc[:, None]
    client = np.broadcast_to(np.arange(n)[:, None], (n, 8))[take]
    pos = pos_grid[take]
    product = mat[take]
    a = len(client)
    start = np.concatenate([[0], np.cumsum(n_acc)[:-1]])  # first account of each client

    # currencies
    ctype = c["type"][client]
    primary = pos == 0
    is_bank = ctype == 2
    ccy = rng.choice(5, size=a, p=[0.18, 0.30, 0.07, 0.40, 0.05])
    ccy = np.where(primary & ~is_bank, rng.choice(5, size=a, p=[0.12, 0.3, 0.02, 0.55, 0.01]), ccy)
    ccy = np.where(primary & is_bank, rng.choice(5, size=a, p=[0.5, 0.4, 0.05, 0.05, 0]), ccy)
    prim_ccy = np.zeros(n, dtype=np.int64)
    prim_ccy[client[primary]] = ccy[primary]
    extra = (product == CUR) & ~primary
    ccy = np.where(extra, np.where(prim_ccy[client] == BGN, np.where(rng.random(a) < 0.7, EUR, USD), BGN), ccy)
    ccy = np.where(np.isin(product, (LOAN, LEAS)) & ~is_bank, np.where(rng.random(a) < 0.6, BGN, EUR), ccy)

    # opening / closing days
    ob = c["onboarded"][client]
    off = c["offboarded"][client]
    last_open = np.minimum(we - 1, off)
    protected = np.isin(profile[client], _PROTECTED) & (pos < 4)
    in_window = (ob >= ws) | (~primary & ~protected & (rng.random(a) < 0.12))
    pre = _uniform_day(rng, ob, np.full(a, ws - 1))
    inside = _uniform_day(rng, np.maximum(ob, ws), last_open)
    opened = np.where(primary, ob, np.where(in_window, inside, pre))
    opened = np.minimum(opened, np.maximum(last_open, ob))
    closed = np.full(a, _NEVER, dtype=np.int64)
    r = rng.random(a)
    closable = ~primary & ~protected
    lo = np.maximum(opened + 14, ws)
    win_close = closable & (r < 0.05) & (lo <= last_open)
    closed = np.where(win_close, _uniform_day(rng, lo, last_open), closed)
    before = closable & (r >= 0.05) & (r < 0.065) & (opened < ws - 40)
    closed = np.where(before, _uniform_day(rng, opened + 10, np.full(a, ws - 2)), closed)
    # make sure mid-window openings / closings exist even in tiny banks
    cand = np.flatnonzero(closable & (opened < we - 40) & (off >= _NEVER))
    if a and not ((opened > ws) & (opened <= we)).any() and len(cand):
        i = cand[0]
        opened[i] = max(_uniform_day(rng, np.array([ws + (we - ws) // 3]), np.array([we - 30]))[0], ob[i])
        if closed[i] < opened[i]:
            closed[i] = _NEVER
    if a and not ((closed >= ws) & (closed < we)).any() and len(cand):
        i = cand[-1]
        lo_i = max(int(opened[i]) + 7, ws + 1)
        if lo_i < we - 1:
            closed[i] = _uniform_day(rng, np.array([lo_i]), np.array([we - 1]))[0]
    closed = np.where(off < _NEVER, np.minimum(closed, off), closed)
    closed = np.maximum(closed, opened)

    # economics, in USD per month unless noted
    t0 = c["turnover"][client]
    cur_count = np.bincount(client[product == CUR], minlength=n)[client]
    split = np.where(primary, 0.75, 0.25 / np.maximum(cur_count - 1, 1))  # of the client's current-account turnover
    share = np.where(product == CUR, np.where(cur_count > 1, split, 1.0), 0)
    u = rng.random(a)
    level = np.select(
        [
            product == CUR,
            product == DEP,
            product == SAV,
            product == LOAN,
            product == OVD,
            product == CRL,
            product == LEAS,
            product == CUST,
        ],
        [
            t0 * share * c["bal"][client],
            t0 * (0.5 + 2.5 * u),
            t0 * (0.2 + 0.8 * u),
            -t0 * (0.5 + 3.5 * u),
            -t0 * (0.05 + 0.35 * u),
            -t0 * (0.1 + 0.7 * u),
            -t0 * (0.2 + 1.3 * u),
            t0 * (0.2 + 1.8 * u),
        ],
        default=t0 * (0.02 + 0.2 * u),
    )
    prof = profile[client]
    level = np.where((prof == RETAIL) & (product == DEP), 2e3 + 28e3 * u, level)
    level = np.where((prof == RETAIL) & (product == SAV), 1e3 + 19e3 * u, level)
    level = np.where((prof == RETAIL) & (product == LOAN), -(5e3 + 35e3 * u), level)
    level = np.where((prof == WEALTHY) & np.isin(product, (DEP, SAV)), 1.5e5 + 6.5e5 * u, level)
    level = np.where((prof == WEALTHY) & (product == CUST), 5e4 + 4.5e5 * u, level)
    level = np.where((prof == REVIEW) & ~IS_CREDIT_PRODUCT[product] & (product != CUR), t0 * 0.02 * (1 + u), level)
    ballast = prof == BALLAST
    level = np.where(ballast & np.isin(product, (LOAN, CRL, LEAS)), level * (4 + 6 * u), level)
    level = np.where(ballast & np.isin(product, (DEP, SAV)), t0 * (0.3 + 0.9 * u), level)
    level = np.where((prof == MID) & np.isin(product, (DEP, SAV)), t0 * (0.2 + 0.8 * u), level)
    level = np.where(product == GUAR, t0 * 0.05 * u, level)

    rate = np.zeros(a)
    v = rng.random(a)
    rate = np.select(
        [
            product == DEP,
            product == SAV,
            product == LOAN,
            product == LEAS,
            product == OVD,
            product == CRL,
            (product == CUR) & c["cur_interest"][client],
        ],
        [
            0.005 + 0.02 * v,
            0.002 + 0.013 * v,
            0.045 + 0.035 * v,
            0.05 + 0.04 * v,
            0.07 + 0.04 * v,
            0.06 + 0.04 * v,
            0.001 + 0.004 * v,
        ],
        default=0.0,
    )
    rate = np.where(ballast & np.isin(product, (DEP, SAV)), 0.035 + 0.015 * v, rate)
    rate = np.where(ballast & IS_CREDIT_PRODUCT[product], 0.01 + 0.015 * v, rate)
    fee = c["fee"][client] * _FEE_FACTOR[product] * rng.uniform(0.8, 1.2, a)

    w = c["activity"][client] * _ACT_FACTOR[product] * np.exp(0.3 * rng.standard_normal(a))
    partner = np.where(primary, np.where(n_acc[client] > 1, start[client] + 1, -1), start[client])
    own_rate = _OWN_RATE[product] * np.where(np.isin(prof, (BIG_VIP, BIG_APPROACH, BANK_LARGE)), 2.0, 1.0)
    own_rate = np.where(extra, 0.8, own_rate)
    own_rate = np.where(partner >= 0, own_rate, 0.0)
    term = rng.integers(24, 97, a).astype(float)
    age0 = np.where(opened < ws, rng.random(a) * term * 0.5, 0.0)
    sparse = rng.random(a) < _P_SPARSE[product]
    return dict(
        client=client,
        pos=pos,
        product=product,
        ccy=ccy,
        opened=opened,
        closed=closed,
        level=level,
        rate=rate,
        fee=fee,
        weight=w,
        partner=partner,
        own_rate=own_rate,
        term=term,
        age0=age0,
        sparse=sparse,
        share=share,
        start=start,
        n_acc=n_acc,
        dr=rng.uniform(0.92, 1.02, a),
        opened_month=_month_index(opened),
    )


def _external_pool(rng, n_dom: int = 1500, n_for: int = 500):
    """IBAN-like counterparty accounts outside the bank: domestic (BG) and foreign, with their countries."""
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    digits = rng.integers(0, 10, (n_dom + n_for, 16))
    banks = letters[rng.integers(0, 26, (n_dom + n_for, 4))]
    country = np.concatenate([np.zeros(n_dom, dtype=np.int64), rng.integers(1, len(COUNTRIES), n_for)])
    ids = [
        COUNTRIES[country[i]] + "".join(map(str, digits[i, :2])) + "".join(banks[i]) + "".join(map(str, digits[i, 2:]))
        for i in range(n_dom + n_for)
    ]
    return ids, country, n_dom


# --------------------------------------------------------------------------- the generator
def generate_sample(
    out_dir: str | Path,
    clients: int = 300,
    months: int = 24,
    seed: int = 42,
    end_date: _dt.date | None = None,
    daily_months: int = 2,
    full_balances: bool = False,
    txns_per_account_month: float = 6.0,
    bad_rows: bool = True,
) -> dict:
    """Write a synthetic bank's landing directory (SPEC §3) into `out_dir`; return a summary.

    The data covers `months` calendar months ending with `end_date`'s month (default end_date:
    yesterday); the last month is month-to-date. The last `daily_months` months are delivered as
    daily files, older months as monthly history files. `full_balances` writes a balance row for
    every open account on every calendar day (benchmark); otherwise ~20 % of accounts only report
    changed balances and the others report business days and month ends.
    `txns_per_account_month` is the average number of postings per open account and month.
    `bad_rows` injects a few contract-breaking rows into the large monthly history files.

    Returns ``{"out_dir", "end_date", "first_month", "files", "rows", "clients", "accounts",
    "profiles", "bad_rows", "groups"}`` where ``rows`` counts the data rows written per extract and
    ``groups`` the economic groups (count, members, groups per kind, ``kind_of`` each group id).
    """
    if clients < 1 or months < 1:
        raise ValueError("clients and months must be >= 1")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    end = end_date or (_dt.date.today() - _dt.timedelta(days=1))
    daily_months = max(0, min(int(daily_months), months))
    end_m = np.datetime64(end, "M")
    month_starts = [(end_m - (months - 1) + k).astype("datetime64[D]").astype(np.int64) for k in range(months)]
    ws, we = int(month_starts[0]), _day(end)
    month_ends = [
        int((end_m - (months - 1) + k + 1).astype("datetime64[D]").astype(np.int64)) - 1 for k in range(months)
    ]

    rng = np.random.default_rng(seed)
    c = _build_clients(rng, clients, ws, we)
    c["group"], group_kinds = _build_groups(np.random.default_rng([seed, 2718]), c)
    acc = _build_accounts(rng, c, ws, we)
    ext_ids, ext_country, n_dom = _external_pool(rng)
    n_cli, n_acc = clients, len(acc["client"])

    cw = max(6, len(str(n_cli)))
    aw = max(7, len(str(n_acc)) + 1)
    client_ids = [f"C{i + 1:0{cw}d}" for i in range(n_cli)]
    account_ids = [f"A{i + 1:0{aw}d}" for i in range(n_acc)]
    unknown_account = "A" + "9" * aw  # never issued: ids go up to n_acc < 10**(aw-1)
    acc_id_arr = pa.array(account_ids + [unknown_account], pa.string())
    cp_arr = pa.array(account_ids + ext_ids, pa.string())

    files: list[str] = []
    rows = {k: 0 for k in COLUMNS}
    bad: list[dict] = []
    pool = ThreadPoolExecutor(max_workers=2)
    pending: list[Future] = []

    def submit(fn, *args):
        pending.append(pool.submit(fn, *args))

    try:
        # ---- snapshots
        rows["clients"] += _write_clients(c, client_ids, out / f"clients_{end.isoformat()}.csv", None)
        files.append(f"clients_{end.isoformat()}.csv")
        old = end - _dt.timedelta(days=30)
        rows["clients"] += _write_clients(c, client_ids, out / f"clients_{old.isoformat()}.csv", _day(old))
        files.append(f"clients_{old.isoformat()}.csv")
        acc_df = pd.DataFrame(
            {
                "account_id": account_ids,
                "client_id": np.array(client_ids, dtype=object)[acc["client"]] if n_acc else [],
                "product": np.array(PRODUCTS, dtype=object)[acc["product"]],
                "currency": np.array(CURRENCIES, dtype=object)[acc["ccy"]],
                "opened_on": [_date(d).isoformat() for d in acc["opened"]],
                "closed_on": ["" if d >= _NEVER else _date(d).isoformat() for d in acc["closed"]],
            },
            columns=COLUMNS["accounts"],
        )
        acc_df.to_csv(out / f"accounts_{end.isoformat()}.csv", index=False, lineterminator="\n")
        files.append(f"accounts_{end.isoformat()}.csv")
        rows["accounts"] += len(acc_df)

        # ---- FX rates: weekdays (no rates on 1 Jan, 25-26 Dec) from the month before the window to end_date
        fx_start = int((end_m - months).astype("datetime64[D]").astype(np.int64))
        all_days = np.arange(fx_start, we + 1)
        md = all_days.astype("datetime64[D]").astype(object)
        holiday = np.array([(d.month, d.day) in ((1, 1), (12, 25), (12, 26)) for d in md], dtype=bool)
        fx_days = all_days[_is_business(all_days) & ~holiday]
        frng = np.random.default_rng([seed, 31337])
        steps = frng.normal(0, 0.0035, (len(fx_days), 3))
        steps[0] = 0
        walk = np.exp(np.cumsum(steps, axis=0))
        eur = BASE_USD_PER_UNIT[EUR] * walk[:, 0]
        fx_cols = {
            "BGN": eur / BGN_PER_EUR,
            "CHF": BASE_USD_PER_UNIT[CHF] * walk[:, 2],
            "EUR": eur,
            "GBP": BASE_USD_PER_UNIT[GBP] * walk[:, 1],
        }
        fx_day = np.repeat(fx_days, 4)
        fx_ccy = np.tile(np.arange(4), len(fx_days))
        fx_val = np.column_stack(list(fx_cols.values())).ravel()
        fx_table = pa.table(
            {
                "rate_date": _dates(fx_day),
                "currency": _categorical(fx_ccy, list(fx_cols)),
                "usd_per_unit": _money(fx_val, 6),
            }
        )

        def fx_slice(lo_day: int, hi_day: int) -> pa.Table:
            i, j = np.searchsorted(fx_day, [lo_day, hi_day + 1])
            return fx_table.slice(int(i), int(j - i))

        prev_label = str(end_m - months)
        t = fx_slice(fx_start, ws - 1)
        submit(_write_csv, t, out / f"fx_rates_{prev_label}.csv")
        files.append(f"fx_rates_{prev_label}.csv")
        rows["fx_rates"] += t.num_rows

        # ---- per-account monthly drivers
        client_of = acc["client"]
        usd_rate = BASE_USD_PER_UNIT[acc["ccy"]]
        credit_prod = IS_CREDIT_PRODUCT[acc["product"]]
        sys_postings = 2.0  # fees, interest, own transfers, repayments per account-month (approx.)
        base = max(txns_per_account_month - sys_postings, 0.25 * txns_per_account_month)
        lam_full = base * acc["weight"] / (acc["weight"].mean() if n_acc else 1.0)
        first_bd_window = int(_snap_forward(ws))

        txn_counter = 0
        tx_bad_i = 0
        bal_file_i = 0
        for m in range(months):
            mrng = np.random.default_rng([seed, 7919, m])
            ms, me_full = int(month_starts[m]), month_ends[m]
            me = min(me_full, we)
            label = str(np.datetime64(_date(ms), "M"))
            daily = m >= months - daily_months
            cal = np.arange(ms, me + 1)
            full_bd = np.arange(ms, me_full + 1)
            full_bd = full_bd[_is_business(full_bd)]
            nb_full = len(full_bd)
            bd = full_bd[full_bd <= me]
            nb = len(bd)
            month_done = nb_full > 0 and full_bd[-1] <= me

            # client turnover and account balance levels of the month
            moy = _date(ms).month
            trend = np.exp(c["growth"] * (m - (months - 1)) / 12)
            season = 1 + 0.08 * np.sin(2 * np.pi * (moy - 3) / 12)
            tm = c["turnover"] * trend * season * np.exp(0.15 * mrng.standard_normal(n_cli) - 0.01125)
            za = mrng.standard_normal(n_acc)
            lvl = acc["level"] * trend[client_of] * np.exp(0.08 * za)
            amort = np.clip(
                1 - (acc["age0"] + np.maximum(0, _month_index(ms) - acc["opened_month"])) / acc["term"], 0.1, 1
            )
            lvl = np.where(np.isin(acc["product"], (LOAN, LEAS)), acc["level"] * amort, lvl)
            lvl = np.where(np.isin(acc["product"], (OVD, CRL)), acc["level"] * np.exp(0.2 * za), lvl)

            parts = []
            if nb:
                lo = np.searchsorted(bd, acc["opened"], "left")
                hi = np.searchsorted(bd, acc["closed"], "right") - 1
                is_open = lo <= hi
                n_open = np.where(is_open, hi - lo + 1, 0)
                frac = n_open / nb_full
                parts += _activity(
                    mrng, acc, c, tm, lam_full, frac, lo, n_open, bd, n_acc, n_dom, len(ext_ids), ext_country
                )
                parts += _own_transfers(mrng, acc, tm, frac, lo, hi, is_open, bd)
                parts += _systematic(
                    mrng, acc, lvl, credit_prod, lo, hi, is_open, n_open, nb_full, bd, ms, me, month_done
                )
            tx = _combine(parts, mrng)
            k = len(tx["acc"])
            amount = np.maximum(np.round(tx["usd"] / usd_rate[tx["acc"]], 2), 0.01) if k else np.zeros(0)
            ids = np.arange(txn_counter + 1, txn_counter + k + 1)
            txn_counter += k

            # balances
            b_acc, b_day, b_val = _balances(
                acc, lvl, credit_prod, tx, amount, cal, ms, me, m, full_balances, first_bd_window, we, month_ends[m]
            )

            # ---- write transactions
            if daily:
                t_tab = _txn_table(ids, tx, amount, acc_id_arr, cp_arr, np.arange(k))
                days_file = bd
                bounds = np.searchsorted(tx["day"], days_file)
                ends = np.searchsorted(tx["day"], days_file, "right")
                for d, i, j in zip(days_file, bounds, ends):
                    name = f"transactions_{_date(d).isoformat()}.csv"
                    submit(_write_csv, t_tab.slice(int(i), int(j - i)), out / name)
                    files.append(name)
                rows["transactions"] += k
            else:
                order = np.arange(k)
                name = f"transactions_{label}.csv.gz"
                if bad_rows and k >= _MIN_ROWS_FOR_BAD:
                    n_bad = 1 if k < 2000 else 2 if k < 5000 else 3
                    kinds = [_BAD_TXN_KINDS[(tx_bad_i + j) % 4] for j in range(n_bad)]
                    tx_bad_i += n_bad
                    order, tx, amount, entries = _inject_txn_bad(mrng, kinds, tx, amount, ids, n_acc, ms, name)
                    bad += entries
                t_tab = _txn_table(ids, tx, amount, acc_id_arr, cp_arr, order)
                submit(_write_csv, t_tab, out / name, True)
                files.append(name)
                rows["transactions"] += len(order)

            # ---- write balances
            if daily:
                b_tab = pa.table(
                    {
                        "account_id": pc.take(acc_id_arr, pa.array(b_acc)),
                        "balance_date": _dates(b_day),
                        "balance": _money(b_val),
                    }
                )
                if full_balances:
                    days_file = cal
                else:
                    days_file = cal[_is_business(cal) | (cal == me_full) | (cal == we)]
                bounds = np.searchsorted(b_day, days_file)
                ends = np.searchsorted(b_day, days_file, "right")
                for d, i, j in zip(days_file, bounds, ends):
                    name = f"balances_{_date(d).isoformat()}.csv"
                    submit(_write_csv, b_tab.slice(int(i), int(j - i)), out / name)
                    files.append(name)
            else:
                name = f"balances_{label}.parquet"
                bal_col = pc.cast(_money(b_val), pa.string())
                if bad_rows and len(b_val) >= _MIN_ROWS_FOR_BAD:
                    if bal_file_i % 6 == 0:
                        r = int(mrng.integers(0, len(b_val)))
                        mask = np.zeros(len(b_val), dtype=bool)
                        mask[r] = True
                        bal_col = pc.if_else(pa.array(mask), pa.scalar("12,5x"), bal_col)
                        bad.append(
                            {
                                "file": name,
                                "kind": "unparseable_balance",
                                "row": r + 1,
                                "key": f"{account_ids[b_acc[r]]} {_date(b_day[r]).isoformat()}",
                            }
                        )
                    bal_file_i += 1
                b_tab = pa.table(
                    {
                        "account_id": pc.take(acc_id_arr, pa.array(b_acc)),
                        "balance_date": _dates(b_day),
                        "balance": bal_col,
                    }
                )
                submit(_write_parquet_text, b_tab, out / name)
                files.append(name)
            rows["balances"] += len(b_val)

            # ---- write fx rates
            if daily:
                for d in fx_days[(fx_days >= ms) & (fx_days <= me)]:
                    name = f"fx_rates_{_date(d).isoformat()}.csv"
                    t = fx_slice(int(d), int(d))
                    submit(_write_csv, t, out / name)
                    files.append(name)
                    rows["fx_rates"] += t.num_rows
            else:
                t = fx_slice(ms, me)
                name = f"fx_rates_{label}.csv"
                submit(_write_csv, t, out / name)
                files.append(name)
                rows["fx_rates"] += t.num_rows

            # bound memory: wait for the previous months' writes
            while len(pending) > 64 or (pending and m < months - 1 and _unfinished(pending) > 8):
                pending.pop(0).result()
        for f in pending:
            f.result()
    finally:
        pool.shutdown(wait=True)

    profiles = np.bincount(c["profile"], minlength=len(PROFILES))
    return {
        "out_dir": str(out),
        "end_date": end.isoformat(),
        "first_month": _date(ws).isoformat(),
        "files": sorted(files),
        "rows": rows,
        "clients": n_cli,
        "accounts": n_acc,
        "profiles": {PROFILES[i]: int(profiles[i]) for i in range(len(PROFILES))},
        "groups": {
            "groups": len(group_kinds),
            "members": int((c["group"] != "").sum()),
            "kinds": {k: sum(v == k for v in group_kinds.values()) for k in GROUP_KINDS},
            "kind_of": group_kinds,
        },
        "bad_rows": bad,
    }


def _unfinished(pending: list[Future]) -> int:
    return sum(not f.done() for f in pending)


def _write_clients(c: dict, client_ids: list[str], path: Path, as_of: int | None) -> int:
    """Client snapshot; an older snapshot (`as_of`) lacks later clients and shows one former name."""
    n = len(client_ids)
    names = list(c["name"])
    keep = np.ones(n, dtype=bool)
    if as_of is not None:
        keep = c["onboarded"] <= as_of
        renamed = np.flatnonzero(keep & (c["type"] != 3))
        if len(renamed):
            i = int(renamed[-1])
            names[i] = names[i].rsplit(" ", 1)[0] + " Trading OOD" if " " in names[i] else names[i] + " Old"
    fmt = lambda days: ["" if d >= _NEVER else _date(d).isoformat() for d in days]  # noqa: E731
    sales = ["" if np.isnan(s) else str(int(s)) for s in c["sales"]]
    df = pd.DataFrame(
        {
            "client_id": client_ids,
            "name": names,
            "client_type": np.array(CLIENT_TYPES, dtype=object)[c["type"]],
            "related_party": np.array(RELATED_PARTIES, dtype=object)[c["related"]],
            "industry": c["industry"],
            "region": c["region"],
            "onboarded_on": fmt(c["onboarded"]),
            "offboarded_on": fmt(
                np.where(c["offboarded"] <= (as_of if as_of is not None else _NEVER), c["offboarded"], _NEVER)
            ),
            "annual_sales_usd": sales,
            "monopoly_position": np.where(c["monopoly"], "true", "false"),
            "strategic": np.where(c["strategic"], "true", "false"),
            "service_model": np.array(SERVICE_MODELS, dtype=object)[c["service"]],
            "group_id": c["group"],
        },
        columns=COLUMNS["clients"],
    )[keep]
    df.to_csv(path, index=False, lineterminator="\n")
    return len(df)


# --------------------------------------------------------------------------- monthly postings
def _part(acc, day, usd, direction, ttype, cp, country, purpose, kind):
    n = len(acc)
    return dict(
        acc=np.asarray(acc, dtype=np.int64),
        day=np.asarray(day, dtype=np.int64),
        usd=np.asarray(usd, dtype=float),
        dir=np.broadcast_to(np.asarray(direction, dtype=np.int8), n),
        type=np.broadcast_to(np.asarray(ttype, dtype=np.int8), n),
        cp=np.broadcast_to(np.asarray(cp, dtype=np.int64), n),
        country=np.broadcast_to(np.asarray(country, dtype=np.int64), n),
        purpose=np.broadcast_to(np.asarray(purpose, dtype=np.int8), n),
        kind=np.full(n, kind, dtype=np.int8),
    )


def _lognormal_noise(rng, n, sigma=1.0):
    return np.exp(sigma * rng.standard_normal(n) - 0.5 * sigma * sigma)


def _activity(rng, acc, c, tm, lam_full, frac, lo, n_open, bd, n_acc, n_dom, n_ext, ext_country):
    """Ordinary payments, transfers, cash, card, fx postings of every open account.

    Credits and debits of current accounts are scaled so that each account-month sums to the
    client's turnover of the month: settlement turnover follows the client's trend instead of
    the noise of a few large payments (so growth and scale criteria land where intended).
    """
    prod_a = acc["product"]
    p_c_a = _P_CREDIT[prod_a]
    open_cur = (prod_a == CUR) & (n_open > 0)
    cnt_c = rng.poisson(lam_full * p_c_a * frac)
    cnt_c = np.where(open_cur, np.maximum(cnt_c, 1), cnt_c)  # a business gets paid every month
    cnt_d = rng.poisson(lam_full * (1 - p_c_a) * frac)
    ia = np.concatenate([np.repeat(np.arange(n_acc), cnt_c), np.repeat(np.arange(n_acc), cnt_d)])
    is_c = np.arange(len(ia)) < cnt_c.sum()
    k = len(ia)
    if not k:
        return []
    day = bd[lo[ia] + np.floor(rng.random(k) * n_open[ia]).astype(np.int64)]
    prod = acc["product"][ia]
    cl = acc["client"][ia]
    lam = np.maximum(lam_full[ia], 0.3)
    cur = prod == CUR
    t = tm[cl]
    usd = t * _TURNOVER_FACTOR[prod] / lam * _lognormal_noise(rng, k)
    for side, mult in ((is_c, 1.0), (~is_c, acc["dr"])):
        sel = cur & side
        sums = np.bincount(ia[sel], weights=usd[sel], minlength=n_acc)
        target = tm[acc["client"]] * acc["share"] * frac * mult
        usd[sel] *= target[ia[sel]] / np.maximum(sums[ia[sel]], 1e-9)
    g = prod * 2 + (~is_c)
    ttype = (rng.random(k)[:, None] > _TYPE_CUM[g]).sum(axis=1).astype(np.int8)
    ttype = np.minimum(ttype, 8)
    purpose = (rng.random(k)[:, None] > _PURP_CUM[g]).sum(axis=1).astype(np.int8)
    purpose = np.minimum(purpose, P_NONE)
    u = rng.random(k)
    export = cur & is_c & (u < c["export_share"][cl])
    imp = cur & ~is_c & (u < c["import_share"][cl])
    salary = cur & is_c & ~export & (c["profile"][cl] == RETAIL) & (u < 0.5)
    purpose = np.where(export, P_EXPORT, np.where(imp, P_IMPORT, np.where(salary, P_SALARY, purpose)))
    ttype = np.where(export | imp, T_PAY, ttype)
    # counterparties
    foreign = export | imp
    ext_dom = rng.integers(0, n_dom, k)
    ext_for = rng.integers(n_dom, n_ext, k)
    other = rng.integers(0, n_acc, k)
    other_ok = acc["client"][other] != cl
    internal = (rng.random(k) < 0.1) & other_ok & ~foreign
    own_primary = acc["start"][cl]
    own = np.isin(prod, (DEP, SAV, CARD, PAY, LOAN, LEAS)) & (ttype == T_TRF) & (own_primary != ia)
    with_cp = np.isin(ttype, (T_PAY, T_TRF, T_LOAN)) | foreign
    cp = np.where(foreign, n_acc + ext_for, np.where(own, own_primary, np.where(internal, other, n_acc + ext_dom)))
    cp = np.where(with_cp, cp, -1)
    country = np.where(foreign, ext_country[ext_for], np.where(with_cp, 0, -1))
    return [_part(ia, day, usd, (~is_c).astype(np.int8), ttype, cp, country, purpose, 0)]


def _own_transfers(rng, acc, tm, frac, lo, hi, is_open, bd):
    """Transfers between two accounts of the same client: C on one, D on the other."""
    partner = acc["partner"]
    ok = is_open & (partner >= 0)
    p = np.where(ok, partner, 0)
    ok &= is_open[p]
    lo2 = np.maximum(lo, lo[p])
    hi2 = np.minimum(hi, hi[p])
    ok &= lo2 <= hi2
    cnt = np.where(ok, rng.poisson(acc["own_rate"] * np.where(ok, frac, 0)), 0)
    ia = np.repeat(np.arange(len(cnt)), cnt)
    k = len(ia)
    if not k:
        return []
    day = bd[lo2[ia] + np.floor(rng.random(k) * (hi2[ia] - lo2[ia] + 1)).astype(np.int64)]
    pa_ = partner[ia]
    usd = tm[acc["client"][ia]] * _OWN_FRAC[acc["product"][ia]] * _lognormal_noise(rng, k, 0.6)
    usd = np.maximum(usd, 1.0)
    return [_part(ia, day, usd, 0, T_TRF, pa_, 0, P_NONE, 1), _part(pa_, day, usd, 1, T_TRF, ia, 0, P_NONE, 1)]


def _systematic(rng, acc, lvl, credit_prod, lo, hi, is_open, n_open, nb_full, bd, ms, me, month_done):
    """Monthly fees, interest postings and loan repayments (with the matching debit on the current account)."""
    parts = []
    prod = acc["product"]
    nb = len(bd)
    # monthly fees on the first open business day of the month
    f = np.flatnonzero(is_open & (acc["fee"] > 0.5))
    if len(f):
        parts.append(_part(f, bd[lo[f]], acc["fee"][f] * rng.uniform(0.85, 1.15, len(f)), 1, T_FEE, -1, -1, P_NONE, 2))
    # interest: on the last business day of the month (or the closing day)
    closes_now = acc["closed"] <= me
    i = np.flatnonzero(is_open & (acc["rate"] > 0) & (month_done | closes_now))
    if len(i):
        amt = np.abs(lvl[i]) * acc["rate"][i] / 12 * (n_open[i] / nb_full)
        keep = amt >= 0.01
        i, amt = i[keep], amt[keep]
        parts.append(_part(i, bd[hi[i]], amt, credit_prod[i].astype(np.int8), T_INT, -1, -1, P_NONE, 3))
    # loan and leasing repayments around the 15th, paid from the client's main current account
    i15 = np.searchsorted(bd, ms + 14)
    if i15 < nb:
        r = np.flatnonzero(is_open & np.isin(prod, (LOAN, LEAS)))
        if len(r):
            idx = np.clip(i15, lo[r], hi[r])
            day = bd[idx]
            usd = np.abs(lvl[r]) / acc["term"][r]
            src = acc["start"][acc["client"][r]]
            src_ok = (
                (acc["product"][src] == CUR) & (src != r) & (acc["opened"][src] <= day) & (acc["closed"][src] >= day)
            )
            cp = np.where(src_ok, src, -1)
            parts.append(_part(r, day, usd, 0, T_LOAN, cp, np.where(src_ok, 0, -1), P_LOAN, 4))
            s = np.flatnonzero(src_ok)
            if len(s):
                parts.append(_part(src[s], day[s], usd[s], 1, T_LOAN, r[s], 0, P_LOAN, 4))
    return parts


def _combine(parts, rng) -> dict:
    keys = ("acc", "day", "usd", "dir", "type", "cp", "country", "purpose", "kind")
    if not parts:
        return {k: np.zeros(0, dtype=np.int64 if k != "usd" else float) for k in keys}
    tx = {k: np.concatenate([p[k] for p in parts]) for k in keys}
    tie = rng.random(len(tx["acc"]))
    order = np.lexsort((tie, tx["acc"], tx["day"]))
    return {k: v[order] for k, v in tx.items()}


def _txn_table(ids, tx, amount, acc_id_arr, cp_arr, order) -> pa.Table:
    o = order
    cp = tx["cp"][o]
    return pa.table(
        {
            "txn_id": _ids("T", ids[o], 10),
            "account_id": pc.take(acc_id_arr, pa.array(tx["acc"][o])),
            "booking_date": _dates(tx["day"][o]),
            "amount": _money(amount[o]),
            "direction": _categorical(tx["dir"][o], ("C", "D")),
            "txn_type": _categorical(tx["type"][o], TXN_TYPES),
            "counterparty_account_id": pc.take(cp_arr, pa.array(np.where(cp < 0, 0, cp), mask=cp < 0)),
            "counterparty_country": _categorical(tx["country"][o], COUNTRIES, null_code=-1),
            "purpose": _categorical(tx["purpose"][o], PURPOSES + ("",), null_code=P_NONE),
        }
    )


def _inject_txn_bad(rng, kinds, tx, amount, ids, n_acc, ms, name):
    """Break a few rows of a monthly transactions file; returns the row order and the injected list."""
    k = len(amount)
    tx = {key: np.array(v) for key, v in tx.items()}
    amount = amount.copy()
    victims = rng.choice(k, size=len(kinds), replace=False)
    order = np.arange(k)
    dup_src = None
    for kind, r in zip(kinds, victims):
        if kind == "negative_amount":
            amount[r] = -amount[r]
        elif kind == "unknown_account":
            tx["acc"][r] = n_acc  # index of the never-issued account id
        elif kind == "booking_date_outside_period":
            tx["day"][r] = ms - 1 - int(rng.integers(0, 5))
        else:
            dup_src = int(r)
    if dup_src is not None:
        at = int(rng.integers(dup_src + 1, k + 1))
        order = np.insert(order, at, dup_src)
    entries = []
    pos_of = np.empty(k, dtype=np.int64)
    first = np.ones(len(order), dtype=bool)
    if dup_src is not None:
        first[np.flatnonzero(order == dup_src)[1:]] = False
    pos_of[order[first]] = np.flatnonzero(first)
    for kind, r in zip(kinds, victims):
        row = int(np.flatnonzero(order == r)[-1]) if kind == "duplicate_txn_id" else int(pos_of[r])
        entries.append({"file": name, "kind": kind, "row": row + 1, "key": f"T{ids[r]:010d}"})
    return order, tx, amount, entries


# --------------------------------------------------------------------------- balances
def _balances(acc, lvl, credit_prod, tx, amount, cal, ms, me, m, full_balances, first_bd_window, we, me_full):
    """End-of-day balances of the month: (account index, day, balance) sorted by day, account."""
    nd = len(cal)
    opened, closed = acc["opened"], acc["closed"]
    sel = np.flatnonzero((opened <= me) & (closed >= ms))
    if not len(sel) or not nd:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    row_of = np.full(len(opened) + 1, -1, dtype=np.int64)
    row_of[sel] = np.arange(len(sel))
    ns = len(sel)
    if len(amount):
        r = row_of[tx["acc"]]
        flat = r * nd + (tx["day"] - ms)
        signed = np.where(tx["dir"] == 0, amount, -amount)
        flow = np.bincount(flat, weights=signed, minlength=ns * nd).reshape(ns, nd)
        has_txn = np.bincount(flat, minlength=ns * nd).reshape(ns, nd) > 0
    else:
        flow = np.zeros((ns, nd))
        has_txn = np.zeros((ns, nd), dtype=bool)
    level_ccy = lvl[sel] / BASE_USD_PER_UNIT[acc["ccy"][sel]]
    # the month's postings move the balance around its level: cumulative flow without its drift,
    # damped so that a few large payments do not push a current account through zero
    cum = np.cumsum(flow, axis=1)
    swing = cum - cum[:, -1:] * (np.arange(1, nd + 1) / nd)[None, :]
    reach = np.abs(swing).max(axis=1)
    damp = np.minimum(1.0, 0.7 * np.abs(level_ccy) / np.maximum(reach, 1e-9))
    bal = level_ccy[:, None] + damp[:, None] * swing
    cp = credit_prod[sel]
    bal = np.where(cp[:, None], np.minimum(bal, 0), np.maximum(bal, 0))
    o = opened[sel][:, None]
    cl = closed[sel][:, None]
    days = cal[None, :]
    open_mask = (days >= o) & (days <= cl)
    bal = np.where(days == cl, 0.0, bal)  # balance moved out on the closing day
    if full_balances:
        mask = open_mask
    else:
        dense_days = _is_business(cal) | (cal == me_full) | (cal == we)
        sparse = acc["sparse"][sel][:, None]
        sparse_rows = has_txn | (days == o) | (days == cl) | ((m == 0) & (days == first_bd_window))
        mask = open_mask & np.where(sparse, sparse_rows, dense_days[None, :])
    j, i = np.nonzero(mask.T)  # day-major order
    return sel[i], cal[j], np.round(bal[i, j], 2)
