"""Runs sharing the warehouse, on the real Postgres: lock waits, the build lease, missing and empty
deliveries, source time zones. The whole-DAG behaviour (reruns, backfills, late data) is in
tests/e2e/test_reruns.py."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest

from customer360.db.connection import APPLICATION_NAME, LockWaitTimeout, connect, lock_wait_explained
from customer360.ingestion.contracts import SOURCES
from customer360.ingestion.loader import load_interval
from customer360.orchestration import lease, stages
from customer360.orchestration.interval import DataInterval
from customer360.quality.gate import QualityGateFailed

POS_HEADER = "transaction_id;loyalty_id;store_id;transaction_at;amount;currency;items"
LONDON = ZoneInfo("Europe/London")


def _utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _interval(start: date, days: int = 1) -> DataInterval:
    return DataInterval(_utc(start), _utc(start + timedelta(days=days)))


def _pos_file(landing: Path, day: date, rows: list[str], part: int = 1) -> Path:
    folder = landing / "pos_transactions" / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"pos_transactions_{day.isoformat()}_{part:03d}.csv"
    path.write_text("\n".join([POS_HEADER, *rows]) + "\n")
    return path


def _open_transactions(settings) -> list[tuple]:
    with connect(settings) as conn:
        return conn.execute(
            "select pid, application_name, state from pg_stat_activity where datname = current_database() "
            "and xact_start is not null and pid <> pg_backend_pid()"
        ).fetchall()


# --------------------------------------------------------------------------- a lock held by another session


def test_a_lock_held_by_another_session_times_out_names_the_lock_leaves_nothing_open_and_a_retry_succeeds(
    warehouse_settings,
):
    settings = dataclasses.replace(warehouse_settings, lock_timeout="1s")
    stages.prepare(settings)
    day = date(2024, 1, 1)
    _pos_file(settings.landing_dir, day, [f"T{i};;S1;2024-01-01T10:00:00Z;1.00;GBP;" for i in range(50)])
    interval = _interval(day)

    holder = psycopg.connect(settings.warehouse_url, application_name="someone_else")
    try:
        holder.execute("lock table raw.pos_transactions in access exclusive mode")  # open transaction
        started = time.monotonic()
        with pytest.raises(LockWaitTimeout) as failure:
            with lock_wait_explained(settings, "ingest"):
                stages.ingest(settings, interval, "pos_transactions")
        waited = time.monotonic() - started
        message = str(failure.value)
        assert "lock_timeout=1s" in message and "C360_LOCK_TIMEOUT" in message
        assert "AccessExclusiveLock on raw.pos_transactions" in message and "someone_else" in message
        assert waited < 30
        # the failed task left no transaction open: only the holder's is
        assert [(app, state) for _, app, state in _open_transactions(settings)] == [
            ("someone_else", "idle in transaction")
        ]
    finally:
        holder.rollback()  # the lock is released
        holder.close()

    report = stages.ingest(settings, interval, "pos_transactions")  # the retry
    assert report["rows_loaded"] == 50
    with connect(settings) as conn:
        assert conn.execute("select count(*), count(distinct transaction_id) from raw.pos_transactions").fetchone() == (
            50,
            50,
        )
    assert _open_transactions(settings) == []


def test_pipeline_sessions_and_dbt_get_the_lock_timeout(warehouse_settings):
    settings = dataclasses.replace(warehouse_settings, lock_timeout="750ms")
    with connect(settings) as conn:
        assert conn.execute("show lock_timeout").fetchone()[0] == "750ms"
        assert conn.info.parameter_status("application_name") == APPLICATION_NAME
    assert settings.dbt_env()["PGOPTIONS"] == "-c lock_timeout=750ms"
    with pytest.raises(ValueError, match="C360_LOCK_TIMEOUT"):
        dataclasses.replace(settings, lock_timeout="soon")


# --------------------------------------------------------------------------- the build lease


def test_two_runs_building_at_once_one_waits_and_a_run_that_waits_too_long_fails_naming_the_holder(
    warehouse_settings,
):
    settings = warehouse_settings
    stages.prepare(settings)
    first = lease.claim(settings, "20240101-20240102")
    with pytest.raises(lease.BuildLeaseTimeout, match=r"C360_BUILD_WAIT_SECONDS.*held by run 20240101-20240102 "):
        lease.claim(settings, "20240102-20240103", wait_seconds=1)

    # a second run waits and builds once the first has released: their builds never overlap
    windows: dict[str, tuple[float, float]] = {}

    def second_run() -> None:
        token = lease.claim(settings, "20240102-20240103", wait_seconds=30)
        windows["second"] = (time.monotonic(), 0.0)
        lease.release(settings, token)

    waiter = threading.Thread(target=second_run)
    waiter.start()
    time.sleep(2.5)
    assert "second" not in windows  # still waiting
    lease.renew(settings, first)
    released_at = time.monotonic()
    assert lease.release(settings, first)
    waiter.join(30)
    assert windows["second"][0] >= released_at
    with connect(settings) as conn:
        assert conn.execute("select count(*) from ops.build_lease").fetchone()[0] == 0


def test_an_expired_lease_is_taken_over_and_its_run_stops_before_writing(warehouse_settings):
    settings = warehouse_settings
    stages.prepare(settings)
    dead = lease.claim(settings, "20240101-20240102")
    with connect(settings) as conn:
        conn.execute("update ops.build_lease set expires_at = now() - interval '1 second'")
        conn.commit()
    alive = lease.claim(settings, "20240102-20240103", wait_seconds=0)
    with pytest.raises(lease.BuildLeaseLost, match="held by run 20240102-20240103"):
        lease.renew(settings, dead)
    assert not lease.release(settings, dead) and lease.release(settings, alive)
    assert not lease.release(settings, None)


def test_the_build_as_of_is_the_latest_interval_any_run_registered(warehouse_settings):
    settings = warehouse_settings
    old, new = _interval(date(2024, 1, 3)), _interval(date(2024, 1, 7))
    stages.prepare(settings, new)
    stages.prepare(settings, old)
    stages.prepare(settings, old)  # a rerun
    assert lease.warehouse_as_of(settings, old.end) == new.end
    build = DataInterval.from_dict(stages.claim_build(settings, old))
    assert (build.run_key, build.as_of, build.cutoff_date) == (old.run_key, new.end, new.end_date)
    with connect(settings) as conn:
        assert conn.execute("select runs from ops.run_intervals where run_key = %s", (old.run_key,)).fetchone() == (2,)


# --------------------------------------------------------------------------- missing and empty deliveries


def test_a_missing_day_fails_the_raw_gate_naming_the_source_and_the_day_and_an_empty_file_is_a_delivery(
    warehouse_settings,
):
    settings = warehouse_settings
    start = date(2024, 1, 1)
    interval = _interval(start, days=3)
    stages.prepare(settings, interval)
    _pos_file(settings.landing_dir, start, [f"T{i};;S1;2024-01-01T10:00:00Z;1.00;GBP;" for i in range(5)])
    _pos_file(settings.landing_dir, start + timedelta(days=2), [])  # a quiet day: header only
    crm_header = ",".join(SOURCES["crm_accounts"].column_names)
    for offset in range(3):  # the CRM sent a header-only file each day: byte-identical files
        folder = settings.landing_dir / "crm_accounts" / (start + timedelta(days=offset)).isoformat()
        folder.mkdir(parents=True)
        (folder / f"crm_accounts_{start + timedelta(days=offset)}_001.csv").write_text(crm_header + "\n")
    for source in SOURCES:
        stages.ingest(settings, interval, source)

    with pytest.raises(QualityGateFailed) as failure:
        stages.check_raw(settings, interval)
    failed = [(f.check_name, f.table_name, f.failing_examples) for f in failure.value.failures]
    assert failed == [("missing_delivery_day", "raw.pos_transactions", ["2024-01-02"])]
    assert "missing_delivery_day on raw.pos_transactions failed for 1 row(s) (e.g. 2024-01-02)" in str(failure.value)

    # the till system re-sends the day (an empty file: nothing was sold): the rerun passes
    _pos_file(settings.landing_dir, start + timedelta(days=1), [])
    stages.ingest(settings, interval, "pos_transactions")
    assert stages.check_raw(settings, interval)["checks"] > 0


# --------------------------------------------------------------------------- time zones


def _wall_times(day: date, step: timedelta = timedelta(minutes=30)) -> list[str]:
    """Every `step` of the London day `day`, written as a till does: local wall-clock time, no offset."""
    start = datetime(day.year, day.month, day.day, tzinfo=LONDON).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=LONDON).astimezone(UTC)
    out, t = [], start
    while t < end:
        out.append(t.astimezone(LONDON).strftime("%Y-%m-%dT%H:%M:%S"))
        t += step
    return out


def test_till_times_are_read_in_uk_time_and_daylight_saving_days_keep_every_event(warehouse_settings):
    settings = warehouse_settings
    assert SOURCES["pos_transactions"].timezone == "Europe/London"
    assert SOURCES["web_orders"].timezone == "UTC"
    stages.prepare(settings)
    expected = {}
    for day in (date(2024, 3, 31), date(2024, 10, 27), date(2024, 1, 15)):
        times = _wall_times(day)
        expected[day] = len(times)
        rows = [f"{day:%m%d}-{i};;S1;{t};1.00;GBP;" for i, t in enumerate(times)]
        _pos_file(settings.landing_dir, day, rows[: len(rows) // 2])
        # the second half in a file the columnar path cannot vouch for (a "," before the fraction):
        # it is read row by row, with the same rule
        rest = rows[len(rows) // 2 :]
        rest[0] = rest[0].replace(":00;1.00", ":00,000;1.00")
        _pos_file(settings.landing_dir, day, rest, part=2)
    offset_day = date(2024, 6, 1)
    _pos_file(
        settings.landing_dir,
        offset_day,
        [
            "X1;;S1;2024-06-01T12:00:00+02:00;1.00;GBP;",
            "X2;;S1;2024-06-01T12:00:00Z;1.00;GBP;",
            "X3;;S1;2024-06-01T12:00:00;1.00;GBP;",
        ],
    )
    report = load_interval(settings, date(2024, 1, 1), date(2024, 11, 1), sources=["pos_transactions"])
    assert report.rejected_files == [] and report.rows_quarantined == 0

    with connect(settings) as conn:
        per_day = dict(
            conn.execute(
                "select (transaction_at at time zone 'Europe/London')::date, count(*) from raw.pos_transactions "
                "where transaction_id not like 'X%' group by 1"
            ).fetchall()
        )
        explicit = dict(
            conn.execute(
                "select transaction_id, to_char(transaction_at at time zone 'UTC', 'HH24:MI') "
                "from raw.pos_transactions where transaction_id like 'X%'"
            ).fetchall()
        )
        spring_first = conn.execute(
            "select min(transaction_at) at time zone 'UTC' from raw.pos_transactions where transaction_id like '0331-%'"
        ).fetchone()[0]
    # 23 hours on the spring change, 25 on the autumn one, 24 on an ordinary winter day: no event lost
    assert expected == {date(2024, 3, 31): 46, date(2024, 10, 27): 50, date(2024, 1, 15): 48}
    assert per_day == expected
    assert explicit == {"X1": "10:00", "X2": "12:00", "X3": "11:00"}  # an offset is kept; none: BST
    assert spring_first == datetime(2024, 3, 31, 0, 0)  # local midnight in winter time is midnight UTC
