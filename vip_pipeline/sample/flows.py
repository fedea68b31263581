"""Stage 5, the daily flows of a month: every account's postings (ordinary activity, own-account transfers,
fees, interest, loan repayments) and the end-of-day balances they move.

Big clients book many large transactions, mass clients a few small ones; credits and debits of current
accounts sum to the client's turnover of the month.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vip_pipeline.contracts.extracts import TXN_TYPES

from . import products as P
from .accounts import Accounts, Counterparties
from .clients import Clients
from .codes import BASE_USD_PER_UNIT, IS_CREDIT_PRODUCT, NO_PURPOSE, Direction, Product, Purpose, TxnType
from .days import Month, Window, is_business, month_index, snap_forward
from .profiles import column

SYSTEMATIC_POSTINGS = 2.0  # fees, interest, own transfers, repayments per account-month (approx.)
ACTIVITY, OWN_TRANSFER, FEE, INTEREST, REPAYMENT = range(5)  # kinds of posting
KEYS = ("acc", "day", "usd", "dir", "type", "cp", "country", "purpose", "kind")


@dataclass(frozen=True)
class Bank:
    """What every month's flows draw on."""

    clients: Clients
    accounts: Accounts
    counterparties: Counterparties
    window: Window
    lam_full: np.ndarray  # ordinary postings of an account open the whole month
    credit_prod: np.ndarray  # the account is a credit product

    @classmethod
    def of(cls, c: Clients, acc: Accounts, cps: Counterparties, *, window: Window, txns_per_account_month: float):
        base = max(txns_per_account_month - SYSTEMATIC_POSTINGS, 0.25 * txns_per_account_month)
        lam_full = base * acc.weight / (acc.weight.mean() if len(acc.client) else 1.0)
        return cls(c, acc, cps, window, lam_full, IS_CREDIT_PRODUCT[acc.product])


@dataclass(frozen=True)
class Book:
    """A month's drivers: client turnover, account levels, and each account's open business days."""

    month: Month
    tm: np.ndarray  # USD turnover of the month per client
    lvl: np.ndarray  # USD balance level of the month per account
    lo: np.ndarray  # index in month.bd of the first open business day
    hi: np.ndarray  # ... of the last
    is_open: np.ndarray
    n_open: np.ndarray  # open business days
    frac: np.ndarray  # of the month's business days


@dataclass(frozen=True)
class Flows:
    """A month's postings sorted by day, account (`tx`: arrays per KEYS), their amounts in account currency."""

    tx: dict
    amount: np.ndarray
    lvl: np.ndarray


def month_flows(rng, bank: Bank, month: Month) -> Flows:
    book = _book(rng, bank, month)
    parts = []
    if len(month.bd):
        parts += _activity(rng, bank, book)
        parts += _own_transfers(rng, bank, book)
        parts += _systematic(rng, bank, book)
    tx = _combine(parts, rng)
    usd_rate = BASE_USD_PER_UNIT[bank.accounts.ccy]
    amount = np.maximum(np.round(tx["usd"] / usd_rate[tx["acc"]], 2), 0.01) if len(tx["acc"]) else np.zeros(0)
    return Flows(tx, amount, book.lvl)


def _book(rng, bank: Bank, month: Month) -> Book:
    c, acc, w = bank.clients, bank.accounts, bank.window
    trend = np.exp(c.growth * (month.index - (w.months - 1)) / 12)
    season = 1 + 0.08 * np.sin(2 * np.pi * (month.start_date.month - 3) / 12)
    tm = c.turnover * trend * season * np.exp(0.15 * rng.standard_normal(len(c.type)) - 0.01125)
    za = rng.standard_normal(len(acc.client))
    lvl = acc.level * trend[acc.client] * np.exp(0.08 * za)
    amort = np.clip(1 - (acc.age0 + np.maximum(0, month_index(month.start) - acc.opened_month)) / acc.term, 0.1, 1)
    lvl = np.where(P.INSTALMENTS[acc.product], acc.level * amort, lvl)
    lvl = np.where(P.REVOLVING[acc.product], acc.level * np.exp(0.2 * za), lvl)
    lo = np.searchsorted(month.bd, acc.opened, "left")
    hi = np.searchsorted(month.bd, acc.closed, "right") - 1
    is_open = lo <= hi
    n_open = np.where(is_open, hi - lo + 1, 0)
    return Book(month, tm, lvl, lo, hi, is_open, n_open, n_open / len(month.full_bd))


