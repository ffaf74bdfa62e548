"""Churn model: calibrated gradient boosting on customer features, with a recency baseline.

Design (scoring cutoff T, horizon H):

* a training set stacks ``n_train_windows`` snapshots: features at T-kH,
  labels from [T-kH, T-(k-1)H), k = 1..n;
* the backtest shifts everything one horizon back: it trains on snapshots
  k = 2..n+1 and evaluates on features at T-H with labels from [T-H, T);
* the model is a HistGradientBoostingClassifier wrapped in
  CalibratedClassifierCV (isotonic with enough rows, sigmoid otherwise);
* the baseline is a recency rule: a logistic regression on log(1 + recency_days),
  i.e. probability monotone in recency, calibrated on the same training rows;
* with too few churners or non-churners the model falls back to the recency
  rule (or, without any labelled rows, to the fixed rule 1 - exp(-recency/H)),
  and the metrics say so;
* two more candidates compete with it in the backtest: BG/NBD's
  P(no purchase in H) (fitted on the purchase history before the cutoff, no
  labels needed; a posterior probability, so calibrated when the model
  holds) and the mean of the two. The one with the highest backtest ROC AUC
  (Brier score on a tie, then the boosting) is used; on buy-till-you-die
  data the four-parameter BG/NBD often ranks customers better than boosting
  on the same few purchases, elsewhere boosting wins. They compete only when
  the boosting itself could be fitted (no fallback): on smaller data the
  backtest is too small to choose on.

Everything here is pure: no I/O, fixed random_state.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from threadpoolctl import threadpool_limits

from customer360.ml import clv
from customer360.ml.boosting import BoostingParams
from customer360.ml.features import (
    FEATURE_COLUMNS,
    informative_columns,
    labelled_snapshots,
)
from customer360.ml.history import prepare_touchpoints, prepare_transactions, to_utc_timestamp

HGB_KIND = "hgb_calibrated"
RECENCY_KIND = "recency_logistic"
HEURISTIC_KIND = "recency_heuristic"
BGNBD_KIND = "bgnbd_p_none"
BLEND_KIND = "blend_hgb_bgnbd"


@dataclass(frozen=True)
class ChurnConfig(BoostingParams):
    horizon_days: int = 90
    n_train_windows: int = 2
    min_class_count: int = 30
    calibration_folds: int = 3
    isotonic_min_rows: int = 5000
    # let BG/NBD and the blend compete with the learned model in the backtest
    bgnbd_candidates: bool = True

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ChurnModel:
    """A fitted churn scorer; ``predict_proba`` takes a build_features frame."""

    kind: str
    horizon_days: int
    estimator: Any = None
    feature_columns: tuple[str, ...] = FEATURE_COLUMNS
    notes: list[str] = field(default_factory=list)
    n_threads: int = 1

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        if features.empty:
            return np.empty(0)
        if self.kind == HGB_KIND:
            with threadpool_limits(limits=self.n_threads, user_api="openmp"):
                p = self.estimator.predict_proba(features.loc[:, list(self.feature_columns)].to_numpy())[:, 1]
        elif self.kind == RECENCY_KIND:
            p = self.estimator.predict_proba(_recency_design(features))[:, 1]
        elif self.kind == HEURISTIC_KIND:
            p = 1.0 - np.exp(-features["recency_days"].to_numpy(dtype="float64") / self.horizon_days)
        elif self.kind == BGNBD_KIND:
            p = clv.bgnbd_probability_no_purchase(self.estimator, float(self.horizon_days), *_bgnbd_inputs(features))
        elif self.kind == BLEND_KIND:
            p = np.mean([part.predict_proba(features) for part in self.estimator], axis=0)
        else:
            raise ValueError(f"unknown churn model kind {self.kind!r}")
        return np.clip(p, 0.0, 1.0)


@dataclass(frozen=True)
class ChurnResult:
    model: ChurnModel
    metrics: dict[str, Any]
    training_window: str
    # backtest test rows: churned, p_model, p_baseline (empty without a backtest)
    backtest_predictions: pd.DataFrame = field(default_factory=pd.DataFrame)
    # the backtest's own model and test rows, for champion/challenger comparisons
    backtest_model: ChurnModel | None = None
    backtest_features: pd.DataFrame = field(default_factory=pd.DataFrame)


def _bgnbd_inputs(features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, t_x, T) of BG/NBD from the feature columns: repeat purchase days, first-to-last and first-to-cutoff days."""
    tenure = features["tenure_days"].to_numpy(dtype="float64")
    x = np.maximum(features["purchase_days"].to_numpy(dtype="float64") - 1.0, 0.0)
    t_x = np.clip(tenure - features["recency_days"].to_numpy(dtype="float64"), 0.0, tenure)
    return x, np.where(x > 0, t_x, 0.0), tenure


