"""The one place that talks to the warehouse."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from warehouse.settings import Settings

# Marts are built into MARTS_BUILD_SCHEMA, checked there, then published by swapping it
# with MARTS_SCHEMA (warehouse.publish): BI users only ever see a build that passed the gate.
MARTS_SCHEMA = "marts"
MARTS_BUILD_SCHEMA = "marts_build"
# dbt snapshots (history of the golden record); BI reads them through a marts view.
HISTORY_SCHEMA = "history"
# What data stewards review (full golden records, the identity review queue); not BI.
STEWARD_SCHEMA = "steward"
SCHEMAS = ("raw", "quarantine", "ops", "staging", "intermediate", "identity", STEWARD_SCHEMA, MARTS_SCHEMA,
           MARTS_BUILD_SCHEMA, HISTORY_SCHEMA, "ml")


def connect(settings: Settings, *, autocommit: bool = False) -> psycopg.Connection:
    return psycopg.connect(settings.warehouse_url, autocommit=autocommit, application_name="customer360",
                           **connect_options(settings))


def connect_options(settings: Settings) -> dict[str, str]:
    """libpq options for a session: the group role it acts as (a SET ROLE from the start)."""
    return {"options": f"-c role={settings.role}"} if settings.role else {}


@contextmanager
def transaction(settings: Settings) -> Iterator[psycopg.Connection]:
    """A connection whose work commits on success and rolls back on any error."""
    with connect(settings) as conn:
        with conn.transaction():
            yield conn


def fetch_all(settings: Settings, query: str | sql.Composable, params: Any = None) -> list[tuple]:
    with connect(settings) as conn:
        return conn.execute(query, params).fetchall()


def fetch_one(settings: Settings, query: str | sql.Composable, params: Any = None) -> tuple | None:
    with connect(settings) as conn:
        return conn.execute(query, params).fetchone()


def table_exists(conn: psycopg.Connection, schema: str, table: str) -> bool:
    row = conn.execute("select to_regclass(%s) is not null", (f"{schema}.{table}",)).fetchone()
    return bool(row and row[0])


def qualified(schema: str, table: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))
