"""`make bench`: run the whole pipeline on simulated companies of several sizes and time each stage.

Each size gets a fresh database and its own simulated company; the DAG runs
through Airflow (dag.test) and the stage times come from Airflow's own task
records. Figures go to bench/results/bench-<sizes>.json and a table on screen.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import time
from datetime import datetime, timedelta
from pathlib import Path

from bench.page import RESULTS_DIR, write_page
from customer360.config import PROJECT_ROOT, Settings, with_database

BENCH_DIR = PROJECT_ROOT / ".local" / "bench"

# Airflow task id prefix -> benchmark stage
STAGES = (
    ("data_interval", "prepare"),
    ("prepare_warehouse", "prepare"),
    ("ingest_", "ingest"),
    ("check_raw", "quality_raw"),
    ("claim_warehouse", "prepare"),
    ("release_warehouse", "publish"),
    ("dbt_staging", "dbt_staging"),
    ("resolve_identities", "identity"),
    ("dbt_marts", "dbt_marts"),
    ("score_customers", "ml_scoring"),
    ("dbt_scored_marts", "dbt_scored_marts"),
    ("check_marts", "quality_marts"),
    ("publish_marts", "publish"),
    ("write_report", "report"),
    ("run_outcome", "report"),
)


def write_results(stem: str, payload: dict, table: str) -> Path:
    """bench/results/<stem>.json (with the time of measurement) and <stem>.md; prints the table."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"{stem}.json"
    out.write_text(
        json.dumps(
            {"measured_at": datetime.now().isoformat(timespec="seconds"), "cores": os.cpu_count(), **payload},
            indent=2,
            default=str,
        )
    )
    out.with_suffix(".md").write_text(table)
    print("\n" + table)
    print(f"figures written to {out} (and a markdown table beside it); {write_page()} rewritten")
    return out


def stage_of(task_id: str) -> str:
    for prefix, stage in STAGES:
        if task_id.startswith(prefix):
            return stage
    return "other"


def task_seconds_by_stage(airflow_db: Path) -> dict[str, float]:
    """Seconds per stage for the latest run of the DAG, from Airflow's task_instance table."""
    with sqlite3.connect(airflow_db) as db:
        run_id = db.execute(
            "select run_id from dag_run where dag_id = 'customer360' order by id desc limit 1"
        ).fetchone()[0]
        rows = db.execute(
            "select task_id, start_date, end_date from task_instance where dag_id = 'customer360' and run_id = ?",
            (run_id,),
        ).fetchall()
    totals: dict[str, float] = {}
    for task_id, started, ended in rows:
        if started and ended:
            seconds = (datetime.fromisoformat(str(ended)) - datetime.fromisoformat(str(started))).total_seconds()
            totals[stage_of(task_id)] = totals.get(stage_of(task_id), 0.0) + seconds
    return {stage: round(totals.get(stage, 0.0), 2) for stage in dict.fromkeys(s for _, s in STAGES)}


