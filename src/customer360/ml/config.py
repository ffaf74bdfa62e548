"""The scoring settings: horizons, discounting, penalizers, clusters, the champion margin, and the model version."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from customer360.config import Settings
from customer360.ml.churn import ChurnConfig
from customer360.ml.purchases import PurchaseConfig

# Bump when a change to the model code changes scores: the model version (and so every registry row) changes with it.
MODEL_CODE_VERSION = "4"


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
