"""Score every customer as of a cutoff and record the models.

``compute_scores`` is the pure core (transactions and touch points in, a
score frame, fitted models and evaluation tables out); ``score_customers``
runs it on the warehouse: it reads ``marts.fct_orders`` and
``marts.fct_touchpoints`` (customer360.ml.store), loads the current champions
(customer360.ml.registry, checksum verified), saves model artifacts under the
caller's folder and writes ``ml.customer_scores``, ``ml.model_registry``,
``ml.churn_evaluation`` and ``ml.evaluation_tables`` in one transaction,
replacing any earlier run of the same (cutoff_date, model_version). The
columns of ml.customer_scores are described in customer360.ml.store.

A cutoff is a ``date`` at this module's edges and a UTC ``pd.Timestamp``
(``cut``) inside the models (customer360.ml.history).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from customer360.config import Settings
from customer360.db.connection import MARTS_SCHEMA, connect
from customer360.ml import clv
from customer360.ml.champion import Champion, decide_churn, decide_purchases
from customer360.ml.churn import ChurnModel, train_churn
from customer360.ml.clusters import ClusterModel, cluster_profiles, fit_clusters
from customer360.ml.config import ScoringConfig
from customer360.ml.evaluation import calibration_table, decile_table, gains_table
from customer360.ml.features import build_features
from customer360.ml.history import prepare_touchpoints, prepare_transactions, to_utc_timestamp
from customer360.ml.purchases import (
    BLEND_KIND,
    BTYD_KIND,
    PurchaseModel,
    fit_production_learned_model,
    predict_value,
    select_purchase_model,
)
from customer360.ml.registry import (
    RegisteredRun,
    RegistryEntry,
    json_safe,
    load_champion,
    registered_run,
    registry_entries,
    save_models,
)
from customer360.ml.store import SCORE_COLUMNS, ensure_ml_tables, load_touchpoints, load_transactions, write_run

log = logging.getLogger(__name__)

REFIT_CALENDAR_START = date(1970, 1, 5)  # a Monday: with a 7-day cadence, models are trained as of Mondays


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


def _checked_cutoff(cutoff: date) -> date:
    """The cutoff as given: a date (a datetime or a string would silently move or fail later)."""
    if isinstance(cutoff, datetime) or not isinstance(cutoff, date):
        raise TypeError(f"a scoring cutoff is a datetime.date, got {type(cutoff).__name__} {cutoff!r}")
    return cutoff


def compute_scores(
    transactions: pd.DataFrame,
    cutoff: date,
    config: ScoringConfig,
    touchpoints: pd.DataFrame | None = None,
    champion: Champion | None = None,
    purchase_champion: Champion | None = None,
) -> ModelRun:
    """Fit every model on history before the cutoff and score each customer seen before it."""
    cutoff_date = _checked_cutoff(cutoff)
    cut = to_utc_timestamp(cutoff_date)
    tx = prepare_transactions(transactions)
    tx = tx.loc[tx["ordered_at"] < cut]
    tp = prepare_touchpoints(touchpoints)
    tp = tp.loc[tp["occurred_at"] < cut]
    version = config.model_version(cutoff_date)
    h = config.horizon_days
    cache: dict = {}

    churn = train_churn(tx, cut, config.churn, tp, cache)
    decision = decide_churn(churn, version, cut, h, champion, config.champion_min_gain)
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
    purchase_decision = decide_purchases(
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

    tables = _evaluation_tables(churn.backtest_predictions, selection, profiles)
    purchase_metrics = selection.metrics | {
        "challenger_kind": purchase_source,
        "champion": purchase_decision.as_dict(),
        "scored_with": scoring_purchases.kind,
        "scored_with_version": purchases_version,
        "clv_scored_with": scoring_purchases.kind,
    }
    entries = registry_entries(
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
    }
    return ModelRun(cutoff_date, version, scores, entries, json_safe(metrics), tables, models)


def _evaluation_tables(churn_predictions: pd.DataFrame, selection, profiles: pd.DataFrame) -> dict[str, pd.DataFrame]:
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
    return tables


def refit_cutoff(cutoff: date, refit_days: int) -> date:
    """The cutoff the models scoring ``cutoff`` are trained at: the latest day on or before it of a fixed
    calendar, one day in every ``refit_days`` counted from Monday 1970-01-05 (with 7: each Monday).

    A calendar, not "the last fit": the days of a backfill score with the same models whatever order
    (or parallelism) they run in, and a rerun of a day gives the same scores.
    """
    if refit_days < 1:
        raise ValueError(f"refit_days must be at least 1, got {refit_days}")
    return cutoff - timedelta(days=(cutoff - REFIT_CALENDAR_START).days % refit_days)


def score_with_registered(
    registered: RegisteredRun,
    transactions: pd.DataFrame,
    cutoff: date,
    config: ScoringConfig,
    touchpoints: pd.DataFrame | None = None,
    *,
    trained_at: date,
) -> ModelRun:
    """Score each customer seen before ``cutoff`` with the models of a registered run (no training)."""
    cut = to_utc_timestamp(_checked_cutoff(cutoff))
    tx = prepare_transactions(transactions)
    tx = tx.loc[tx["ordered_at"] < cut]
    tp = prepare_touchpoints(touchpoints)
    tp = tp.loc[tp["occurred_at"] < cut]
    models = FittedModels(
        churn=registered.churn,
        churn_version=registered.churn_version,
        purchases=registered.purchases,
        purchases_version=registered.purchases_version,
        clusters=registered.clusters,
        horizon_days=config.horizon_days,
        clv_horizon_months=config.clv_horizon_months,
        annual_discount_rate=config.annual_discount_rate,
    )
    features = build_features(tx, cut, tp)
    scores = score_frame(models, features, clv.rfm_summary(tx, cut).reindex(features.index))
    reason = f"scored with the models trained as of {trained_at} ({registered.model_version}); no refit due"
    metrics = {
        "customers": int(len(scores)),
        "orders_used": int(len(tx)),
        "touchpoints_used": int(len(tp)),
        "horizon_days": config.horizon_days,
        "refit": {"trained_at_cutoff": trained_at.isoformat(), "model_version": registered.model_version},
        "churn": {"scored_with": registered.churn_version, "champion": {"reason": reason}},
        "purchases": {"scored_with": registered.purchases.kind, "scored_with_version": registered.purchases_version},
        "mean_churn_probability": float(scores["churn_probability"].mean()) if len(scores) else None,
        "total_expected_revenue": float(scores["expected_revenue"].sum()),
        "total_clv": float(scores["clv"].sum()),
    }
    return ModelRun(cutoff, registered.model_version, scores, (), json_safe(metrics), {}, models)


def score_customers(
    settings: Settings,
    cutoff: date,
    model_dir: Path,
    *,
    config: ScoringConfig | None = None,
    marts: str = MARTS_SCHEMA,
) -> ScoringSummary:
    """Read orders and touch points, score as of ``cutoff`` and write the ml tables.

    Models are trained as of ``refit_cutoff(cutoff, settings.model_refit_days)``: on that day itself
    (saving the models and writing their registry rows), or, between refits, read back from the
    registry, training the refit day's models first if no run registered them (a backfill started
    mid-week). With no orders before the refit day, the models are trained at ``cutoff``.

    ``marts`` is the schema the facts are read from: the pipeline scores the build
    schema before it is published.

    Raises ``ArtifactChecksumError`` when a registered model's file does not match its checksum.
    """
    started = time.perf_counter()
    config = config or ScoringConfig.from_settings(settings)
    cutoff_date = _checked_cutoff(cutoff)
    cut = to_utc_timestamp(cutoff_date)
    refit_at = refit_cutoff(cutoff_date, settings.model_refit_days)
    with connect(settings) as conn:
        transactions = load_transactions(conn, cut, marts)
        touchpoints = load_touchpoints(conn, cut, marts)
    log.info(
        "scoring as of %s: %d orders and %d touch points read; models trained as of %s",
        cutoff_date,
        len(transactions),
        0 if touchpoints is None else len(touchpoints),
        refit_at,
    )
    if refit_at == cutoff_date or not (transactions["ordered_at"] < to_utc_timestamp(refit_at)).any():
        run = _train_and_write(settings, transactions, touchpoints, cutoff_date, config, model_dir)
    else:
        run = _score_between_refits(settings, transactions, touchpoints, cutoff_date, refit_at, config, model_dir)
    summary = ScoringSummary(
        cutoff=cutoff_date,
        model_version=run.model_version,
        customers_scored=int(len(run.scores)),
        metrics=run.metrics,
        seconds=time.perf_counter() - started,
    )
    log.info(
        "scored %d customers, model_version %s, churn model %s (%s), purchases from %s, %.1fs",
        summary.customers_scored,
        summary.model_version,
        run.metrics["churn"]["scored_with"],
        run.metrics["churn"]["champion"]["reason"],
        run.metrics["purchases"]["scored_with"],
        summary.seconds,
    )
    return summary


def _train_and_write(
    settings: Settings,
    transactions: pd.DataFrame,
    touchpoints: pd.DataFrame | None,
    cutoff: date,
    config: ScoringConfig,
    model_dir: Path,
) -> ModelRun:
    """Train every model as of ``cutoff`` against the champions registered by then, score, save and write."""
    with connect(settings) as conn:
        champion = load_champion(conn, cutoff)
        purchase_champion = load_champion(conn, cutoff, "purchases")
    run = compute_scores(transactions, cutoff, config, touchpoints, champion, purchase_champion)
    artifacts = save_models(run.entries, run.model_version, model_dir)
    with connect(settings) as conn:
        with conn.transaction():
            ensure_ml_tables(conn)
            write_run(conn, run, artifacts)
    churn_bt = run.metrics["churn"]["backtest"]
    log.info(
        "trained as of %s: churn model %s, backtest AUC %s (recency baseline %s)",
        cutoff,
        run.metrics["churn"]["final"]["model_kind"],
        (churn_bt.get("model") or {}).get("roc_auc"),
        (churn_bt.get("recency_baseline") or {}).get("roc_auc"),
    )
    return run


def _score_between_refits(
    settings: Settings,
    transactions: pd.DataFrame,
    touchpoints: pd.DataFrame | None,
    cutoff: date,
    refit_at: date,
    config: ScoringConfig,
    model_dir: Path,
) -> ModelRun:
    version = config.model_version(refit_at)
    with connect(settings) as conn:
        conn.autocommit = True  # no transaction held open while the lock waits or the models train
        # Days of one refit period run in parallel (a backfill) train the refit day's models once.
        conn.execute("select pg_advisory_lock(hashtext(%s))", (f"ml.refit {version}",))
        try:
            registered = registered_run(conn, version)
            if registered is None:
                log.info("no run registered the models of %s: training them first", refit_at)
                _train_and_write(settings, transactions, touchpoints, refit_at, config, model_dir)
                registered = registered_run(conn, version)
        finally:
            conn.execute("select pg_advisory_unlock(hashtext(%s))", (f"ml.refit {version}",))
    if registered is None:
        raise RuntimeError(f"the models of {version} were trained but are not in ml.model_registry")
    run = score_with_registered(registered, transactions, cutoff, config, touchpoints, trained_at=refit_at)
    with connect(settings) as conn:
        with conn.transaction():
            ensure_ml_tables(conn)
            write_run(conn, run, {})
    return run
