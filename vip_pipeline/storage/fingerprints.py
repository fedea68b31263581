"""Fingerprints of a step's inputs: a month whose inputs did not change since it was staged is not recomputed.

This is how a correction stops cascading: the months after it are recomputed only while what they read
(the carried-forward balance state, their files, the accounts as they were in that month, the FX rates,
the rules) differs from what they read last time.
"""

from __future__ import annotations

import hashlib
import json

import pandas as pd

from vip_pipeline import __version__


def frame_digest(frame: pd.DataFrame | None) -> str:
    """A digest of a frame's values and column names (row order matters; None and empty differ)."""
    if frame is None:
        return "none"
    h = hashlib.sha1(json.dumps([list(map(str, frame.columns)), len(frame)]).encode())
    if len(frame):
        h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return h.hexdigest()


def fingerprint(**parts) -> str:
    """One fingerprint of named parts (strings, numbers, lists; frames must be digested first)."""
    return hashlib.sha1(json.dumps({"version": __version__, **parts}, sort_keys=True, default=str).encode()).hexdigest()


def accounts_as_seen(accounts: pd.DataFrame, month_end: pd.Timestamp, columns: list[str]) -> pd.DataFrame:
    """The accounts as a month sees them: opened by its end, with a closing date only if it falls by then.
    A newer snapshot that only adds later accounts or closes accounts later leaves this unchanged."""
    seen = accounts.loc[accounts["opened_on"] <= month_end, columns]
    if "closed_on" in columns:
        seen = seen.assign(closed_on=seen["closed_on"].where(seen["closed_on"] <= month_end))
    return seen.sort_values("account_id", kind="stable")
