"""Stage 2, economic groups (SPEC §1 "Economic groups"): which clients belong together."""

from __future__ import annotations

import numpy as np

from .clients import Clients
from .codes import ClientType, Related
from .days import NEVER
from .profiles import CODE

# kinds of group the sample must hold
GROUP_KINDS = ("parent", "vip_together", "with_individual", "member_left", "late_member")


class _Picker:
    """Draws members among the clients not yet in a group, and founds groups."""

    def __init__(self, rng, n: int):
        self.rng = rng
        self.free = np.ones(n, dtype=bool)
        self.group = np.full(n, "", dtype=object)
        self.kinds: dict[str, str] = {}

    def pick(self, mask: np.ndarray, k: int = 1) -> np.ndarray:
        cand = np.flatnonzero(mask & self.free)
        if len(cand) < k:
            return np.zeros(0, dtype=np.int64)
        chosen = np.sort(self.rng.choice(cand, size=k, replace=False))
        self.free[chosen] = False
        return chosen

    def found(self, kind: str, members: list[np.ndarray]) -> bool:
        """Make a group of the picked members when every part was found; give them back otherwise."""
        every = np.concatenate(members) if members else np.zeros(0, dtype=np.int64)
        if any(len(m) == 0 for m in members) or len(every) < 2:
            self.free[every] = True
            return False
        gid = f"G{len(self.kinds) + 1:04d}"
        self.group[every] = gid
        self.kinds[gid] = kind
        return True


def build_groups(rng, c: Clients, share: float = 0.07) -> tuple[np.ndarray, dict]:
    """group_id per client ("" = none) and the group kind of each group id.

    Chosen among the clients already built (their numbers are not changed), with a generator of its own so
    the rest of the sample stays as it was:

    * ``vip_together`` — a watch_products client (products ≥ 4 + scale) with a watch_strategic one
      (scale + strategic): 2 criteria each, 3 together (products, scale, strategic);
    * ``member_left`` — a small company that is offboarded inside the window with two individuals (a wealthy
      one meeting 3 criteria): eligible while the company is there, then a group of individuals only;
    * ``with_individual`` — a mid-sized company, a small one and their owner (an individual);
    * ``late_member`` — a company and a client onboarded inside the window: assessed only once both are active;
    * ``parent`` — a large or mid-sized parent with 2–5 subsidiaries; the first takes a related party (which
      stays ``key``) and a late-onboarded subsidiary. Parent groups are added until about `share` of the
      clients are in groups (one of each special kind per 300 clients).
    """
    n = len(c.type)
    p = _Picker(rng, n)
    for _ in range(max(1, n // 300)):
        _special_groups(p, c)
    _parent_groups(p, c, share)
    return p.group, p.kinds


def _masks(c: Clients) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(plain, settled, company): no related party and has accounts; also there the whole window; a company."""
    plain = (c.related == Related.NONE) & ~c.no_accounts
    settled = plain & ~c.onboarded_in_window & (c.offboarded >= NEVER)
    return plain, settled, c.type != ClientType.INDIVIDUAL


def _special_groups(p: _Picker, c: Clients) -> None:
    plain, settled, company = _masks(c)
    profile = c.profile

    def of(name: str) -> np.ndarray:
        return profile == CODE[name]

    p.found("vip_together", [p.pick(settled & of("watch_products")), p.pick(settled & of("watch_strategic") & company)])
    leaver = p.pick(plain & company & (c.offboarded < NEVER))
    rich = p.pick(settled & of("wealthy"))
    if not len(rich):
        rich = p.pick(settled & of("retail"))
    p.found("member_left", [leaver, rich, p.pick(settled & of("retail"))])
    p.found(
        "with_individual",
        [
            p.pick(settled & of("mid") & company),
            p.pick(settled & of("small")),
            p.pick(settled & (c.type == ClientType.INDIVIDUAL)),
        ],
    )
    p.found("late_member", [p.pick(settled & of("mid") & company), p.pick(plain & c.onboarded_in_window)])


def _parent_groups(p: _Picker, c: Clients, share: float) -> None:
    plain, settled, company = _masks(c)
    codes = [CODE[name] for name in ("big_vip", "big_approach", "mid")]
    parents = settled & (c.type == ClientType.CORPORATE) & np.isin(c.profile, codes)
    subsidiaries = settled & company & np.isin(c.profile, [CODE[x] for x in ("mid", "small", "ballast", "review")])
    first = True
    while (p.group != "").sum() < share * len(c.type):
        parent = p.pick(parents & (c.profile == CODE["big_vip"])) if first else np.zeros(0, dtype=np.int64)
        parent = parent if len(parent) else p.pick(parents)
        size = int(p.rng.integers(2, 6))  # subsidiaries
        extra = []
        if first:  # the first parent group's subsidiaries include a related party and one onboarded late
            related = p.pick((c.related != Related.NONE) & company & ~c.no_accounts)
            late = p.pick(plain & company & c.onboarded_in_window)
            extra = [m for m in (related, late) if len(m)]
        rest = size - len(extra)
        members = [parent, *extra] + ([p.pick(subsidiaries, rest)] if rest > 0 else [])
        if not p.found("parent", members):
            break
        first = False
