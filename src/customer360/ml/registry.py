"""The model registry: what each run trained (`ml.model_registry` rows), its files, and the champions read back.

Every fitted model is saved as a checksummed file (customer360.ml.artifacts); a champion is loaded only
when its file matches the checksum registered with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from customer360.db.connection import table_exists
from customer360.ml import clv
from customer360.ml.artifacts import load_artifact, save_artifact
from customer360.ml.champion import Champion, Decision
from customer360.ml.clusters import ClusterModel
from customer360.ml.config import ScoringConfig
from customer360.ml.purchases import PurchaseModel

MODEL_NAMES = ("churn", "bgnbd", "gamma_gamma", "purchases", "clusters")


@dataclass(frozen=True)
class RegistryEntry:
    model_name: str
    training_window: str
    features: list[str]
    parameters: dict[str, Any]
    metrics: dict[str, Any]
    model: Any
    is_champion: bool = False


def registry_entries(
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


def json_safe(value: Any) -> Any:
    """Plain JSON types; NaN/inf become None."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value


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


def save_models(entries: Sequence[RegistryEntry], model_version: str, model_dir: Path) -> dict[str, tuple[str, str]]:
    """Save each fitted model as model_dir/<model_version>/<model_name>.joblib; name -> (path, sha256)."""
    saved: dict[str, tuple[str, str]] = {}
    for entry in entries:
        if entry.model is None:
            continue
        path = Path(model_dir) / model_version / f"{entry.model_name}.joblib"
        saved[entry.model_name] = (str(path), save_artifact(entry.model, path))
    return saved


@dataclass(frozen=True)
class RegisteredRun:
    """The models a registered run scored with, read back to score later cutoffs (a run between refits)."""

    model_version: str
    churn_version: str
    churn: Any
    purchases_version: str
    purchases: Any
    clusters: Any | None


def registered_run(conn: psycopg.Connection, model_version: str) -> RegisteredRun | None:
    """The scoring models of the run registered as ``model_version``, or None when it is not (completely) there.

    Each file must match its registered checksum (ArtifactChecksumError otherwise).
    """
    if not table_exists(conn, "ml", "model_registry"):
        return None
    rows = conn.execute(
        "select model_name, metrics from ml.model_registry where model_version = %s", (model_version,)
    ).fetchall()
    metrics: dict[str, Any] = {name: values for name, values in rows}
    if "churn" not in metrics or "purchases" not in metrics:
        return None
    churn_version = metrics["churn"]["scored_with"]
    purchases_version = metrics["purchases"]["scored_with_version"]
    churn = _registered_model(conn, churn_version, "churn")
    purchases = _registered_model(conn, purchases_version, "purchases")
    if churn is None or purchases is None:
        return None
    clusters = _registered_model(conn, model_version, "clusters") if "clusters" in metrics else None
    return RegisteredRun(model_version, churn_version, churn, purchases_version, purchases, clusters)


def _registered_model(conn: psycopg.Connection, model_version: str, model_name: str) -> Any | None:
    row = conn.execute(
        "select artifact_path, artifact_sha256 from ml.model_registry "
        "where model_version = %s and model_name = %s and artifact_path is not null",
        (model_version, model_name),
    ).fetchone()
    return None if row is None else load_artifact(Path(row[0]), row[1])
