"""Expected purchases and revenue over the next H days: BG/NBD + Gamma-Gamma or a learned model.

Two candidates predict, for every customer seen before a cutoff T, the number
of purchase days and the revenue in [T, T + H):

* ``btyd``: BG/NBD for purchase days and Gamma-Gamma for spend per purchase
  day, fitted on (frequency, recency, T) before the cutoff;
* ``hgb_poisson``: two HistGradientBoostingRegressors with Poisson loss on the
  same customer features as the churn model (``customer360.ml.features``), trained on
  stacked snapshots T-kH (k = 1..n) whose outcomes are known before T. A
  Poisson loss with a log link keeps the sum of predictions equal to the sum
  of outcomes on the training rows, which keeps totals honest.

A third candidate, ``blend``, is the mean of the two predictions.

``select_purchase_model`` runs a time-based backtest: the candidates are
fitted as of T-H (the learned one on snapshots T-2H, T-3H, ...) and scored on
what customers actually did in [T-H, T). The candidate with the lowest
root-mean-square error of per-customer revenue wins (BG/NBD on a tie); the
metrics of all are returned. Everything here is pure: no I/O, fixed random_state.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from customer360.ml import clv
from customer360.ml.boosting import BoostingParams
from customer360.ml.features import informative_columns, labelled_snapshots
from customer360.ml.history import to_utc_timestamp

BTYD_KIND = "btyd"
ML_KIND = "hgb_poisson"
BLEND_KIND = "blend"
KINDS = (BTYD_KIND, ML_KIND, BLEND_KIND)


def blend(btyd: np.ndarray, learned: np.ndarray) -> np.ndarray:
    """The blend candidate: the mean of the BG/NBD and learned predictions."""
    return 0.5 * (np.asarray(btyd, dtype="float64") + np.asarray(learned, dtype="float64"))


@dataclass(frozen=True)
class PurchaseConfig(BoostingParams):
    horizon_days: int = 90
    n_train_windows: int = 2
    min_train_rows: int = 500

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LearnedPurchaseModel:
    """Poisson-loss boosting for purchase days and revenue in the next H days."""

    purchases: HistGradientBoostingRegressor
    revenue: HistGradientBoostingRegressor
    feature_columns: tuple[str, ...]
    n_threads: int = 1

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        if features.empty:
            return pd.DataFrame({"expected_purchases": [], "expected_revenue": []}, index=features.index)
        x = features.loc[:, list(self.feature_columns)].to_numpy(dtype="float64")
        with threadpool_limits(limits=self.n_threads, user_api="openmp"):
            purchases = self.purchases.predict(x)
            revenue = self.revenue.predict(x)
        # the rule BG/NBD + Gamma-Gamma follow (clv.BTYDModel.expected_spend): who has paid nothing, net of
        # refunds, is expected to pay nothing; a few such rows among thousands are too few to learn it from
        revenue = np.where(features["monetary_total"].to_numpy(dtype="float64") > 0, revenue, 0.0)
        return pd.DataFrame(
            {"expected_purchases": np.maximum(purchases, 0.0), "expected_revenue": np.maximum(revenue, 0.0)},
            index=features.index,
        )


@dataclass(frozen=True)
class PurchaseSelection:
    chosen: str
    metrics: dict[str, Any]
    # backtest rows: actual and predicted purchases/revenue of both candidates
    backtest: pd.DataFrame = field(default_factory=pd.DataFrame)
    # the backtest's test snapshot (features at T-H, customers as in ``backtest``), to judge a champion on
    test_features: pd.DataFrame = field(default_factory=pd.DataFrame)


def _regressor(config: PurchaseConfig) -> HistGradientBoostingRegressor:
    return HistGradientBoostingRegressor(loss="poisson", **config.booster_args())


def fit_learned_model(
    features: pd.DataFrame, outcomes: pd.DataFrame, config: PurchaseConfig
) -> LearnedPurchaseModel | None:
    """Fit both regressors; None when there are too few rows or no purchase at all."""
    if len(features) < config.min_train_rows or float(outcomes["purchases"].sum()) <= 0:
        return None
    columns = informative_columns(features)
    x = features.loc[:, list(columns)].to_numpy(dtype="float64")
    purchases, revenue = _regressor(config), _regressor(config)
    with threadpool_limits(limits=config.n_threads, user_api="openmp"):
        purchases.fit(x, outcomes["purchases"].to_numpy(dtype="float64"))
        revenue.fit(x, outcomes["revenue"].to_numpy(dtype="float64"))
    return LearnedPurchaseModel(purchases, revenue, columns, config.n_threads)


def btyd_predictions(
    transactions: pd.DataFrame, cutoff: pd.Timestamp, horizon_days: int, customers: pd.Index
) -> tuple[pd.DataFrame, clv.BTYDModel]:
    """BG/NBD + Gamma-Gamma expected purchase days and revenue in [cutoff, cutoff + H)."""
    rfm = clv.rfm_summary(transactions, cutoff).reindex(customers)
    model = clv.fit_btyd(rfm)
    observed = rfm["monetary_value"].where(rfm["frequency"] > 0).to_numpy(dtype="float64")
    spend = model.expected_spend(rfm, np.nan_to_num(observed, nan=model.repeat_spend_mean))
    purchases = model.expected_purchases(rfm, float(horizon_days))
    return (
        pd.DataFrame({"expected_purchases": purchases, "expected_revenue": purchases * spend}, index=customers),
        model,
    )


@dataclass(frozen=True)
class PurchaseModel:
    """The purchase/CLV model as registered: the candidate that scores and its fitted parts."""

    kind: str  # KINDS
    btyd: clv.BTYDModel
    learned: LearnedPurchaseModel | None = None


def predict_value(
    model: PurchaseModel,
    features: pd.DataFrame,
    rfm: pd.DataFrame,
    horizon_days: int,
    *,
    clv_months: int,
    annual_discount_rate: float,
    p_alive_fallback: np.ndarray | None = None,
) -> pd.DataFrame:
    """Expected purchase days and revenue in the next H days, P(alive) and discounted CLV, per customer.

    BG/NBD + Gamma-Gamma give all four. The learned model predicts only the
    next H days, so its CLV keeps BG/NBD's per-customer ratio of CLV to H-day
    revenue (decay and discounting over the CLV horizon) applied to the learned
    H-day revenue; the blend averages both. Without a BG/NBD fit (tiny data)
    the historical-rate fallback is scaled by ``p_alive_fallback``.
    """
    btyd = model.btyd
    observed = features["monetary_total"].to_numpy() / np.maximum(features["purchase_days"].to_numpy(), 1.0)
    spend = btyd.expected_spend(rfm, observed)
    purchases = btyd.expected_purchases(rfm, float(horizon_days))
    p_alive = btyd.p_alive(rfm)
    value = btyd.clv(rfm, spend, months=clv_months, annual_discount_rate=annual_discount_rate)
    if btyd.bgnbd is None and p_alive_fallback is not None:
        p_alive = np.asarray(p_alive_fallback, dtype="float64")
        value, purchases = value * p_alive, purchases * p_alive
    revenue = purchases * spend
    if model.learned is not None and model.kind != BTYD_KIND:
        learned = model.learned.predict(features)
        positive = revenue > 1e-9
        ratio = np.divide(value, revenue, out=np.zeros_like(value), where=positive)
        # customers BG/NBD gives no revenue: the median ratio of the others
        ratio = np.where(positive, ratio, float(np.median(ratio[positive])) if positive.any() else 0.0)
        l_purchases = learned["expected_purchases"].to_numpy()
        l_revenue = learned["expected_revenue"].to_numpy()
        l_value = l_revenue * ratio
        if model.kind == BLEND_KIND:
            purchases, revenue, value = blend(purchases, l_purchases), blend(revenue, l_revenue), blend(value, l_value)
        else:
            purchases, revenue, value = l_purchases, l_revenue, l_value
    return pd.DataFrame(
        {
            "expected_purchases": purchases,
            "expected_revenue": revenue,
            "p_alive": p_alive,
            "clv": np.maximum(value, 0.0),
        },
        index=features.index,
    )


def regression_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float | None]:
    """MAE, RMSE, Pearson correlation and relative error of the total."""
    actual, predicted = np.asarray(actual, dtype="float64"), np.asarray(predicted, dtype="float64")
    if len(actual) == 0:
        return {
            "mae": None,
            "rmse": None,
            "correlation": None,
            "total_actual": 0.0,
            "total_predicted": 0.0,
            "total_error": None,
        }
    corr = float(np.corrcoef(actual, predicted)[0, 1]) if actual.std() > 0 and predicted.std() > 0 else None
    total_a, total_p = float(actual.sum()), float(predicted.sum())
    return {
        "mae": float(np.mean(np.abs(predicted - actual))),
        "rmse": float(np.sqrt(np.mean((predicted - actual) ** 2))),
        "correlation": corr,
        "total_actual": total_a,
        "total_predicted": total_p,
        "total_error": (total_p - total_a) / total_a if total_a > 0 else None,
    }


def select_purchase_model(
    transactions: pd.DataFrame,
    cutoff: pd.Timestamp,
    config: PurchaseConfig,
    touchpoints: pd.DataFrame | None = None,
    cache: dict | None = None,
) -> PurchaseSelection:
    """Backtest the candidates on [T-H, T) and choose by revenue RMSE (BG/NBD on a tie or without data)."""
    cut = to_utc_timestamp(cutoff)
    h = pd.Timedelta(days=config.horizon_days)
    test_cut = cut - h
    train_cuts = [cut - k * h for k in range(2, 2 + config.n_train_windows)]
    x_te, o_te = labelled_snapshots(transactions, [test_cut], config.horizon_days, touchpoints, cache)
    metrics: dict[str, Any] = {
        "test_cutoff": f"{test_cut:%Y-%m-%d}",
        "train_cutoffs": [f"{c:%Y-%m-%d}" for c in train_cuts],
        "selection_metric": "revenue_rmse",
        "n_test": int(len(x_te)),
    }
    if x_te.empty:
        return PurchaseSelection(BTYD_KIND, metrics | {"notes": ["no backtest: history shorter than one horizon"]})
    customers = x_te.index.get_level_values("customer_id")
    tx_before = transactions.loc[pd.to_datetime(transactions["ordered_at"], utc=True) < test_cut]
    btyd, _ = btyd_predictions(tx_before, test_cut, config.horizon_days, pd.Index(customers, name="customer_id"))
    rows = pd.DataFrame(
        {
            "actual_purchases": o_te["purchases"].to_numpy(),
            "actual_revenue": o_te["revenue"].to_numpy(),
            "btyd_purchases": btyd["expected_purchases"].to_numpy(),
            "btyd_revenue": btyd["expected_revenue"].to_numpy(),
        },
        index=pd.Index(customers, name="customer_id"),
    )
    metrics[BTYD_KIND] = {
        "purchases": regression_metrics(rows["actual_purchases"], rows["btyd_purchases"]),
        "revenue": regression_metrics(rows["actual_revenue"], rows["btyd_revenue"]),
    }
    x_tr, o_tr = labelled_snapshots(transactions, train_cuts, config.horizon_days, touchpoints, cache)
    learned = fit_learned_model(x_tr, o_tr, config) if len(x_tr) else None
    chosen = BTYD_KIND
    if learned is None:
        metrics["notes"] = [f"learned model not fitted: {len(x_tr)} training rows (< {config.min_train_rows})"]
    else:
        predicted = learned.predict(x_te)
        rows["ml_purchases"] = predicted["expected_purchases"].to_numpy()
        rows["ml_revenue"] = predicted["expected_revenue"].to_numpy()
        rows["blend_purchases"] = blend(rows["btyd_purchases"], rows["ml_purchases"])
        rows["blend_revenue"] = blend(rows["btyd_revenue"], rows["ml_revenue"])
        for kind, prefix in ((ML_KIND, "ml"), (BLEND_KIND, "blend")):
            metrics[kind] = {
                "purchases": regression_metrics(rows["actual_purchases"], rows[f"{prefix}_purchases"]),
                "revenue": regression_metrics(rows["actual_revenue"], rows[f"{prefix}_revenue"]),
            }
        chosen = min(KINDS, key=lambda kind: (metrics[kind]["revenue"]["rmse"], KINDS.index(kind)))
    metrics["chosen"] = chosen
    return PurchaseSelection(chosen, metrics, rows, x_te.droplevel("snapshot"))


def fit_production_learned_model(
    transactions: pd.DataFrame,
    cutoff: pd.Timestamp,
    config: PurchaseConfig,
    touchpoints: pd.DataFrame | None = None,
    cache: dict | None = None,
) -> LearnedPurchaseModel | None:
    """The learned model for scoring at T: snapshots T-H .. T-nH, outcomes all before T."""
    cut = to_utc_timestamp(cutoff)
    h = pd.Timedelta(days=config.horizon_days)
    cuts = [cut - k * h for k in range(1, 1 + config.n_train_windows)]
    x_tr, o_tr = labelled_snapshots(transactions, cuts, config.horizon_days, touchpoints, cache)
    return fit_learned_model(x_tr, o_tr, config) if len(x_tr) else None
