"""Score every customer as of a cutoff and record the models.

``compute_scores`` is the pure core (a transaction frame in, a score frame
and fitted models out); ``score_customers`` is the thin I/O layer: it reads
``marts.fct_orders`` through ``warehouse.db``, saves model artifacts under
the caller's folder and writes ``ml.customer_scores``, ``ml.model_registry``
and ``ml.churn_evaluation`` in one transaction, replacing any earlier run of
the same (cutoff_date, model_version).

Column meanings in ml.customer_scores (H = churn horizon, 90 days by default):

* churn_probability: P(no purchase in [cutoff, cutoff + H)) from the churn model;
* expected_purchases: BG/NBD expected purchase days within the CLV horizon
  (``clv_horizon_months``, 12 by default; months of 365.25/12 days);
* expected_revenue: expected_purchases * Gamma-Gamma expected spend per
  purchase day (undiscounted, same horizon);
* p_alive: BG/NBD probability that the customer is still active at the cutoff;
* clv: revenue over the next ``clv_horizon_months``, discounted monthly at the
  monthly equivalent of ``annual_discount_rate`` (no margin applied);
* segment: RFM segment (ml.segments); scored_at: the cutoff instant.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg

from ml import clv
from ml.artifacts import save_artifact
from ml.churn import ChurnConfig, train_churn
from ml.features import FEATURE_COLUMNS, build_features, prepare_transactions, to_utc_timestamp
from ml.segments import assign_segments
from warehouse.db import connect, table_exists
from warehouse.settings import Settings

log = logging.getLogger(__name__)

MODEL_CODE_VERSION = "1"
MODEL_NAMES = ("churn", "bgnbd", "gamma_gamma")
SCORE_COLUMNS = (
    "churn_probability",
    "expected_purchases",
    "expected_revenue",
    "p_alive",
    "clv",
    "segment",
)
MIN_BGNBD_CUSTOMERS = 20
MIN_REPEAT_CUSTOMERS = 10

DDL = (
    "create schema if not exists ml",
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
        segment text,
        scored_at timestamptz not null,
        primary key (customer_id, cutoff_date, model_version)
    )
    """,
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
)


@dataclass(frozen=True)
class ScoringConfig:
    churn: ChurnConfig = field(default_factory=ChurnConfig)
    clv_horizon_months: int = 12
    annual_discount_rate: float = 0.10
    bgnbd_penalizer: float = 0.0
    gamma_gamma_penalizer: float = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> "ScoringConfig":
        return cls(
            churn=ChurnConfig(horizon_days=settings.churn_horizon_days),
            clv_horizon_months=settings.clv_horizon_months,
            annual_discount_rate=settings.annual_discount_rate,
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"code_version": MODEL_CODE_VERSION}

    def model_version(self, cutoff: date) -> str:
        """Deterministic: the cutoff plus a digest of every parameter."""
        digest = hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()[:10]
        return f"c360ml-{cutoff:%Y%m%d}-{digest}"


@dataclass(frozen=True)
class RegistryEntry:
    model_name: str
    training_window: str
    features: list[str]
    parameters: dict[str, Any]
    metrics: dict[str, Any]
    model: Any


@dataclass(frozen=True)
class ModelRun:
    cutoff: date
    model_version: str
    scores: pd.DataFrame  # indexed by customer_id, columns SCORE_COLUMNS
    entries: tuple[RegistryEntry, ...]
    metrics: dict[str, Any]


@dataclass(frozen=True)
class ScoringSummary:
    cutoff: date
    model_version: str
    customers_scored: int
    metrics: dict[str, Any]
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "cutoff": self.cutoff.isoformat(),
            "model_version": self.model_version,
            "customers_scored": self.customers_scored,
            "seconds": round(self.seconds, 2),
            "metrics": self.metrics,
        }


# --------------------------------------------------------------------------- pure core


def _as_date(cutoff: date | str | pd.Timestamp) -> date:
    return pd.Timestamp(cutoff).date()