def _part(acc, day, usd, *, direction, ttype, cp=-1, country=-1, purpose=NO_PURPOSE, kind) -> dict:
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


def _activity(rng, bank: Bank, book: Book) -> list[dict]:
    """Ordinary payments, transfers, cash, card, fx postings of every open account.

    Credits and debits of current accounts are scaled so that each account-month sums to the
    client's turnover of the month: settlement turnover follows the client's trend instead of
    the noise of a few large payments (so growth and scale criteria land where intended).
    """
    acc, n_acc, tm = bank.accounts, len(bank.accounts.client), book.tm
    p_c_a = P.CREDIT_SHARE[acc.product]
    open_cur = (acc.product == Product.CURRENT) & (book.n_open > 0)
    cnt_c = rng.poisson(bank.lam_full * p_c_a * book.frac)
    cnt_c = np.where(open_cur, np.maximum(cnt_c, 1), cnt_c)  # a business gets paid every month
    cnt_d = rng.poisson(bank.lam_full * (1 - p_c_a) * book.frac)
    ia = np.concatenate([np.repeat(np.arange(n_acc), cnt_c), np.repeat(np.arange(n_acc), cnt_d)])
    is_c = np.arange(len(ia)) < cnt_c.sum()
    k = len(ia)
    if not k:
        return []
    day = book.month.bd[book.lo[ia] + np.floor(rng.random(k) * book.n_open[ia]).astype(np.int64)]
    prod = acc.product[ia]
    cl = acc.client[ia]
    cur = prod == Product.CURRENT
    usd = tm[cl] * P.TURNOVER[prod] / np.maximum(bank.lam_full[ia], 0.3) * _lognormal_noise(rng, k)
    for side, mult in ((is_c, 1.0), (~is_c, acc.dr)):
        sel = cur & side
        sums = np.bincount(ia[sel], weights=usd[sel], minlength=n_acc)
        target = tm[acc.client] * acc.share * book.frac * mult
        usd[sel] *= target[ia[sel]] / np.maximum(sums[ia[sel]], 1e-9)
    g = prod * 2 + (~is_c)
    ttype = (rng.random(k)[:, None] > P.TYPE_CUM[g]).sum(axis=1).astype(np.int8)
    ttype = np.minimum(ttype, len(TXN_TYPES) - 1)
    purpose = (rng.random(k)[:, None] > P.PURPOSE_CUM[g]).sum(axis=1).astype(np.int8)
    purpose = np.minimum(purpose, NO_PURPOSE)
    u = rng.random(k)
    c = bank.clients
    export = cur & is_c & (u < c.export_share[cl])
    imp = cur & ~is_c & (u < c.import_share[cl])
    salary = cur & is_c & ~export & (u < column("salary_credits")[c.profile[cl]])
    purpose = np.where(export, Purpose.EXPORT, np.where(imp, Purpose.IMPORT, np.where(salary, Purpose.SALARY, purpose)))
    ttype = np.where(export | imp, TxnType.PAYMENT, ttype)
    cp, country = _counterparties(rng, bank, ia=ia, ttype=ttype, foreign=export | imp)
    return [_part(ia, day, usd, direction=(~is_c).astype(np.int8), ttype=ttype, cp=cp, country=country,
                  purpose=purpose, kind=ACTIVITY)]  # fmt: skip


