"""`make demo`: simulate a company and run the whole pipeline on it through Airflow.

Steps: find or start a warehouse, simulate the landing files (skipped when the
same simulation is already on disk), compile the dbt manifest, run the DAG once
over the whole simulated period, then print what was built.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from customer360.config import PROJECT_ROOT, Settings, redact

if TYPE_CHECKING:
    from customer360.simulator.config import SimulationConfig

QUERIES_TO_TRY = """\
  -- the best customers, with their scores
  select customer_id, order_count, total_revenue, churn_probability, clv, rfm_segment
  from marts.customer_360 order by clv desc limit 10;

  -- how many source records each resolved customer has, by number of systems
  select source_record_count, count(*) from marts.dim_customer group by 1 order by 1;

  -- revenue by channel and month
  select date_trunc('month', ordered_at) as month, channel, sum(amount)
  from marts.fct_orders group by 1, 2 order by 1, 2;"""


def simulate_if_needed(people: int, seed: int, days: int, defect_rate: float, data_dir: Path) -> SimulationConfig:
    from customer360.simulator import simulate
    from customer360.simulator.config import SimulationConfig

    config = SimulationConfig(people=people, seed=seed, days=days, defect_rate=defect_rate)
    marker = data_dir / "truth" / "summary.json"
    wanted = {
        "people": people,
        "seed": seed,
        "days": days,
        "defect_rate": defect_rate,
        "start": config.start.isoformat(),
    }
    if marker.exists():
        existing = json.loads(marker.read_text()).get("config", {})
        if all(str(existing.get(k)) == str(v) for k, v in wanted.items()):
            print(f"simulator: reusing the simulated company in {data_dir} ({people:,} people)")
            return config
    print(f"simulator: simulating {people:,} people over {days} days (seed {seed}) into {data_dir}")
    summary = simulate(config, data_dir)
    print(f"simulator: wrote {sum(summary.rows.values()):,} rows in {sum(summary.files.values()):,} files")
    return config


def layer_counts(settings: Settings) -> dict[str, dict[str, int | None]]:
    """Rows per table in every warehouse schema (the report's counts, plus ops)."""
    from customer360.db.connection import SCHEMAS, connect
    from customer360.reporting.queries import row_counts

    with connect(settings) as conn:
        return row_counts(conn, SCHEMAS)


HIGHLIGHTS = (
    ("source records resolved", "select count(*) from identity.customer_source_xref"),
    ("customers (single customer view)", "select count(*) from marts.customer_360"),
    (
        "customers found in 3 or more systems",
        "select count(*) from (select customer_id from identity.customer_source_xref "
        "group by 1 having count(distinct source) >= 3) c",
    ),
    ("rows quarantined, with a reason", "select coalesce(sum(rows_quarantined), 0) from ops.file_manifest"),
    (
        "churn backtest ROC AUC: model / recency rule",
        "select string_agg(round(roc_auc::numeric, 3)::text, ' / ' order by evaluated_model = 'recency_baseline') "
        "from ml.churn_evaluation where model_version = (select max(model_version) from ml.customer_scores)",
    ),
    ("total 12-month CLV of the base", "select to_char(sum(clv), 'FM999,999,999,990') from marts.customer_360"),
)


def print_highlights(settings: Settings) -> None:
    from customer360.db.connection import connect, scalar

    print("\nHighlights:")
    with connect(settings) as conn:
        for label, query in HIGHLIGHTS:
            try:
                value = scalar(conn, query)
            except Exception:  # noqa: BLE001 - a highlight is optional; the table may not exist yet
                conn.rollback()
                value = "n/a"
            print(f"  {label:<48} {value if not isinstance(value, int) else f'{value:,}'}")


def print_what_was_built(settings: Settings, log_path: Path) -> None:
    print_highlights(settings)
    print("\nWhat the run built (rows per table, by layer):")
    for schema, tables in layer_counts(settings).items():
        print(f"  {schema}")
        for table, n in tables.items():
            print(f"    {table:<40} {n if n is None else format(n, ','):>12}")
    print(f"\nReports:  {settings.reports_dir / 'run_report.html'}")
    print(f"Run log:  {log_path}")
    print(f"\nTry in psql:  psql '{redact(settings.warehouse_url)}'\n{QUERIES_TO_TRY}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m customer360.devtools.demo", description=__doc__)
    parser.add_argument("--people", type=int, default=int(os.environ.get("C360_DEMO_PEOPLE", "10000")))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--defect-rate", type=float, default=0.01)
    args = parser.parse_args(argv)

    from customer360.devtools.run_dag import run_dag_subprocess
    from customer360.devtools.server import WarehouseUnavailable, resolve_warehouse_url

    started = time.monotonic()
    try:
        url = resolve_warehouse_url()
    except WarehouseUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    os.environ["WAREHOUSE_URL"] = url
    settings = Settings.from_env()
    config = simulate_if_needed(args.people, args.seed, args.days, args.defect_rate, settings.data_dir)
    start, end = config.start, config.start + timedelta(days=config.days)
    log_path = PROJECT_ROOT / ".local" / "logs" / f"demo-{start:%Y%m%d}-{end:%Y%m%d}.log"
    print(f"airflow: running DAG customer360 for {start} .. {end} (dag.test, local metadata database)")
    ok = run_dag_subprocess(start, end, log_path, env={"WAREHOUSE_URL": url})
    if not ok:
        print(f"\nThe run failed. The full Airflow log is {log_path}", file=sys.stderr)
        return 1
    print_what_was_built(settings, log_path)
    print(f"\nDone in {time.monotonic() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
