"""What one month's metrics read — of the whole bank or of one client shard — and the fingerprint that says
whether it changed since the month (or the shard's month) was last computed."""

from __future__ import annotations

import hashlib
from datetime import date
from functools import cached_property

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dagster import Failure

from vip_pipeline.landing.inventory import Inventory, month_end
from vip_pipeline.metrics import TXN_COLUMNS
from vip_pipeline.metrics.activity import MonthPeriod
from vip_pipeline.metrics.balances import STATE_COLUMNS, open_in_period
from vip_pipeline.partitions import partition_key
from vip_pipeline.sharding import part, part_key
from vip_pipeline.storage.fingerprints import accounts_as_seen, fingerprint, frame_digest
from vip_pipeline.storage.staging import StagingStore

EXTRACTS_OF_A_MONTH = ("transactions", "balances", "client_pnl")
SHARDED_EXTRACTS = ("transactions", "balances")  # validated per (month, shard): extract_shards.py
ACCOUNT_COLUMNS = ["account_id", "client_id", "product", "currency", "opened_on", "closed_on"]
KEY_COLUMN = {"transactions": "account_id", "balances": "account_id", "client_pnl": "client_id"}
DAY_COLUMN = {"transactions": "booking_date", "balances": "balance_date"}
# What the metrics read of a month's validated rows: ids, countries and source files are validation's, and reading
# them back as Python strings was most of a read (a bank-M month's transactions 0.17–0.30 → 0.07–0.09 s).
METRIC_COLUMNS = {"balances": STATE_COLUMNS, "transactions": list(TXN_COLUMNS)}
# Read as categoricals: the metrics compare them with a value (direction == "C"), 0.1–0.25 s of a bank-M month.
CODE_COLUMNS = {"transactions": ["direction", "txn_type", "purpose"]}


def previous_key(key: str) -> str:
    return partition_key((pd.Timestamp(key) - pd.DateOffset(months=1)).date())


def refuse_months_without_data(inventory: Inventory, keys: list[str]) -> None:
    """A month of the run with no transactions or balances landed has nothing to compute: refused by name."""
    empty = [k[:7] for k in keys if date.fromisoformat(k) not in inventory.months]
    if empty:
        raise Failure(
            allow_retries=False,
            description=f"no transactions or balances landed for {', '.join(empty)}: nothing to compute",
        )


def opening_state(store: StagingStore, inventory: Inventory, key: str) -> pd.DataFrame | None:
    """The balance state at the end of the month before `key` (None before the first month of data)."""
    month = date.fromisoformat(key)
    state = store.read("balance_state", previous_key(key))
    if state is None and any(m < month for m in inventory.months):
        raise Failure(
            allow_retries=False,
            description=(
                f"balance_state for {previous_key(key)[:7]} is not materialised: months are carried forward in "
                f"order, materialise {previous_key(key)[:7]} (and earlier) first"
            ),
        )
    return state


def month_period(store: StagingStore, inventory: Inventory, key: str, shards: int) -> MonthPeriod:
    """The month's period, the same for every shard: a month still in progress ends on the latest booking or
    balance day of the whole month's rows (only those two date columns are read)."""
    month = date.fromisoformat(key)
    if inventory.is_complete(month) or inventory.has_data_after(month):
        return MonthPeriod.of(month, inventory.is_complete(month), month_end(month))
    days = pd.concat(
        [
            store.read(part(shards, name), part_key(key, k), columns=[column])[column]
            for name, column in DAY_COLUMN.items()
            for k in range(shards)
        ]
    )
    latest = days.max().date() if len(days) and pd.notna(days.max()) else None
    return MonthPeriod.of(month, False, latest)