def _counterparties(rng, bank: Bank, *, ia, ttype, foreign) -> tuple[np.ndarray, np.ndarray]:
    """Counterparty account (index: ours, then the outside pool) and country code of each posting; -1: none."""
    acc, cps = bank.accounts, bank.counterparties
    n_acc, k = len(acc.client), len(ia)
    cl, prod = acc.client[ia], acc.product[ia]
    ext_dom = rng.integers(0, cps.n_dom, k)
    ext_for = rng.integers(cps.n_dom, len(cps.ids), k)
    other = rng.integers(0, n_acc, k)
    other_ok = acc.client[other] != cl
    internal = (rng.random(k) < 0.1) & other_ok & ~foreign
    own_primary = acc.start[cl]
    own = P.OWN_TRANSFERS[prod] & (ttype == TxnType.TRANSFER) & (own_primary != ia)
    with_cp = np.isin(ttype, (TxnType.PAYMENT, TxnType.TRANSFER, TxnType.LOAN)) | foreign
    cp = np.where(foreign, n_acc + ext_for, np.where(own, own_primary, np.where(internal, other, n_acc + ext_dom)))
    cp = np.where(with_cp, cp, -1)
    country = np.where(foreign, cps.country[ext_for], np.where(with_cp, 0, -1))
    return cp, country


def _own_transfers(rng, bank: Bank, book: Book) -> list[dict]:
    """Transfers between two accounts of the same client: C on one, D on the other."""
    acc, lo, hi, is_open = bank.accounts, book.lo, book.hi, book.is_open
    partner = acc.partner
    ok = is_open & (partner >= 0)
    p = np.where(ok, partner, 0)
    ok &= is_open[p]
    lo2 = np.maximum(lo, lo[p])
    hi2 = np.minimum(hi, hi[p])
    ok &= lo2 <= hi2
    cnt = np.where(ok, rng.poisson(acc.own_rate * np.where(ok, book.frac, 0)), 0)
    ia = np.repeat(np.arange(len(cnt)), cnt)
    k = len(ia)
    if not k:
        return []
    day = book.month.bd[lo2[ia] + np.floor(rng.random(k) * (hi2[ia] - lo2[ia] + 1)).astype(np.int64)]
    pa_ = partner[ia]
    usd = book.tm[acc.client[ia]] * P.OWN_FRACTION[acc.product[ia]] * _lognormal_noise(rng, k, 0.6)
    usd = np.maximum(usd, 1.0)
    transfer = dict(ttype=TxnType.TRANSFER, country=0, kind=OWN_TRANSFER)
    return [
        _part(ia, day, usd, direction=Direction.CREDIT, cp=pa_, **transfer),
        _part(pa_, day, usd, direction=Direction.DEBIT, cp=ia, **transfer),
    ]


def _systematic(rng, bank: Bank, book: Book) -> list[dict]:
    """Monthly fees, interest postings and loan repayments (with the matching debit on the current account)."""
    acc, lo, hi, is_open, month = bank.accounts, book.lo, book.hi, book.is_open, book.month
    bd = month.bd
    parts = []
    # monthly fees on the first open business day of the month
    f = np.flatnonzero(is_open & (acc.fee > 0.5))
    if len(f):
        fee = acc.fee[f] * rng.uniform(0.85, 1.15, len(f))
        parts.append(_part(f, bd[lo[f]], fee, direction=Direction.DEBIT, ttype=TxnType.FEE, kind=FEE))
    # interest: on the last business day of the month (or the closing day)
    i = np.flatnonzero(is_open & (acc.rate > 0) & (month.done | (acc.closed <= month.me)))
    if len(i):
        amt = np.abs(book.lvl[i]) * acc.rate[i] / 12 * (book.n_open[i] / len(month.full_bd))
        keep = amt >= 0.01
        i, amt = i[keep], amt[keep]
        paid_by_client = np.where(bank.credit_prod[i], Direction.DEBIT, Direction.CREDIT)
        parts.append(_part(i, bd[hi[i]], amt, direction=paid_by_client, ttype=TxnType.INTEREST, kind=INTEREST))
    return parts + _repayments(bank, book)


