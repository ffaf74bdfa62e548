"""`python -m bench.identity`: identity resolution quality against the simulator's truth, and its speed.

For each (people, defect rate) it simulates a company, loads it, builds the dbt
staging and intermediate models, runs identity resolution and compares
`identity.customer_source_xref` with `truth/source_records.csv`:

- pairwise precision / recall / F1 over all pairs of source records
  (a pair is predicted when both records got the same customer_id, true when
  both belong to the same person);
- customers found versus true people.

Speed is measured on a real simulated company of the size wanted:
`--people 300000 --defect-rates 0.01` gives about 1,000,000 source records; the
seconds of each identity stage are in the table. Figures go to
bench/results/identity-<label>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from warehouse.settings import PROJECT_ROOT, Settings, with_database

RESULTS_DIR = PROJECT_ROOT / "bench" / "results"
WORK_DIR = PROJECT_ROOT / ".local" / "bench-identity"


@dataclass
class Quality:
    people: int
    defect_rate: float
    records: int
    records_in_truth: int
    customers: int
    true_people: int
    precision: float
    recall: float
    f1: float
    seconds: dict[str, float]


def pairs(sizes: pd.Series) -> int:
    return int((sizes * (sizes - 1) // 2).sum())


def pairwise_quality(xref: pd.DataFrame, truth: pd.DataFrame) -> tuple[float, float, float, int, int, int]:
    """Precision, recall, F1, records compared, customers and true people among the records both sides know."""
    truth = truth.copy()
    is_email = truth["source"] == "email_campaign_events"
    truth.loc[is_email, "source_record_key"] = truth.loc[is_email, "source_record_key"].str.strip().str.lower()
    truth = truth.drop_duplicates(["source", "source_record_key"])
    joined = xref.merge(truth, on=["source", "source_record_key"], how="inner")
    predicted = pairs(joined.groupby("customer_id").size())
    actual = pairs(joined.groupby("person_id").size())
    correct = pairs(joined.groupby(["customer_id", "person_id"]).size())
    precision = correct / predicted if predicted else 1.0
    recall = correct / actual if actual else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1, len(joined), joined["customer_id"].nunique(), joined["person_id"].nunique()


def build_company(people: int, defect_rate: float, days: int, server_url: str, *, rebuild_models: bool = False) -> Settings:
    """Simulate, load and build int_source_records in a fresh database.

    Reuses what is done: a finished database (unless `rebuild_models`: the dbt models
    are built again, e.g. after a staging change), loaded raw tables, simulated files.
    """
    from ingestion.loader import load_interval
    from pipeline.stages import prepare
    from simulator import simulate
    from simulator.config import SimulationConfig
    from warehouse.db import connect, table_exists
    from warehouse.server import drop_database, ensure_database

    label = f"{people}_{str(defect_rate).replace('.', '')}"
    work = WORK_DIR / label
    url = with_database(server_url, f"c360_bench_identity_{label}")
    settings = Settings.from_env({**os.environ, "WAREHOUSE_URL": url, "C360_DATA_DIR": str(work / "data")})
    config = SimulationConfig(people=people, days=days, defect_rate=defect_rate)
    built, loaded = work / "built.json", work / "loaded.json"
    if built.exists() and not rebuild_models:
        ensure_database(url)
        with connect(settings) as conn:
            if table_exists(conn, "intermediate", "int_source_records"):
                print(f"reusing {url.rsplit('/', 1)[-1]}")
                return settings
    if not loaded.exists():
        drop_database(url)
        ensure_database(url)
        summary = settings.truth_dir / "summary.json"
        if summary.exists() and json.loads(summary.read_text())["config"] == json.loads(json.dumps(config.as_dict())):
            print(f"reusing the simulated files in {settings.data_dir}")
        else:
            print(f"simulating {people:,} people, defect rate {defect_rate}")
            simulate(config, settings.data_dir)
        prepare(settings)
        print("loading raw")
        load_interval(settings, config.start, config.end, batch_id="bench")
        loaded.write_text(json.dumps(config.as_dict()))
    print("dbt seed, staging + intermediate")
    env = {**os.environ, **settings.dbt_env(), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    project = PROJECT_ROOT / "dbt_project"
    dbt = Path(sys.executable).parent / "dbt"
    for command in (["seed"], ["run", "--selector", "staging_intermediate"]):
        subprocess.run(
            [str(dbt), *command, "--quiet", "--project-dir", str(project), "--profiles-dir", str(project),
             "--target-path", str(work / "target")],
            check=True, env=env,
        )
    built.write_text(json.dumps(config.as_dict()))
    return settings


def reset_identity(settings: Settings) -> None:
    from warehouse.db import connect

    with connect(settings) as conn:
        conn.execute("drop schema if exists identity cascade")
        conn.execute("create schema identity")
        conn.commit()


def measure_quality(people: int, defect_rate: float, days: int, server_url: str, rebuild_models: bool = False) -> Quality:
    from identity.resolve import resolve_identities
    from warehouse.db import fetch_all

    settings = build_company(people, defect_rate, days, server_url, rebuild_models=rebuild_models)
    reset_identity(settings)
    summary = resolve_identities(settings, "bench", datetime(2026, 1, 1, tzinfo=timezone.utc))
    xref = pd.DataFrame(
        fetch_all(settings, "select source, source_record_key, customer_id from identity.customer_source_xref"),
        columns=["source", "source_record_key", "customer_id"],
    )
    truth = pd.read_csv(settings.truth_dir / "source_records.csv", dtype=str)
    precision, recall, f1, compared, customers, true_people = pairwise_quality(xref, truth)
    return Quality(
        people=people, defect_rate=defect_rate, records=len(xref), records_in_truth=compared,
        customers=customers, true_people=true_people, precision=round(precision, 5), recall=round(recall, 5),
        f1=round(f1, 5), seconds=summary.seconds,
    )


def markdown(quality: list[Quality]) -> str:
    lines = ["| people | defect rate | records | customers | true people | precision | recall | F1 |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for q in quality:
        lines.append(f"| {q.people:,} | {q.defect_rate} | {q.records:,} | {q.customers:,} | {q.true_people:,} | "
                     f"{q.precision:.4f} | {q.recall:.4f} | {q.f1:.4f} |")
    stages = list(dict.fromkeys(s for q in quality for s in q.seconds))
    lines += ["", "| stage (seconds) | " + " | ".join(f"{q.records:,} records @ {q.defect_rate}" for q in quality) + " |",
              "|---|" + "---:|" * len(quality)]
    for stage in stages:
        lines.append(f"| {stage} | " + " | ".join(f"{q.seconds.get(stage, 0):.1f}" for q in quality) + " |")
    lines.append("| total | " + " | ".join(f"{sum(q.seconds.values()):.1f}" for q in quality) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.identity", description=__doc__)
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--defect-rates", default="0.01,0.02", help="comma-separated; 0.01 is the simulator default")
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--rebuild-models", action="store_true",
                        help="build the dbt models of an already loaded company again (after a staging change)")
    args = parser.parse_args(argv)

    import logging

    from pipeline.dbt import compile_manifest
    from warehouse.server import resolve_warehouse_url

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("splink").setLevel(logging.WARNING)
    server_url = resolve_warehouse_url()
    compile_manifest()
    rates = [float(r) for r in args.defect_rates.split(",")]
    quality = [measure_quality(args.people, rate, args.days, server_url, args.rebuild_models) for rate in rates]
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"identity-{args.people}.json"
    out.write_text(json.dumps({"measured_at": datetime.now().isoformat(timespec="seconds"), "cores": os.cpu_count(),
                               "quality": [asdict(q) for q in quality]}, indent=2))
    table = markdown(quality)
    out.with_suffix(".md").write_text(table)
    print("\n" + table)
    print(f"figures written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
