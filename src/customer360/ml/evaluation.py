"""Evaluation tables for the run report and the benchmark (pure functions on arrays).

* ``calibration_table``: predicted probability against the observed rate, in
  bins of equal size ordered by the prediction;
* ``gains_table``: customers ranked by predicted churn, in deciles: the share
  of all churners found so far (cumulative gain) and the lift over random;
* ``decile_table``: customers ranked by a predicted amount (e.g. revenue in
  the horizon), in deciles: mean predicted against mean actual.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _ranked_groups(score: np.ndarray, groups: int, *, descending: bool) -> np.ndarray:
    """Group number 0..groups-1 of each row by rank of ``score`` (ties broken by position)."""
    order = np.argsort(-score if descending else score, kind="stable")
    group = np.empty(len(score), dtype="int64")
    group[order] = np.arange(len(score)) * groups // max(len(score), 1)
    return group


def calibration_table(labels: np.ndarray, probability: np.ndarray, bins: int = 10) -> pd.DataFrame:
    labels, probability = np.asarray(labels, dtype="float64"), np.asarray(probability, dtype="float64")
    if len(labels) == 0:
        return pd.DataFrame(columns=["bin", "customers", "mean_predicted", "observed_rate"])
    group = _ranked_groups(probability, min(bins, len(labels)), descending=False)
    frame = pd.DataFrame({"bin": group + 1, "p": probability, "y": labels})
    out = frame.groupby("bin").agg(customers=("y", "size"), mean_predicted=("p", "mean"), observed_rate=("y", "mean"))
    return out.reset_index()


def gains_table(labels: np.ndarray, probability: np.ndarray, groups: int = 10) -> pd.DataFrame:
    labels, probability = np.asarray(labels, dtype="float64"), np.asarray(probability, dtype="float64")
    if len(labels) == 0 or labels.sum() == 0:
        return pd.DataFrame(columns=["decile", "customers", "churners", "cumulative_gain", "lift"])
    group = _ranked_groups(probability, min(groups, len(labels)), descending=True)
    frame = pd.DataFrame({"decile": group + 1, "y": labels})
    out = frame.groupby("decile").agg(customers=("y", "size"), churners=("y", "sum")).reset_index()
    out["cumulative_gain"] = out["churners"].cumsum() / labels.sum()
    out["lift"] = out["cumulative_gain"] / (out["customers"].cumsum() / len(labels))
    return out


def decile_table(actual: np.ndarray, predicted: np.ndarray, groups: int = 10) -> pd.DataFrame:
    actual, predicted = np.asarray(actual, dtype="float64"), np.asarray(predicted, dtype="float64")
    if len(actual) == 0:
        return pd.DataFrame(columns=["decile", "customers", "mean_predicted", "mean_actual"])
    group = _ranked_groups(predicted, min(groups, len(actual)), descending=True)
    frame = pd.DataFrame({"decile": group + 1, "p": predicted, "a": actual})
    out = frame.groupby("decile").agg(customers=("a", "size"), mean_predicted=("p", "mean"), mean_actual=("a", "mean"))
    return out.reset_index()