def _btyd(
    rfm: pd.DataFrame, features: pd.DataFrame, churn_probability: np.ndarray, config: ScoringConfig
) -> tuple[pd.DataFrame, list[RegistryEntry]]:
    """BG/NBD + Gamma-Gamma outputs per customer, with simple fallbacks on tiny data."""
    x, t_x, age, m = (rfm[c].to_numpy(dtype="float64") for c in ("frequency", "recency", "T", "monetary_value"))
    h = config.clv_horizon_months * clv.DAYS_PER_MONTH  # expected_* cover the CLV horizon
    window = f"purchase days before the cutoff ({len(rfm)} customers)"
    btyd_features = ["frequency", "recency", "T"]

    # Spend per purchase day.
    repeaters = int(((x > 0) & (m > 0)).sum())
    spend_fallback = features["monetary_total"].to_numpy() / np.maximum(features["purchase_days"].to_numpy(), 1.0)
    gg_fit: clv.GammaGammaFit | None = None
    gg_note = None
    if repeaters >= MIN_REPEAT_CUSTOMERS:
        gg_fit = clv.fit_gamma_gamma(x, m, penalizer=config.gamma_gamma_penalizer)
        fallback_mean = float(np.mean(m[(x > 0) & (m > 0)]))
        spend = clv.gamma_gamma_expected_spend(gg_fit.params, x, m, fallback_mean=fallback_mean)
    else:
        gg_note = f"fallback: {repeaters} repeat customers (< {MIN_REPEAT_CUSTOMERS}); observed mean spend used"
        spend = spend_fallback

    bg_fit: clv.BGNBDFit | None = None
    bg_note = None
    if len(rfm) >= MIN_BGNBD_CUSTOMERS and repeaters >= 1:
        bg_fit = clv.fit_bgnbd(x, t_x, age, penalizer=config.bgnbd_penalizer)
        expected = clv.bgnbd_expected_purchases(bg_fit.params, h, x, t_x, age)
        p_alive = clv.bgnbd_p_alive(bg_fit.params, x, t_x, age)
        value = clv.discounted_clv(
            bg_fit.params, x, t_x, age, spend,
            months=config.clv_horizon_months, annual_discount_rate=config.annual_discount_rate,
        )
    else:
        bg_note = "fallback: too few customers for BG/NBD; historical rate x (1 - churn probability) used"
        p_alive = 1.0 - churn_probability
        daily_rate = (x + 1.0) / np.maximum(age, 1.0)
        expected = daily_rate * h * p_alive
        d = clv.monthly_discount_rate(config.annual_discount_rate)
        months = np.arange(1, config.clv_horizon_months + 1)
        value = daily_rate * clv.DAYS_PER_MONTH * p_alive * spend * float(np.sum((1.0 + d) ** -months))

    out = pd.DataFrame(
        {
            "expected_purchases": expected,
            "expected_revenue": expected * spend,
            "p_alive": p_alive,
            "clv": np.maximum(value, 0.0),
        },
        index=rfm.index,
    )
    bg_entry = RegistryEntry(
        model_name="bgnbd",
        training_window=window,
        features=btyd_features,
        parameters={"time_unit": "day", "penalizer": config.bgnbd_penalizer}
        | ({"fitted": bg_fit.params.as_dict()} if bg_fit else {}),
        metrics={
            "fallback": bg_fit is None,
            "notes": [bg_note] if bg_note else [],
            "n_customers": int(len(rfm)),
            "log_likelihood": bg_fit.log_likelihood if bg_fit else None,
            "converged": bg_fit.converged if bg_fit else None,
        },
        model=bg_fit.params if bg_fit else None,
    )
    gg_entry = RegistryEntry(
        model_name="gamma_gamma",
        training_window=window,
        features=["frequency", "monetary_value"],
        parameters={"penalizer": config.gamma_gamma_penalizer}
        | ({"fitted": gg_fit.params.as_dict()} if gg_fit else {}),
        metrics={
            "fallback": gg_fit is None,
            "notes": [gg_note] if gg_note else [],
            "n_repeat_customers": repeaters,
            "log_likelihood": gg_fit.log_likelihood if gg_fit else None,
            "converged": gg_fit.converged if gg_fit else None,
            "population_mean_spend": gg_fit.params.population_mean_spend if gg_fit else None,
        },
        model=gg_fit.params if gg_fit else None,
    )
    return out, [bg_entry, gg_entry]