def fit_bgnbd_churn(transactions: pd.DataFrame, cutoff: pd.Timestamp, horizon_days: int) -> ChurnModel | None:
    """BG/NBD P(no purchase in H), fitted on purchases before ``cutoff``; None when BG/NBD cannot be fitted."""
    rfm = clv.rfm_summary(transactions, cutoff)
    x, t_x, age = (rfm[c].to_numpy(dtype="float64") for c in ("frequency", "recency", "T"))
    if len(rfm) < clv.MIN_BGNBD_CUSTOMERS or not (x > 0).any():
        return None
    return ChurnModel(
        BGNBD_KIND,
        horizon_days,
        estimator=clv.fit_bgnbd(x, t_x, age).params,
        feature_columns=("purchase_days", "recency_days", "tenure_days"),
    )


def churn_candidates(learned: ChurnModel, bgnbd: ChurnModel | None) -> dict[str, ChurnModel]:
    """The learned model, and BG/NBD and the blend of both when BG/NBD could be fitted."""
    if bgnbd is None:
        return {learned.kind: learned}
    blend = ChurnModel(
        BLEND_KIND,
        learned.horizon_days,
        estimator=(learned, bgnbd),
        feature_columns=tuple(dict.fromkeys(learned.feature_columns + bgnbd.feature_columns)),
    )
    return {learned.kind: learned, BGNBD_KIND: bgnbd, BLEND_KIND: blend}


def _recency_design(features: pd.DataFrame) -> np.ndarray:
    return np.log1p(features[["recency_days"]].to_numpy(dtype="float64"))


def window_cutoffs(cutoff: pd.Timestamp, horizon_days: int, first: int, count: int) -> list[pd.Timestamp]:
    """[cutoff - k*H for k = first .. first+count-1], most recent first."""
    h = pd.Timedelta(days=horizon_days)
    return [to_utc_timestamp(cutoff) - k * h for k in range(first, first + count)]


def fit_recency_baseline(features: pd.DataFrame, labels: pd.Series, config: ChurnConfig) -> ChurnModel:
    """Logistic regression on log(1 + recency); the fixed heuristic without two classes."""
    if labels.nunique() < 2:
        return ChurnModel(HEURISTIC_KIND, config.horizon_days, notes=["fewer than two classes: fixed recency rule"])
    lr = LogisticRegression(C=1e4, max_iter=1000)
    lr.fit(_recency_design(features), labels.to_numpy())
    return ChurnModel(RECENCY_KIND, config.horizon_days, estimator=lr)


def fit_churn_model(features: pd.DataFrame, labels: pd.Series, config: ChurnConfig) -> ChurnModel:
    """Calibrated HGB, or the recency baseline when the classes are too small."""
    positives = int(labels.sum())
    negatives = int(len(labels) - positives)
    if min(positives, negatives) < config.min_class_count:
        baseline = fit_recency_baseline(features, labels, config)
        baseline.notes.append(
            f"fallback: {positives} churners / {negatives} non-churners "
            f"(< {config.min_class_count} of a class) - recency rule used"
        )
        return baseline
    hgb = HistGradientBoostingClassifier(**config.booster_args())
    method = "isotonic" if len(labels) >= config.isotonic_min_rows else "sigmoid"
    calibrated = CalibratedClassifierCV(hgb, method=method, cv=config.calibration_folds)
    columns = informative_columns(features)
    with threadpool_limits(limits=config.n_threads, user_api="openmp"):
        calibrated.fit(features.loc[:, list(columns)].to_numpy(), labels.to_numpy())
    return ChurnModel(
        HGB_KIND,
        config.horizon_days,
        estimator=calibrated,
        feature_columns=columns,
        notes=[f"calibration: {method}"],
        n_threads=config.n_threads,
    )


def classification_metrics(labels: np.ndarray, probability: np.ndarray) -> dict[str, Any]:
    """ROC AUC, PR AUC (average precision), Brier; AUCs are None with a single class."""
    labels = np.asarray(labels)
    out: dict[str, Any] = {"n": int(len(labels)), "churn_rate": float(labels.mean()) if len(labels) else None}
    if len(labels) == 0:
        return out | {"roc_auc": None, "pr_auc": None, "brier": None}
    two = len(np.unique(labels)) == 2
    out["roc_auc"] = float(roc_auc_score(labels, probability)) if two else None
    out["pr_auc"] = float(average_precision_score(labels, probability)) if two else None
    out["brier"] = float(brier_score_loss(labels, probability))
    return out


def _window_text(train_cutoffs: list[pd.Timestamp], horizon_days: int) -> str:
    days = ", ".join(f"{c:%Y-%m-%d}" for c in sorted(train_cutoffs))
    return f"feature snapshots {days}; labels over the following {horizon_days} days each"


