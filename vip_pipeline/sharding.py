"""Client shards: which of N shards a client (and so each of its accounts) belongs to.

A shard is a stable hash of the client id (CRC-32 of its UTF-8 bytes) modulo N, so the same client lands in
the same shard on every machine, process and Python version (Python's own `hash()` is salted per process).
Every account of a client is in the client's shard, so client metrics never need data of another shard.
N is `VIP_SHARDS` (default 1), read when the definitions load: it fixes how many steps the graph has.
"""

from __future__ import annotations

import os
import zlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def shard_count() -> int:
    """N from $VIP_SHARDS (default 1)."""
    return count_setting("VIP_SHARDS", 1)


def count_setting(name: str, default: int) -> int:
    """A count from the environment variable `name` (`default` when unset or empty); a value below 1 or not an
    integer is refused by name."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        n = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number ≥ 1, not {raw!r}") from None
    if n < 1:
        raise ValueError(f"{name} must be ≥ 1, not {n}")
    return n


def shard_of(ids: pd.Series, shards: int) -> np.ndarray:
    """The shard (0 … shards − 1) of each id: CRC-32 of its UTF-8 bytes modulo `shards`."""
    if shards == 1:
        return np.zeros(len(ids), dtype=np.int64)
    codes = np.fromiter((zlib.crc32(str(i).encode("utf-8")) for i in ids), dtype=np.int64, count=len(ids))
    return codes % shards


def accounts_of_shard(accounts: pd.DataFrame, shard: int, shards: int) -> pd.DataFrame:
    """The accounts whose client is in `shard` (all of them with one shard), in their original order."""
    if shards == 1:
        return accounts
    return accounts[shard_of(accounts["client_id"], shards) == shard].reset_index(drop=True)


def account_shards(account_ids, accounts: pd.DataFrame, shards: int) -> np.ndarray:
    """The shard of each row by its account (a pandas Series or an Arrow array of ids): the shard of the
    account's client, or — for an account the snapshot does not know (a row that will be rejected) — the hash
    of the account id itself, so that every row lands in exactly one shard. The lookup runs in Arrow
    (`index_in`): a shard step computes it for every row of every file it reads."""
    ids = pa.array(account_ids.astype(str), type=pa.string()) if isinstance(account_ids, pd.Series) else account_ids
    if shards == 1:
        return np.zeros(len(ids), dtype=np.int64)
    known = accounts.drop_duplicates("account_id")
    owner = shard_of(known["client_id"], shards)
    position = pc.index_in(ids, value_set=pa.array(known["account_id"].astype(str), type=pa.string()))
    unknown = position.is_null().to_numpy(zero_copy_only=False)
    result = owner[position.fill_null(0).to_numpy()] if len(owner) else np.zeros(len(ids), dtype=np.int64)
    if unknown.any():
        result[unknown] = shard_of(pd.Series(ids.filter(pa.array(unknown)).to_pylist()), shards)
    return result


def part(shards: int, name: str) -> str:
    """The staging name of a frame kept per (month, shard): `shards-of-<N>/<name>/<month>/<shard>.parquet`."""
    return f"shards-of-{shards}/{name}"


def part_key(key: str, shard: int) -> str:
    return f"{key}/{shard}"
