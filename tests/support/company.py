"""The simulated company tests/e2e share (the session fixture `company`, tests/e2e/conftest.py).

400 people over 240 days with 2% defective rows and files, and the erasure test's canary
(tests/support/canary.py) planted in one landing file of every source, built by two real DAG
runs over the same interval: the first, and a rerun that must change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from customer360.simulator import simulate
from customer360.simulator.config import SimulationConfig
from tests.support.canary import plant
from tests.support.marts import marts_rows
from tests.support.snapshots import run_snapshot
from tests.support.warehouses import Warehouse

PEOPLE, DAYS = 400, 240


@dataclass(frozen=True)
class Company:
    warehouse: Warehouse  # after both runs; read, never changed
    start: date
    end: date  # exclusive: the runs' interval is [start, end)
    ok: tuple[bool, bool]  # the first run, the rerun
    planted: dict[str, list[str]]  # the canary's rows, per source
    first: dict[str, pd.DataFrame]  # run_snapshot after the first run
    second: dict[str, pd.DataFrame]  # ... and after the rerun
    first_marts: dict[str, list[str]]  # every marts relation after the first run (canonical ids, no _loaded_at)


def build_company(warehouse: Warehouse) -> Company:
    """Simulate into an empty warehouse's folder, plant the canary, run the DAG twice."""
    config = SimulationConfig(people=PEOPLE, days=DAYS, defect_rate=0.02)
    settings = warehouse.settings
    simulate(config, settings.data_dir)
    planted = plant(settings.landing_dir)
    end = config.start + timedelta(days=DAYS)
    first_ok = warehouse.run(config.start, end, "first")
    first = run_snapshot(settings)
    first_marts = marts_rows(settings, canonical_ids=True, exclude=frozenset({"_loaded_at"}))
    second_ok = warehouse.run(config.start, end, "second")
    return Company(
        warehouse=warehouse,
        start=config.start,
        end=end,
        ok=(first_ok, second_ok),
        planted=planted,
        first=first,
        second=run_snapshot(settings),
        first_marts=first_marts,
    )
