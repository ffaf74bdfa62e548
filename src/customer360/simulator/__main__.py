"""CLI: python -m customer360.simulator --people 10000 --seed 42 --days 730 --defect-rate 0.01 --out data"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from customer360.simulator.config import SimulationConfig
from customer360.simulator.core import simulate


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m customer360.simulator", description=__doc__)
    d = SimulationConfig()
    ap.add_argument("--people", type=int, default=d.people)
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--start", type=date.fromisoformat, default=d.start, help="first landing day, YYYY-MM-DD")
    ap.add_argument("--days", type=int, default=d.days)
    ap.add_argument("--defect-rate", type=float, default=d.defect_rate)
    ap.add_argument("--future-days", type=int, default=d.future_days)
    ap.add_argument("--out", type=Path, default=Path("data"))
    a = ap.parse_args(argv)
    config = SimulationConfig(
        people=a.people, seed=a.seed, start=a.start, days=a.days, defect_rate=a.defect_rate, future_days=a.future_days
    )
    print(
        f"simulating {config.people:,d} people, {config.days} days from {config.start}, seed {config.seed} -> {a.out}",
        flush=True,
    )
    s = simulate(config, a.out, progress=lambda m: print(m, flush=True))
    print(f"done in {s.seconds:.1f}s: {sum(s.files.values()):,d} files, {sum(s.rows.values()):,d} rows")
    print("defects: " + ", ".join(f"{k}={v}" for k, v in s.defects.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
