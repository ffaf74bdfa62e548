"""`python -m identity --run-id manual --as-of 2025-12-31T00:00:00Z`: resolve identities now."""

import argparse
import logging
from datetime import datetime

from identity.resolve import resolve_identities
from warehouse.settings import Settings

parser = argparse.ArgumentParser(prog="python -m identity", description=__doc__)
parser.add_argument("--run-id", default="manual")
parser.add_argument("--as-of", required=True, type=datetime.fromisoformat, help="the run's data-interval end")
args = parser.parse_args()
logging.basicConfig(level=logging.INFO, format="%(message)s")
print(resolve_identities(Settings.from_env(), args.run_id, args.as_of).text())
