"""python -m customer360.ingestion --start 2024-01-01 --end 2024-02-01 [--source crm_accounts] [--batch-id ID]

Loads landed files for the day folders in [start, end) and prints per-source
counts. Exit status 1 when files were rejected (unless --allow-rejected).
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import date

import psycopg

from customer360.config import Settings, redact
from customer360.db.bootstrap import prepare_warehouse
from customer360.ingestion.contracts import SOURCES
from customer360.ingestion.loader import load_interval


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m customer360.ingestion", description="Load landed files into raw.* with COPY.")
    p.add_argument("--start", type=_day, required=True, help="first day folder to load (YYYY-MM-DD)")
    p.add_argument("--end", type=_day, required=True, help="day after the last day folder to load (exclusive)")
    p.add_argument("--source", action="append", choices=sorted(SOURCES), help="a source to load (repeatable; default all)")
    p.add_argument("--batch-id", help="batch id written to every row (default: manual__<timestamp>_<random>)")
    p.add_argument("--allow-rejected", action="store_true", help="exit 0 even when files were rejected")
    p.add_argument("-v", "--verbose", action="store_true", help="log every file")
    args = p.parse_args(argv)
    if args.start >= args.end:
        p.error("--start must be before --end (the interval is [start, end))")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
    except RuntimeError as e:  # a missing or wrong setting: the message says what to set
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not settings.landing_dir.is_dir():
        print(f"error: no landing folder at {settings.landing_dir}: land files as "
              f"{settings.landing_dir}/<source>/<YYYY-MM-DD>/<file>, or point C360_DATA_DIR at the folder that "
              "holds landing/", file=sys.stderr)
        return 2
    try:
        prepare_warehouse(settings)  # schemas and roles: a fresh database works at once
        report = load_interval(settings, args.start, args.end, args.source, batch_id=args.batch_id)
    except psycopg.OperationalError as e:
        print(f"error: cannot use the warehouse at {redact(settings.warehouse_url)}: {_first_line(e)}; set "
              "WAREHOUSE_URL to a PostgreSQL server that answers (python -m customer360.devtools.server url "
              "prints the one the project would use)", file=sys.stderr)
        return 2
    except psycopg.errors.InsufficientPrivilege as e:
        print(f"error: the warehouse login may not set up the schemas ({_first_line(e)}): run once as the "
              "database owner, or have the owner run the DAG's prepare task", file=sys.stderr)
        return 2
    print(report.summary())
    if report.rejected_files and not args.allow_rejected:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
