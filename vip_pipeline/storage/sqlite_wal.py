"""Put a SQLite connection in WAL mode even while another process is creating the same file.

Switching a new database to WAL upgrades the pragma's own read lock to a write lock. SQLite answers
"database is locked" at once when another connection holds that write lock (its deadlock guard skips
the busy timeout), so two processes opening a fresh file together could fail. The switch is retried
until the other one finishes, by which time the file is already in WAL and the pragma does nothing.
"""

from __future__ import annotations

import sqlite3
import time

BUSY_TIMEOUT_S = 60.0


def set_wal(dbapi_connection: sqlite3.Connection, *, timeout: float = BUSY_TIMEOUT_S) -> None:
    """`PRAGMA journal_mode=WAL`, retried for up to `timeout` seconds while the database is locked."""
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        try:
            dbapi_connection.execute("PRAGMA journal_mode=WAL").fetchall()
            return
        except sqlite3.OperationalError as exc:
            left = deadline - time.monotonic()
            if "locked" not in str(exc) or left <= 0:
                raise
        time.sleep(min(pause, left))
        pause = min(pause * 2, 0.2)
