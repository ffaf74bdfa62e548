"""Every table the Python stages own, in one place: its DDL and the role that owns it.

dbt owns the staging, intermediate, marts and history tables. The Python stages own the
tables declared here, each created (if missing, with the migrations of older versions) by
the stage that writes it, through `create`; `customer360.db.bootstrap` hands each to its
owner. The raw and quarantine tables are the exception: one of each per source, generated
from the source contracts by `customer360.ingestion.tables` and owned by the loader.
"""

from __future__ import annotations

from dataclasses import dataclass

from customer360.db.roles import LOADER, TRANSFORMER

INGEST_OPS_DDL = (
    """
    create table if not exists ops.file_manifest (
        checksum text primary key,            -- sha256 of the file's bytes, hex
        source text not null,
        file_name text not null,
        file_day date not null,
        batch_id text not null,
        rows_in_file integer not null default 0,
        rows_loaded integer not null default 0,
        rows_quarantined integer not null default 0,
        rows_suppressed integer not null default 0, -- rows of erased people, dropped (privacy.suppression)
        status text not null,                 -- 'loaded'; 'superseded' once a changed re-delivery replaced it;
                                              -- 'erasure_rewrite' for a file an erasure rewrote
        loaded_at timestamptz not null default now(),
        constraint file_manifest_rows_add_up check (rows_loaded + rows_quarantined + rows_suppressed = rows_in_file)
    )
    """,
    "create index if not exists file_manifest_source_file_idx on ops.file_manifest (source, file_name)",
    "create index if not exists file_manifest_source_day_idx on ops.file_manifest (source, file_day)",
    """
    create table if not exists ops.ingest_log (
        id bigint generated always as identity primary key,
        batch_id text not null,
        source text not null,
        file_name text not null,
        file_day date,
        checksum text,
        status text not null constraint ingest_log_status_check
            check (status in ('loaded', 'replaced', 'duplicate', 'rejected')),
        message text,
        rows_in_file integer,
        rows_loaded integer,
        rows_quarantined integer,
        logged_at timestamptz not null default now()
    )
    """,
    "create index if not exists ingest_log_batch_idx on ops.ingest_log (batch_id)",
)

INGEST_LOG_STATUS_MIGRATION = """
do $$
begin
    if not exists (select 1 from pg_constraint where conrelid = 'ops.ingest_log'::regclass
                   and conname = 'ingest_log_status_check' and pg_get_constraintdef(oid) like '%replaced%') then
        alter table ops.ingest_log drop constraint if exists ingest_log_status_check;
        alter table ops.ingest_log add constraint ingest_log_status_check
            check (status in ('loaded', 'replaced', 'duplicate', 'rejected'));
    end if;
end $$
"""

MANIFEST_SUPPRESSED_MIGRATION = """
alter table ops.file_manifest add column rows_suppressed integer not null default 0;
alter table ops.file_manifest drop constraint file_manifest_rows_add_up;
alter table ops.file_manifest add constraint file_manifest_rows_add_up
    check (rows_loaded + rows_quarantined + rows_suppressed = rows_in_file)
"""

RUNS_DDL = """
create table if not exists ops.run_intervals (
    run_key        text        primary key,
    interval_start timestamptz not null,
    interval_end   timestamptz not null,
    first_run_at   timestamptz not null default now(),
    last_run_at    timestamptz not null default now(),
    runs           integer     not null default 1
)
"""

LEASE_DDL = """
create table if not exists ops.build_lease (
    lease      text        primary key,
    holder     text        not null,
    run_key    text        not null,
    claimed_at timestamptz not null,
    renewed_at timestamptz not null,
    expires_at timestamptz not null
)
"""

DQ_RESULTS_DDL = """
create table if not exists ops.dq_results (
    run_id           text        not null,
    checked_at       timestamptz not null,
    suite            text        not null,
    check_name       text        not null,
    table_name       text        not null,
    column_name      text,
    severity         text        not null check (severity in ('error', 'warn')),
    owner            text        not null check (owner in ('source', 'identity', 'marts', 'ml')),
    passed           boolean     not null,
    failing_count    bigint,
    failing_examples text[]      not null default '{}',
    details          text,
    primary key (run_id, suite, check_name)
)
"""

IDENTITY_DDL = """
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
"""

PSEUDONYMS_DDL = """
create table if not exists identity.record_pseudonyms (
    source text not null,
    source_record_key text not null,
    key_id text not null,
    email_key text,
    phone_key text,
    primary key (source, source_record_key)
)
"""