def bgnbd_holdout_check(transactions: pd.DataFrame, cutoff: date, horizon_days: int) -> dict[str, Any] | None:
    """Fit BG/NBD one horizon back and compare predicted with actual purchase days in [T-H, T)."""
    cut = to_utc_timestamp(cutoff)
    start = cut - pd.Timedelta(days=horizon_days)
    rfm = clv.rfm_summary(transactions, start)
    if len(rfm) < MIN_BGNBD_CUSTOMERS or not (rfm["frequency"] > 0).any():
        return None
    fit = clv.fit_bgnbd(rfm["frequency"], rfm["recency"], rfm["T"])
    predicted = clv.bgnbd_expected_purchases(fit.params, horizon_days, rfm["frequency"], rfm["recency"], rfm["T"])
    tx = prepare_transactions(transactions)
    window = tx.loc[(tx["ordered_at"] >= start) & (tx["ordered_at"] < cut)]
    actual = (
        window.assign(day=window["ordered_at"].dt.floor("D"))
        .groupby("customer_id")["day"]
        .nunique()
        .reindex(rfm.index, fill_value=0)
        .to_numpy(dtype="float64")
    )
    corr = float(np.corrcoef(predicted, actual)[0, 1]) if actual.std() > 0 and predicted.std() > 0 else None
    return {
        "fit_cutoff": f"{start:%Y-%m-%d}",
        "customers": int(len(rfm)),
        "predicted_purchase_days": float(predicted.sum()),
        "actual_purchase_days": float(actual.sum()),
        "mae_per_customer": float(np.mean(np.abs(predicted - actual))),
        "correlation": corr,
    }


def compute_scores(
    transactions: pd.DataFrame, cutoff: date | str | pd.Timestamp, config: ScoringConfig
) -> ModelRun:
    """Fit every model on history before the cutoff and score each customer seen before it."""
    cutoff_date = _as_date(cutoff)
    cut = to_utc_timestamp(cutoff_date)
    tx = prepare_transactions(transactions)
    tx = tx.loc[tx["ordered_at"] < cut]
    version = config.model_version(cutoff_date)

    churn = train_churn(tx, cut, config.churn)
    features = build_features(tx, cut)
    churn_probability = churn.model.predict_proba(features)
    rfm = clv.rfm_summary(tx, cut).reindex(features.index)
    btyd, btyd_entries = _btyd(rfm, features, churn_probability, config)

    scores = pd.DataFrame({"churn_probability": churn_probability}, index=features.index)
    scores = scores.join(btyd)
    scores["segment"] = assign_segments(features)
    scores = scores.loc[:, list(SCORE_COLUMNS)]

    holdout = bgnbd_holdout_check(tx, cutoff_date, config.churn.horizon_days)
    btyd_entries[0].metrics["holdout"] = holdout

    churn_entry = RegistryEntry(
        model_name="churn",
        training_window=churn.training_window,
        features=list(FEATURE_COLUMNS),
        parameters=config.churn.as_dict() | {"model_kind": churn.model.kind},
        metrics=churn.metrics,
        model=churn.model,
    )
    entries = (churn_entry, *btyd_entries)
    metrics = {
        "customers": int(len(scores)),
        "orders_used": int(len(tx)),
        "churn": churn.metrics,
        "bgnbd": btyd_entries[0].metrics,
        "gamma_gamma": btyd_entries[1].metrics,
        "mean_churn_probability": float(scores["churn_probability"].mean()) if len(scores) else None,
        "total_expected_revenue": float(scores["expected_revenue"].sum()),
        "total_clv": float(scores["clv"].sum()),
        "segments": {k: int(v) for k, v in scores["segment"].value_counts().sort_index().items()},
    }
    return ModelRun(cutoff_date, version, scores, entries, _json_safe(metrics))


