"""Champion/challenger: a newly trained model replaces the current one only if it beats it.

The comparison is on data neither model has seen. A churn model registered
at cutoff T0 was trained on outcomes up to T0, so it can be judged on the
window [T-H, T) of a later run at T only when T0 <= T-H. The challenger is
judged by its backtest twin: the same recipe fitted on history before T-H.
Both score the customers of the snapshot T-H and are compared on ROC AUC
of the realised outcomes.

Rules (``decide``):

* no champion yet: the challenger is promoted;
* the champion is the challenger itself (same model version, e.g. a rerun
  of the same cutoff): it stays;
* the champion is too recent to be judged on unseen data: it stays;
* otherwise the challenger is promoted only if its metric beats the
  champion's by more than ``min_gain``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import pandas as pd

from customer360.ml import clv
from customer360.ml.churn import classification_metrics
from customer360.ml.config import ScoringConfig
from customer360.ml.purchases import PurchaseSelection, predict_value, regression_metrics


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    champion_version: str | None
    challenger_version: str
    champion_metric: float | None = None
    challenger_metric: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide(
    challenger_version: str,
    challenger_metric: float | None,
    champion_version: str | None,
    champion_metric: float | None,
    *,
    champion_judgeable: bool = True,
    min_gain: float = 0.0,
) -> Decision:
    """Apply the champion/challenger rule (higher metric is better)."""

    def decision(promote: bool, reason: str) -> Decision:
        return Decision(promote, reason, champion_version, challenger_version, champion_metric, challenger_metric)

    if champion_version is None:
        return decision(True, "no champion yet")
    if champion_version == challenger_version:
        return decision(False, "the challenger is the champion (same model version)")
    if not champion_judgeable:
        return decision(False, "champion kept: no unseen outcome window to judge it on yet")
    if challenger_metric is None:
        return decision(False, "champion kept: the challenger has no backtest metric")
    if champion_metric is None:
        return decision(True, "the champion could not be evaluated on the window")
    if challenger_metric > champion_metric + min_gain:
        return decision(True, f"challenger better: {challenger_metric:.4f} > {champion_metric:.4f} + {min_gain}")
    return decision(False, f"champion kept: {challenger_metric:.4f} <= {champion_metric:.4f} + {min_gain}")


@dataclass(frozen=True)
class Champion:
    """A model currently in production, as registered (a ChurnModel or a PurchaseModel)."""

    model_version: str
    trained_at_cutoff: date
    model: Any


def decide_churn(
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


def decide_purchases(
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
