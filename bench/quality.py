"""Which check catches which injected defect, and the false alarms on clean data.

    python -m bench.quality --people 3000 --days 365

Runs the whole DAG twice on simulated companies of the same size: at the
simulator's default defect rate and at zero. The simulator writes each injected
defect to data/truth/defects.csv (class, file, line); each is looked up where
the pipeline sets bad data aside or flags it:

* the loader's quarantine (file, line, reason code),
* raw rows failing a row-level check (e-mail format, non-negative amount),
* the file manifest (a re-delivered file is a logged duplicate).

Figures go to bench/results/quality-<people>.json and .md.
"""

from __future__ import annotations

import argparse
import csv
import os
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path

from bench.run import BENCH_DIR, write_results
from customer360.config import Settings, with_database
from customer360.ingestion.contracts import SOURCES
from customer360.quality.suites import EMAIL_PATTERN

# Row-level raw checks whose flagged rows are found by the same rule in SQL (keyed by file and line).
ROW_CHECKS = {
    "format:email": ("email", f"email !~ '{EMAIL_PATTERN}'"),
    "non_negative:amount": ("amount", "amount < 0"),
}


def flagged_rows(conn) -> dict[tuple[str, int], list[str]]:
    """(file name, line) -> what flagged it: quarantine:<reason> or a row-level check."""
    out: dict[tuple[str, int], list[str]] = defaultdict(list)
    for source, contract in SOURCES.items():
        for file_name, line, reason in conn.execute(
            f"select _file_name, _line_number, reason_code from quarantine.{source}"
        ):
            out[(file_name, line)].append(f"quarantine:{reason}")
        for check, (column, predicate) in ROW_CHECKS.items():
            if column in contract.column_names:
                for file_name, line in conn.execute(
                    f"select _file_name, _line_number from raw.{source} where {predicate}"
                ):
                    out[(file_name, line)].append(check)
    return out


def run_once(people: int, days: int, defect_rate: float, server_url: str) -> dict:
    from customer360.db.connection import connect
    from customer360.devtools.run_dag import run_dag_subprocess
    from customer360.devtools.server import drop_database, ensure_database
    from customer360.simulator import SimulationConfig, simulate

    label = f"{people}-{'clean' if defect_rate == 0 else defect_rate}"
    work = BENCH_DIR / f"quality-{label}"
    url = with_database(server_url, f"c360_bench_quality_{label.replace('.', '_').replace('-', '_')}")
    drop_database(url)
    ensure_database(url)
    env = {
        "WAREHOUSE_URL": url,
        "C360_DATA_DIR": str(work / "data"),
        "C360_REPORTS_DIR": str(work / "reports"),
        "C360_TASK_RETRIES": "0",
    }
    settings = Settings.from_env({**os.environ, **env})
    config = SimulationConfig(people=people, days=days, defect_rate=defect_rate)
    print(f"\n== {people:,} people, {days} days, defect rate {defect_rate} ==")
    simulate(config, settings.data_dir)
    airflow_home = work / "airflow"
    for f in airflow_home.glob("airflow.db*"):
        f.unlink()
    ok = run_dag_subprocess(
        config.start, config.start + timedelta(days=days), work / "dag.log", env=env, airflow_home=airflow_home
    )
    with connect(settings) as conn:
        flags = flagged_rows(conn)
        duplicates = {r[0] for r in conn.execute("select file_name from ops.ingest_log where status = 'duplicate'")}
        failed_checks = conn.execute(
            "select suite, check_name, severity, failing_count from ops.dq_results where not passed "
            "order by severity, suite, check_name"
        ).fetchall()
    drop_database(url)

    injected: Counter[str] = Counter()
    caught: Counter[str] = Counter()
    caught_by: dict[str, Counter[str]] = defaultdict(Counter)
    with open(settings.truth_dir / "defects.csv", newline="") as f:
        for d in csv.DictReader(f):
            cls, file_name = d["defect_class"], Path(d["file"]).name
            injected[cls] += 1
            if cls == "redelivered_file":
                found = ["manifest:duplicate"] if file_name in duplicates else []
            else:
                found = flags.get((file_name, int(d["line"])), [])
            if found:
                caught[cls] += 1
                for how in dict.fromkeys(found):
                    caught_by[cls][how] += 1
    classes = {
        cls: {
            "injected": n,
            "flagged": caught[cls],
            "share": round(caught[cls] / n, 4),
            "flagged_by": dict(caught_by[cls].most_common()),
        }
        for cls, n in sorted(injected.items())
    }
    for cls, c in classes.items():
        print(f"  {cls:<18} injected {c['injected']:>6,}  flagged {c['flagged']:>6,}  by {c['flagged_by']}")
    errors = [c for c in failed_checks if c[2] == "error"]
    warns = [c for c in failed_checks if c[2] == "warn"]
    print(f"  run {'completed' if ok else 'FAILED'}; failed checks: {len(errors)} error, {len(warns)} warn")
    return {
        "people": people,
        "days": days,
        "defect_rate": defect_rate,
        "run_completed": ok,
        "classes": classes,
        "failed_checks": [
            {"suite": s, "check": c, "severity": sev, "failing_count": n} for s, c, sev, n in failed_checks
        ],
    }


def markdown(runs: list[dict]) -> str:
    lines = []
    for run in runs:
        lines.append(
            f"**{run['people']:,} people, {run['days']} days, defect rate {run['defect_rate']}**: "
            f"run {'completed' if run['run_completed'] else 'failed'}"
        )
        lines.append("")
        if run["classes"]:
            lines += ["| defect class | injected | flagged | share | flagged by |", "|---|---:|---:|---:|---|"]
            for cls, c in run["classes"].items():
                by = ", ".join(f"{how} ({n:,})" for how, n in c["flagged_by"].items()) or "nothing"
                lines.append(f"| {cls} | {c['injected']:,} | {c['flagged']:,} | {c['share']:.1%} | {by} |")
            lines.append("")
        failed = run["failed_checks"]
        lines.append("| failed check | severity | failing rows |")
        lines.append("|---|---|---:|")
        lines += [
            f"| {c['suite']} {c['check']} | {c['severity']} | "
            f"{c['failing_count'] if c['failing_count'] is not None else ''} |"
            for c in failed
        ] or ["| (none) | | |"]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.quality", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=3000)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args(argv)

    from customer360.devtools.server import resolve_warehouse_url
    from customer360.simulator import SimulationConfig

    server_url = resolve_warehouse_url()
    default_rate = SimulationConfig().defect_rate
    runs = [run_once(args.people, args.days, rate, server_url) for rate in (default_rate, 0.0)]
    write_results(f"quality-{args.people}", {"runs": runs}, markdown(runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
