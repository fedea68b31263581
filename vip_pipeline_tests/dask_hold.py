"""Dask worker preload for the fault tests: the first shard step to start in the cluster waits to be killed.

Loaded with `dask worker --preload <this file>` when $VIP_TEST_HOLD_CLAIM is set. The first shard step
that starts on any worker claims that file (created exclusively, holding its pid) and then sleeps, so a
SIGKILL sent after the claim lands in the middle of the step, not after it; every other shard step (and the
same step re-run elsewhere) runs normally. The claim lives in the step's body, after Dagster recorded its
STEP_START and before it wrote anything to staging.
"""

import os
import time

from vip_pipeline.assets import extract_shards

# dask may execute a preload file more than once in a worker: always wrap the original function, once
_validate = getattr(extract_shards.validate_shard_months, "unheld", extract_shards.validate_shard_months)


def _held(contract, keys, store, landing, database_url, shard, shards):
    try:
        claim = os.open(os.environ["VIP_TEST_HOLD_CLAIM"], os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return _validate(contract, keys, store, landing, database_url, shard, shards)
    os.write(claim, f"{os.getpid()} {contract.name}_shard_{shard}_of_{shards}".encode())
    os.close(claim)
    while True:  # until the test kills this worker
        time.sleep(1)


if os.environ.get("VIP_TEST_HOLD_CLAIM"):
    _held.unheld = _validate
    extract_shards.validate_shard_months = _held
