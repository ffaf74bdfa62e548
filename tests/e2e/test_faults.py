"""A connection killed in the middle of a task: the task fails, Airflow retries it, and the
marts equal those of an undisturbed run. Real DAG runs on the real Postgres.

Two warehouses get the same landing files. The undisturbed one is the company tests/e2e
share (tests/e2e/conftest.py), as its first run left it. The disturbed one is built from
scratch over the same interval, with one retry per task, while a watcher terminates
(pg_terminate_backend: what a warehouse restart or a network cut does to a session) the
session of the task that claims the warehouse build, while that session is inside its
transaction.
"""

from __future__ import annotations

import shutil
import threading
import time

import psycopg

from customer360.config import with_database
from customer360.devtools.server import drop_database
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


def test_a_killed_connection_fails_the_task_which_retries_to_the_undisturbed_result(
    company, server_url, tmp_path, airflow_home
):
    # one retry, right away: the killed session's warehouse did not go anywhere
    disturbed = new_warehouse(
        server_url, tmp_path, "fault", airflow_home, C360_TASK_RETRIES="1", C360_TASK_RETRY_DELAY="1"
    )
    shutil.copytree(company.warehouse.settings.landing_dir, disturbed.settings.landing_dir)
    try:
        # the build lease is taken inside a transaction right after the raw gate
        killer = SessionKiller(server_url, disturbed.settings.connection.dbname, "ops.build_lease")
        killer.start()
        try:
            disturbed_ok = disturbed.run(company.start, company.end, "disturbed")
        finally:
            killer.stop.set()
            killer.join()
        log = disturbed.log("disturbed").read_text()
        assert killer.killed, "the watcher found no pipeline session waiting on the lock to terminate"
        # the task failed on the lost connection ...
        assert "terminating connection due to administrator command" in log or "server closed the connection" in log
        assert disturbed_ok, f"... and its retry did not recover; see {disturbed.log('disturbed')}"

        undisturbed = company.first_marts
        recovered = marts_rows(disturbed.settings, canonical_ids=True, exclude=frozenset({"_loaded_at"}))
        differences = diff_rows(undisturbed, recovered, skip=RUN_RECORD_RELATIONS)
        print(
            f"\nkilled: {killer.killed[0]!r}; marts relations compared: {len(differences)}, "
            f"rows differing: {sum(differences.values())}"
        )
        assert len(differences) >= 6 and sum(differences.values()) == 0, {t: n for t, n in differences.items() if n}
    finally:
        drop_database(disturbed.url)
