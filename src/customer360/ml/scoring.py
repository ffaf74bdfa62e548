"""Score every customer as of a cutoff and record the models.

``compute_scores`` is the pure core (transactions and touch points in, a
score frame, fitted models and evaluation tables out); ``score_customers``
is the thin I/O layer: it reads ``marts.fct_orders`` and
``marts.fct_touchpoints`` through ``customer360.db.connection``, loads the current churn
champion (checksum verified), saves model artifacts under the caller's
folder and writes ``ml.customer_scores``, ``ml.model_registry``,
``ml.churn_evaluation`` and ``ml.evaluation_tables`` in one transaction,
replacing any earlier run of the same (cutoff_date, model_version).

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
* segment: RFM segment (``customer360.ml.segments``); cluster_id / cluster_name: k-means
  behaviour cluster and its readable name (``customer360.ml.clusters``);
* horizon_days: H; churn_model_version: the model version of the churn
  champion that produced churn_probability; scored_at: the cutoff instant.
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

from customer360.config import Settings
from customer360.db.connection import MARTS_SCHEMA, connect, scalar, table_exists
from customer360.ml import clv
from customer360.ml.artifacts import load_artifact, save_artifact
from customer360.ml.champion import Decision, decide
from customer360.ml.churn import ChurnConfig, ChurnModel, classification_metrics, train_churn
from customer360.ml.clusters import ClusterModel, cluster_profiles, fit_clusters
from customer360.ml.evaluation import calibration_table, decile_table, gains_table
from customer360.ml.features import build_features, prepare_touchpoints, prepare_transactions, to_utc_timestamp
from customer360.ml.purchases import (
    BLEND_KIND,
    BTYD_KIND,
    PurchaseConfig,
    PurchaseModel,
    PurchaseSelection,
    fit_production_learned_model,
    predict_value,
    regression_metrics,
    select_purchase_model,
)
from customer360.ml.segments import assign_segments

log = logging.getLogger(__name__)

MODEL_CODE_VERSION = "3"
MODEL_NAMES = ("churn", "bgnbd", "gamma_gamma", "purchases", "clusters")
SCORE_COLUMNS = (
    "churn_probability",
    "expected_purchases",
    "expected_revenue",
    "p_alive",
    "clv",
    "segment",
    "cluster_id",
    "cluster_name",
    "horizon_days",
    "churn_model_version",
)

DDL = (
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
    "alter table ml.customer_scores add column if not exists cluster_id integer",
    "alter table ml.customer_scores add column if not exists cluster_name text",
    "alter table ml.customer_scores add column if not exists horizon_days integer",
    "alter table ml.customer_scores add column if not exists churn_model_version text",
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


@dataclass(frozen=True)
class ScoringConfig:
    churn: ChurnConfig = field(default_factory=ChurnConfig)
    clv_horizon_months: int = 12
    annual_discount_rate: float = 0.10
    bgnbd_penalizer: float = 0.0
    gamma_gamma_penalizer: float = 0.0
    n_clusters: int = 5
    champion_min_gain: float = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> ScoringConfig:
        return cls(
            churn=ChurnConfig(horizon_days=settings.churn_horizon_days),
            clv_horizon_months=settings.clv_horizon_months,
            annual_discount_rate=settings.annual_discount_rate,
        )

    @property
    def horizon_days(self) -> int:
        return self.churn.horizon_days

    @property
    def purchases(self) -> PurchaseConfig:
        c = self.churn
        return PurchaseConfig(
            horizon_days=c.horizon_days,
            n_train_windows=c.n_train_windows,
            random_state=c.random_state,
            n_threads=c.n_threads,
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"code_version": MODEL_CODE_VERSION}

    def model_version(self, cutoff: date) -> str:
        """Deterministic: the cutoff plus a digest of every parameter."""
        digest = hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()[:10]
        return f"c360ml-{cutoff:%Y%m%d}-{digest}"


@dataclass(frozen=True)
class Champion:
    """A model currently in production, as registered (a ChurnModel or a PurchaseModel)."""

    model_version: str
    trained_at_cutoff: date
    model: Any


@dataclass(frozen=True)
class RegistryEntry:
    model_name: str
    training_window: str
    features: list[str]
    parameters: dict[str, Any]
    metrics: dict[str, Any]
    model: Any
    is_champion: bool = False


@dataclass(frozen=True)
class ModelRun:
    cutoff: date
    model_version: str
    scores: pd.DataFrame  # indexed by customer_id, columns SCORE_COLUMNS
    entries: tuple[RegistryEntry, ...]
    metrics: dict[str, Any]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    models: FittedModels | None = None


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


def _churn_decision(
    churn_result, version: str, cut: pd.Timestamp, horizon_days: int, champion: Champion | None, min_gain: float
) -> Decision:
    """Compare the challenger's backtest twin with the champion on the window [T-H, T)."""
    test = churn_result.backtest_features
    challenger_auc = (churn_result.metrics["backtest"].get("model") or {}).get("roc_auc")
    if champion is None:
        return decide(version, challenger_auc, None, None)
    test_cut = (cut - pd.Timedelta(days=horizon_days)).date()
    judgeable = champion.trained_at_cutoff <= test_cut and not test.empty
    champion_auc = None
    if judgeable and champion.model_version != version:
        labels = test["churned"].to_numpy()
        champion_auc = classification_metrics(labels, champion.model.predict_proba(test.drop(columns="churned")))[
            "roc_auc"
        ]
    return decide(
        version, challenger_auc, champion.model_version, champion_auc, champion_judgeable=judgeable, min_gain=min_gain
    )


