"""Stage 3, the accounts: each client's products, currencies, opening and closing days, balance levels, rates
and fees; and the counterparty accounts outside the bank."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import products as P
from .clients import Clients
from .codes import COUNTRIES, CURRENCIES, IS_CREDIT_PRODUCT, ClientType, Currency, Product
from .days import NEVER, Window, month_index, uniform_day
from .profiles import MAX_PRODUCTS, PROFILES, column, mix_weights


@dataclass
class Accounts:
    """One entry per account (arrays indexed by account number), plus `start`/`n_acc` per client."""

    client: np.ndarray
    pos: np.ndarray  # the account's position among its client's (0: the main current account)
    product: np.ndarray  # Product code
    ccy: np.ndarray  # Currency code
    opened: np.ndarray  # day
    closed: np.ndarray  # day; NEVER: open
    level: np.ndarray  # usual balance in USD
    rate: np.ndarray  # yearly interest rate
    fee: np.ndarray  # monthly fee in USD
    weight: np.ndarray  # ordinary postings, relative
    partner: np.ndarray  # account of own-account transfers; -1: none
    own_rate: np.ndarray  # own-account transfers a month
    term: np.ndarray  # months of an instalment product
    age0: np.ndarray  # months already repaid when the window starts
    sparse: np.ndarray  # reports changed balances only
    share: np.ndarray  # of the client's current-account turnover
    start: np.ndarray  # per client: its first account
    n_acc: np.ndarray  # per client: its number of accounts
    dr: np.ndarray  # debits as a multiple of credits on current accounts
    opened_month: np.ndarray


@dataclass(frozen=True)
class Counterparties:
    """IBAN-like accounts outside the bank: the first `n_dom` domestic, then foreign, with their country codes."""

    ids: list[str]
    country: np.ndarray
    n_dom: int


def build_accounts(rng, c: Clients, window: Window) -> Accounts:
    client, pos, product, start, n_acc = _products(rng, c)
    ccy = _currencies(rng, c, client, pos, product)
    opened, closed = _open_close(rng, c, window, client=client, pos=pos)
    primary = pos == 0
    extra = (product == Product.CURRENT) & ~primary
    t0 = c.turnover[client]
    cur_count = np.bincount(client[product == Product.CURRENT], minlength=len(c.type))[client]
    split = np.where(primary, 0.75, 0.25 / np.maximum(cur_count - 1, 1))  # of the client's current-account turnover
    share = np.where(product == Product.CURRENT, np.where(cur_count > 1, split, 1.0), 0)
    level = _levels(rng, c.profile[client], product, t0, t0 * share * c.bal[client])
    rate = _rates(rng, c.profile[client], product, c.cur_interest[client])
    a = len(client)
    fee = c.fee[client] * P.FEE[product] * rng.uniform(0.8, 1.2, a)
    weight = c.activity[client] * P.ACTIVITY[product] * np.exp(0.3 * rng.standard_normal(a))
    partner = np.where(primary, np.where(n_acc[client] > 1, start[client] + 1, -1), start[client])
    own_rate = P.OWN_RATE[product] * column("own_transfer_factor")[c.profile[client]]
    own_rate = np.where(extra, 0.8, own_rate)
    own_rate = np.where(partner >= 0, own_rate, 0.0)
    term = rng.integers(24, 97, a).astype(float)
    age0 = np.where(opened < window.first, rng.random(a) * term * 0.5, 0.0)
    sparse = rng.random(a) < P.SPARSE[product]
    return Accounts(
        client=client, pos=pos, product=product, ccy=ccy, opened=opened, closed=closed, level=level, rate=rate,
        fee=fee, weight=weight, partner=partner, own_rate=own_rate, term=term, age0=age0, sparse=sparse,
        share=share, start=start, n_acc=n_acc, dr=rng.uniform(0.92, 1.02, a), opened_month=month_index(opened),
    )  # fmt: skip


def _products(rng, c: Clients):
    """(client, pos, product) of every account, and each client's first account and number of accounts."""
    n = len(c.type)
    n_acc = np.where(c.no_accounts, 0, c.n_products + c.extra_current)
    # choose distinct non-current products with the Gumbel top-k trick (vectorised sampling w/o replacement)
    weights = mix_weights()[c.profile]
    with np.errstate(divide="ignore"):
        score = np.log(weights) - np.log(-np.log(rng.random(weights.shape)))
    order = np.argsort(-score, axis=1, kind="stable") + 1  # product codes 1..14, best first
    width = MAX_PRODUCTS + 1
    mat = np.zeros((n, width), dtype=np.int64)  # column j = product of the client's j-th account
    mat[:, 1:] = order[:, :MAX_PRODUCTS]
    at = np.minimum(c.n_products, MAX_PRODUCTS)
    mat[np.arange(n), at] = np.where(c.extra_current, Product.CURRENT, mat[np.arange(n), at])
    pos_grid = np.broadcast_to(np.arange(width), (n, width))
    take = pos_grid < n_acc[:, None]
    client = np.broadcast_to(np.arange(n)[:, None], (n, width))[take]
    start = np.concatenate([[0], np.cumsum(n_acc)[:-1]])  # first account of each client
    return client, pos_grid[take], mat[take], start, n_acc


