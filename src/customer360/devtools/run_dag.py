"""Run a DAG once with dag.test(): customer360 for an explicit interval, or a manual DAG with its params.

`python -m customer360.devtools.run_dag --start 2024-01-01 --end 2026-01-01` sets up the local
Airflow (metadata database in .local/airflow), runs customer360 in a child process
and prints one line per finished task; the full log goes to .local/logs/.
`--dag erase_person --conf '{"email_key": "..."}'` runs a manual DAG the same way.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from pathlib import Path

from customer360.devtools.airflow_env import DEFAULT_AIRFLOW_HOME, airflow_env, ensure_metadata_db

DAG_ID = "customer360"
_TASK_END = re.compile(r"\[DAG TEST\] end task task_id=(\S+)")
_NEW_STATE = re.compile(r"new_state=(\w+)")
_EXCEPTION = re.compile(r"^[A-Za-z_.]*(Error|Exception|Failed|Unavailable)\b.*: ")


def run_in_process(dag_id: str, logical_date: datetime, conf: dict) -> int:
    from airflow.dag_processing.dagbag import DagBag  # import after the environment is set

    from customer360.devtools.airflow_env import PROJECT_ROOT

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    if bag.import_errors:
        for path, error in bag.import_errors.items():
            print(f"DAG import error in {path}:\n{error}", file=sys.stderr)
        return 2
    dag = bag.get_dag(dag_id)
    if dag is None:
        print(
            f"no DAG {dag_id!r} in {PROJECT_ROOT / 'dags'}; the DAGs are {', '.join(sorted(bag.dag_ids))}",
            file=sys.stderr,
        )
        return 2
    run = dag.test(logical_date=logical_date, run_conf=conf)
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    code, message = run_outcome(str(run.state), states)
    print(message)
    return code


def run_outcome(run_state: str, states: dict[str, str]) -> tuple[int, str]:
    """Exit code and the RUN-RESULT line of a finished run. A run in which no task ran is a failure,
    whatever Airflow calls it (a logical date before the DAG's start date once gave `success`)."""
    failed = [t for t, s in states.items() if s.endswith("failed") and "upstream" not in s]
    not_run = [t for t, s in states.items() if "upstream_failed" in s]
    ran = [t for t, s in states.items() if s.rsplit(".", 1)[-1].lower() not in ("none", "removed", "scheduled", "")]
    if not ran:
        return 1, (
            f"RUN-RESULT state=failed: no task ran (Airflow said {run_state}); check that the interval is "
            "one the DAG accepts"
        )
    message = f"RUN-RESULT state={run_state} failed={','.join(failed) or '-'} not run (upstream failed): {len(not_run)}"
    return (0 if run_state in ("success", "DagRunState.SUCCESS") else 1), message


def run_dag_subprocess(
    start: date,
    end: date,
    log_path: Path,
    *,
    env: dict[str, str],
    airflow_home: Path = DEFAULT_AIRFLOW_HOME,
    on_progress: Callable[[str], None] = print,
) -> bool:
    """Run customer360 for [start, end) in a child process (see trigger_dag_subprocess)."""
    return trigger_dag_subprocess(
        DAG_ID, {}, log_path, env=env, airflow_home=airflow_home, on_progress=on_progress, interval=(start, end)
    )


def trigger_dag_subprocess(
    dag_id: str,
    conf: dict,
    log_path: Path,
    *,
    env: dict[str, str],
    airflow_home: Path = DEFAULT_AIRFLOW_HOME,
    on_progress: Callable[[str], None] = print,
    interval: tuple[date, date] | None = None,
) -> bool:
    """Run one DAG in a child process; full log to `log_path`, one line per finished task to `on_progress`."""
    ensure_metadata_db(airflow_home)
    from customer360.privacy.keys import ensure_local_key

    ensure_local_key(say=on_progress)  # the local runner only; production sets C360_PSEUDONYM_KEY
    log_path.parent.mkdir(parents=True, exist_ok=True)
    child_env = {**airflow_env(airflow_home), **env}  # airflow_env copies os.environ: the key file too
    command = [
        sys.executable,
        "-m",
        "customer360.devtools.run_dag",
        "--dag",
        dag_id,
        "--conf",
        json.dumps(conf),
        "--in-process",
    ]
    if interval:
        command += ["--start", interval[0].isoformat(), "--end", interval[1].isoformat()]
    result_line = ""
    last_state = ""
    with (
        open(log_path, "w") as log,
        subprocess.Popen(command, env=child_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as child,
    ):
        assert child.stdout is not None
        for line in child.stdout:
            log.write(line)
            if line.startswith("RUN-RESULT"):
                result_line = line.strip()
            elif (state := _NEW_STATE.search(line)) is not None:
                last_state = state.group(1)
            elif (ended := _TASK_END.search(line)) is not None:
                on_progress(f"  {last_state or 'ended':<13} {ended.group(1)}")
                last_state = ""
            elif _EXCEPTION.match(line):
                on_progress(f"    {line.strip()[:400]}")
        child.wait()
    on_progress(result_line or f"DAG run ended with exit code {child.returncode}; see {log_path}")
    return child.returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m customer360.devtools.run_dag", description=__doc__)
    parser.add_argument("--start", type=date.fromisoformat, help="interval start (customer360)")
    parser.add_argument("--end", type=date.fromisoformat, help="interval end, exclusive (customer360)")
    parser.add_argument("--dag", default=DAG_ID, help=f"the DAG to run (default {DAG_ID})")
    parser.add_argument("--conf", type=json.loads, default={}, help="the run's params as a JSON object")
    parser.add_argument(
        "--in-process", action="store_true", help=argparse.SUPPRESS
    )  # the child of trigger_dag_subprocess
    args = parser.parse_args()
    interval = (args.start, args.end) if args.start and args.end else None
    if args.dag == DAG_ID and interval is None:
        parser.error(f"{DAG_ID} needs --start and --end (the data interval)")
    if args.in_process:
        conf = dict(args.conf)
        if interval:
            conf = {"interval_start": interval[0].isoformat(), "interval_end": interval[1].isoformat(), **conf}
        logical_date = datetime.combine(interval[1], time(), tzinfo=UTC) if interval else datetime.now(UTC)
        return run_in_process(args.dag, logical_date, conf)

    from customer360.config import PROJECT_ROOT
    from customer360.devtools.server import WarehouseUnavailable, resolve_warehouse_url

    try:
        url = resolve_warehouse_url()
    except WarehouseUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    stamp = f"{args.start:%Y%m%d}-{args.end:%Y%m%d}" if interval else datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    log_path = PROJECT_ROOT / ".local" / "logs" / f"{args.dag}-{stamp}.log"
    print(f"running DAG {args.dag}{f' for {args.start} .. {args.end}' if interval else ''}; full log in {log_path}")
    ok = trigger_dag_subprocess(args.dag, args.conf, log_path, env={"WAREHOUSE_URL": url}, interval=interval)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
