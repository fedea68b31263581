"""FX rate as of a day: the latest rate on or before it, at most `max_age_days` old; USD is 1."""

from __future__ import annotations

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


def to_usd(frame: pd.DataFrame, fx_rates: pd.DataFrame, day_column: str, max_age_days: int = 7) -> pd.Series:
    """The USD rate for each row of `frame` (which has `currency` and `day_column`), aligned to its index."""
    keys = frame[["currency", day_column]].rename(columns={day_column: "day"})
    table = rates_for(keys, fx_rates, max_age_days)
    rate = keys.merge(table, on=["currency", "day"], how="left")["usd_per_unit"]
    return pd.Series(rate.to_numpy(), index=frame.index)