ML_DDL = (
    """
    create table if not exists ml.customer_scores (
        customer_id text not null,
        cutoff_date date not null,
        model_version text not null,
        churn_probability double precision,
        expected_purchases double precision,
        expected_revenue numeric(14, 2),
        p_alive double precision,
        clv numeric(14, 2),
        scored_at timestamptz not null,
        primary key (customer_id, cutoff_date, model_version)
    )
    """,
    "alter table ml.customer_scores add column if not exists cluster_id integer",
    "alter table ml.customer_scores add column if not exists cluster_name text",
    "alter table ml.customer_scores add column if not exists horizon_days integer",
    "alter table ml.customer_scores add column if not exists churn_model_version text",
    # RFM segments are dbt's (marts.customer_rfm), the one definition; cascade: the staging view over
    # this table, rebuilt by the next scored_marts build
    "alter table ml.customer_scores drop column if exists segment cascade",
    """
    create table if not exists ml.model_registry (
        model_version text not null,
        model_name text not null,
        trained_at_cutoff date not null,
        training_window text,
        features jsonb,
        parameters jsonb,
        metrics jsonb,
        artifact_path text,
        artifact_sha256 text,
        primary key (model_version, model_name)
    )
    """,
    "alter table ml.model_registry add column if not exists is_champion boolean not null default false",
    """
    create table if not exists ml.churn_evaluation (
        model_version text not null,
        evaluated_model text not null,
        cutoff_date date not null,
        test_cutoff date not null,
        n_train integer,
        n_test integer,
        churn_rate double precision,
        roc_auc double precision,
        pr_auc double precision,
        brier double precision,
        primary key (model_version, evaluated_model)
    )
    """,
    """
    create table if not exists ml.evaluation_tables (
        model_version text not null,
        cutoff_date date not null,
        table_name text not null,
        rows jsonb not null,
        primary key (model_version, table_name)
    )
    """,
)

ERASURE_DDL = """
create table if not exists ops.erasure_suppressions (
    request_id text not null,
    kind text not null,            -- email, phone, account_id, loyalty_id, web_account_id, record:<source>
    key_id text not null,          -- which secret made the hash (privacy.keys.PseudonymKey.key_id)
    value_hash text not null,      -- HMAC-SHA256(secret, kind || 0x1f || normalised value), hex
    suppressed_at timestamptz not null default now(),
    primary key (value_hash, kind, request_id)
);
create table if not exists ops.erasure_requests (
    request_id text primary key,
    requested_at timestamptz not null,
    found_by text not null,        -- 'email', 'email_key' or 'customer_id': never the value
    customers integer not null,
    rows_deleted jsonb not null,   -- per schema.table
    files_rewritten integer not null,
    suppressions integer not null,
    dry_run boolean not null default false
);
"""


# Stewards record their decisions themselves (customer360.db.logins makes their logins); a bare database
# (a benchmark) may have no such role.
STEWARD_DECISIONS_GRANT = """
do $$
begin
    if exists (select 1 from pg_roles where rolname = 'c360_steward') then
        grant select, insert, update, delete on identity.steward_decisions to c360_steward;
    end if;
end $$
"""


@dataclass(frozen=True)
class Tables:
    """Tables created together, by the stage that writes them."""

    names: tuple[str, ...]  # schema.table
    statements: tuple[str, ...]  # run in order: create if missing, then migrations that check for themselves
    owner: str | None  # the owning role; None: the administrator who runs the stage keeps them


INGEST_OPS = Tables(("ops.file_manifest", "ops.ingest_log"), (*INGEST_OPS_DDL, INGEST_LOG_STATUS_MIGRATION), LOADER)
RUNS = Tables(("ops.run_intervals", "ops.build_lease"), (RUNS_DDL, LEASE_DDL), TRANSFORMER)
DQ_RESULTS = Tables(("ops.dq_results",), (DQ_RESULTS_DDL,), TRANSFORMER)
IDENTITY = Tables(
    (
        "identity.customer_source_xref",
        "identity.customer_id_history",
        "identity.resolution_runs",
        "identity.match_pairs",
        "identity.review_queue",
        "identity.steward_decisions",
        "identity.match_models",
    ),
    (IDENTITY_DDL, STEWARD_DECISIONS_GRANT),
    TRANSFORMER,
)
PSEUDONYMS = Tables(("identity.record_pseudonyms",), (PSEUDONYMS_DDL,), TRANSFORMER)
ML = Tables(
    ("ml.customer_scores", "ml.model_registry", "ml.churn_evaluation", "ml.evaluation_tables"), ML_DDL, TRANSFORMER
)
# An erasure is run by an administrator: no pipeline role may alter or empty the suppression list or the
# record of requests; the loader only reads them.
ERASURE = Tables(("ops.erasure_suppressions", "ops.erasure_requests"), (ERASURE_DDL,), None)

REGISTRY: tuple[Tables, ...] = (INGEST_OPS, RUNS, DQ_RESULTS, IDENTITY, PSEUDONYMS, ML, ERASURE)


def create(conn, tables: Tables) -> None:
    """Create `tables` if missing and bring older versions up to date (idempotent)."""
    for statement in tables.statements:
        conn.execute(statement)


def owner_of(name: str) -> str | None:
    """The role owning schema.table, as declared here (KeyError for a table not declared)."""
    return next(t.owner for t in REGISTRY if name in t.names)
