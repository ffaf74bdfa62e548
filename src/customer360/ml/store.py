"""The ml schema: its tables, the facts scoring reads from the marts, and one run's rows written.

Column meanings in ml.customer_scores (H = churn horizon, 90 days by default):

* churn_probability: P(no purchase in [cutoff, cutoff + H)) from the churn
  champion (see ``customer360.ml.champion``);
* expected_purchases / expected_revenue: purchase days and revenue expected in
  [cutoff, cutoff + H), from the purchase champion: BG/NBD + Gamma-Gamma, the
  learned model or their mean, whichever won the backtest (``customer360.ml.purchases``),
  and replacing the registered champion only if it beats it on the backtest
  window (``customer360.ml.champion``);
* p_alive: BG/NBD probability that the customer is still active at the cutoff;
* clv: revenue over the next ``clv_horizon_months`` (months of 365.25/12
  days), discounted monthly at the monthly equivalent of
  ``annual_discount_rate`` (no margin applied), from the same purchase model
  (``customer360.ml.purchases.predict_value``);
* cluster_id / cluster_name: k-means
  behaviour cluster and its readable name (``customer360.ml.clusters``);
* horizon_days: H; churn_model_version: the model version of the churn
  champion that produced churn_probability; scored_at: the cutoff instant.
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING

import pandas as pd
import psycopg

from customer360.db import tables
from customer360.db.connection import MARTS_SCHEMA, scalar, table_exists
from customer360.ml.history import to_utc_timestamp
from customer360.ml.registry import json_safe

if TYPE_CHECKING:
    from customer360.ml.scoring import ModelRun

SCORE_COLUMNS = (
    "churn_probability",
    "expected_purchases",
    "expected_revenue",
    "p_alive",
    "clv",
    "cluster_id",
    "cluster_name",
    "horizon_days",
    "churn_model_version",
)


def ensure_ml_tables(conn: psycopg.Connection) -> None:
    """Create the ml tables if missing, and add columns newer code writes."""
    # The warehouse set-up creates the schema; only a bare database (bench, CLI) lacks it,
    # and creating one needs a right the pipeline's transformer role does not have.
    if scalar(conn, "select to_regnamespace('ml') is null"):
        conn.execute("create schema ml")
    tables.create(conn, tables.ML)


def _copy_frame(conn: psycopg.Connection, query: str, params: tuple, names: list[str], dtypes: dict) -> pd.DataFrame:
    buffer = io.BytesIO()
    with conn.cursor() as cur, cur.copy(query, params) as copy:
        for chunk in copy:
            buffer.write(chunk)
    buffer.seek(0)
    return pd.read_csv(
        buffer,
        header=None,
        names=names,
        dtype=dtypes,
        keep_default_na=False,
        na_values={name: [""] for name in names if name != "customer_id"},
    )


def _column_or_null(conn: psycopg.Connection, schema: str, table: str, column: str, null_type: str) -> str:
    found = conn.execute(
        "select 1 from information_schema.columns where table_schema = %s and table_name = %s and column_name = %s",
        (schema, table, column),
    ).fetchone()
    return column if found else f"null::{null_type}"


def load_transactions(conn: psycopg.Connection, cutoff: pd.Timestamp, marts: str = MARTS_SCHEMA) -> pd.DataFrame:
    """Identified orders from ``<marts>.fct_orders`` placed before the cutoff, free ones and refunds too."""
    if not table_exists(conn, marts, "fct_orders"):
        raise RuntimeError(f"{marts}.fct_orders does not exist: build the marts (dbt) before scoring")
    channel = _column_or_null(conn, marts, "fct_orders", "channel", "text")
    items = _column_or_null(conn, marts, "fct_orders", "item_count", "float8")
    query = (
        "copy (select customer_id, extract(epoch from ordered_at)::float8, amount::float8, "
        f"{channel}, {items}::float8 from {marts}.fct_orders "
        "where customer_id is not null and amount is not null and ordered_at < %s) to stdout with (format csv)"
    )
    frame = _copy_frame(
        conn,
        query,
        (cutoff.to_pydatetime(),),
        ["customer_id", "epoch", "amount", "channel", "item_count"],
        {"customer_id": str, "epoch": "float64", "amount": "float64", "channel": str, "item_count": "float64"},
    )
    frame["ordered_at"] = pd.to_datetime(frame.pop("epoch"), unit="s", utc=True)
    return frame.loc[:, ["customer_id", "ordered_at", "amount", "channel", "item_count"]]


def load_touchpoints(conn: psycopg.Connection, cutoff: pd.Timestamp, marts: str = MARTS_SCHEMA) -> pd.DataFrame | None:
    """Identified non-purchase touch points before the cutoff from ``<marts>.fct_touchpoints``.

    Survey responses carry their satisfaction score (from the surveys staging
    model, joined on the response id) as ``value``. None when the mart is missing.
    """
    if not table_exists(conn, marts, "fct_touchpoints"):
        return None
    satisfaction = "null::float8"
    join = ""
    if table_exists(conn, "staging", "stg_surveys__responses"):
        satisfaction = "surveys.satisfaction_score::float8"
        join = (
            "left join staging.stg_surveys__responses as surveys "
            "on touchpoints.source = 'surveys' and surveys.response_id = touchpoints.source_record_id"
        )
    query = (
        "copy (select touchpoints.customer_id, extract(epoch from touchpoints.occurred_at)::float8, "
        f"touchpoints.touchpoint_type, {satisfaction} from {marts}.fct_touchpoints as touchpoints {join} "
        "where touchpoints.customer_id is not null and touchpoints.touchpoint_type <> 'purchase' "
        "and touchpoints.occurred_at < %s) to stdout with (format csv)"
    )
    frame = _copy_frame(
        conn,
        query,
        (cutoff.to_pydatetime(),),
        ["customer_id", "epoch", "touchpoint_type", "value"],
        {"customer_id": str, "epoch": "float64", "touchpoint_type": str, "value": "float64"},
    )
    frame["occurred_at"] = pd.to_datetime(frame.pop("epoch"), unit="s", utc=True)
    return frame.loc[:, ["customer_id", "occurred_at", "touchpoint_type", "value"]]


def write_run(conn: psycopg.Connection, run: ModelRun, artifacts: dict[str, tuple[str, str]]) -> None:
    """Replace this (cutoff, model version)'s scores and, for a run that trained models, their registry rows
    and evaluation tables."""
    cutoff_ts = to_utc_timestamp(run.cutoff)
    conn.execute(
        "delete from ml.customer_scores where cutoff_date = %s and model_version = %s",
        (run.cutoff, run.model_version),
    )
    frame = run.scores.reset_index()
    frame.insert(1, "cutoff_date", run.cutoff.isoformat())
    frame.insert(2, "model_version", run.model_version)
    frame["expected_revenue"] = frame["expected_revenue"].round(2)
    frame["clv"] = frame["clv"].round(2)
    frame["scored_at"] = cutoff_ts.isoformat()
    columns = ["customer_id", "cutoff_date", "model_version", *SCORE_COLUMNS, "scored_at"]
    payload = frame.loc[:, columns].to_csv(index=False, header=False, float_format="%.10g")
    copy_sql = f"copy ml.customer_scores ({', '.join(columns)}) from stdin with (format csv)"
    with conn.cursor() as cur, cur.copy(copy_sql) as copy:
        copy.write(payload.encode())
    if not run.entries:
        return  # a run between refits trained nothing: the registry and evaluation rows of its models' run stay

    for entry in run.entries:
        path, sha = artifacts.get(entry.model_name, (None, None))
        conn.execute(
            """
            insert into ml.model_registry (model_version, model_name, trained_at_cutoff, training_window,
                features, parameters, metrics, artifact_path, artifact_sha256, is_champion)
            values (%s, %s, %s, %s, %s::jsonb, %s::jsonb, %s::jsonb, %s, %s, %s)
            on conflict (model_version, model_name) do update set
                trained_at_cutoff = excluded.trained_at_cutoff, training_window = excluded.training_window,
                features = excluded.features, parameters = excluded.parameters, metrics = excluded.metrics,
                artifact_path = excluded.artifact_path, artifact_sha256 = excluded.artifact_sha256,
                is_champion = excluded.is_champion
            """,
            (
                run.model_version,
                entry.model_name,
                run.cutoff,
                entry.training_window,
                json.dumps(entry.features),
                json.dumps(json_safe(entry.parameters)),
                json.dumps(json_safe(entry.metrics)),
                path,
                sha,
                entry.is_champion,
            ),
        )

    conn.execute("delete from ml.churn_evaluation where model_version = %s", (run.model_version,))
    backtest = run.metrics["churn"]["backtest"]
    for name in ("model", "recency_baseline"):
        result = backtest.get(name)
        if not result:
            continue
        evaluated = backtest["model_kind"] if name == "model" else "recency_baseline"
        conn.execute(
            """
            insert into ml.churn_evaluation (model_version, evaluated_model, cutoff_date, test_cutoff,
                n_train, n_test, churn_rate, roc_auc, pr_auc, brier)
            values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            """,
            (
                run.model_version,
                evaluated,
                run.cutoff,
                backtest["test_cutoff"],
                backtest["n_train"],
                backtest["n_test"],
                result["churn_rate"],
                result["roc_auc"],
                result["pr_auc"],
                result["brier"],
            ),
        )

    conn.execute("delete from ml.evaluation_tables where model_version = %s", (run.model_version,))
    for name, table in run.tables.items():
        rows = json_safe(table.to_dict(orient="records"))
        conn.execute(
            "insert into ml.evaluation_tables (model_version, cutoff_date, table_name, rows) "
            "values (%s, %s, %s, %s::jsonb)",
            (run.model_version, run.cutoff, name, json.dumps(rows)),
        )
