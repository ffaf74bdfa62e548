"""The identity schema: its tables, and reading and writing them."""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

INPUT_TABLE = "intermediate.int_source_records"

DDL = """
create table if not exists identity.customer_source_xref (
    source text not null,
    source_record_key text not null,
    customer_id text not null,
    matched_by text not null,
    resolved_run_id text not null,
    primary key (source, source_record_key)
);
alter table identity.customer_source_xref add column if not exists match_key_hash text;
create index if not exists customer_source_xref_customer on identity.customer_source_xref (customer_id);
create sequence if not exists identity.customer_id_seq;
create table if not exists identity.customer_id_history (
    old_customer_id text not null,
    new_customer_id text not null,
    reason text not null,
    run_id text not null,
    changed_at timestamptz not null,
    primary key (old_customer_id, new_customer_id, run_id)
);
create table if not exists identity.resolution_runs (
    run_id text primary key,
    resolved_at timestamptz not null,
    records integer not null,
    customers integer not null,
    new_customers integer not null,
    merged_ids integer not null,
    split_ids integer not null,
    links_by_rule jsonb not null
);
alter table identity.resolution_runs add column if not exists mode text;
alter table identity.resolution_runs add column if not exists records_matched integer;
alter table identity.resolution_runs add column if not exists scored_pairs integer;
alter table identity.resolution_runs add column if not exists review_pairs integer;
alter table identity.resolution_runs add column if not exists seconds jsonb;
-- How the match model's parameters were obtained (customer360.identity.probabilistic.Training); null: rules only.
alter table identity.resolution_runs add column if not exists training jsonb;
-- When the execution was logged (resolved_at is its interval's as-of): the report shows the latest.
alter table identity.resolution_runs add column if not exists logged_at timestamptz not null default now();
-- One row per execution: a rerun of an interval (same run_id) is logged as its next attempt.
alter table identity.resolution_runs add column if not exists attempt integer not null default 1;
do $$
begin
    if (select array_length(conkey, 1) from pg_constraint
        where conrelid = 'identity.resolution_runs'::regclass and contype = 'p') = 1 then
        alter table identity.resolution_runs drop constraint resolution_runs_pkey;
        alter table identity.resolution_runs add primary key (run_id, attempt);
    end if;
end $$;
create table if not exists identity.match_pairs (
    run_id text not null,
    left_source text not null,
    left_source_record_key text not null,
    right_source text not null,
    right_source_record_key text not null,
    match_weight double precision not null,
    match_probability double precision not null,
    evidence jsonb not null,
    outcome text not null check (outcome in ('link', 'review', 'household_guard', 'below_review')),
    -- The latest score of each pair; run_id is the run that scored it.
    primary key (left_source, left_source_record_key, right_source, right_source_record_key)
);
create table if not exists identity.review_queue (
    run_id text not null,
    left_source text not null,
    left_source_record_key text not null,
    right_source text not null,
    right_source_record_key text not null,
    reason text not null,
    rule text not null,
    match_probability double precision,
    primary key (left_source, left_source_record_key, right_source, right_source_record_key)
);
create table if not exists identity.steward_decisions (
    decision_id bigint generated always as identity primary key,
    left_source text not null,
    left_source_record_key text not null,
    right_source text not null,
    right_source_record_key text not null,
    decision text not null check (decision in ('must_link', 'cannot_link')),
    decided_by text not null default current_user,
    decided_at timestamptz not null default now(),
    note text
);
create table if not exists identity.match_models (
    run_id text primary key,
    trained_at timestamptz not null,
    model jsonb not null
);
grant select, insert, update, delete on identity.steward_decisions to c360_steward;
"""

INPUT_COLUMNS: tuple[str, ...] = (
    "source",
    "source_record_key",
    "account_id",
    "loyalty_id",
    "web_account_id",
    "email_normalised",
    "previous_email_normalised",
    "phone_normalised",
    "first_name_normalised",
    "first_name_canonical",
    "last_name_normalised",
    "postcode_normalised",
    "date_of_birth",
)
# Old inputs (before first_name_canonical) still resolve: missing optional columns read as null.
OPTIONAL_COLUMNS = ("first_name_canonical", "previous_email_normalised", "postcode_normalised", "date_of_birth")


def ensure_identity_tables(conn) -> None:
    exists = conn.execute("select 1 from pg_roles where rolname = 'c360_steward'").fetchone()
    statements = (
        DDL
        if exists
        else DDL.replace("grant select, insert, update, delete on identity.steward_decisions to c360_steward;", "")
    )
    conn.execute(statements)


def read_frame(conn, query: str, params: Sequence | None = None) -> pd.DataFrame:
    cur = conn.execute(query, params)
    columns = [d.name for d in cur.description]
    return pd.DataFrame(cur.fetchall(), columns=columns, dtype="object")


def read_records(conn) -> pd.DataFrame:
    present = {
        r[0]
        for r in conn.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'intermediate' and table_name = 'int_source_records'"
        ).fetchall()
    }
    select = ", ".join(c if c in present or c not in OPTIONAL_COLUMNS else f"null as {c}" for c in INPUT_COLUMNS)
    frame = read_frame(conn, f"select {select} from {INPUT_TABLE} order by source, source_record_key")
    if frame["first_name_canonical"].isna().all():
        frame["first_name_canonical"] = frame["first_name_normalised"]
    return frame


def read_previous(conn) -> pd.DataFrame:
    return read_frame(
        conn,
        "select source, source_record_key, customer_id, matched_by, match_key_hash from identity.customer_source_xref",
    )


def read_decisions(conn) -> pd.DataFrame:
    return read_frame(
        conn,
        "select left_source, left_source_record_key, right_source, right_source_record_key, decision "
        "from identity.steward_decisions order by decided_at, decision_id",
    )


def latest_model(conn) -> str | None:
    row = conn.execute(
        "select model::text from identity.match_models order by trained_at desc, run_id desc limit 1"
    ).fetchone()
    return row[0] if row else None


def copy_rows(conn, table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    with conn.cursor().copy(f"copy {table} ({', '.join(columns)}) from stdin") as copy:
        for row in rows:
            copy.write_row(row)


def copy_columns(conn, table: str, columns: Mapping[str, np.ndarray], *, batch_rows: int = 200_000) -> None:
    """COPY equal-length columns (name -> values) into `table` as CSV written by Arrow, in batches.

    Arrow quotes every string, so an empty string stays one and a missing value (unquoted, empty)
    arrives as null. Far faster than a write_row per row for the million rows of a full run.
    """
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    options = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
    data = pa.table({name: pa.array(values, from_pandas=True) for name, values in columns.items()})
    with conn.cursor().copy(f"copy {table} ({', '.join(columns)}) from stdin (format csv)") as copy:
        for batch in data.to_batches(max_chunksize=batch_rows):
            buffer = io.BytesIO()
            pa_csv.write_csv(batch, buffer, options)
            copy.write(buffer.getbuffer())
