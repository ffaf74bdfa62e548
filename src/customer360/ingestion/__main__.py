"""python -m customer360.ingestion --start 2024-01-01 --end 2024-02-01 [--source crm_accounts] [--batch-id ID]

Loads landed files for the day folders in [start, end) and prints per-source
counts. Exit status 1 when files were rejected (unless --allow-rejected).
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import date

from customer360.cli import friendly
from customer360.config import Settings
from customer360.db.bootstrap import prepare_warehouse
from customer360.ingestion.contracts import SOURCES
from customer360.ingestion.loader import load_interval


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    return friendly(lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m customer360.ingestion", description="Load landed files into raw.* with COPY."
    )
    p.add_argument("--start", type=_day, required=True, help="first day folder to load (YYYY-MM-DD)")
    p.add_argument("--end", type=_day, required=True, help="day after the last day folder to load (exclusive)")
    p.add_argument(
        "--source", action="append", choices=sorted(SOURCES), help="a source to load (repeatable; default all)"
    )
    p.add_argument("--batch-id", help="batch id written to every row (default: manual__<timestamp>_<random>)")
    p.add_argument("--allow-rejected", action="store_true", help="exit 0 even when files were rejected")
    p.add_argument("-v", "--verbose", action="store_true", help="log every file")
    args = p.parse_args(argv)
    if args.start >= args.end:
        p.error("--start must be before --end (the interval is [start, end))")
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = Settings.from_env()
    if not settings.landing_dir.is_dir():
        print(
            f"error: no landing folder at {settings.landing_dir}: land files as "
            f"{settings.landing_dir}/<source>/<YYYY-MM-DD>/<file>, or point C360_DATA_DIR at the folder that "
            "holds landing/",
            file=sys.stderr,
        )
        return 2
    prepare_warehouse(settings)  # schemas and roles: a fresh database works at once
    report = load_interval(settings, args.start, args.end, args.source, batch_id=args.batch_id)
    print(report.summary())
    if report.rejected_files and not args.allow_rejected:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
