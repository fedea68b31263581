"""Stage 4, FX rates: a random walk of USD per unit on weekdays (no rates on 1 Jan, 25–26 Dec), from the month
before the window to its last day."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from .arrow import categorical, dates, money
from .codes import BASE_USD_PER_UNIT, BGN_PER_EUR, Currency
from .days import Window, is_business

HOLIDAYS = ((1, 1), (12, 25), (12, 26))  # (month, day) without rates


@dataclass(frozen=True)
class FxRates:
    table: pa.Table  # rate_date, currency, usd_per_unit; by day, then currency
    day: np.ndarray  # rate_date of each row
    days: np.ndarray  # the days with rates
    first: int  # the first day of the month before the window

    def slice(self, lo_day: int, hi_day: int) -> pa.Table:
        """The rows of days lo_day..hi_day."""
        i, j = np.searchsorted(self.day, [lo_day, hi_day + 1])
        return self.table.slice(int(i), int(j - i))


def fx_rates(seed: int, window: Window) -> FxRates:
    first = int((window.end_month - window.months).astype("datetime64[D]").astype(np.int64))
    all_days = np.arange(first, window.last + 1)
    md = all_days.astype("datetime64[D]").astype(object)
    holiday = np.array([(d.month, d.day) in HOLIDAYS for d in md], dtype=bool)
    fx_days = all_days[is_business(all_days) & ~holiday]
    frng = np.random.default_rng([seed, 31337])
    steps = frng.normal(0, 0.0035, (len(fx_days), 3))
    steps[0] = 0
    walk = np.exp(np.cumsum(steps, axis=0))
    eur = BASE_USD_PER_UNIT[Currency.EUR] * walk[:, 0]
    cols = {
        "BGN": eur / BGN_PER_EUR,
        "CHF": BASE_USD_PER_UNIT[Currency.CHF] * walk[:, 2],
        "EUR": eur,
        "GBP": BASE_USD_PER_UNIT[Currency.GBP] * walk[:, 1],
    }
    day = np.repeat(fx_days, len(cols))
    table = pa.table(
        {
            "rate_date": dates(day),
            "currency": categorical(np.tile(np.arange(len(cols)), len(fx_days)), list(cols)),
            "usd_per_unit": money(np.column_stack(list(cols.values())).ravel(), 6),
        }
    )
    return FxRates(table, day, fx_days, first)