def _purchase_decision(
    selection: PurchaseSelection,
    transactions: pd.DataFrame,
    version: str,
    cut: pd.Timestamp,
    horizon_days: int,
    champion: Champion | None,
    config: ScoringConfig,
    min_gain: float,
) -> Decision:
    """Compare the backtest's chosen candidate with the purchase champion on revenue RMSE over [T-H, T).

    ``decide`` wants higher-is-better, so both metrics are negated RMSEs.
    """
    chosen = selection.metrics.get(selection.chosen) or {}
    rmse = (chosen.get("revenue") or {}).get("rmse")
    challenger = -rmse if rmse is not None else None
    if champion is None:
        return decide(version, challenger, None, None)
    test_cut = cut - pd.Timedelta(days=horizon_days)
    rows, test = selection.backtest, selection.test_features
    judgeable = champion.trained_at_cutoff <= test_cut.date() and not test.empty
    if not judgeable and champion.model_version != version:
        # Unlike churn, a purchase model fitted on days of history can be far off (BG/NBD on a
        # day's orders), and keeping it until it can be judged would keep it for H days; a fit
        # on more history replaces it. This also keeps a backfill's scores independent of the
        # order its days ran in.
        return Decision(
            True,
            "champion too recent to judge: replaced by the fit on more history",
            champion.model_version,
            version,
            None,
            challenger,
        )
    champion_metric = None
    if judgeable and champion.model_version != version:
        rfm = clv.rfm_summary(transactions, test_cut).reindex(test.index)
        predicted = predict_value(
            champion.model,
            test,
            rfm,
            horizon_days,
            clv_months=config.clv_horizon_months,
            annual_discount_rate=config.annual_discount_rate,
        )
        champion_rmse = regression_metrics(rows["actual_revenue"], predicted["expected_revenue"])["rmse"]
        champion_metric = -champion_rmse if champion_rmse is not None else None
    return decide(
        version, challenger, champion.model_version, champion_metric, champion_judgeable=judgeable, min_gain=min_gain
    )


