"""`vip-pipeline`: generate a sample bank, run the whole pipeline through Dagster, print a summary."""

from __future__ import annotations

import argparse
import atexit
import json
import os
import sys
import time
import warnings
from datetime import date
from pathlib import Path

_TERMINAL = None
_EXIT_CODE = 1  # what the process ends with when main() did not return (an uncaught exception)


def _end_without_teardown() -> None:
    """The program's last exit handler: flush the output and end the process. Python's own teardown of a run's
    process (every module and object of dagster, pandas, SQLAlchemy …) takes ≈ 0.45 s and writes nothing; the
    other exit handlers (the month workers' pool, logging, multiprocessing's clean-up) have run before it."""
    for stream in (sys.stdout, sys.stderr, _TERMINAL):
        if stream is not None:
            stream.flush()
    os._exit(_EXIT_CODE)


_PROGRAM = __name__ == "__main__" or Path(sys.argv[0]).name == "vip-pipeline"  # not an import (tests)
if _PROGRAM:
    atexit.register(_end_without_teardown)  # registered before any other, so it runs after all of them


def _print(msg: str = "") -> None:
    """A line on the terminal, even while Dagster's own output is sent to the run's log (runner.py)."""
    global _TERMINAL
    if _TERMINAL is None:
        _TERMINAL = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1, encoding="utf-8")
    _TERMINAL.write(f"{msg}\n")
    _TERMINAL.flush()


def cmd_generate_sample(args: argparse.Namespace) -> int:
    from vip_pipeline.sample import generate_sample

    started = time.perf_counter()
    end = date.fromisoformat(args.end_date) if args.end_date else None
    summary = generate_sample(
        args.out,
        clients=args.clients,
        months=args.months,
        seed=args.seed,
        end_date=end,
        daily_months=args.daily_months,
        full_balances=args.full_balances,
        txns_per_account_month=args.txns_per_account_month,
        bad_rows=not args.no_bad_rows,
    )
    rows = summary.get("rows", {})
    _print(
        f"sample bank written to {args.out} in {time.perf_counter() - started:.1f}s: "
        + ", ".join(f"{k} {v:,}" for k, v in rows.items())
    )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    warnings.filterwarnings("ignore")
    if _PROGRAM:
        from vip_pipeline import garbage

        garbage.pause_while_loading()  # resumed when the run starts (runner.refresh)
    from vip_pipeline.runner import PipelineFailed, dagster_output_to, run_pipeline, summarise
    from vip_pipeline.storage.warehouse import redact

    landing = args.landing or os.environ.get("VIP_LANDING_DIR") or "data/landing"
    url = args.database_url or os.environ.get("VIP_DATABASE_URL") or "sqlite:///data/vip.db"
    staging = args.staging_dir or os.environ.get("VIP_STAGING_DIR") or "data/staging"
    os.environ.setdefault("VIP_LANDING_DIR", landing)  # the partitions start at its first month (partitions.py)
    if args.shards is not None:
        if args.shards < 1:
            _print(f"--shards must be ≥ 1, not {args.shards}")
            return 2
        os.environ["VIP_SHARDS"] = str(args.shards)  # before the definitions load (sharding.py)
    _print(f"vip-pipeline run: landing {landing} → {redact(url)}")
    started = time.perf_counter()
    only = [date.fromisoformat(f"{m}-01") for m in args.month] if args.month else None
    try:
        with dagster_output_to(Path(staging) / "dagster.log"):  # the terminal shows only the progress
            run_pipeline(landing, url, staging, progress=_print, only_months=only, shards=args.shards)
    except FileNotFoundError as exc:  # before the run: no landing directory
        _print(f"\nFAILED: {exc}. Nothing was read or published.")
        return 1
    except PipelineFailed as exc:
        _print(f"\nFAILED: {exc}")
        _print("Nothing downstream of the failure was published.")
        if "unavailable or not writable" not in str(exc):
            _print("Rejected rows and the load audit of what was read are in rejected_rows and load_audit.")
        return 1
    _print(f"\ndone in {time.perf_counter() - started:.1f}s\n")
    if args.timings:
        from vip_pipeline.timing import snapshot

        Path(args.timings).write_text(json.dumps(snapshot(), indent=2))
    if not args.quiet:
        _print(summarise(url))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    if args.scenario == "shards":
        from vip_pipeline.bench_shards import run_shard_benchmark

        counts = tuple(int(n) for n in args.shards.split(","))
        return run_shard_benchmark(
            args.dir, clients=args.clients or 50_000, shard_counts=counts, progress=_print, engine=args.engine
        )
    from vip_pipeline.bench import run_benchmark

    return run_benchmark(args.dir, clients=args.clients or 5000, progress=_print)


