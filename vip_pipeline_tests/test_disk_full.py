"""Disk full under the SQLite database: a clear error, nothing half-written, and a clean re-run afterwards.

The database lives on a small tmpfs mounted for the test (needs root, as in CI); the disk is then filled.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from vip_pipeline.storage.warehouse import Warehouse
from vip_pipeline_tests.tiny_bank import FILES, write_tiny_bank

TABLES = ["monthly_account_activity", "monthly_client_metrics", "client_ltv", "vip_assessment", "client_segments"]


@pytest.fixture
def small_disk(tmp_path):
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount_point)], capture_output=True)
    if done.returncode != 0:
        if os.environ.get("CI") or os.geteuid() == 0:
            pytest.fail(f"could not mount a tmpfs for the disk-full test: {done.stderr.decode()}")
        pytest.skip("mounting a tmpfs needs root (CI runs as root and always runs this test)")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def _cli(tmp_path, url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "VIP_DB_RETRIES": "0"}
    return subprocess.run([sys.executable, "-m", "vip_pipeline.cli", "run", "--landing", str(tmp_path / "landing"),
                           "--database-url", url, "--staging-dir", str(tmp_path / "staging"), "--quiet"],
                          capture_output=True, text=True, timeout=300, env=env)


def _fill(directory) -> None:
    """Write zeros until the file system says it is full."""
    with open(directory / "filler", "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass


def test_disk_full_fails_clearly_and_keeps_the_published_tables(tmp_path, small_disk):
    url = f"sqlite:///{small_disk / 'vip.db'}"
    write_tiny_bank(tmp_path / "landing")
    assert _cli(tmp_path, url).returncode == 0
    before = {t: Warehouse(url).read(t) for t in TABLES}

    more = "".join(f"x{i},A1,2024-02-{1 + i % 28:02d},{1 + i % 7}.25,D,card,,,\n" for i in range(20000))
    write_tiny_bank(tmp_path / "landing", {"transactions_2024-02.csv": FILES["transactions_2024-02.csv"] + more})
    _fill(small_disk)
    failed = _cli(tmp_path, url)
    assert failed.returncode != 0
    assert "disk is full" in failed.stdout and "Traceback" not in failed.stdout + failed.stderr

    (small_disk / "filler").unlink()
    after = {t: Warehouse(url).read(t) for t in TABLES}
    for table in TABLES:  # the failed write left the previous version intact
        pd.testing.assert_frame_equal(before[table], after[table], obj=table)
    assert _cli(tmp_path, url).returncode == 0  # with space again, the re-run completes
    feb = Warehouse(url).read("monthly_account_activity")
    assert feb.loc[(feb["account_id"] == "A1") & (feb["month"] == pd.Timestamp("2024-02-01")), "txn_count"].item() \
        == 3 + 20000
    shutil.rmtree(tmp_path / "staging", ignore_errors=True)
