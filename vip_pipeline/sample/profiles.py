"""The sample's clients: one row per kind of client (a *profile*), with its client type, products, scale, flows
and edge cases.

Each profile lands in a known place of the VIP rules (SPEC §1) when the window is long enough (criteria:
products >= 4, scale, monopoly, strategic, growth): ``big_vip`` is VIP-served and eligible, ``big_approach``
eligible but not served, ``watch_*`` meet exactly two criteria, ``review`` is VIP-served but no longer eligible,
``wealthy`` individuals meet three criteria (never eligible), ``ballast`` clients are loss-making.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vip_pipeline.contracts.extracts import CLIENT_TYPES, PRODUCTS, SERVICE_MODELS

from .products import Level

MAX_PRODUCTS = 7  # distinct products of a client; it may hold one more current account


@dataclass(frozen=True)
class Spread:
    """A lognormal draw: `median` × exp(`sigma` × N(0, 1)), clipped to [`low`, `high`]."""

    median: float
    sigma: float
    low: float
    high: float


@dataclass(frozen=True)
class Growth:
    """Yearly turnover growth: uniform in [`low`, `high`], or normal (`mean`, `sd`) when `sd` is set;
    a `fast` share of the clients grows by 30–60 % instead."""

    low: float = 0.0
    high: float = 0.0
    mean: float = 0.0
    sd: float = 0.0
    fast: float = 0.0


NORMAL_GROWTH = Growth(mean=0.03, sd=0.1)
FLAT = Growth(-0.08, 0.06)  # never reaches +25 %
FAST_GROWTH = (0.3, 0.6)


@dataclass(frozen=True)
class Quota:
    """Share of a client type's clients drawn into a profile; `at_least_one` even when the share rounds to 0."""

    share: float
    at_least_one: bool = False


REST = Quota(1.0)  # the clients of the type left when the other profiles have their share


@dataclass(frozen=True)
class ClientTypeMix:
    """A client type's share of the bank; profiles marked `at_least_one` get a client from `at_least_one_from`
    clients of the type on."""

    share: float
    at_least_one_from: int


CLIENT_MIX = {
    "corporate": ClientTypeMix(0.55, 8),
    "sme": ClientTypeMix(0.25, 99),
    "bank": ClientTypeMix(0.08, 2),
    "individual": ClientTypeMix(0.12, 2),
}
assert tuple(CLIENT_MIX) == CLIENT_TYPES


@dataclass(frozen=True)
class Profile:
    """A kind of client and everything the generator draws for it."""

    name: str
    quotas: dict[str, Quota]  # client type -> its share of that type's clients (in table order; REST last)
    # scale
    turnover: Spread  # settlement credits on current accounts, USD per month
    sales: Spread | None = None  # annual sales in USD; None: not reported
    sales_unreported: float = 0.0  # share of the clients that report no sales
    growth: Growth = NORMAL_GROWTH
    balance: tuple[float, float] = (0.1, 0.4)  # current-account balance as a fraction of monthly turnover
    # products
    products: tuple[int, int] | dict[int, float] = (1, 3)  # distinct products: uniform (low, high) or {n: p}
    extra_current: float = 0.0  # share holding a second current account
    mix: dict[str, float] = field(default_factory=dict)  # weights of the non-current products
    keeps_four_products: bool = False  # first four accounts opened before the window and never closed
    levels: dict[str, Level] = field(default_factory=dict)  # product -> balance level other than the usual
    rates: dict[str, tuple[float, float]] = field(default_factory=dict)  # product -> interest rate (low, span)
    interest_on_current: float = 0.0  # share paid interest on current accounts
    # flows
    activity: float = 1.0  # postings, relative to the bank's average
    fee: tuple[float, float] = (0.0, 0.0)  # monthly fee in USD, uniform
    fees_waived: float = 0.0  # share whose fees are waived (the others pay 1–5 USD)
    exporter: float = 0.0  # share with export receipts (10–60 % of credits)
    importer: float = 0.0  # share with import payments (5–30 % of debits)
    salary_credits: float = 0.0  # share of current-account credits that are salary
    own_transfer_factor: float = 1.0  # multiple of the products' own-account transfers
    # VIP facts
    service: dict[str, float] = field(default_factory=lambda: {"standard": 1.0})  # service model probabilities
    monopoly: float = 0.0  # share with a monopoly position
    strategic: float = 0.0  # share marked strategic
    strategic_unless_monopoly: bool = False  # every client without a monopoly is strategic
    strategic_if_vip_served: bool = False  # every VIP-served client without a monopoly is strategic
    # edge cases
    related_candidate: bool = False  # may be a related party
    may_join: bool = False  # may be onboarded inside the window
    may_lack_accounts: bool = False  # may have no account
    may_leave: bool = False  # may be offboarded inside the window

    def __post_init__(self):
        assert set(self.quotas) <= set(CLIENT_TYPES) and set(self.service) <= set(SERVICE_MODELS), self.name
        assert set(self.mix) <= set(PRODUCTS[1:]) and set(self.levels) | set(self.rates) <= set(PRODUCTS), self.name


