"""Day numbers (days since 1970-01-01), business days, and the window of months the sample covers."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

import numpy as np

EPOCH = _dt.date(1970, 1, 1)
NEVER = np.int64(10**7)  # "not closed / not offboarded" sentinel day number (year ~29000)


def day(d: _dt.date) -> int:
    return (d - EPOCH).days


def date(i: int) -> _dt.date:
    return EPOCH + _dt.timedelta(days=int(i))


def weekday(days):
    return (np.asarray(days) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0


def is_business(days):
    return weekday(days) < 5


def snap_forward(days):
    w = weekday(days)
    return np.asarray(days) + np.where(w == 5, 2, np.where(w == 6, 1, 0))


def snap_back(days):
    w = weekday(days)
    return np.asarray(days) - np.where(w == 5, 1, np.where(w == 6, 2, 0))


def uniform_day(rng, lo, hi):
    """A business day uniformly in [lo, hi] (arrays); snapped back into the range when it overflows."""
    lo = np.asarray(lo, dtype=np.int64)
    hi = np.maximum(np.asarray(hi, dtype=np.int64), lo)
    d = lo + np.floor(rng.random(np.broadcast(lo, hi).shape) * (hi - lo + 1)).astype(np.int64)
    d = snap_forward(d)
    return np.where(d > hi, snap_back(np.minimum(d, hi)), d)


def month_index(days) -> np.ndarray:
    """Months since 1970-01 of day numbers."""
    return np.asarray(days).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


@dataclass(frozen=True)
class Month:
    """One calendar month of the window: `me` is its last data day (month-to-date for the last month)."""

    index: int
    start: int  # first day
    end: int  # last calendar day
    me: int  # last day with data: min(end, the window's last day)
    label: str  # YYYY-MM
    daily: bool  # delivered as daily files
    cal: np.ndarray  # calendar days start..me
    full_bd: np.ndarray  # business days of the whole month
    bd: np.ndarray  # business days up to me

    @property
    def start_date(self) -> _dt.date:
        return date(self.start)

    @property
    def done(self) -> bool:
        """The month's last business day has data (interest is posted)."""
        return len(self.full_bd) > 0 and self.full_bd[-1] <= self.me


@dataclass(frozen=True)
class Window:
    """`months` calendar months ending with `end`'s month; the last `daily_months` are daily files."""

    end: _dt.date
    months: int
    daily_months: int

    @property
    def end_month(self) -> np.datetime64:
        return np.datetime64(self.end, "M")

    def month_start(self, k: int) -> int:
        return int((self.end_month - (self.months - 1) + k).astype("datetime64[D]").astype(np.int64))

    @property
    def first(self) -> int:
        return self.month_start(0)

    @property
    def last(self) -> int:
        return day(self.end)

    def month(self, k: int) -> Month:
        start, end = self.month_start(k), self.month_start(k + 1) - 1
        me = min(end, self.last)
        full_bd = np.arange(start, end + 1)
        full_bd = full_bd[is_business(full_bd)]
        return Month(
            index=k,
            start=start,
            end=end,
            me=me,
            label=str(np.datetime64(date(start), "M")),
            daily=k >= self.months - self.daily_months,
            cal=np.arange(start, me + 1),
            full_bd=full_bd,
            bd=full_bd[full_bd <= me],
        )
