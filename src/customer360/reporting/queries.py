"""The run report's queries: counts, checks, quarantine, files, identity and model evaluation.

Each returns None (or an empty value) when its tables do not exist yet, so that every section of the
report can say "not available" instead of failing.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg import sql

from customer360.db.connection import qualified, scalar, table_exists
from customer360.ingestion.contracts import SOURCES

log = logging.getLogger(__name__)

LAYERS = ("raw", "quarantine", "staging", "intermediate", "identity", "marts", "ml")


TREND_RUNS = 20


def row_counts(conn: psycopg.Connection, schemas: tuple[str, ...] = LAYERS) -> dict[str, dict[str, int | None]]:
    """Rows of every table and view in `schemas`, by schema (None where a view cannot be read)."""
    rows = conn.execute(
        """
        select table_schema, table_name from information_schema.tables
        where table_schema = any(%s) and table_type in ('BASE TABLE', 'VIEW')
        order by table_schema, table_name
        """,
        (list(schemas),),
    ).fetchall()
    counts: dict[str, dict[str, int | None]] = {schema: {} for schema in schemas}
    for schema, table in rows:
        try:
            n = scalar(conn, sql.SQL("select count(*) from {}").format(qualified(schema, table)))
        except psycopg.Error as exc:  # e.g. a view over a dropped table
            log.warning("cannot count %s.%s: %s", schema, table, exc)
            n = None
        counts[schema][table] = n
    return counts


def dq_results(conn: psycopg.Connection, run_id: str) -> list[dict[str, Any]] | None:
    if not table_exists(conn, "ops", "dq_results"):
        return None
    cur = conn.execute(
        """
        select suite, check_name, table_name, column_name, severity, owner, passed, failing_count,
               failing_examples, checked_at
        from ops.dq_results where run_id = %s
        order by passed, severity = 'warn', suite, check_name
        """,
        (run_id,),
    )
    return _dicts(cur)


def quarantine_counts(conn: psycopg.Connection) -> dict[str, dict[str, int]] | None:
    out: dict[str, dict[str, int]] = {}
    for source in SOURCES:
        if not table_exists(conn, "quarantine", source) or not _has_column(conn, "quarantine", source, "reason_code"):
            continue
        rows = conn.execute(
            sql.SQL("select coalesce(reason_code::text, '(none)'), count(*) from {} group by 1 order by 2 desc").format(
                qualified("quarantine", source)
            )
        ).fetchall()
        out[source] = {reason: n for reason, n in rows}
    return out or None


def files_not_loaded(conn: psycopg.Connection, run_id: str) -> list[dict[str, Any]] | None:
    """Files this run's loads rejected, loaded in place of an earlier version, or skipped as already loaded,
    in that order (the batch id is the run id)."""
    if not table_exists(conn, "ops", "ingest_log"):
        return None
    cur = conn.execute(
        """
        select source, file_name, status, message from ops.ingest_log
        where batch_id = %s and status in ('rejected', 'replaced', 'duplicate')
        order by array_position(array['rejected', 'replaced', 'duplicate'], status), source, file_name
        """,
        (run_id,),
    )
    return _dicts(cur)


def _dicts(cur: psycopg.Cursor) -> list[dict[str, Any]]:
    """The rows of an executed query as dicts by column name."""
    names = [d.name for d in cur.description or ()]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def review_queue_size(conn: psycopg.Connection) -> int | None:
    """Pairs of source records held for a steward's decision (the identity review queue)."""
    for schema, table in (("steward", "steward_review_pairs"), ("identity", "review_queue")):
        if table_exists(conn, schema, table):
            return scalar(conn, sql.SQL("select count(*) from {}").format(qualified(schema, table)))
    return None