def _currencies(rng, c: Clients, client, pos, product) -> np.ndarray:
    """Currency of each account (probabilities in CURRENCIES order: USD, EUR, GBP, BGN, CHF)."""
    a, n = len(client), len(c.type)
    primary = pos == 0
    is_bank = c.type[client] == ClientType.BANK
    ccy = rng.choice(len(CURRENCIES), size=a, p=[0.18, 0.30, 0.07, 0.40, 0.05])
    ccy = np.where(primary & ~is_bank, rng.choice(len(CURRENCIES), size=a, p=[0.12, 0.3, 0.02, 0.55, 0.01]), ccy)
    ccy = np.where(primary & is_bank, rng.choice(len(CURRENCIES), size=a, p=[0.5, 0.4, 0.05, 0.05, 0]), ccy)
    prim_ccy = np.zeros(n, dtype=np.int64)
    prim_ccy[client[primary]] = ccy[primary]
    extra = (product == Product.CURRENT) & ~primary
    other = np.where(rng.random(a) < 0.7, Currency.EUR, Currency.USD)
    ccy = np.where(extra, np.where(prim_ccy[client] == Currency.BGN, other, Currency.BGN), ccy)
    local = np.where(rng.random(a) < 0.6, Currency.BGN, Currency.EUR)
    return np.where(P.INSTALMENTS[product] & ~is_bank, local, ccy)


def _open_close(rng, c: Clients, window: Window, *, client, pos) -> tuple[np.ndarray, np.ndarray]:
    """Opening and closing days: main accounts open at onboarding, some others open or close in the window."""
    ws, we, a = window.first, window.last, len(client)
    primary = pos == 0
    ob = c.onboarded[client]
    off = c.offboarded[client]
    last_open = np.minimum(we - 1, off)
    protected = column("keeps_four_products")[c.profile[client]] & (pos < 4)
    in_window = (ob >= ws) | (~primary & ~protected & (rng.random(a) < 0.12))
    pre = uniform_day(rng, ob, np.full(a, ws - 1))
    inside = uniform_day(rng, np.maximum(ob, ws), last_open)
    opened = np.where(primary, ob, np.where(in_window, inside, pre))
    opened = np.minimum(opened, np.maximum(last_open, ob))
    closed = np.full(a, NEVER, dtype=np.int64)
    r = rng.random(a)
    closable = ~primary & ~protected
    lo = np.maximum(opened + 14, ws)
    win_close = closable & (r < 0.05) & (lo <= last_open)
    closed = np.where(win_close, uniform_day(rng, lo, last_open), closed)
    before = closable & (r >= 0.05) & (r < 0.065) & (opened < ws - 40)
    closed = np.where(before, uniform_day(rng, opened + 10, np.full(a, ws - 2)), closed)
    cand = np.flatnonzero(closable & (opened < we - 40) & (off >= NEVER))
    _changes_in_tiny_banks(rng, window, (opened, closed, ob), cand=cand)
    closed = np.where(off < NEVER, np.minimum(closed, off), closed)
    return opened, np.maximum(closed, opened)


