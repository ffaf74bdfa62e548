"""CLI: python -m customer360.quality --suite raw|marts|<suite> --as-of 2025-12-31T00:00:00Z --run-id manual"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, datetime

from customer360.cli import friendly
from customer360.config import Settings
from customer360.quality.gate import QualityGateFailed, enforce, run_checks


def _parse_ts(text: str) -> datetime:
    ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    return friendly(lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="python -m customer360.quality", description="Run the data-quality gate.")
    parser.add_argument(
        "--suite",
        action="append",
        required=True,
        help="raw, marts, all or a suite name such as raw.surveys (repeatable)",
    )
    parser.add_argument(
        "--as-of",
        required=True,
        type=_parse_ts,
        help="the run's data-interval end (ISO 8601), e.g. 2025-12-31T00:00:00Z",
    )
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--no-enforce", action="store_true", help="store and print results, exit 0 on failures")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    suites = [s for item in args.suite for s in item.split(",") if s]
    results = run_checks(Settings.from_env(), suites, args.as_of, args.run_id)
    for r in sorted(results, key=lambda r: (r.passed, r.severity != "error", r.suite, r.check_name)):
        status = "PASS" if r.passed else ("FAIL" if r.severity == "error" else "WARN")
        count = "" if r.passed or r.failing_count is None else f" failing={r.failing_count}"
        print(f"{status:4} {r.suite:32} {r.check_name:45}{count}")
    if args.no_enforce:
        return 0
    try:
        enforce(results)
    except QualityGateFailed as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