def identity_resolution(conn: psycopg.Connection) -> dict[str, Any] | None:
    """The latest identity resolution executed: its counts and its training notes."""
    if not table_exists(conn, "identity", "resolution_runs"):
        return None
    row = conn.execute(
        """select run_id, mode, records, customers, scored_pairs, review_pairs, training
           from identity.resolution_runs order by logged_at desc, resolved_at desc, attempt desc limit 1"""
    ).fetchone()
    if row is None:
        return None
    run_id, mode, records, customers, scored, review, training = row
    if training is None:
        notes = ["Rules only: no probabilistic model was used in this run."]
    elif training.get("reused_model"):
        # An incremental run scores with the last trained model: what that training could not estimate still holds.
        trained = conn.execute(
            """select run_id, training from identity.resolution_runs
               where training is not null and not coalesce((training ->> 'reused_model')::boolean, false)
               order by logged_at desc, resolved_at desc, attempt desc limit 1"""
        ).fetchone()
        notes = (
            [f"(The model was trained in run {trained[0]}.) {note}" for note in trained[1].get("notes", [])]
            if trained
            else []
        )
    else:
        notes = training.get("notes", [])
    return {
        "run_id": run_id,
        "mode": mode,
        "records": records,
        "customers": customers,
        "scored_pairs": scored,
        "review_pairs": review,
        "notes": notes,
    }


def check_trend(conn: psycopg.Connection) -> list[tuple[str, int, int]] | None:
    """(run, failed error checks, failed warn checks) for the last runs, oldest first."""
    if not table_exists(conn, "ops", "dq_results"):
        return None
    rows = conn.execute(
        """
        select run_id,
               count(*) filter (where not passed and severity = 'error'),
               count(*) filter (where not passed and severity = 'warn')
        from ops.dq_results group by run_id order by max(checked_at) desc, run_id desc limit %s
        """,
        (TREND_RUNS,),
    ).fetchall()
    return list(reversed(rows)) or None


def quarantine_trend(conn: psycopg.Connection) -> dict[str, list[tuple[str, float]]] | None:
    """source -> [(batch, share of the batch's rows quarantined)] for the last load batches, oldest first."""
    if not table_exists(conn, "ops", "file_manifest"):
        return None
    rows = conn.execute(
        """
        with batches as (
            select batch_id, min(loaded_at) as at from ops.file_manifest
            group by batch_id order by min(loaded_at) desc limit %s
        )
        select m.source, m.batch_id, sum(m.rows_quarantined)::float / greatest(sum(m.rows_in_file), 1)
        from ops.file_manifest m join batches b using (batch_id)
        group by m.source, m.batch_id, b.at order by b.at
        """,
        (TREND_RUNS,),
    ).fetchall()
    out: dict[str, list[tuple[str, float]]] = {}
    for source, batch, share in rows:
        out.setdefault(source, []).append((batch, share))
    return out or None


def _has_column(conn: psycopg.Connection, schema: str, table: str, column: str) -> bool:
    return (
        conn.execute(
            "select 1 from information_schema.columns where table_schema = %s and table_name = %s and column_name = %s",
            (schema, table, column),
        ).fetchone()
        is not None
    )


def numeric_column(conn: psycopg.Connection, schema: str, table: str, column: str) -> list[float] | None:
    if not table_exists(conn, schema, table) or not _has_column(conn, schema, table, column):
        return None
    rows = conn.execute(
        sql.SQL("select {c}::double precision from {t} where {c} is not null").format(
            c=sql.Identifier(column), t=qualified(schema, table)
        )
    ).fetchall()
    return [r[0] for r in rows] or None


def ml_evaluation(conn: psycopg.Connection) -> dict[str, list[dict[str, Any]]]:
    """The evaluation tables of the latest scoring run (latest cutoff, then model version)."""
    if not table_exists(conn, "ml", "evaluation_tables"):
        return {}
    rows = conn.execute(
        """
        select table_name, rows from ml.evaluation_tables
        where (cutoff_date, model_version) = (
            select cutoff_date, model_version from ml.evaluation_tables
            order by cutoff_date desc, model_version desc limit 1)
        """
    ).fetchall()
    return {name: table for name, table in rows}
