"""Create the warehouse's schemas and roles; safe to run any number of times."""

from __future__ import annotations

import logging

from psycopg import sql

from customer360.config import Settings
from customer360.db import tables
from customer360.db.connection import MARTS_BUILD_SCHEMA, MARTS_SCHEMA, SCHEMAS, connect
from customer360.db.roles import LOADER, TRANSFORMER

log = logging.getLogger(__name__)

PUBLISH_LOCK = 360361

# NOLOGIN group roles; people and services log in as members of them. The pipeline's
# own sessions act as LOADER (ingestion) or TRANSFORMER (everything after it), never
# as the superuser: see Settings.as_role and customer360.orchestration.stages.
ROLE_SCHEMAS: dict[str, dict[str, tuple[str, ...]]] = {
    LOADER: {"write": ("raw", "quarantine", "ops"), "read": ()},
    TRANSFORMER: {
        "write": ("staging", "intermediate", "identity", "steward", "marts", "marts_build", "history", "ml", "ops"),
        "read": ("raw", "quarantine"),
    },
    "c360_bi_reader": {"write": (), "read": ("marts",)},
    "c360_steward": {"write": (), "read": ("marts", "steward", "history", "quarantine", "identity")},
}

# The role that owns (creates, alters, replaces) the tables of each schema; in ops, per table.
TABLE_OWNERS: dict[str, str] = {
    "raw": LOADER,
    "quarantine": LOADER,
    **{
        schema: TRANSFORMER
        for schema in ("staging", "intermediate", "identity", "steward", "marts", "marts_build", "history", "ml")
    },
}
# In ops, per table, as customer360.db.tables declares (the erasure's tables stay the administrator's).
OPS_TABLE_OWNERS: dict[str, str] = {
    name.removeprefix("ops."): group.owner
    for group in tables.REGISTRY
    for name in group.names
    if name.startswith("ops.") and group.owner is not None
}
MARTS_READERS = tuple(role for role, access in ROLE_SCHEMAS.items() if MARTS_SCHEMA in access["read"])


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
            _limit_database_access(conn)
            _hand_tables_to_their_owners(conn)
            _create_publish_function(conn)
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


# Roles that may create temporary tables: dbt's incremental models and the identity stage use them.
TEMP_ROLES = (LOADER, TRANSFORMER)


def _limit_database_access(conn) -> None:
    """Only the project's roles may connect to the warehouse database, and only the pipeline's may
    create temporary tables (PostgreSQL grants both to PUBLIC by default: a BI login could create
    temporary tables). Other databases on the server are their owners' to close."""
    database = sql.Identifier(conn.info.dbname)
    conn.execute(sql.SQL("revoke connect, temporary on database {} from public").format(database))
    conn.execute(
        sql.SQL("grant connect on database {} to {}").format(
            database, sql.SQL(", ").join(map(sql.Identifier, ROLE_SCHEMAS))
        )
    )
    conn.execute(
        sql.SQL("grant temporary on database {} to {}").format(
            database, sql.SQL(", ").join(map(sql.Identifier, TEMP_ROLES))
        )
    )


def _create_publish_function(conn) -> None:
    """ops.publish_marts(): swap the checked build in as the marts, callable by the transformer.

    Renaming schemas needs rights on the whole database, which the transformer must not
    have; this one definer-rights function is all of them it gets. It moves the readers'
    access to the new marts and takes it off the build, in one transaction.
    """
    published, build = sql.Identifier(MARTS_SCHEMA), sql.Identifier(MARTS_BUILD_SCHEMA)
    readers = sql.SQL(", ").join(map(sql.Identifier, MARTS_READERS))
    body = sql.SQL("""
        begin
            perform pg_advisory_xact_lock({lock});
            alter schema {published} rename to marts_outgoing;
            alter schema {build} rename to {published};
            alter schema marts_outgoing rename to {build};
            revoke all on schema {build} from {readers};
            grant usage on schema {published} to {readers};
            grant select on all tables in schema {published} to {readers};
        end""").format(lock=sql.Literal(PUBLISH_LOCK), published=published, build=build, readers=readers)
    conn.execute(
        sql.SQL(
            "create or replace function ops.publish_marts() returns void language plpgsql security definer "
            "set search_path = pg_catalog as {}"
        ).format(sql.Literal(body.as_string(conn)))
    )
    conn.execute("revoke all on function ops.publish_marts() from public")
    conn.execute(sql.SQL("grant execute on function ops.publish_marts() to {}").format(sql.Identifier(TRANSFORMER)))


def _hand_tables_to_their_owners(conn) -> None:
    """Tables made by an older version, or by hand as the admin, go to the role that maintains them."""
    rows = conn.execute(
        """select n.nspname, c.relname, c.relkind, pg_get_userbyid(c.relowner)
           from pg_class c join pg_namespace n on n.oid = c.relnamespace
           where n.nspname = any(%s) and c.relkind in ('r', 'p', 'v', 'm', 'S')
             and not (c.relkind = 'S' and exists (
                 select 1 from pg_depend d where d.objid = c.oid and d.deptype in ('a', 'i')))""",
        (list(SCHEMAS),),
    ).fetchall()
    kinds = {"r": "table", "p": "table", "v": "view", "m": "materialized view", "S": "sequence"}
    for schema, name, kind, owner in rows:
        target = OPS_TABLE_OWNERS.get(name) if schema == "ops" else TABLE_OWNERS.get(schema)
        if target and owner != target:
            conn.execute(
                sql.SQL("alter {} {}.{} owner to {}").format(
                    sql.SQL(kinds[kind]), sql.Identifier(schema), sql.Identifier(name), sql.Identifier(target)
                )
            )


def _grant_read(conn, role: str, schema: str) -> None:
    s, r = sql.Identifier(schema), sql.Identifier(role)
    conn.execute(sql.SQL("grant usage on schema {} to {}").format(s, r))
    conn.execute(sql.SQL("grant select on all tables in schema {} to {}").format(s, r))
    # Tables the admin, the loader or the transformer create later are readable too.
    conn.execute(sql.SQL("alter default privileges in schema {} grant select on tables to {}").format(s, r))
    for creator in (LOADER, TRANSFORMER):
        if creator != role:
            conn.execute(
                sql.SQL("alter default privileges for role {} in schema {} grant select on tables to {}").format(
                    sql.Identifier(creator), s, r
                )
            )
