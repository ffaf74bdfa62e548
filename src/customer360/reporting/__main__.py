"""CLI: python -m customer360.reporting --run-id manual [--out-dir reports/manual]"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from customer360.cli import friendly
from customer360.config import Settings
from customer360.reporting.run_report import write_run_report


def main(argv: list[str] | None = None) -> int:
    return friendly(lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="python -m customer360.reporting", description="Write the HTML run report.")
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--out-dir", type=Path, help="default: <reports_dir>/<run_id>")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    out_dir = args.out_dir or settings.reports_dir / args.run_id
    print(write_run_report(settings, args.run_id, out_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