@dataclass(frozen=True)
class FittedModels:
    """Everything needed to score a customer from its features and BTYD summary."""

    churn: ChurnModel
    churn_version: str
    purchases: PurchaseModel  # expected purchases / revenue, P(alive) and CLV
    purchases_version: str
    clusters: ClusterModel | None
    horizon_days: int
    clv_horizon_months: int
    annual_discount_rate: float


def score_frame(models: FittedModels, features: pd.DataFrame, rfm: pd.DataFrame) -> pd.DataFrame:
    """Scores (SCORE_COLUMNS) for customers given their features and ``clv.rfm_summary`` rows.

    Pure and vectorised: this is the whole per-customer cost of scoring, so it
    can run on any partition of the customers.
    """
    churn_probability = models.churn.predict_proba(features)
    value = predict_value(
        models.purchases,
        features,
        rfm,
        models.horizon_days,
        clv_months=models.clv_horizon_months,
        annual_discount_rate=models.annual_discount_rate,
        p_alive_fallback=1.0 - churn_probability,
    )
    scores = value.assign(churn_probability=churn_probability)
    scores["segment"] = assign_segments(features)
    if models.clusters is not None:
        labels = models.clusters.predict(features)
        scores["cluster_id"] = labels
        scores["cluster_name"] = models.clusters.name_of(labels)
    else:
        scores["cluster_id"] = pd.array([pd.NA] * len(scores), dtype="Int64")
        scores["cluster_name"] = None
    scores["horizon_days"] = models.horizon_days
    scores["churn_model_version"] = models.churn_version
    return scores.loc[:, list(SCORE_COLUMNS)]


def compute_scores(
    transactions: pd.DataFrame,
    cutoff: date | str | pd.Timestamp,
    config: ScoringConfig,
    touchpoints: pd.DataFrame | None = None,
    champion: Champion | None = None,
    purchase_champion: Champion | None = None,
) -> ModelRun:
    """Fit every model on history before the cutoff and score each customer seen before it."""
    cutoff_date = _as_date(cutoff)
    cut = to_utc_timestamp(cutoff_date)
    tx = prepare_transactions(transactions)
    tx = tx.loc[tx["ordered_at"] < cut]
    tp = prepare_touchpoints(touchpoints)
    tp = tp.loc[tp["occurred_at"] < cut]
    version = config.model_version(cutoff_date)
    h = config.horizon_days
    cache: dict = {}

    churn = train_churn(tx, cut, config.churn, tp, cache)
    decision = _churn_decision(churn, version, cut, h, champion, config.champion_min_gain)
    if decision.promote or champion is None or champion.model_version == version:
        scoring_churn, churn_version = churn.model, version
    else:
        scoring_churn, churn_version = champion.model, champion.model_version

    features = build_features(tx, cut, tp)
    rfm = clv.rfm_summary(tx, cut).reindex(features.index)
    btyd_model = clv.fit_btyd(
        rfm, bgnbd_penalizer=config.bgnbd_penalizer, gamma_gamma_penalizer=config.gamma_gamma_penalizer
    )
    selection = select_purchase_model(tx, cut, config.purchases, tp, cache)
    learned = None
    if selection.chosen != BTYD_KIND:
        learned = fit_production_learned_model(tx, cut, config.purchases, tp, cache)
    purchase_source = selection.chosen if learned is not None else BTYD_KIND
    challenger_purchases = PurchaseModel(purchase_source, btyd_model, learned)
    purchase_decision = _purchase_decision(
        selection, tx, version, cut, h, purchase_champion, config, config.champion_min_gain
    )
    if purchase_decision.promote or purchase_champion is None or purchase_champion.model_version == version:
        scoring_purchases, purchases_version = challenger_purchases, version
    else:
        scoring_purchases, purchases_version = purchase_champion.model, purchase_champion.model_version
    cluster_model = fit_clusters(features, n_clusters=config.n_clusters, random_state=config.churn.random_state)
    models = FittedModels(
        churn=scoring_churn,
        churn_version=churn_version,
        purchases=scoring_purchases,
        purchases_version=purchases_version,
        clusters=cluster_model,
        horizon_days=h,
        clv_horizon_months=config.clv_horizon_months,
        annual_discount_rate=config.annual_discount_rate,
    )
    scores = score_frame(models, features, rfm)
    profiles = pd.DataFrame()
    if cluster_model is not None:
        profiles = cluster_profiles(
            features.join(scores[["churn_probability", "expected_revenue", "clv"]]),
            scores["cluster_id"].to_numpy(dtype="int64"),
            cluster_model.names,
        )

    tables = _evaluation_tables(churn.backtest_predictions, selection, profiles, scores)
    purchase_metrics = selection.metrics | {
        "challenger_kind": purchase_source,
        "champion": purchase_decision.as_dict(),
        "scored_with": scoring_purchases.kind,
        "scored_with_version": purchases_version,
        "clv_scored_with": scoring_purchases.kind,
    }
    entries = _registry_entries(
        config,
        churn,
        decision,
        churn_version,
        btyd_model,
        selection,
        cluster_model,
        challenger_purchases,
        purchase_metrics,
        purchase_decision,
    )
    metrics = {
        "customers": int(len(scores)),
        "orders_used": int(len(tx)),
        "touchpoints_used": int(len(tp)),
        "horizon_days": h,
        "churn": churn.metrics | {"champion": decision.as_dict(), "scored_with": churn_version},
        "purchases": purchase_metrics,
        "bgnbd": entries[1].metrics,
        "gamma_gamma": entries[2].metrics,
        "clusters": {str(k): int(v) for k, v in scores["cluster_name"].value_counts().sort_index().items()},
        "mean_churn_probability": float(scores["churn_probability"].mean()) if len(scores) else None,
        "total_expected_revenue": float(scores["expected_revenue"].sum()),
        "total_clv": float(scores["clv"].sum()),
        "segments": {k: int(v) for k, v in scores["segment"].value_counts().sort_index().items()},
    }
    return ModelRun(cutoff_date, version, scores, entries, _json_safe(metrics), tables, models)