class MonthInputs:
    """Everything one month's metrics read for a set of accounts (one shard's, or all), read lazily."""

    def __init__(
        self,
        store: StagingStore,
        key: str,
        accounts: pd.DataFrame,
        fx: pd.DataFrame,
        shard: tuple[int, int] = (0, 1),
    ):
        self.key = key
        self.store, self.shard = store, shard
        missing = [name for name in EXTRACTS_OF_A_MONTH if not self._path(name).exists()]
        if missing:
            raise Failure(
                allow_retries=False,
                description=f"validated {', '.join(missing)} for {key[:7]} missing in staging; "
                "materialise the extracts first",
            )
        self.extract_fingerprints = [store.fingerprint(*self._where(name)) for name in EXTRACTS_OF_A_MONTH]
        self.accounts, self.fx = accounts, fx

    def __getstate__(self) -> dict:
        """Sent to a worker process without the frames read so far: it reads them from staging itself."""
        return {k: v for k, v in self.__dict__.items() if k not in ("balances", "txns", "pnl")}

    def _where(self, name: str) -> tuple[str, str]:
        """(staging name, partition) of a month's validated rows: transactions and balances are validated in
        shards (the shard's own part), the client P&L for the whole month."""
        if name in SHARDED_EXTRACTS:
            return part(self.shard[1], name), part_key(self.key, self.shard[0])
        return name, self.key

    def _path(self, name: str):
        return self.store.path(*self._where(name))

    def _read(self, name: str) -> pd.DataFrame:
        """A month's validated rows of the shard's accounts (or clients): the columns the metrics read."""
        if name in SHARDED_EXTRACTS:
            frame = self.store.read(*self._where(name), columns=METRIC_COLUMNS[name], codes=CODE_COLUMNS.get(name))
        elif self.shard[1] == 1:
            frame = self.store.read(name, self.key)
        else:
            column = KEY_COLUMN[name]
            ids = self.accounts[column].drop_duplicates()
            if pa.types.is_string(pq.read_schema(self.store.path(name, self.key)).field(column).type) and len(ids):
                frame = self.store.read(name, self.key, filters=[(column, "in", ids.tolist())])  # pushed down
            else:  # an empty month's column has no string type to filter on
                frame = self.store.read(name, self.key)
                frame = frame[frame[column].isin(ids)]
        return frame.drop(columns="source_file", errors="ignore").reset_index(drop=True)

    @cached_property
    def balances(self) -> pd.DataFrame:
        return self._read("balances")

    @cached_property
    def txns(self) -> pd.DataFrame:
        return self._read("transactions")

    @cached_property
    def pnl(self) -> pd.DataFrame:
        return self._read("client_pnl")

    def opening_read(self, opening: pd.DataFrame | None, period: MonthPeriod) -> pd.DataFrame | None:
        """The part of the opening balance state the month reads: accounts open on a day of its period (a
        closed account's last balance stays in the state, but no later month uses it)."""
        if opening is None:
            return None
        open_accounts = open_in_period(self.accounts, period.month, period.end)["account_id"]
        return opening[opening["account_id"].isin(open_accounts)].reset_index(drop=True)

    def fingerprint(self, opening: pd.DataFrame | None, period: MonthPeriod, rules: dict, db: str) -> str:
        """What the month's metrics read, `rules` being the metric rules' settings (`MetricRulesResource`)."""
        first_rate_day = period.month - pd.Timedelta(days=rules["max_fx_age_days"])
        fx = self.fx[(self.fx["rate_date"] >= first_rate_day) & (self.fx["rate_date"] <= period.end)]
        return fingerprint(
            opening=frame_digest(self.opening_read(opening, period)),
            extracts=self.extract_fingerprints,
            accounts=frame_digest(accounts_as_seen(self.accounts, period.end, ACCOUNT_COLUMNS)),
            fx=frame_digest(fx[["rate_date", "currency", "usd_per_unit"]]),
            period=[str(period.end), period.is_complete],
            rules=rules,
            warehouse=hashlib.sha1(db.encode()).hexdigest(),
            shard=list(self.shard),
        )
