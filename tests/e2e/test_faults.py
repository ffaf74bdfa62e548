"""A connection killed in the middle of a task, then the database server restarted in the middle
of another: each task fails, Airflow retries it, and the marts equal those of an undisturbed run.
Real DAG runs on real PostgreSQL servers.

Two warehouses get the same landing files. The undisturbed one is the company tests/e2e
share (tests/e2e/conftest.py), as its first run left it. The disturbed one is built from
scratch over the same interval, on a private PostgreSQL cluster of its own (so that restarting
it disturbs no other test), with retries, while
- a watcher terminates (pg_terminate_backend, what a network cut does to a session) the session
  of the task that claims the warehouse build, while that session is inside its transaction;
- a second watcher restarts the whole server (`pg_ctl restart -m fast`) once the core marts
  build has begun writing, so the dbt task loses every connection mid-build.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import psycopg

from customer360.config import with_database
from customer360.devtools.server import restart_local_cluster
from tests.support.clusters import private_cluster
from tests.support.marts import RUN_RECORD_RELATIONS, diff_rows, marts_rows
from tests.support.warehouses import new_warehouse


class SessionKiller(threading.Thread):
    """Kills a pipeline session in the middle of its work, deterministically.

    Once ``table`` exists it holds an exclusive lock on it, waits for a pipeline session to
    block on that lock (it is then inside its transaction, mid-task), terminates that
    session and lets the lock go, so the task's retry can run.
    """

    def __init__(self, server_url: str, dbname: str, table: str) -> None:
        super().__init__(daemon=True)
        self.url, self.table = with_database(server_url, dbname), table
        self.killed: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.url) as conn:
            while not self.stop.is_set() and not conn.execute("select to_regclass(%s)", (self.table,)).fetchone()[0]:
                conn.rollback()
                time.sleep(0.02)
            conn.execute(f"lock table {self.table} in access exclusive mode")
            # a second session watches: activity statistics are frozen within the locking transaction
            with psycopg.connect(self.url, autocommit=True) as watcher:
                while not self.stop.is_set() and not self.killed:
                    row = watcher.execute(
                        "select pid, left(query, 60) from pg_stat_activity where datname = current_database() "
                        "and wait_event_type = 'Lock' and pid <> %s limit 1",
                        (conn.info.backend_pid,),
                    ).fetchone()
                    if row and watcher.execute("select pg_terminate_backend(%s)", (row[0],)).fetchone()[0]:
                        self.killed.append(row[1])
                    time.sleep(0.02)
            conn.commit()


class ServerRestarter(threading.Thread):
    """Restarts a private cluster once ``table`` exists: the build is then inside a dbt layer."""

    def __init__(self, url: str, cluster_dir: Path, table: str) -> None:
        super().__init__(daemon=True)
        self.url, self.cluster_dir, self.table = url, cluster_dir, table
        self.restarted_at: float | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True) as conn:
                    if conn.execute("select to_regclass(%s)", (self.table,)).fetchone()[0]:
                        break
            except psycopg.OperationalError:
                pass  # the database is not created yet
            time.sleep(0.05)
        if not self.stop.is_set():
            restart_local_cluster(self.cluster_dir)
            self.restarted_at = time.monotonic()


def test_a_killed_connection_and_a_server_restart_fail_tasks_which_retry_to_the_undisturbed_result(
    company, tmp_path, airflow_home
):
    with private_cluster() as (server_url, cluster_dir):
        _disturbed_run_recovers(company, server_url, cluster_dir, tmp_path, airflow_home)


def _disturbed_run_recovers(company, server_url: str, cluster_dir: Path, tmp_path: Path, airflow_home: Path) -> None:
    # two retries, 3 s apart: a restarted server takes a second or two to accept connections again
    disturbed = new_warehouse(
        server_url, tmp_path, "fault", airflow_home, C360_TASK_RETRIES="2", C360_TASK_RETRY_DELAY="3"
    )
    shutil.copytree(company.warehouse.settings.landing_dir, disturbed.settings.landing_dir)
    dbname = disturbed.settings.connection.dbname
    # the build lease is taken inside a transaction right after the raw gate
    killer = SessionKiller(server_url, dbname, "ops.build_lease")
    # dim_customer is among the first core marts dbt writes, and the layer has some 200 nodes after it
    restarter = ServerRestarter(with_database(server_url, dbname), cluster_dir, "marts_build.dim_customer")
    killer.start()
    restarter.start()
    try:
        disturbed_ok = disturbed.run(company.start, company.end, "disturbed")
    finally:
        for watcher in (killer, restarter):
            watcher.stop.set()
            watcher.join()
    log = disturbed.log("disturbed").read_text()
    assert killer.killed, "the watcher found no pipeline session waiting on the lock to terminate"
    assert restarter.restarted_at is not None, "the core marts were never built: the server was not restarted"
    # the tasks failed on the lost connections ...
    assert "terminating connection due to administrator command" in log or "server closed the connection" in log
    # ... the claim on the killed session, and the core marts layer on the restart ...
    assert log.count("new_state=up_for_retry") >= 2, f"expected two retried tasks; see {disturbed.log('disturbed')}"
    assert "DbtBuildFailed: dbt build --selector core_marts" in log, "the restart did not fail the core marts build"
    assert disturbed_ok, f"... and their retries did not recover; see {disturbed.log('disturbed')}"

    undisturbed = company.first_marts
    recovered = marts_rows(disturbed.settings, canonical_ids=True, exclude=frozenset({"_loaded_at"}))
    differences = diff_rows(undisturbed, recovered, skip=RUN_RECORD_RELATIONS)
    print(
        f"\nkilled: {killer.killed[0]!r}; server restarted; marts relations compared: {len(differences)}, "
        f"rows differing: {sum(differences.values())}"
    )
    assert len(differences) >= 6 and sum(differences.values()) == 0, {t: n for t, n in differences.items() if n}