def _evaluation_tables(
    churn_predictions: pd.DataFrame, selection, profiles: pd.DataFrame, scores: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    tables: dict[str, pd.DataFrame] = {}
    if not churn_predictions.empty:
        y = churn_predictions["churned"].to_numpy()
        tables["churn_calibration"] = calibration_table(y, churn_predictions["p_model"].to_numpy())
        gains = gains_table(y, churn_predictions["p_model"].to_numpy())
        base = gains_table(y, churn_predictions["p_baseline"].to_numpy())
        if not gains.empty:
            gains["baseline_cumulative_gain"] = base["cumulative_gain"].to_numpy()
        tables["churn_gains"] = gains
    rows = selection.backtest
    if not rows.empty:
        prefix = {BTYD_KIND: "btyd", BLEND_KIND: "blend"}.get(selection.chosen, "ml")
        tables["revenue_deciles"] = decile_table(
            rows["actual_revenue"].to_numpy(), rows[f"{prefix}_revenue"].to_numpy()
        )
    if not profiles.empty:
        tables["cluster_profiles"] = profiles
    segment = scores.groupby("segment").agg(
        customers=("clv", "size"),
        mean_churn_probability=("churn_probability", "mean"),
        mean_expected_revenue=("expected_revenue", "mean"),
        mean_clv=("clv", "mean"),
    )
    tables["segment_profiles"] = segment.reset_index()
    return tables


def _registry_entries(
    config: ScoringConfig,
    churn,
    decision: Decision,
    churn_version: str,
    btyd_model: clv.BTYDModel,
    selection,
    cluster_model: ClusterModel | None,
    purchases: PurchaseModel,
    purchase_metrics: dict[str, Any],
    purchase_decision: Decision,
) -> tuple[RegistryEntry, ...]:
    learned = purchases.learned
    bg, gg = btyd_model.bgnbd, btyd_model.gamma_gamma
    window = "purchase days before the cutoff"
    entries = [
        RegistryEntry(
            model_name="churn",
            training_window=churn.training_window,
            features=list(churn.model.feature_columns),
            parameters=config.churn.as_dict() | {"model_kind": churn.model.kind},
            metrics=churn.metrics | {"champion": decision.as_dict(), "scored_with": churn_version},
            model=churn.model,
            is_champion=decision.promote or decision.champion_version == decision.challenger_version,
        ),
        RegistryEntry(
            model_name="bgnbd",
            training_window=window,
            features=["frequency", "recency", "T"],
            parameters={"time_unit": "day", "penalizer": config.bgnbd_penalizer}
            | ({"fitted": bg.params.as_dict()} if bg else {}),
            metrics={
                "fallback": bg is None,
                "notes": [n for n in btyd_model.notes if "BG/NBD" in n],
                "log_likelihood": bg.log_likelihood if bg else None,
                "converged": bg.converged if bg else None,
                "n_customers": bg.n_customers if bg else None,
            },
            model=bg.params if bg else None,
        ),
        RegistryEntry(
            model_name="gamma_gamma",
            training_window=window,
            features=["frequency", "monetary_value"],
            parameters={"penalizer": config.gamma_gamma_penalizer} | ({"fitted": gg.params.as_dict()} if gg else {}),
            metrics={
                "fallback": gg is None,
                "notes": [n for n in btyd_model.notes if "spend" in n],
                "n_repeat_customers": gg.n_customers if gg else None,
                "log_likelihood": gg.log_likelihood if gg else None,
                "converged": gg.converged if gg else None,
                "population_mean_spend": gg.params.population_mean_spend if gg else None,
            },
            model=gg.params if gg else None,
        ),
        RegistryEntry(
            model_name="purchases",
            training_window=f"backtest on [{selection.metrics.get('test_cutoff')}, +{config.horizon_days}d)",
            features=list(learned.feature_columns) if learned else ["frequency", "recency", "T", "monetary_value"],
            parameters=config.purchases.as_dict() | {"model_kind": purchases.kind},
            metrics=purchase_metrics,
            model=purchases,
            is_champion=purchase_decision.promote
            or purchase_decision.champion_version == purchase_decision.challenger_version,
        ),
    ]
    if cluster_model is not None:
        entries.append(
            RegistryEntry(
                model_name="clusters",
                training_window="customers seen before the cutoff",
                features=list(cluster_model.medians.index),
                parameters={"n_clusters": config.n_clusters, "names": list(cluster_model.names)},
                metrics={"inertia": float(cluster_model.kmeans.inertia_)},
                model=cluster_model,
            )
        )
    return tuple(entries)


def _json_safe(value: Any) -> Any:
    """Plain JSON types; NaN/inf become None."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value


# --------------------------------------------------------------------------- I/O


def ensure_ml_tables(conn: psycopg.Connection) -> None:
    """Create the ml tables if missing, and add columns newer code writes."""
    # The warehouse set-up creates the schema; only a bare database (bench, CLI) lacks it,
    # and creating one needs a right the pipeline's transformer role does not have.
    if scalar(conn, "select to_regnamespace('ml') is null"):
        conn.execute("create schema ml")
    for statement in DDL:
        conn.execute(statement)


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
    """Identified, positive-amount orders from ``<marts>.fct_orders`` placed before the cutoff."""
    if not table_exists(conn, marts, "fct_orders"):
        raise RuntimeError(f"{marts}.fct_orders does not exist: build the marts (dbt) before scoring")
    channel = _column_or_null(conn, marts, "fct_orders", "channel", "text")
    items = _column_or_null(conn, marts, "fct_orders", "item_count", "float8")
    query = (
        "copy (select customer_id, extract(epoch from ordered_at)::float8, amount::float8, "
        f"{channel}, {items}::float8 from {marts}.fct_orders "
        "where customer_id is not null and amount > 0 and ordered_at < %s) to stdout with (format csv)"
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


def load_champion(conn: psycopg.Connection, cutoff: date, model_name: str = "churn") -> Champion | None:
    """The ``model_name`` champion registered at or before ``cutoff``; its file must match the registered checksum."""
    if not table_exists(conn, "ml", "model_registry"):
        return None
    row = conn.execute(
        """
        select model_version, trained_at_cutoff, artifact_path, artifact_sha256 from ml.model_registry
        where model_name = %s and is_champion and trained_at_cutoff <= %s and artifact_path is not null
        order by trained_at_cutoff desc, model_version desc limit 1
        """,
        (model_name, cutoff),
    ).fetchone()
    if row is None:
        return None
    version, trained_at, path, sha = row
    return Champion(version, trained_at, load_artifact(Path(path), sha))


def write_run(conn: psycopg.Connection, run: ModelRun, artifacts: dict[str, tuple[str, str]]) -> None:
    """Replace this (cutoff, model version)'s scores, registry rows and evaluation tables."""
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
                json.dumps(_json_safe(entry.parameters)),
                json.dumps(_json_safe(entry.metrics)),
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
        rows = _json_safe(table.to_dict(orient="records"))
        conn.execute(
            "insert into ml.evaluation_tables (model_version, cutoff_date, table_name, rows) "
            "values (%s, %s, %s, %s::jsonb)",
            (run.model_version, run.cutoff, name, json.dumps(rows)),
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
    settings: Settings,
    cutoff: date,
    model_dir: Path,
    *,
    config: ScoringConfig | None = None,
    marts: str = MARTS_SCHEMA,
) -> ScoringSummary:
    """Read orders and touch points, fit and score as of ``cutoff``, save models and write the ml tables.

    ``marts`` is the schema the facts are read from: the pipeline scores the build
    schema before it is published.

    Raises ``ArtifactChecksumError`` when the registered churn champion's file
    does not match its checksum.
    """
    started = time.perf_counter()
    config = config or ScoringConfig.from_settings(settings)
    cutoff_date = _as_date(cutoff)
    cut = to_utc_timestamp(cutoff_date)
    with connect(settings) as conn:
        transactions = load_transactions(conn, cut, marts)
        touchpoints = load_touchpoints(conn, cut, marts)
        champion = load_champion(conn, cutoff_date)
        purchase_champion = load_champion(conn, cutoff_date, "purchases")
    log.info(
        "scoring as of %s: %d orders and %d touch points read; churn champion %s",
        cutoff_date,
        len(transactions),
        0 if touchpoints is None else len(touchpoints),
        champion.model_version if champion else "none",
    )
    run = compute_scores(transactions, cutoff_date, config, touchpoints, champion, purchase_champion)
    artifacts = save_models(run, model_dir)
    with connect(settings) as conn:
        with conn.transaction():
            ensure_ml_tables(conn)
            write_run(conn, run, artifacts)
    summary = ScoringSummary(
        cutoff=cutoff_date,
        model_version=run.model_version,
        customers_scored=int(len(run.scores)),
        metrics=run.metrics,
        seconds=time.perf_counter() - started,
    )
    churn_bt = run.metrics["churn"]["backtest"]
    log.info(
        "scored %d customers, model_version %s, churn model %s (%s), backtest AUC %s (recency baseline %s), "
        "purchases from %s, %.1fs",
        summary.customers_scored,
        summary.model_version,
        run.metrics["churn"]["final"]["model_kind"],
        run.metrics["churn"]["champion"]["reason"],
        (churn_bt.get("model") or {}).get("roc_auc"),
        (churn_bt.get("recency_baseline") or {}).get("roc_auc"),
        run.metrics["purchases"]["scored_with"],
        summary.seconds,
    )
    return summary
