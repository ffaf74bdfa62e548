"""The one place that talks to the warehouse."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from customer360.config import Settings

# What psycopg's execute accepts: a string, or SQL composed with sql.SQL / sql.Identifier.
Query = str | sql.SQL | sql.Composed

# Marts are built into MARTS_BUILD_SCHEMA, checked there, then published by swapping it
# with MARTS_SCHEMA (customer360.orchestration.publish): BI users only ever see a build that passed the gate.
MARTS_SCHEMA = "marts"
MARTS_BUILD_SCHEMA = "marts_build"
# dbt snapshots (history of the golden record); BI reads them through a marts view.
HISTORY_SCHEMA = "history"
# What data stewards review (full golden records, the identity review queue); not BI.
STEWARD_SCHEMA = "steward"
SCHEMAS = (
    "raw",
    "quarantine",
    "ops",
    "staging",
    "intermediate",
    "identity",
    STEWARD_SCHEMA,
    MARTS_SCHEMA,
    MARTS_BUILD_SCHEMA,
    HISTORY_SCHEMA,
    "ml",
)


APPLICATION_NAME = "customer360"


def connect(settings: Settings, *, autocommit: bool = False) -> psycopg.Connection:
    """A pipeline session: it gives up waiting for a lock after ``settings.lock_timeout`` (C360_LOCK_TIMEOUT)."""
    return psycopg.connect(
        settings.warehouse_url,
        autocommit=autocommit,
        application_name=APPLICATION_NAME,
        options=settings.session_options,
    )


@contextmanager
def transaction(settings: Settings) -> Iterator[psycopg.Connection]:
    """A connection whose work commits on success and rolls back on any error."""
    with connect(settings) as conn:
        with conn.transaction():
            yield conn


def scalar(conn: psycopg.Connection, query: Query, params: Any = None) -> Any:
    """The first column of the first row of a query that always returns one (a count, a flag)."""
    row = conn.execute(query, params).fetchone()
    if row is None:
        raise LookupError(f"the query returned no row: {query}")
    return row[0]


def fetch_all(settings: Settings, query: Query, params: Any = None) -> list[tuple]:
    with connect(settings) as conn:
        return conn.execute(query, params).fetchall()


def fetch_one(settings: Settings, query: Query, params: Any = None) -> tuple | None:
    with connect(settings) as conn:
        return conn.execute(query, params).fetchone()


def table_exists(conn: psycopg.Connection, schema: str, table: str) -> bool:
    row = conn.execute("select to_regclass(%s) is not null", (f"{schema}.{table}",)).fetchone()
    return bool(row and row[0])


def qualified(schema: str, table: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))


class LockWaitTimeout(RuntimeError):
    """A pipeline statement gave up waiting for a lock another session holds (C360_LOCK_TIMEOUT)."""


# Lock modes that block a pipeline's writes (and its DDL) on a table.
_BLOCKING_MODES = ("AccessExclusiveLock", "ExclusiveLock", "ShareRowExclusiveLock", "ShareLock")


def lock_holders(settings: Settings) -> list[str]:
    """Other sessions holding a write-blocking lock on a table of this database, oldest transaction first.

    Names the session (pid, application, state, since when) and the table, never the query text.
    """
    rows = fetch_all(
        settings,
        """
        select a.pid, coalesce(nullif(a.application_name, ''), '?'), a.state, a.xact_start,
               l.mode, n.nspname || '.' || c.relname
        from pg_locks l
        join pg_class c on c.oid = l.relation
        join pg_namespace n on n.oid = c.relnamespace
        join pg_stat_activity a on a.pid = l.pid
        where l.granted and l.mode = any(%s)
          and l.database = (select oid from pg_database where datname = current_database())
          and n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
          and a.pid <> pg_backend_pid()
        order by a.xact_start nulls last, a.pid, 6
        limit 5
        """,
        (list(_BLOCKING_MODES),),
    )
    return [
        f"pid {pid} ({app}, {state}{f' since {since:%Y-%m-%d %H:%M:%S %Z}' if since else ''}) holds {mode} on {table}"
        for pid, app, state, since, mode, table in rows
    ]


@contextmanager
def lock_wait_explained(settings: Settings, what: str) -> Iterator[None]:
    """Turn Postgres' lock timeout into a `LockWaitTimeout` that names the lock and its holder.

    The failed statement's transaction has already rolled back and its connection is
    closed when this runs: the task leaves nothing open, and a retry starts clean.
    """
    try:
        yield
    except psycopg.errors.LockNotAvailable as e:
        primary = (e.diag.message_primary if e.diag else None) or str(e).splitlines()[0]
        try:
            holders = lock_holders(settings)
        except psycopg.Error:
            holders = []
        held = "; ".join(holders) if holders else "the holder has gone since"
        raise LockWaitTimeout(
            f"{what}: gave up waiting for a table lock after lock_timeout={settings.lock_timeout} "
            f"(C360_LOCK_TIMEOUT): {primary}. Blocking: {held}. This task's transaction rolled back; "
            "it is retried, and succeeds once that session commits or ends (pg_terminate_backend(pid))."
        ) from e
