"""The loader's tables: raw.<source>, quarantine.<source>, ops.file_manifest, ops.ingest_log.

`ensure_tables(conn)` is idempotent and cheap when everything exists: it reads
the catalog once and only creates what is missing (tables, and contract columns
added since a raw table was created), so it takes no strong locks on tables
that other loaders are writing to.
"""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Iterable

import psycopg
from psycopg import sql

from customer360.db import tables as owned
from customer360.db.connection import qualified
from customer360.ingestion.contracts import SOURCES, SourceContract

log = logging.getLogger(__name__)

PG_TYPES = {
    "text": "text",
    "integer": "bigint",
    "numeric": "numeric(14,2)",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamptz",
}

# The direct CSV path sends a file's lines as they are and leaves the batch and the file name to
# these defaults, read from settings of the file's transaction (BATCH_SETTINGS): a per-row suffix made
# the server store and parse 1.5-2x what a plain COPY does. Unset, they are null and the row is refused.
BATCH_SETTINGS = {"_batch_id": "c360.load_batch_id", "_file_name": "c360.load_file_name"}
RAW_METADATA = (
    ("_batch_id", f"text not null default current_setting('{BATCH_SETTINGS['_batch_id']}', true)"),
    ("_file_name", f"text not null default current_setting('{BATCH_SETTINGS['_file_name']}', true)"),
    ("_line_number", "integer not null"),
    ("_loaded_at", "timestamptz not null default now()"),
    ("_extra", "jsonb"),
)
# The metadata columns the loader writes (the rest default).
RAW_COPY_METADATA = ("_batch_id", "_file_name", "_line_number", "_extra")

QUARANTINE_COLUMNS = (
    ("_batch_id", "text not null"),
    ("_file_name", "text not null"),
    ("_line_number", "integer not null"),
    ("reason_code", "text not null"),
    ("reason", "text not null"),
    ("raw_record", "text"),
    ("_quarantined_at", "timestamptz not null default now()"),
)
QUARANTINE_COPY_COLUMNS = ("_batch_id", "_file_name", "_line_number", "reason_code", "reason", "raw_record")


_LOCK_KEY = 360361  # serialises concurrent ensure_tables calls (CREATE ... IF NOT EXISTS can race)


def raw_column_defs(contract: SourceContract) -> list[tuple[str, str]]:
    return [(c.name, PG_TYPES[c.type]) for c in contract.columns] + list(RAW_METADATA)


def _create_table(schema: str, table: str, columns: Iterable[tuple[str, str]]) -> sql.Composed:
    cols = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in columns)
    return sql.SQL("create table if not exists {} ({})").format(qualified(schema, table), cols)


def ddl_statements(contracts: Iterable[SourceContract] | None = None) -> list[str]:
    """The DDL as text (for docs and review)."""
    out = []
    for c in contracts or SOURCES.values():
        out.append(_create_table("raw", c.name, raw_column_defs(c)).as_string(None))
        out.append(_create_table("quarantine", c.name, QUARANTINE_COLUMNS).as_string(None))
    out.extend(textwrap.dedent(s).strip() for s in owned.INGEST_OPS_DDL)
    return out


def ensure_tables(conn: psycopg.Connection, contracts: Iterable[SourceContract] | None = None) -> None:
    """Create, idempotently, every contract's raw and quarantine table and the ops tables.

    Needs the schemas from `customer360.db.bootstrap.prepare_warehouse`.
    """
    contracts = list(contracts or SOURCES.values())
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        existing: dict[tuple[str, str], dict[str, str]] = {}
        # The catalog itself, not information_schema.columns: that view took some 30 ms here, a
        # loader run's largest fixed cost after connecting (the relations are the view's kinds).
        no_default: set[tuple[str, str, str]] = set()
        for schema, table, column, ctype, has_default in conn.execute(
            """
            select n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.atthasdef
            from pg_attribute a
            join pg_class c on c.oid = a.attrelid
            join pg_namespace n on n.oid = c.relnamespace
            where n.nspname in ('raw', 'quarantine', 'ops')
              and c.relkind in ('r', 'v', 'f', 'p')
              and a.attnum > 0 and not a.attisdropped
            """
        ):
            existing.setdefault((schema, table), {})[column] = ctype
            if not has_default:
                no_default.add((schema, table, column))
        for c in contracts:
            raw_cols = existing.get(("raw", c.name))
            if raw_cols is None:
                conn.execute(_create_table("raw", c.name, raw_column_defs(c)))
                log.info("created raw.%s", c.name)
            else:
                for name, pg_type in raw_column_defs(c):
                    if name not in raw_cols:
                        conn.execute(
                            sql.SQL("alter table {} add column {} {}").format(
                                qualified("raw", c.name),
                                sql.Identifier(name),
                                sql.SQL(pg_type.replace(" not null", "")),
                            )
                        )
                        log.info("added column %s to raw.%s", name, c.name)
                    elif raw_cols[name] != canonical_type(pg_type):
                        log.warning(
                            "raw.%s.%s is %s but the contract declares %s; the table is left as it is",
                            c.name,
                            name,
                            raw_cols[name],
                            canonical_type(pg_type),
                        )
                for name, setting in BATCH_SETTINGS.items():
                    if ("raw", c.name, name) in no_default:  # a raw table from before the direct path's defaults
                        conn.execute(
                            sql.SQL("alter table {} alter column {} set default current_setting({}, true)").format(
                                qualified("raw", c.name), sql.Identifier(name), sql.Literal(setting)
                            )
                        )
            if ("quarantine", c.name) not in existing:
                conn.execute(_create_table("quarantine", c.name, QUARANTINE_COLUMNS))
        owned.create(conn, owned.INGEST_OPS)  # with the log's status migration
        manifest = existing.get(("ops", "file_manifest"))
        if manifest is not None and "rows_suppressed" not in manifest:  # a manifest from before erasure existed
            conn.execute(owned.MANIFEST_SUPPRESSED_MIGRATION)


def canonical_type(pg_type: str) -> str:
    base = pg_type.split(" not null")[0].split(" default")[0]
    return {"timestamptz": "timestamp with time zone", "integer": "integer"}.get(base, base)