def _changes_in_tiny_banks(rng, window: Window, days: tuple, *, cand) -> None:
    """Make sure mid-window openings and closings exist even in tiny banks (`days`: opened, closed, onboarded;
    changed in place)."""
    ws, we = window.first, window.last
    opened, closed, ob = days
    if len(opened) and not ((opened > ws) & (opened <= we)).any() and len(cand):
        i = cand[0]
        opened[i] = max(uniform_day(rng, np.array([ws + (we - ws) // 3]), np.array([we - 30]))[0], ob[i])
        if closed[i] < opened[i]:
            closed[i] = NEVER
    if len(opened) and not ((closed >= ws) & (closed < we)).any() and len(cand):
        i = cand[-1]
        lo_i = max(int(opened[i]) + 7, ws + 1)
        if lo_i < we - 1:
            closed[i] = uniform_day(rng, np.array([lo_i]), np.array([we - 1]))[0]


def _levels(rng, profile, product, t0, current) -> np.ndarray:
    """Usual balance in USD: the product's level, or the profile's (current accounts: `current`)."""
    u = rng.random(len(product))
    lows, spans = np.zeros(len(P.TABLE)), np.zeros(len(P.TABLE))
    factors = np.ones(len(P.TABLE))
    for i, row in enumerate(P.TABLE):
        if row.level:
            lows[i], spans[i], factors[i] = row.level.low, row.level.span, row.level.factor
    usual = t0 * factors[product] * (lows[product] + spans[product] * u)
    usual = np.where(IS_CREDIT_PRODUCT[product], -usual, usual)
    level = np.where(product == Product.CURRENT, current, usual)
    for code, p in enumerate(PROFILES):
        for name, lv in p.levels.items():
            sel = (profile == code) & (product == getattr(Product, name.upper()))
            if lv.basis == "usual":
                value = usual * (lv.low + lv.span * u)
            else:
                value = (t0 * lv.factor if lv.basis == "turnover" else 1.0) * (lv.low + lv.span * u)
                value = -value if IS_CREDIT_PRODUCT[getattr(Product, name.upper())] else value
            level = np.where(sel, value, level)
    return level


def _rates(rng, profile, product, cur_interest) -> np.ndarray:
    """Yearly interest rate: the product's, or the profile's; current accounts only for some clients."""
    v = rng.random(len(product))
    lows, spans = _column_pair(P.TABLE, "rate")
    rate = lows[product] + spans[product] * v
    rate = np.where((product == Product.CURRENT) & ~cur_interest, 0.0, rate)
    for code, p in enumerate(PROFILES):
        for name, (low, span) in p.rates.items():
            sel = (profile == code) & (product == getattr(Product, name.upper()))
            rate = np.where(sel, low + span * v, rate)
    return rate


def _column_pair(rows, attr: str) -> tuple[np.ndarray, np.ndarray]:
    pairs = np.array([getattr(r, attr) for r in rows], dtype=float)
    return pairs[:, 0], pairs[:, 1]


def external_pool(rng, n_dom: int = 1500, n_for: int = 500) -> Counterparties:
    """IBAN-like counterparty accounts outside the bank: domestic (BG) and foreign, with their countries."""
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    digits = rng.integers(0, 10, (n_dom + n_for, 16))
    banks = letters[rng.integers(0, 26, (n_dom + n_for, 4))]
    country = np.concatenate([np.zeros(n_dom, dtype=np.int64), rng.integers(1, len(COUNTRIES), n_for)])
    ids = [
        COUNTRIES[country[i]] + "".join(map(str, digits[i, :2])) + "".join(banks[i]) + "".join(map(str, digits[i, 2:]))
        for i in range(n_dom + n_for)
    ]
    return Counterparties(ids, country, n_dom)