def train_churn(
    transactions: pd.DataFrame,
    cutoff: pd.Timestamp,
    config: ChurnConfig,
    touchpoints: pd.DataFrame | None = None,
    cache: dict | None = None,
) -> ChurnResult:
    """Backtest, then fit the production model for scoring at ``cutoff``.

    Only transactions and touch points before ``cutoff`` are used.
    """
    cut = to_utc_timestamp(cutoff)
    tx = prepare_transactions(transactions)
    tx = tx.loc[tx["ordered_at"] < cut]
    tp = prepare_touchpoints(touchpoints)
    tp = tp.loc[tp["occurred_at"] < cut]
    h = config.horizon_days

    # Backtest: train one horizon further back, test on the last complete window.
    bt_train_cutoffs = window_cutoffs(cut, h, 2, config.n_train_windows)
    bt_test_cutoff = window_cutoffs(cut, h, 1, 1)
    x_bt, o_bt = labelled_snapshots(tx, bt_train_cutoffs, h, tp, cache)
    x_te, o_te = labelled_snapshots(tx, bt_test_cutoff, h, tp, cache)
    y_bt, y_te = o_bt["churned"], o_te["churned"]
    predictions = pd.DataFrame()
    bt_model = None
    backtest: dict[str, Any] = {
        "train_cutoffs": [f"{c:%Y-%m-%d}" for c in bt_train_cutoffs],
        "test_cutoff": f"{bt_test_cutoff[0]:%Y-%m-%d}",
        "n_train": int(len(y_bt)),
        "n_test": int(len(y_te)),
    }
    chosen: str | None = None
    if len(y_te) and len(y_bt):
        learned_bt = fit_churn_model(x_bt, y_bt, config)
        # with too few churners to fit the boosting, the backtest is too small to choose on either
        compete = config.bgnbd_candidates and learned_bt.kind == HGB_KIND
        bgnbd_bt = fit_bgnbd_churn(tx, bt_test_cutoff[0], h) if compete else None
        candidates = churn_candidates(learned_bt, bgnbd_bt)
        scored = {kind: m.predict_proba(x_te) for kind, m in candidates.items()}
        backtest["candidates"] = {kind: classification_metrics(y_te.to_numpy(), p) for kind, p in scored.items()}
        order = list(candidates)
        # highest AUC, then lowest Brier, then the learned model (listed first)
        chosen = max(
            order,
            key=lambda k: (
                backtest["candidates"][k]["roc_auc"] or 0.0,
                -(backtest["candidates"][k]["brier"] or 1.0),
                -order.index(k),
            ),
        )
        bt_model = candidates[chosen]
        bt_base = fit_recency_baseline(x_bt, y_bt, config)
        backtest["model_kind"] = bt_model.kind
        p_model, p_base = scored[chosen], bt_base.predict_proba(x_te)
        backtest["model"] = backtest["candidates"][chosen]
        backtest["recency_baseline"] = classification_metrics(y_te.to_numpy(), p_base)
        predictions = pd.DataFrame({"churned": y_te.to_numpy(), "p_model": p_model, "p_baseline": p_base})
        backtest["notes"] = learned_bt.notes + [f"chosen by backtest ROC AUC: {chosen}"]
    else:
        backtest["model_kind"] = None
        backtest["notes"] = ["backtest unavailable: history shorter than two horizons"]

    # Production model: the most recent complete windows.
    train_cutoffs = window_cutoffs(cut, h, 1, config.n_train_windows)
    x_tr, o_tr = labelled_snapshots(tx, train_cutoffs, h, tp, cache)
    y_tr = o_tr["churned"]
    learned = fit_churn_model(x_tr, y_tr, config)
    model = learned
    if chosen is not None and chosen != learned.kind:
        # the production twin of the backtest's choice; the learned model alone if BG/NBD cannot be fitted now
        model = churn_candidates(learned, fit_bgnbd_churn(tx, cut, h)).get(chosen, learned)
    final = {
        "model_kind": model.kind,
        "fallback": learned.kind != HGB_KIND,
        "train_cutoffs": [f"{c:%Y-%m-%d}" for c in train_cutoffs],
        "n_train": int(len(y_tr)),
        "train_churn_rate": float(y_tr.mean()) if len(y_tr) else None,
        "notes": learned.notes,
    }
    metrics = {"horizon_days": h, "backtest": backtest, "final": final}
    return ChurnResult(
        model=model,
        metrics=metrics,
        training_window=_window_text(train_cutoffs, h),
        backtest_predictions=predictions,
        backtest_model=bt_model,
        backtest_features=x_te.assign(churned=y_te) if len(y_te) else pd.DataFrame(),
    )
