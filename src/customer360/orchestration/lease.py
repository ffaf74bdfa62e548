"""How runs share one warehouse: the intervals they ran, the warehouse's as-of, the build lease.

Several runs may work on the warehouse at once (a backfill run in parallel, a
rerun while the daily run is going, a run started by hand). They split into:

* **loading** (ingest, raw gate): any number at once. A file is claimed by its
  checksum in ``ops.file_manifest`` when its rows commit, so two runs never load
  the same bytes twice (``customer360.ingestion.loader``).
* **building** (dbt staging -> identity -> marts -> scores -> marts gate ->
  publish): one run at a time. A run takes the build lease (``claim``) before
  its first build task and gives it back (``release``) after publishing, or
  after failing. Another run waits for the lease up to
  ``C360_BUILD_WAIT_SECONDS`` and then fails with a message naming the holder.
  Each build stage renews the lease first (``renew``); a run that lost it (it
  expired after ``C360_BUILD_LEASE_SECONDS`` without renewal and another run
  took it) stops before writing anything.

A build always reads everything loaded so far, and its as-of (scoring cutoff,
"not in the future" bound) is the **warehouse's as-of**: the latest end of any
interval a run has registered, not the run's own end. Any build is therefore
a superset of every build before it: whichever parallel run builds last
publishes the same marts as the last run of the same days run one after another,
and rerunning an old interval rebuilds today's marts instead of rolling them
back to that interval's cutoff.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

import psycopg

from customer360.config import Settings
from customer360.db import tables
from customer360.db.connection import connect

log = logging.getLogger(__name__)

LEASE = "warehouse_build"
POLL_SECONDS = 2.0


class BuildLeaseTimeout(RuntimeError):
    """Another run held the warehouse build lease for longer than this run would wait."""


class BuildLeaseLost(RuntimeError):
    """This run's build lease expired and was taken by another run: it must not write."""


def ensure_run_tables(conn: psycopg.Connection) -> None:
    tables.create(conn, tables.RUNS)


def register_interval(settings: Settings, run_key: str, start: datetime, end: datetime) -> None:
    """Record that a run works on [start, end); rerunning it counts another run."""
    with connect(settings) as conn, conn.transaction():
        ensure_run_tables(conn)
        conn.execute(
            """insert into ops.run_intervals (run_key, interval_start, interval_end) values (%s, %s, %s)
               on conflict (run_key) do update set last_run_at = now(), runs = ops.run_intervals.runs + 1""",
            (run_key, start, end),
        )


def warehouse_as_of(settings: Settings, end: datetime) -> datetime:
    """The latest end of any registered interval, and at least ``end``."""
    with connect(settings) as conn:
        ensure_run_tables(conn)
        row = conn.execute("select max(interval_end) from ops.run_intervals").fetchone()
        conn.commit()
    latest = row[0] if row else None
    return max(end, latest) if latest is not None else end


@dataclass(frozen=True)
class LeaseHolder:
    holder: str
    run_key: str
    claimed_at: datetime
    expires_at: datetime

    def describe(self) -> str:
        return (
            f"run {self.run_key} (lease {self.holder}) since {self.claimed_at:%Y-%m-%d %H:%M:%S %Z}, "
            f"lease valid until {self.expires_at:%Y-%m-%d %H:%M:%S %Z}"
        )


def current_holder(conn: psycopg.Connection) -> LeaseHolder | None:
    row = conn.execute(
        "select holder, run_key, claimed_at, expires_at from ops.build_lease where lease = %s", (LEASE,)
    ).fetchone()
    return LeaseHolder(*row) if row else None


def claim(settings: Settings, run_key: str, *, wait_seconds: float | None = None) -> str:
    """Take the build lease for ``run_key``, waiting for the run that holds it; returns the lease token.

    A lease past its expiry is taken over (its run died without releasing it).
    Raises ``BuildLeaseTimeout`` after ``wait_seconds`` (default C360_BUILD_WAIT_SECONDS).
    """
    wait = settings.build_wait_seconds if wait_seconds is None else wait_seconds
    token = f"{run_key}/{uuid.uuid4().hex[:12]}"
    deadline = time.monotonic() + wait
    with connect(settings, autocommit=True) as conn:
        ensure_run_tables(conn)
        waited_for: LeaseHolder | None = None
        while True:
            with conn.transaction():
                before = current_holder(conn)
                got = conn.execute(
                    """insert into ops.build_lease as l (lease, holder, run_key, claimed_at, renewed_at, expires_at)
                       values (%(lease)s, %(token)s, %(run_key)s, now(), now(), now() + make_interval(secs => %(secs)s))
                       on conflict (lease) do update
                           set holder = excluded.holder, run_key = excluded.run_key, claimed_at = excluded.claimed_at,
                               renewed_at = excluded.renewed_at, expires_at = excluded.expires_at
                           where l.expires_at < now()
                       returning holder""",
                    {"lease": LEASE, "token": token, "run_key": run_key, "secs": settings.build_lease_seconds},
                ).fetchone()
            if got is not None:
                if before is not None:
                    log.warning("took over the warehouse build lease of %s: it had expired", before.describe())
                log.info(
                    "warehouse build lease taken by run %s%s",
                    run_key,
                    f" after waiting for {waited_for.run_key}" if waited_for else "",
                )
                return token
            holder = current_holder(conn)
            if holder is None:
                continue  # released between the two statements
            if waited_for is None or waited_for.holder != holder.holder:
                log.info("waiting for the warehouse build lease: held by %s", holder.describe())
                waited_for = holder
            if time.monotonic() >= deadline:
                raise BuildLeaseTimeout(
                    f"run {run_key} waited {wait:g}s (C360_BUILD_WAIT_SECONDS) for the warehouse build lease, "
                    f"held by {holder.describe()}. Only one run builds the warehouse at a time; this run loaded "
                    "its files and built nothing. Retry it when that run is done; if that run died, the lease "
                    f"frees itself when it expires, or delete its row: delete from ops.build_lease where "
                    f"holder = '{holder.holder}'"
                )
            time.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())) or 0.05)


def renew(settings: Settings, token: str) -> None:
    """Confirm this run still holds the lease and extend it; raise ``BuildLeaseLost`` if it does not."""
    with connect(settings, autocommit=True) as conn:
        ensure_run_tables(conn)
        row = conn.execute(
            """update ops.build_lease set renewed_at = now(), expires_at = now() + make_interval(secs => %s)
               where lease = %s and holder = %s returning 1""",
            (settings.build_lease_seconds, LEASE, token),
        ).fetchone()
        if row is None:
            holder = current_holder(conn)
            raise BuildLeaseLost(
                f"this run no longer holds the warehouse build lease ({token}); it is held by "
                f"{holder.describe() if holder else 'no run'}. The lease expired (C360_BUILD_LEASE_SECONDS="
                f"{settings.build_lease_seconds}) or was removed by hand. Nothing was written by this task; "
                "rerun the interval."
            )


def release(settings: Settings, token: str | None) -> bool:
    """Give the lease back; False when this run did not hold it (never claimed, or already lost)."""
    if not token:
        return False
    with connect(settings, autocommit=True) as conn:
        ensure_run_tables(conn)
        row = conn.execute(
            "delete from ops.build_lease where lease = %s and holder = %s returning 1", (LEASE, token)
        ).fetchone()
    return row is not None
