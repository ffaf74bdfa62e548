"""python -m customer360.ml --cutoff 2025-12-31 [--model-dir PATH]: score customers and print the summary as JSON."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import date
from pathlib import Path

from customer360.cli import friendly


def main(argv: list[str] | None = None) -> int:
    return friendly(lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="python -m customer360.ml", description=__doc__)
    parser.add_argument(
        "--cutoff",
        required=True,
        type=date.fromisoformat,
        help="score as of this date: orders before its 00:00 UTC are history (YYYY-MM-DD)",
    )
    parser.add_argument("--model-dir", type=Path, default=None, help="artifact folder (default: $C360_DATA_DIR/models)")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from customer360.config import Settings
    from customer360.ml.scoring import score_customers

    settings = Settings.from_env()
    model_dir = args.model_dir or settings.data_dir / "models"
    summary = score_customers(settings, args.cutoff, model_dir)
    json.dump(summary.as_dict(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
