"""FX rate as of a day: the latest rate on or before it, at most `max_age_days` old; USD is 1."""

from __future__ import annotations

import numpy as np
import pandas as pd

BASE_CURRENCY = "USD"


class MissingFxRate(Exception):
    """A needed rate is missing: names the currency and the day so that the extract can be fixed."""

    def __init__(self, missing: pd.DataFrame, max_age_days: int):
        first = missing.iloc[0]
        self.currency, self.day = first["currency"], pd.Timestamp(first["day"]).date()
        more = f" (and {len(missing) - 1} more currency-days)" if len(missing) > 1 else ""
        super().__init__(
            f"no {self.currency} rate on or up to {max_age_days} days before {self.day}{more}; "
            "load the missing fx_rates file — nothing is published from this run"
        )


def rates_for(needed: pd.DataFrame, fx_rates: pd.DataFrame, max_age_days: int = 7) -> pd.DataFrame:
    """`needed` (currency, day) pairs with their `usd_per_unit`; raise `MissingFxRate` if any is missing."""
    pairs = needed[["currency", "day"]].drop_duplicates()
    foreign = pairs[pairs["currency"] != BASE_CURRENCY].sort_values("day", kind="stable")
    rates = fx_rates[["currency", "rate_date", "usd_per_unit"]].sort_values("rate_date", kind="stable")
    found = pd.merge_asof(
        foreign,
        rates,
        left_on="day",
        right_on="rate_date",
        by="currency",
        direction="backward",
        tolerance=pd.Timedelta(days=max_age_days),
    )
    missing = found[found["usd_per_unit"].isna()]
    if len(missing):
        raise MissingFxRate(missing.sort_values(["day", "currency"]), max_age_days)
    usd = pairs[pairs["currency"] == BASE_CURRENCY].assign(usd_per_unit=1.0)
    return pd.concat([found[["currency", "day", "usd_per_unit"]], usd], ignore_index=True)


def usd_rates(
    currency: pd.Series, day: pd.Series, fx_rates: pd.DataFrame, max_age_days: int, needed: np.ndarray | None = None
) -> np.ndarray:
    """The USD rate of each (currency, day) row; with `needed` (a mask), only those rows must have one (the others
    get the rate of their pair when a needed row shares it, else NaN). Rates are looked up once per distinct pair:
    a month's rows repeat a few hundred pairs."""
    currency_code, currencies = pd.factorize(currency, use_na_sentinel=False)
    day_code, days = pd.factorize(day, use_na_sentinel=False)
    n_days = max(len(days), 1)
    pair_code, pair_of = np.unique(currency_code.astype("int64") * n_days + day_code, return_inverse=True)
    pairs = pd.DataFrame({"currency": currencies.take(pair_code // n_days), "day": days.take(pair_code % n_days)})
    wanted = pairs if needed is None else pairs.iloc[np.unique(pair_of[needed])]
    table = rates_for(wanted, fx_rates, max_age_days)
    return pairs.merge(table, on=["currency", "day"], how="left")["usd_per_unit"].to_numpy(dtype="float64")[pair_of]


def to_usd(frame: pd.DataFrame, fx_rates: pd.DataFrame, day_column: str, max_age_days: int = 7) -> pd.Series:
    """The USD rate for each row of `frame` (which has `currency` and `day_column`), aligned to its index."""
    return pd.Series(usd_rates(frame["currency"], frame[day_column], fx_rates, max_age_days), index=frame.index)