def _json_safe(value: Any) -> Any:
    """Plain JSON types; NaN/inf become None."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value


# --------------------------------------------------------------------------- I/O


def ensure_ml_tables(conn: psycopg.Connection) -> None:
    """Create the ml tables if missing (the ml schema normally comes from prepare_warehouse)."""
    for statement in DDL:
        conn.execute(statement)


def load_transactions(conn: psycopg.Connection, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Identified, positive-amount orders from marts.fct_orders placed before the cutoff."""
    if not table_exists(conn, "marts", "fct_orders"):
        raise RuntimeError("marts.fct_orders does not exist: build the marts (dbt) before scoring")
    has_channel = conn.execute(
        "select 1 from information_schema.columns "
        "where table_schema = 'marts' and table_name = 'fct_orders' and column_name = 'channel'"
    ).fetchone()
    channel = "channel" if has_channel else "null::text"
    query = (
        "copy (select customer_id, extract(epoch from ordered_at)::float8, amount::float8, "
        f"{channel} from marts.fct_orders "
        "where customer_id is not null and amount > 0 and ordered_at < %s) to stdout with (format csv)"
    )
    buffer = io.BytesIO()
    with conn.cursor() as cur, cur.copy(query, (cutoff.to_pydatetime(),)) as copy:
        for chunk in copy:
            buffer.write(chunk)
    buffer.seek(0)
    frame = pd.read_csv(
        buffer,
        header=None,
        names=["customer_id", "epoch", "amount", "channel"],
        dtype={"customer_id": str, "epoch": "float64", "amount": "float64", "channel": str},
        keep_default_na=False,
        na_values={"epoch": [""], "amount": [""], "channel": [""]},
    )
    frame["ordered_at"] = pd.to_datetime(frame.pop("epoch"), unit="s", utc=True)
    return frame.loc[:, ["customer_id", "ordered_at", "amount", "channel"]]


def _write(conn: psycopg.Connection, run: ModelRun, artifacts: dict[str, tuple[str, str]]) -> None:
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

    for entry in run.entries:
        path, sha = artifacts.get(entry.model_name, (None, None))
        conn.execute(
            """
            insert into ml.model_registry (model_version, model_name, trained_at_cutoff, training_window,
                features, parameters, metrics, artifact_path, artifact_sha256)
            values (%s, %s, %s, %s, %s::jsonb, %s::jsonb, %s::jsonb, %s, %s)
            on conflict (model_version, model_name) do update set
                trained_at_cutoff = excluded.trained_at_cutoff, training_window = excluded.training_window,
                features = excluded.features, parameters = excluded.parameters, metrics = excluded.metrics,
                artifact_path = excluded.artifact_path, artifact_sha256 = excluded.artifact_sha256
            """,
            (
                run.model_version, entry.model_name, run.cutoff, entry.training_window,
                json.dumps(entry.features), json.dumps(_json_safe(entry.parameters)),
                json.dumps(_json_safe(entry.metrics)), path, sha,
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
                run.model_version, evaluated, run.cutoff, backtest["test_cutoff"], backtest["n_train"],
                backtest["n_test"], result["churn_rate"], result["roc_auc"], result["pr_auc"], result["brier"],
            ),
        )


def save_models(run: ModelRun, model_dir: Path) -> dict[str, tuple[str, str]]:
    """Save each fitted model as model_dir/<model_version>/<model_name>.joblib; name -> (path, sha256)."""
    saved: dict[str, tuple[str, str]] = {}
    for entry in run.entries:
        if entry.model is None:
            continue
        path = Path(model_dir) / run.model_version / f"{entry.model_name}.joblib"
        saved[entry.model_name] = (str(path), save_artifact(entry.model, path))
    return saved


def score_customers(
    settings: Settings, cutoff: date, model_dir: Path, *, config: ScoringConfig | None = None
) -> ScoringSummary:
    """Read orders, fit and score as of ``cutoff``, save models and write the ml tables."""
    started = time.perf_counter()
    config = config or ScoringConfig.from_settings(settings)
    cutoff_date = _as_date(cutoff)
    with connect(settings) as conn:
        transactions = load_transactions(conn, to_utc_timestamp(cutoff_date))
    log.info("scoring as of %s: %d orders read", cutoff_date, len(transactions))
    run = compute_scores(transactions, cutoff_date, config)
    artifacts = save_models(run, model_dir)
    with connect(settings) as conn:
        with conn.transaction():
            ensure_ml_tables(conn)
            _write(conn, run, artifacts)
    summary = ScoringSummary(
        cutoff=cutoff_date,
        model_version=run.model_version,
        customers_scored=int(len(run.scores)),
        metrics=run.metrics,
        seconds=time.perf_counter() - started,
    )
    churn_bt = run.metrics["churn"]["backtest"]
    log.info(
        "scored %d customers, model_version %s, churn model %s, backtest AUC %s (recency baseline %s), %.1fs",
        summary.customers_scored,
        summary.model_version,
        run.metrics["churn"]["final"]["model_kind"],
        (churn_bt.get("model") or {}).get("roc_auc"),
        (churn_bt.get("recency_baseline") or {}).get("roc_auc"),
        summary.seconds,
    )
    return summary