# weights of the non-current products
BIG_MIX = dict(deposit=3, savings=0.5, loan=3, overdraft=1.5, credit_line=2, leasing=1.5, card=2, payroll=3,
               trade_finance=2, fx=2, cash_management=2, guarantee=2, acquiring=1, custody=0.5)  # fmt: skip
MID_MIX = dict(deposit=3, savings=1, loan=2, overdraft=2, credit_line=1, leasing=1, card=2, payroll=2,
               trade_finance=0.5, fx=0.5, cash_management=0.3, guarantee=0.5, acquiring=1, custody=0.1)  # fmt: skip
CREDIT = ("loan", "overdraft", "credit_line", "leasing")
NOT_CREDIT = ("deposit", "savings", "card", "payroll", "trade_finance", "fx", "cash_management", "acquiring", "custody")

PROFILES = (
    Profile(
        "big_vip",
        {"corporate": Quota(0.08, True)},
        Spread(3e6, 0.7, 9e5, 6e7),
        Spread(4e7, 0.8, 6e6, 2e9),
        growth=Growth(-0.05, 0.1, fast=0.4),
        balance=(0.2, 0.6),
        products=(5, 7),
        extra_current=0.4,
        mix=BIG_MIX,
        keeps_four_products=True,
        interest_on_current=0.4,
        activity=6,
        fee=(300, 2500),
        exporter=0.5,
        importer=0.3,
        own_transfer_factor=2.0,
        service={"vip": 1},
        monopoly=0.5,
        strategic=0.4,
        strategic_unless_monopoly=True,
        related_candidate=True,
    ),
    Profile(
        "big_approach",
        {"corporate": Quota(0.05, True)},
        Spread(2e6, 0.6, 8e5, 4e7),
        Spread(3e7, 0.7, 6e6, 1e9),
        growth=Growth(-0.05, 0.1, fast=0.25),
        balance=(0.15, 0.5),
        products=(4, 6),
        extra_current=0.3,
        mix=BIG_MIX,
        keeps_four_products=True,
        interest_on_current=0.4,
        activity=5,
        fee=(200, 1500),
        exporter=0.4,
        importer=0.3,
        own_transfer_factor=2.0,
        monopoly=0.4,
        strategic=0.2,
        strategic_unless_monopoly=True,
    ),
    Profile(  # products >= 4 and scale (sales)
        "watch_products",
        {"corporate": Quota(0.04, True)},
        Spread(3e5, 0.6, 6e4, 2e6),
        Spread(1.5e7, 0.5, 6e6, 2e8),
        growth=FLAT,
        products=(4, 5),
        mix=BIG_MIX,
        keeps_four_products=True,
        activity=4,
        fee=(150, 800),
        exporter=0.2,
        importer=0.3,
    ),
    Profile(  # scale (turnover) and strategic
        "watch_strategic",
        {"corporate": Quota(0.03, True), "sme": Quota(0.03)},
        Spread(1.3e6, 0.4, 7e5, 6e6),
        Spread(3e6, 0.4, 5e5, 4.5e6),
        growth=FLAT,
        products=(2, 3),
        mix=MID_MIX,
        keeps_four_products=True,
        activity=3,
        fee=(100, 600),
        exporter=0.2,
        strategic=1.0,
    ),
    Profile(  # a declining former VIP
        "review",
        {"corporate": Quota(0.04, True)},
        Spread(1.2e5, 0.4, 6e4, 2.5e5),
        Spread(2e6, 0.4, 5e5, 4.5e6),
        growth=Growth(-0.4, -0.1),
        balance=(0.05, 0.15),
        products=(1, 3),
        mix=dict(
            loan=2,
            overdraft=2,
            credit_line=1,
            leasing=1,
            card=2,
            payroll=2,
            trade_finance=0.5,
            fx=0.5,
            cash_management=0.3,
            guarantee=1,
            acquiring=0.5,
        ),
        levels={p: Level(1, 1, factor=0.02) for p in NOT_CREDIT},
        activity=1.5,
        fee=(50, 200),
        service={"vip": 1},
    ),  # fmt: skip
    Profile(  # loss-making: large cheap credit, well-paid deposits, fees waived
        "ballast",
        {"corporate": Quota(0.05, True)},
        Spread(8e4, 0.5, 2e4, 4e5),
        Spread(2e6, 0.5, 3e5, 4.8e6),
        sales_unreported=0.06,
        growth=FLAT,
        balance=(0.15, 0.5),
        products=(5, 7),
        mix=dict(
            deposit=3,
            savings=0.5,
            loan=4,
            overdraft=3,
            credit_line=3,
            leasing=3,
            card=1,
            payroll=0.5,
            trade_finance=0.2,
            fx=0.2,
            cash_management=0.2,
            guarantee=0.2,
            acquiring=0.2,
            custody=0.2,
        ),
        levels={
            "loan": Level(4, 6, "usual"),
            "credit_line": Level(4, 6, "usual"),
            "leasing": Level(4, 6, "usual"),
            "deposit": Level(0.3, 0.9),
            "savings": Level(0.3, 0.9),
        },
        rates={"deposit": (0.035, 0.015), "savings": (0.035, 0.015), **{p: (0.01, 0.015) for p in CREDIT}},
        activity=1.0,
        fees_waived=0.8,
        exporter=0.1,
        related_candidate=True,
        may_join=True,
    ),  # fmt: skip
    Profile(
        "mid",
        {"corporate": Quota(0.36), "sme": Quota(0.36)},
        Spread(1.5e5, 0.6, 5.5e4, 4.5e5),
        Spread(2e6, 0.6, 2e5, 4.9e6),
        sales_unreported=0.06,
        balance=(0.1, 0.45),
        products={1: 0.1, 2: 0.35, 3: 0.4, 4: 0.15},
        extra_current=0.1,
        mix=MID_MIX,
        levels={"deposit": Level(0.2, 0.8), "savings": Level(0.2, 0.8)},
        activity=2,
        fee=(30, 200),
        exporter=0.3,
        importer=0.3,
        service={"standard": 0.95, "mass": 0.05},
        monopoly=0.02,
        strategic=0.03,
        related_candidate=True,
        may_join=True,
        may_lack_accounts=True,
        may_leave=True,
    ),
    Profile(
        "small",
        {"corporate": REST, "sme": REST},
        Spread(1.5e4, 0.7, 1e3, 4.5e4),
        Spread(4e5, 0.8, 3e4, 3e6),
        sales_unreported=0.06,
        balance=(0.15, 0.8),
        products={1: 0.2, 2: 0.45, 3: 0.35},
        mix=dict(
            deposit=1,
            savings=1,
            loan=0.7,
            overdraft=1.5,
            credit_line=0.3,
            leasing=0.5,
            card=2,
            payroll=1,
            trade_finance=0.1,
            fx=0.1,
            cash_management=0.1,
            guarantee=0.1,
            acquiring=1,
            custody=0.1,
        ),
        activity=0.7,
        fee=(5, 40),
        exporter=0.1,
        importer=0.3,
        service={"standard": 0.4, "mass": 0.6},
        related_candidate=True,
        may_join=True,
        may_lack_accounts=True,
        may_leave=True,
    ),  # fmt: skip
    Profile(
        "bank_large",
        {"bank": Quota(0.4, True)},
        Spread(5e6, 0.7, 1e6, 1e8),
        growth=Growth(-0.05, 0.1, fast=0.2),
        balance=(0.3, 1.0),
        products=(4, 6),
        extra_current=0.5,
        mix=dict(deposit=3, loan=0.5, credit_line=1, trade_finance=2, fx=3, cash_management=2, guarantee=2, custody=3),
        keeps_four_products=True,
        interest_on_current=0.4,
        activity=6,
        fee=(500, 3000),
        own_transfer_factor=2.0,
        service={"vip": 0.7, "standard": 0.3},
        monopoly=0.3,
        strategic=0.4,
        strategic_if_vip_served=True,
        related_candidate=True,
    ),  # fmt: skip
    Profile(
        "bank_small",
        {"bank": REST},
        Spread(2e4, 0.5, 3e3, 4.5e4),
        balance=(0.3, 1.0),
        products={1: 0.3, 2: 0.7},
        mix=dict(deposit=2, fx=1, custody=1),
        activity=0.7,
        fee=(20, 80),
        service={"standard": 0.5, "mass": 0.5},
        related_candidate=True,
        may_join=True,
        may_leave=True,
    ),
    Profile(
        "retail",
        {"individual": REST},
        Spread(3e3, 0.6, 3e2, 2e4),
        balance=(0.5, 3.0),
        products={1: 0.15, 2: 0.45, 3: 0.4},
        mix=dict(deposit=2, savings=3, loan=1.5, overdraft=1, credit_line=0.5, card=4),
        levels={
            "deposit": Level(2e3, 28e3, "usd"),
            "savings": Level(1e3, 19e3, "usd"),
            "loan": Level(5e3, 35e3, "usd"),
        },
        activity=0.5,
        fee=(2, 8),
        salary_credits=0.5,
        service={"mass": 1},
        may_join=True,
        may_lack_accounts=True,
        may_leave=True,
    ),  # fmt: skip
    Profile(  # three criteria (products, strategic, ...) but an individual: never eligible
        "wealthy",
        {"individual": Quota(0.12, True)},
        Spread(4e4, 0.5, 1e4, 1.5e5),
        balance=(1.0, 3.0),
        products=(4, 5),
        mix=dict(deposit=3, savings=3, loan=0.5, card=2, fx=1, custody=3),
        keeps_four_products=True,
        levels={
            "deposit": Level(1.5e5, 6.5e5, "usd"),
            "savings": Level(1.5e5, 6.5e5, "usd"),
            "custody": Level(5e4, 4.5e5, "usd"),
        },
        activity=0.8,
        fee=(10, 40),
        strategic=1.0,
    ),  # fmt: skip
)
NAMES = tuple(p.name for p in PROFILES)
CODE = {p.name: i for i, p in enumerate(PROFILES)}


def column(attr: str) -> np.ndarray:
    """One attribute of every profile, indexed by profile code."""
    return np.array([getattr(p, attr) for p in PROFILES])


def mix_weights() -> np.ndarray:
    """Weights of the non-current products (contract order) per profile code."""
    return np.array([[p.mix.get(name, 0) for name in PRODUCTS[1:]] for p in PROFILES], dtype=float)
