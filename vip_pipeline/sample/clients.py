"""Stage 1, the clients: client types, profiles, each profile's draws, related parties and the lifecycle."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

import numpy as np

from vip_pipeline.contracts.extracts import CLIENT_TYPES, RELATED_PARTIES, SERVICE_MODELS

from .codes import Related, Service
from .days import NEVER, Window, day, uniform_day
from .names import client_names
from .profiles import CLIENT_MIX, CODE, FAST_GROWTH, MAX_PRODUCTS, PROFILES, REST, Growth, Profile, Spread, column

FEE_NOT_WAIVED = (1, 5)  # USD a month paid by a client of a profile whose fees are mostly waived
TRAITS = ("turnover", "sales", "growth", "n_products", "extra_current", "activity", "fee", "bal", "export_share",
          "import_share", "service", "monopoly", "strategic")  # fmt: skip


@dataclass
class Clients:
    """One entry per client (arrays indexed by client number)."""

    type: np.ndarray  # ClientType code
    profile: np.ndarray  # index in PROFILES
    turnover: np.ndarray  # USD per month
    sales: np.ndarray  # annual sales in USD; NaN: not reported
    growth: np.ndarray  # yearly turnover growth
    n_products: np.ndarray
    extra_current: np.ndarray  # holds a second current account
    activity: np.ndarray
    fee: np.ndarray  # monthly fee in USD
    bal: np.ndarray  # current-account balance as a fraction of monthly turnover
    export_share: np.ndarray
    import_share: np.ndarray
    service: np.ndarray  # Service code
    monopoly: np.ndarray
    strategic: np.ndarray
    cur_interest: np.ndarray  # paid interest on current accounts
    related: np.ndarray  # Related code
    onboarded: np.ndarray  # day
    offboarded: np.ndarray  # day; NEVER: still a client
    onboarded_in_window: np.ndarray
    no_accounts: np.ndarray
    name: list[str]
    industry: list[str]
    region: list[str]
    group: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))  # group_id, "" = none


def build_clients(rng, n: int, window: Window) -> Clients:
    ctype = _client_types(rng, n)
    profile = _assign_profiles(rng, ctype)
    traits = _draw_traits(rng, profile)
    cur_interest = _fees_and_interest(rng, profile, traits)
    related = _related_parties(rng, profile, traits["service"])
    lifecycle = _lifecycle(rng, profile, related, window)
    name, industry, region = client_names(rng, ctype)
    return Clients(
        type=ctype, profile=profile, cur_interest=cur_interest, related=related, name=name, industry=industry,
        region=region, **traits, **lifecycle,
    )  # fmt: skip


def _client_types(rng, n: int) -> np.ndarray:
    ctype = rng.choice(len(CLIENT_TYPES), size=n, p=[CLIENT_MIX[t].share for t in CLIENT_TYPES])
    if n >= len(CLIENT_TYPES):  # every client type present
        for t in range(len(CLIENT_TYPES)):
            if not (ctype == t).any():
                counts = np.bincount(ctype, minlength=len(CLIENT_TYPES))
                donor = np.flatnonzero(ctype == counts.argmax())[-1]
                ctype[donor] = t
    return ctype


def _assign_profiles(rng, ctype: np.ndarray) -> np.ndarray:
    """Each client type's clients, in random order, fill its profiles' quotas; the rest take its REST profile."""
    profile = np.empty(len(ctype), dtype=np.int64)
    for t, type_name in enumerate(CLIENT_TYPES):
        idx = np.flatnonzero(ctype == t)
        perm = idx[rng.permutation(len(idx))]
        pos = 0
        for code, p in enumerate(PROFILES):
            quota = p.quotas.get(type_name)
            if quota is None or quota is REST:
                continue
            k = int(round(quota.share * len(idx)))
            if quota.at_least_one and k == 0 and len(idx) >= CLIENT_MIX[type_name].at_least_one_from:
                k = 1
            k = min(k, len(idx) - pos)
            profile[perm[pos : pos + k]] = code
            pos += k
        profile[perm[pos:]] = next(code for code, p in enumerate(PROFILES) if p.quotas.get(type_name) is REST)
    return profile


def _draw_traits(rng, profile: np.ndarray) -> dict[str, np.ndarray]:
    """Every profile's draws, profile after profile, into one array per trait."""
    n = len(profile)
    out = {name: np.zeros(n) for name in TRAITS}
    out["sales"][:] = np.nan
    out["n_products"] = np.zeros(n, dtype=np.int64)
    out["service"] = np.ones(n, dtype=np.int64)
    for name in ("extra_current", "monopoly", "strategic"):
        out[name] = np.zeros(n, dtype=bool)
    for code, p in enumerate(PROFILES):
        m = profile == code
        for name, values in _draw_profile(rng, p, int(m.sum())).items():
            out[name][m] = values
    # tiny banks still show both flags
    big_vip = profile == CODE["big_vip"]
    if big_vip.any() and not out["monopoly"].any():
        out["monopoly"][np.flatnonzero(big_vip)[0]] = True
    return out


def _lognormal(rng, k: int, spec: Spread) -> np.ndarray:
    return np.clip(spec.median * np.exp(spec.sigma * rng.standard_normal(k)), spec.low, spec.high)


