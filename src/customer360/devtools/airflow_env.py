"""A local Airflow 3 for running the DAG with dag.test(): metadata in SQLite, no scheduler."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from customer360.config import PROJECT_ROOT
from customer360.orchestration.dbt import QUIET_ENV

DEFAULT_AIRFLOW_HOME = PROJECT_ROOT / ".local" / "airflow"


def airflow_env(home: Path = DEFAULT_AIRFLOW_HOME) -> dict[str, str]:
    """Environment for Airflow commands run from this project (merged over os.environ)."""
    return {
        **os.environ,
        **QUIET_ENV,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
    }


def ensure_metadata_db(home: Path = DEFAULT_AIRFLOW_HOME) -> None:
    """Create or upgrade Airflow's metadata database (idempotent)."""
    home.mkdir(parents=True, exist_ok=True)
    airflow = Path(sys.executable).parent / "airflow"
    result = subprocess.run([str(airflow), "db", "migrate"], env=airflow_env(home), capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"`airflow db migrate` failed in {home}:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
