"""`python -m customer360.identity --run-id manual --as-of 2025-12-31T00:00:00Z [--full]`: resolve identities now."""

import argparse
import logging
import sys
from datetime import datetime

from customer360.cli import friendly


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m customer360.identity", description=__doc__)
    parser.add_argument("--run-id", default="manual")
    parser.add_argument("--as-of", required=True, type=datetime.fromisoformat, help="the run's data-interval end")
    parser.add_argument(
        "--full",
        action="store_true",
        help="re-cluster every record and re-train the matching model (default: incremental after the first run)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    def run() -> int:
        from customer360.config import Settings
        from customer360.identity.resolve import resolve_identities

        resolve_identities(Settings.from_env(), args.run_id, args.as_of, full=args.full)  # logs its summary
        return 0

    return friendly(run)


if __name__ == "__main__":
    sys.exit(main())
