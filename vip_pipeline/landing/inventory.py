"""Find extract files in the landing directory by the SPEC §3 naming and tell which months they cover."""

from __future__ import annotations

import calendar
import os
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

from vip_pipeline.contracts.extracts import EXTRACTS, MONTHLY_EXTRACTS

FILE_NAME = re.compile(
    r"^(?P<extract>" + "|".join(sorted(EXTRACTS, key=len, reverse=True)) + r")"
    r"_(?P<period>\d{4}-\d{2}(?:-\d{2})?)\.(?P<ext>csv|csv\.gz|parquet)$"
)


def month_end(month: date) -> date:
    """Last calendar day of the month that contains `month`."""
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def month_start(day: date) -> date:
    return day.replace(day=1)


@dataclass(frozen=True, order=True)
class LandedFile:
    """One extract file: which extract, which period (a business day or a whole month), which format."""

    period_start: date
    period_end: date
    name: str
    extract: str
    path: Path
    ext: str

    @property
    def month(self) -> date:
        return month_start(self.period_start)

    @property
    def daily(self) -> bool:
        return self.period_start == self.period_end

    @property
    def delivered_at(self) -> datetime:
        """When this version of the file was delivered: its modification time (UTC)."""
        return datetime.fromtimestamp(self.path.stat().st_mtime_ns / 1e9, tz=timezone.utc)

    def signature(self) -> str:
        """Identifies this version of the file (modification time and size): a re-sent file gets a new one."""
        stat = self.path.stat()
        return f"{self.name}@{stat.st_mtime_ns}:{stat.st_size}"


def delivery_order(f: LandedFile) -> tuple:
    """Files in the order they were delivered (modification time), ties by period and name: when two
    files carry the same key, the later delivery wins."""
    return (f.path.stat().st_mtime_ns, f.period_start, f.period_end, f.name)


def parse_file_name(path: Path) -> LandedFile | None:
    """The file's extract and period, or None when the name does not follow the contract."""
    m = FILE_NAME.match(path.name)
    if not m:
        return None
    parts = [int(p) for p in m["period"].split("-")]
    try:
        if len(parts) == 3:
            start = end = date(*parts)
        else:
            start = date(parts[0], parts[1], 1)
            end = month_end(start)
    except ValueError:
        return None
    return LandedFile(start, end, path.name, m["extract"], path, m["ext"])


@dataclass(frozen=True)
class Inventory:
    """Every recognised file of a landing directory, plus the names it could not recognise."""

    files: tuple[LandedFile, ...]
    unrecognised: tuple[str, ...]

    def of(self, extract: str) -> list[LandedFile]:
        return sorted(f for f in self.files if f.extract == extract)

    def for_month(self, extract: str, month: date) -> list[LandedFile]:
        """Files of a delta extract whose period lies in `month`, in load order (by period, then name)."""
        return [f for f in self.of(extract) if f.month == month_start(month)]

    def latest_snapshot(self, extract: str) -> LandedFile | None:
        files = self.of(extract)
        return files[-1] if files else None

    @property
    def months(self) -> list[date]:
        """Months that hold transactions, balances or client P&L: the months the pipeline materialises."""
        return sorted({f.month for f in self.files if f.extract in MONTHLY_EXTRACTS})

    def latest_balance_day(self) -> date | None:
        files = self.of("balances")
        return max(f.period_end for f in files) if files else None

    def is_complete(self, month: date) -> bool:
        """A month is complete when a balances extract covers its last day or a later day (SPEC §2)."""
        latest = self.latest_balance_day()
        return latest is not None and latest >= month_end(month)

    def has_data_after(self, month: date) -> bool:
        end = month_end(month)
        return any(f.period_start > end for f in self.files if f.extract in MONTHLY_EXTRACTS)


def scan_landing(landing_dir: str | Path) -> Inventory:
    """List the landing directory (not recursively; nothing outside it is followed)."""
    root = Path(landing_dir).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"landing directory {root} does not exist")
    files, unrecognised = [], []
    with os.scandir(root) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name.startswith("."):
                continue
            path = root / entry.name
            # a regular file is in the directory; only a symlink is resolved (one leading outside is not followed)
            inside = entry.is_file(follow_symlinks=False) or (
                entry.is_symlink() and path.is_file() and path.resolve().parent == root
            )
            if not inside:
                unrecognised.append(entry.name)
                continue
            landed = parse_file_name(path)
            (files.append(landed) if landed else unrecognised.append(entry.name))
    return Inventory(tuple(sorted(files)), tuple(unrecognised))
