"""`python -m bench.simulator --people 100000 1000000`: the simulator's peak memory and wall time.

Each size runs `python -m customer360.simulator` in a child process, as it is used, into
.local/bench-simulator/<people> (deleted afterwards unless --keep). The peak resident memory
is the kernel's ru_maxrss of that child (os.wait4); Linux starts it at the peak of the process
that spawned it, which is this small one (its own peak is in the results, to show it is
well below). Figures go to bench/results/simulator-<sizes>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from customer360.config import PROJECT_ROOT

WORK_DIR = PROJECT_ROOT / ".local" / "bench-simulator"


@dataclass
class SimulatorRun:
    people: int
    days: int
    seed: int
    defect_rate: float
    rows: int
    files: int
    peak_rss_mb: int
    wall_seconds: float
    bench_process_peak_rss_mb: int  # the floor of peak_rss_mb (see the module docstring)
    load_average: tuple[float, float]  # 1-minute load at start and end: the machine is shared, wall time varies


def run_simulator(people: int, days: int, seed: int, defect_rate: float, out: Path) -> SimulatorRun:
    """One simulator run in a child process: its peak RSS, wall time and what it wrote."""
    command = [
        sys.executable,
        "-m",
        "customer360.simulator",
        f"--people={people}",
        f"--days={days}",
        f"--seed={seed}",
        f"--defect-rate={defect_rate}",
        f"--out={out}",
    ]
    load_at_start = os.getloadavg()[0]
    started = time.monotonic()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert child.stdout is not None
    output = child.stdout.read()
    child.stdout.close()
    # wait4, not RUSAGE_CHILDREN: the rusage of this child alone, not the largest child so far
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"the simulator failed at {people:,} people (exit {child.returncode}):\n{output}")
    summary = json.loads((out / "truth" / "summary.json").read_text())
    return SimulatorRun(
        people=people,
        days=days,
        seed=seed,
        defect_rate=defect_rate,
        rows=sum(summary["rows"].values()),
        files=sum(summary["files"].values()),
        peak_rss_mb=usage.ru_maxrss // 1024,
        wall_seconds=round(wall, 1),
        bench_process_peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        load_average=(round(load_at_start, 1), round(os.getloadavg()[0], 1)),
    )


def markdown(runs: list[SimulatorRun]) -> str:
    lines = [
        "| people | days | rows | files | peak RSS MB | wall s | load average (start, end) |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r.people:,} | {r.days} | {r.rows:,} | {r.files:,} | {r.peak_rss_mb:,} | {r.wall_seconds:.1f} "
            f"| {r.load_average[0]}, {r.load_average[1]} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.simulator", description=__doc__)
    parser.add_argument("--people", type=int, nargs="+", default=[100_000], help="one run per size, smallest first")
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--defect-rate", type=float, default=0.01)
    parser.add_argument("--keep", action="store_true", help=f"keep the simulated files in {WORK_DIR}/<people>")
    args = parser.parse_args(argv)

    from bench.run import write_results

    sizes = sorted(args.people)
    runs = []
    for people in sizes:
        out = WORK_DIR / str(people)
        print(f"simulating {people:,} people, {args.days} days -> {out}", flush=True)
        run = run_simulator(people, args.days, args.seed, args.defect_rate, out)
        print(f"  peak RSS {run.peak_rss_mb:,} MB, {run.wall_seconds:.1f} s, {run.rows:,} rows", flush=True)
        runs.append(run)
        if not args.keep:
            shutil.rmtree(out)
    payload = {"machine": {"python": platform.python_version()}, "runs": [asdict(r) for r in runs]}
    write_results(f"simulator-{'-'.join(map(str, sizes))}", payload, markdown(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