def _repayments(bank: Bank, book: Book) -> list[dict]:
    """Loan and leasing repayments around the 15th, paid from the client's main current account."""
    acc, month = bank.accounts, book.month
    i15 = np.searchsorted(month.bd, month.start + 14)
    r = np.flatnonzero(book.is_open & P.INSTALMENTS[acc.product])
    if i15 >= len(month.bd) or not len(r):
        return []
    day = month.bd[np.clip(i15, book.lo[r], book.hi[r])]
    usd = np.abs(book.lvl[r]) / acc.term[r]
    src = acc.start[acc.client[r]]
    src_ok = (acc.product[src] == Product.CURRENT) & (src != r) & (acc.opened[src] <= day) & (acc.closed[src] >= day)
    repayment = dict(ttype=TxnType.LOAN, purpose=Purpose.LOAN, kind=REPAYMENT)
    cp = np.where(src_ok, src, -1)
    parts = [_part(r, day, usd, direction=Direction.CREDIT, cp=cp, country=np.where(src_ok, 0, -1), **repayment)]
    s = np.flatnonzero(src_ok)
    if len(s):
        parts.append(_part(src[s], day[s], usd[s], direction=Direction.DEBIT, cp=r[s], country=0, **repayment))
    return parts


def _combine(parts, rng) -> dict:
    if not parts:
        return {k: np.zeros(0, dtype=np.int64 if k != "usd" else float) for k in KEYS}
    tx = {k: np.concatenate([p[k] for p in parts]) for k in KEYS}
    tie = rng.random(len(tx["acc"]))
    order = np.lexsort((tie, tx["acc"], tx["day"]))
    return {k: v[order] for k, v in tx.items()}


def balances(bank: Bank, month: Month, flows: Flows, *, full_balances: bool):
    """End-of-day balances of the month: (account index, day, balance) sorted by day, account."""
    acc, cal, ms, me = bank.accounts, month.cal, month.start, month.me
    nd = len(cal)
    sel = np.flatnonzero((acc.opened <= me) & (acc.closed >= ms))
    if not len(sel) or not nd:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    flow, has_txn = _daily_flow(acc, month, flows, sel)
    level_ccy = flows.lvl[sel] / BASE_USD_PER_UNIT[acc.ccy[sel]]
    # the month's postings move the balance around its level: cumulative flow without its drift,
    # damped so that a few large payments do not push a current account through zero
    cum = np.cumsum(flow, axis=1)
    swing = cum - cum[:, -1:] * (np.arange(1, nd + 1) / nd)[None, :]
    reach = np.abs(swing).max(axis=1)
    damp = np.minimum(1.0, 0.7 * np.abs(level_ccy) / np.maximum(reach, 1e-9))
    bal = level_ccy[:, None] + damp[:, None] * swing
    cp = bank.credit_prod[sel]
    bal = np.where(cp[:, None], np.minimum(bal, 0), np.maximum(bal, 0))
    o = acc.opened[sel][:, None]
    cl = acc.closed[sel][:, None]
    days = cal[None, :]
    open_mask = (days >= o) & (days <= cl)
    bal = np.where(days == cl, 0.0, bal)  # balance moved out on the closing day
    if full_balances:
        mask = open_mask
    else:
        we = bank.window.last
        dense_days = is_business(cal) | (cal == month.end) | (cal == we)
        first_bd_window = int(snap_forward(bank.window.first))
        first_day = (month.index == 0) & (days == first_bd_window)
        sparse_rows = has_txn | (days == o) | (days == cl) | first_day
        mask = open_mask & np.where(acc.sparse[sel][:, None], sparse_rows, dense_days[None, :])
    j, i = np.nonzero(mask.T)  # day-major order
    return sel[i], cal[j], np.round(bal[i, j], 2)


def _daily_flow(acc: Accounts, month: Month, flows: Flows, sel) -> tuple[np.ndarray, np.ndarray]:
    """Net signed amount and whether anything was booked, per (selected account, day of the month)."""
    ns, nd = len(sel), len(month.cal)
    if not len(flows.amount):
        return np.zeros((ns, nd)), np.zeros((ns, nd), dtype=bool)
    row_of = np.full(len(acc.opened) + 1, -1, dtype=np.int64)
    row_of[sel] = np.arange(ns)
    tx = flows.tx
    flat = row_of[tx["acc"]] * nd + (tx["day"] - month.start)
    signed = np.where(tx["dir"] == Direction.CREDIT, flows.amount, -flows.amount)
    flow = np.bincount(flat, weights=signed, minlength=ns * nd).reshape(ns, nd)
    has_txn = np.bincount(flat, minlength=ns * nd).reshape(ns, nd) > 0
    return flow, has_txn
