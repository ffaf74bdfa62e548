"""A local Airflow 3 for running the DAG with dag.test(): metadata in SQLite, no scheduler."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

from customer360.config import PROJECT_ROOT
from customer360.orchestration.dbt import QUIET_ENV

DEFAULT_AIRFLOW_HOME = PROJECT_ROOT / ".local" / "airflow"
MIGRATED_STAMP = ".migrated"  # in the home: what ensure_metadata_db last migrated to


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
    """Create or upgrade Airflow's metadata database (idempotent).

    `airflow db migrate` costs seconds even when there is nothing to do (it imports Airflow),
    and the DAG runner calls this before every run: a stamp beside the database records the
    Airflow version and the schema revision it left, and a database still at that revision
    under that version is not migrated again.
    """
    home.mkdir(parents=True, exist_ok=True)
    stamp = home / MIGRATED_STAMP
    if stamp.exists() and stamp.read_text() == _migrated_as(home):
        return
    airflow = Path(sys.executable).parent / "airflow"
    result = subprocess.run([str(airflow), "db", "migrate"], env=airflow_env(home), capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"`airflow db migrate` failed in {home}:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    stamp.write_text(_migrated_as(home))


def _migrated_as(home: Path) -> str:
    """The installed Airflow's version and the schema revision of the home's database."""
    from importlib.metadata import version

    db = home / "airflow.db"
    revision = ""
    if db.exists():
        with closing(sqlite3.connect(db)) as conn:
            try:
                revision = ",".join(sorted(r[0] for r in conn.execute("select version_num from alembic_version")))
            except sqlite3.DatabaseError:  # no such table yet, or not a database
                revision = ""
    return f"apache-airflow {version('apache-airflow')} revision {revision or 'none'}"