def _growth(rng, k: int, g: Growth) -> np.ndarray:
    if g.fast:
        fast = rng.random(k) < g.fast
        return np.where(fast, rng.uniform(*FAST_GROWTH, k), rng.uniform(g.low, g.high, k))
    if g.sd:
        return rng.normal(g.mean, g.sd, k)
    return rng.uniform(g.low, g.high, k)


def _draw_profile(rng, p: Profile, k: int) -> dict[str, np.ndarray]:
    """The draws of `k` clients of profile `p` (the draw order is part of the sample: do not reorder)."""
    d = {"turnover": _lognormal(rng, k, p.turnover)}
    if p.sales:
        d["sales"] = np.round(_lognormal(rng, k, p.sales), -3)
        if p.sales_unreported:
            d["sales"][rng.random(k) < p.sales_unreported] = np.nan
    d["growth"] = _growth(rng, k, p.growth)
    if isinstance(p.products, dict):
        d["n_products"] = rng.choice(list(p.products), size=k, p=list(p.products.values()))
    else:
        d["n_products"] = rng.integers(p.products[0], p.products[1] + 1, k)
    d["extra_current"] = (rng.random(k) < p.extra_current) & (d["n_products"] < MAX_PRODUCTS)
    d["activity"] = p.activity * np.exp(0.3 * rng.standard_normal(k))
    d["fee"] = rng.uniform(*p.fee, k)
    d["bal"] = rng.uniform(*p.balance, k)
    exporter = rng.random(k) < p.exporter
    d["export_share"] = np.where(exporter, rng.uniform(0.1, 0.6, k), 0)
    importer = rng.random(k) < p.importer
    d["import_share"] = np.where(importer, rng.uniform(0.05, 0.3, k), 0)
    service = rng.choice(len(SERVICE_MODELS), size=k, p=[p.service.get(s, 0) for s in SERVICE_MODELS])
    d["service"] = service
    monopoly = rng.random(k) < p.monopoly
    strategic = rng.random(k) < p.strategic
    if p.strategic_unless_monopoly:
        strategic |= ~monopoly
    if p.strategic_if_vip_served:
        strategic |= (service == Service.VIP) & ~monopoly
    d["monopoly"], d["strategic"] = monopoly, strategic
    return d


def _fees_and_interest(rng, profile: np.ndarray, traits: dict) -> np.ndarray:
    """Waive most fees of the profiles that waive them; return who is paid interest on current accounts."""
    waivable = column("fees_waived")[profile]
    waived = (waivable > 0) & (rng.random(len(profile)) < waivable)
    paying = (waivable > 0) & ~waived
    fee = traits["fee"]
    fee[paying] = rng.uniform(*FEE_NOT_WAIVED, int(paying.sum()))
    fee[waived] = 0.0
    return rng.random(len(profile)) < column("interest_on_current")[profile]


def _related_parties(rng, profile: np.ndarray, service: np.ndarray) -> np.ndarray:
    """~4 % of the candidates are related parties, at least one of each kind."""
    n = len(profile)
    related = np.full(n, Related.NONE, dtype=np.int64)
    cand = np.flatnonzero(column("related_candidate")[profile])
    n_rel = min(len(cand), max(3 if n >= 10 else 0, int(round(0.04 * n))))
    if n_rel:
        chosen = np.sort(rng.choice(cand, size=n_rel, replace=False))
        related[chosen] = 1 + np.arange(n_rel) % (len(RELATED_PARTIES) - 1)
        # a related party served as VIP whatever its numbers: key, never "review"
        service[chosen[0]] = Service.VIP
    return related


def _lifecycle(rng, profile: np.ndarray, related: np.ndarray, window: Window) -> dict[str, np.ndarray]:
    """Onboarding days (some inside the window), clients without accounts, clients offboarded in the window."""
    n, ws, we = len(profile), window.first, window.last
    plain = related == Related.NONE
    onboarded = uniform_day(rng, np.full(n, day(_dt.date(2001, 1, 1))), np.full(n, ws - 60))
    mutable = column("may_join")[profile] & plain
    new = mutable & (rng.random(n) < 0.10)
    if n >= 10 and not new.any() and mutable.any():
        new[np.flatnonzero(mutable)[0]] = True
    if we - ws > 20:
        onboarded[new] = uniform_day(rng, np.full(int(new.sum()), ws + 1), np.full(int(new.sum()), we - 5))
    else:
        new[:] = False
    no_accounts = np.zeros(n, dtype=bool)
    cand = np.flatnonzero(column("may_lack_accounts")[profile] & plain)
    n_none = min(len(cand), max(1 if n >= 20 else 0, int(round(0.02 * n))))
    if n_none:
        no_accounts[rng.choice(cand, size=n_none, replace=False)] = True
    offboarded = np.full(n, NEVER, dtype=np.int64)
    cand = np.flatnonzero(column("may_leave")[profile] & plain & ~no_accounts)
    n_off = min(len(cand), max(1 if n >= 20 else 0, int(round(0.03 * n))))
    if n_off and we - ws > 40:
        off = np.sort(rng.choice(cand, size=n_off, replace=False))
        lo = np.maximum(onboarded[off] + 30, ws + 15)
        days = uniform_day(rng, lo, np.full(n_off, we - 3))
        ok = lo <= we - 3
        offboarded[off[ok]] = days[ok]
    return dict(onboarded=onboarded, offboarded=offboarded, no_accounts=no_accounts, onboarded_in_window=new)
