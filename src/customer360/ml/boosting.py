"""The gradient boosting settings that the churn classifier and the purchase regressors share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BoostingParams:
    """scikit-learn HistGradientBoosting settings, written once for every booster in ``ml``."""

    max_iter: int = 200
    learning_rate: float = 0.05
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 40
    l2_regularization: float = 1.0
    random_state: int = 0
    # OpenMP threads for the booster. 1 by default: on a shared machine (Airflow worker, CI)
    # multi-threaded HGB slows down by 5-10x under CPU contention, while one thread is fast enough here.
    n_threads: int = 1

    def booster_args(self) -> dict[str, Any]:
        """Keyword arguments for HistGradientBoostingClassifier or -Regressor (no early stopping: reproducible)."""
        return {
            "learning_rate": self.learning_rate,
            "max_iter": self.max_iter,
            "max_leaf_nodes": self.max_leaf_nodes,
            "min_samples_leaf": self.min_samples_leaf,
            "l2_regularization": self.l2_regularization,
            "early_stopping": False,
            "random_state": self.random_state,
        }