def bench_size(people: int, days: int, server_url: str) -> dict:
    from customer360.devtools.demo import layer_counts
    from customer360.devtools.run_dag import run_dag_subprocess
    from customer360.devtools.server import drop_database, ensure_database
    from customer360.simulator import simulate
    from customer360.simulator.config import SimulationConfig

    work = BENCH_DIR / f"{people}"
    url = with_database(server_url, f"c360_bench_{people}")
    drop_database(url)
    ensure_database(url)
    env = {"WAREHOUSE_URL": url, "C360_DATA_DIR": str(work / "data"), "C360_REPORTS_DIR": str(work / "reports")}
    settings = Settings.from_env({**os.environ, **env})

    print(f"\n== {people:,} people ==")
    t0 = time.monotonic()
    config = SimulationConfig(people=people, days=days)
    simulate(config, settings.data_dir)
    simulate_s = time.monotonic() - t0

    airflow_home = work / "airflow"
    if airflow_home.exists():
        for f in airflow_home.glob("airflow.db*"):
            f.unlink()
    t1 = time.monotonic()
    ok = run_dag_subprocess(
        config.start, config.start + timedelta(days=days), work / "dag.log", env=env, airflow_home=airflow_home
    )
    pipeline_s = time.monotonic() - t1
    if not ok:
        raise SystemExit(f"the pipeline failed at {people} people; see {work / 'dag.log'}")
    stages = task_seconds_by_stage(airflow_home / "airflow.db")
    counts = layer_counts(settings)

    # A scheduled day's run on the built warehouse: the last day again, its files already loaded,
    # so what it costs is mostly the run's fixed cost.
    last_day = config.start + timedelta(days=days - 1)
    t2 = time.monotonic()
    ok = run_dag_subprocess(
        last_day, last_day + timedelta(days=1), work / "dag-day.log", env=env, airflow_home=airflow_home
    )
    day_s = time.monotonic() - t2
    if not ok:
        raise SystemExit(f"the one-day run failed at {people} people; see {work / 'dag-day.log'}")
    day_stages = task_seconds_by_stage(airflow_home / "airflow.db")
    return {
        "people": people,
        "days": days,
        "seconds": {"simulate": round(simulate_s, 2), **stages, "pipeline_wall": round(pipeline_s, 2)},
        "day_run_seconds": {**day_stages, "pipeline_wall": round(day_s, 2)},
        "day_over_full": round(day_s / pipeline_s, 3),
        "rows": {
            "raw": sum(n or 0 for n in counts["raw"].values()),
            "quarantine": sum(n or 0 for n in counts["quarantine"].values()),
            "customers": counts["marts"].get("customer_360") or 0,
            "orders": counts["marts"].get("fct_orders") or 0,
        },
    }


def print_table(runs: list[dict]) -> None:
    stages = list(runs[0]["seconds"])
    print("\nseconds per stage")
    print(f"{'stage':<18}" + "".join(f"{r['people']:>12,}" for r in runs))
    for stage in stages:
        print(f"{stage:<18}" + "".join(f"{r['seconds'][stage]:>12.1f}" for r in runs))
    for key in runs[0]["rows"]:
        print(f"{key + ' rows':<18}" + "".join(f"{r['rows'][key]:>12,}" for r in runs))
    print("\none-day run on the built warehouse (seconds)")
    for stage in runs[0]["day_run_seconds"]:
        print(f"{stage:<18}" + "".join(f"{r['day_run_seconds'][stage]:>12.1f}" for r in runs))
    print(f"{'day / full':<18}" + "".join(f"{r['day_over_full']:>12.3f}" for r in runs))


def markdown_table(runs: list[dict]) -> str:
    lines = [
        "| stage (seconds) | " + " | ".join(f"{r['people']:,} people" for r in runs) + " |",
        "|---|" + "---:|" * len(runs),
    ]
    for stage in runs[0]["seconds"]:
        lines.append(f"| {stage} | " + " | ".join(f"{r['seconds'][stage]:.1f}" for r in runs) + " |")
    for key in runs[0]["rows"]:
        lines.append(f"| {key} rows | " + " | ".join(f"{r['rows'][key]:,}" for r in runs) + " |")
    lines += ["", "One-day run on the built warehouse (the last day again, its files already loaded):", ""]
    lines += [lines[0], lines[1]]
    for stage in runs[0]["day_run_seconds"]:
        lines.append(f"| {stage} | " + " | ".join(f"{r['day_run_seconds'][stage]:.1f}" for r in runs) + " |")
    lines.append("| day / full | " + " | ".join(f"{r['day_over_full']:.3f}" for r in runs) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma-separated numbers of people")
    parser.add_argument("--days", type=int, default=730)
    args = parser.parse_args(argv)

    from customer360.devtools.server import resolve_warehouse_url

    server_url = resolve_warehouse_url()
    sizes = [int(s) for s in args.sizes.split(",")]
    runs = [bench_size(people, args.days, server_url) for people in sizes]
    write_results(
        f"bench-{'-'.join(map(str, sizes))}",
        {
            "machine": {"python": platform.python_version(), "platform": platform.platform()},
            "runs": runs,
        },
        markdown_table(runs),
    )
    print_table(runs)
    return 0
