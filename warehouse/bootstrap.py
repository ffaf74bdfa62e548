"""Create the warehouse's schemas and roles; safe to run any number of times."""

from __future__ import annotations

import logging

from psycopg import sql

from warehouse.db import SCHEMAS, connect
from warehouse.settings import Settings

log = logging.getLogger(__name__)

# NOLOGIN group roles; people and services log in as members of them.
ROLE_SCHEMAS: dict[str, dict[str, tuple[str, ...]]] = {
    "c360_loader": {"write": ("raw", "quarantine", "ops"), "read": ()},
    "c360_transformer": {
        "write": ("staging", "intermediate", "identity", "steward", "marts", "marts_build", "history", "ml", "ops"),
        "read": ("raw", "quarantine"),
    },
    "c360_bi_reader": {"write": (), "read": ("marts",)},
    "c360_steward": {"write": (), "read": ("marts", "steward", "history", "quarantine", "identity")},
}


def prepare_warehouse(settings: Settings) -> None:
    with connect(settings, autocommit=True) as conn:
        # Roles are cluster-wide: several databases (demo, tests) share them.
        conn.execute("select pg_advisory_lock(360360)")
        try:
            for role in ROLE_SCHEMAS:
                exists = conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone()
                if not exists:
                    conn.execute(sql.SQL("create role {} nologin").format(sql.Identifier(role)))
            for schema in SCHEMAS:
                conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
                conn.execute(sql.SQL("revoke all on schema {} from public").format(sql.Identifier(schema)))
            for role, access in ROLE_SCHEMAS.items():
                for schema in access["read"]:
                    _grant_read(conn, role, schema)
                for schema in access["write"]:
                    _grant_read(conn, role, schema)
                    conn.execute(
                        sql.SQL("grant create on schema {} to {}").format(sql.Identifier(schema), sql.Identifier(role))
                    )
        finally:
            conn.execute("select pg_advisory_unlock(360360)")
    log.info("warehouse ready: schemas %s", ", ".join(SCHEMAS))


def _grant_read(conn, role: str, schema: str) -> None:
    s, r = sql.Identifier(schema), sql.Identifier(role)
    conn.execute(sql.SQL("grant usage on schema {} to {}").format(s, r))
    conn.execute(sql.SQL("grant select on all tables in schema {} to {}").format(s, r))
    conn.execute(sql.SQL("alter default privileges in schema {} grant select on tables to {}").format(s, r))