def cmd_summary(args: argparse.Namespace) -> int:
    warnings.filterwarnings("ignore")
    from vip_pipeline.runner import summarise

    _print(summarise(args.database_url or os.environ.get("VIP_DATABASE_URL") or "sqlite:///data/vip.db"))
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from vip_pipeline.storage import migrate
    from vip_pipeline.storage.warehouse import Warehouse, WarehouseRejected, WarehouseUnavailable, redact

    if args.db_command == "revision":
        path = migrate.new_revision(args.message, autogenerate=not args.empty, database_url=args.database_url)
        _print(f"wrote {path}: review it, freeze it (no import of the contracts), then run the migration tests")
        return 0
    url = args.database_url or os.environ.get("VIP_DATABASE_URL") or "sqlite:///data/vip.db"
    warehouse = Warehouse(url)
    try:
        if args.db_command == "upgrade":
            _print(f"database {redact(url)}: {warehouse.ensure_schema().describe()}")
        else:
            with warehouse.engine.connect() as conn:
                found = migrate.current(conn)
            head = migrate.head()
            state = "up to date" if found == head else "needs `vip-pipeline db upgrade`"
            _print(f"database {redact(url)}: revision {found or 'none'}, head {head} ({state})")
    except (WarehouseUnavailable, WarehouseRejected, migrate.MigrationError) as exc:
        _print(f"FAILED: {exc}")
        return 1
    finally:
        warehouse.engine.dispose()
    return 0


def main(argv: list[str] | None = None) -> int:
    global _EXIT_CODE
    try:
        _EXIT_CODE = _main(argv)
    except SystemExit as exc:  # argparse's usage errors and --help
        _EXIT_CODE = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        raise
    except KeyboardInterrupt:
        _EXIT_CODE = 130
        raise
    return _EXIT_CODE


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="vip-pipeline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate-sample", help="write a synthetic bank's extracts into a landing directory")
    g.add_argument("--out", required=True, type=Path)
    g.add_argument("--clients", type=int, default=300)
    g.add_argument(
        "--months",
        type=int,
        default=27,
        help="calendar months of history (≥ 26 so that the 24-month growth criterion can be met)",
    )
    g.add_argument("--seed", type=int, default=42)
    g.add_argument("--end-date", help="last business date in the data (default: yesterday)", default=None)
    g.add_argument("--daily-months", type=int, default=2, help="recent months delivered as daily files")
    g.add_argument("--full-balances", action="store_true", help="a balance row for every open account every day")
    g.add_argument("--txns-per-account-month", type=float, default=6.0)
    g.add_argument("--no-bad-rows", action="store_true", help="do not inject contract-breaking rows")
    g.set_defaults(func=cmd_generate_sample)

    r = sub.add_parser("run", help="materialise every landed month and everything downstream through Dagster")
    r.add_argument("--landing", help="landing directory (default $VIP_LANDING_DIR or data/landing)")
    r.add_argument("--database-url", help="SQLAlchemy URL (default $VIP_DATABASE_URL or sqlite:///data/vip.db)")
    r.add_argument("--staging-dir", help="Parquet staging directory (default $VIP_STAGING_DIR or data/staging)")
    r.add_argument(
        "--month",
        action="append",
        metavar="YYYY-MM",
        help="refresh from this month (repeatable) on: the month, every later month its changes carry into, "
        "and their decisions (months whose inputs did not change are skipped)",
    )
    r.add_argument(
        "--shards",
        type=int,
        help="client shards of the monthly metrics, one step each (sets $VIP_SHARDS; default it, else 1)",
    )
    r.add_argument("--timings", help="write per-stage seconds and rows (JSON) to this file")
    r.add_argument("--quiet", action="store_true", help="no summary at the end")
    r.set_defaults(func=cmd_run)

    b = sub.add_parser("bench", help="benchmark on the bank-M dataset (generated once, cached)")
    b.add_argument("--dir", default="bench", type=Path, help="cache and work directory (default ./bench)")
    b.add_argument("--clients", type=int, help="default: 5000 (bank-M), 50000 with --scenario shards (bank-L)")
    b.add_argument(
        "--scenario",
        choices=["default", "shards"],
        default="default",
        help="shards: bank-L (3 months) with 1, 2, 4, 8 client shards: wall, peak RSS, identical tables",
    )
    b.add_argument("--shards", default="1,2,4,8", help="shard counts of --scenario shards (default 1,2,4,8)")
    b.add_argument(
        "--engine",
        choices=["in_process", "dask"],
        default="in_process",
        help="--scenario shards on a local Dask cluster of 2 worker processes: each step's own peak RSS",
    )
    b.set_defaults(func=cmd_bench)

    s = sub.add_parser("summary", help="print row counts and the current segment distribution")
    s.add_argument("--database-url")
    s.set_defaults(func=cmd_summary)

    d = sub.add_parser("db", help="the warehouse's schema: migrations (Alembic)")
    dsub = d.add_subparsers(dest="db_command", required=True)
    du = dsub.add_parser("upgrade", help="apply every pending migration and recreate changed views (idempotent)")
    dc = dsub.add_parser("current", help="the database's migration revision and this version's head")
    for p in (du, dc):
        p.add_argument("--database-url", help="SQLAlchemy URL (default $VIP_DATABASE_URL or sqlite:///data/vip.db)")
    dr = dsub.add_parser("revision", help="(developers) write the next revision file into the package")
    dr.add_argument("-m", "--message", required=True, help="what the revision changes, e.g. 'add superseded_values'")
    dr.add_argument("--empty", action="store_true", help="an empty revision instead of comparing with the contracts")
    dr.add_argument(
        "--database-url",
        help="scratch database to compare against (upgraded to head first; default: a temporary SQLite file)",
    )
    d.set_defaults(func=cmd_db)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
