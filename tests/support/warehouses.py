"""Warehouses for the real DAG runs of tests/e2e: a database on the test server and one folder.

The folder holds what the warehouse's runs read and write: data/ (landing, truth, models,
dbt's target), reports/, airflow/ (the Airflow home of its runs) and logs/ (a log per run).

A test that would change a warehouse other tests read works on a copy: the database is the
template of a new one and the folder is copied, which takes seconds where a DAG run that
builds the warehouse again takes a minute or more.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import psycopg
from psycopg import sql

from customer360.config import Settings, parse_url, with_database
from customer360.db.bootstrap import prepare_warehouse
from customer360.db.connection import connect
from customer360.devtools.airflow_env import MIGRATED_STAMP
from customer360.devtools.run_dag import run_dag_subprocess, trigger_dag_subprocess
from tests.support.databases import make_test_database

FOLDERS = ("data", "reports", "logs")  # copied whole; the Airflow home is not (see copy_airflow_home)


@dataclass(frozen=True)
class Warehouse:
    url: str
    work: Path
    extra_env: tuple[tuple[str, str], ...] = ()  # e.g. retries, for one test's runs

    @property
    def env(self) -> dict[str, str]:
        return {
            "WAREHOUSE_URL": self.url,
            "C360_DATA_DIR": str(self.work / "data"),
            "C360_REPORTS_DIR": str(self.work / "reports"),
            "C360_TASK_RETRIES": "0",
            **dict(self.extra_env),
        }

    @property
    def settings(self) -> Settings:
        return Settings.from_env({**os.environ, **self.env})

    @property
    def airflow_home(self) -> Path:
        return self.work / "airflow"

    def log(self, label: str) -> Path:
        return self.work / "logs" / f"{label}.log"

    def run(self, start: date, end: date, label: str, on_progress: Callable[[str], None] = lambda _: None) -> bool:
        """customer360 for [start, end), its log in logs/<label>.log."""
        return run_dag_subprocess(
            start, end, self.log(label), env=self.env, airflow_home=self.airflow_home, on_progress=on_progress
        )

    def trigger(self, dag_id: str, conf: dict, label: str) -> bool:
        return trigger_dag_subprocess(
            dag_id, conf, self.log(label), env=self.env, airflow_home=self.airflow_home, on_progress=lambda _: None
        )


def new_warehouse(server_url: str, work: Path, label: str, airflow_template: Path, **extra_env: str) -> Warehouse:
    """An empty database and folder; the Airflow home starts from an already migrated one."""
    work.mkdir(parents=True, exist_ok=True)
    copy_airflow_home(airflow_template, work / "airflow")
    return Warehouse(make_test_database(server_url, label), work, tuple(extra_env.items()))


def copy_warehouse(source: Warehouse, server_url: str, work: Path, label: str) -> Warehouse:
    """The source's database as the template of a new one, and a copy of its folder.

    Nothing may be connected to the source's database meanwhile (Postgres copies it as files).
    """
    url = with_database(server_url, f"c360_test_{label}_{uuid.uuid4().hex[:8]}")
    with psycopg.connect(with_database(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("create database {} template {}").format(
                sql.Identifier(parse_url(url).dbname), sql.Identifier(parse_url(source.url).dbname)
            )
        )
    for folder in FOLDERS:
        if (source.work / folder).exists():
            shutil.copytree(source.work / folder, work / folder)
    copy_airflow_home(source.airflow_home, work / "airflow")
    copy = Warehouse(url, work, source.extra_env)
    with connect(copy.settings) as conn:
        # the model registry names its artifacts by absolute path: the copy's runs read the copy's
        conn.execute(
            "update ml.model_registry set artifact_path = replace(artifact_path, %s, %s)",
            (str(source.work / "data"), str(work / "data")),
        )
        conn.commit()
    prepare_warehouse(copy.settings)  # who may connect is set on the database, which a template does not carry
    return copy


def copy_airflow_home(source: Path, home: Path) -> None:
    """The metadata database and its migration stamp; not airflow.cfg, which names its own home's paths
    (Airflow writes a new one)."""
    home.mkdir(parents=True, exist_ok=True)
    for name in ("airflow.db", MIGRATED_STAMP):
        shutil.copyfile(source / name, home / name)
