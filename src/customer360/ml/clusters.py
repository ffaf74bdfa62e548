"""Data-driven segments: k-means on standardised behaviour features, each cluster named from its profile.

Behaviour features (from ``customer360.ml.features``), transformed so that no single
heavy spender dominates a centroid: log1p of recency, frequency, mean order
value, tenure and service contacts; web share and campaign engagement rate
as they are (missing values take the population median). They are
standardised (z-scores), and k-means (k = ``n_clusters``, fixed seed) is
fitted on at most ``max_fit_rows`` customers, then applied to everyone.

Names come from the centroid's z-scores, one word group per dimension that
stands out (|z| >= ``NAME_THRESHOLD``):

* recency: "recent" (low) or "lapsing" (high);
* frequency and value (mean of the two z-scores): "frequent high-value" or
  "occasional low-value";
* channel: "online" (high web share) or "in-store" (low);
* service contacts: "service-heavy"; campaign engagement: "engaged" / "unengaged";
* tenure: "new" (low) or "long-standing" (high).

A cluster with nothing distinctive is "typical"; duplicate names get " (2)", ...
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

BEHAVIOUR_COLUMNS: tuple[str, ...] = (
    "recency_days",
    "frequency",
    "monetary_mean",
    "tenure_days",
    "web_share",
    "service_contacts",
    "campaign_engagement_rate",
)
_LOG_COLUMNS = ("recency_days", "frequency", "monetary_mean", "tenure_days", "service_contacts")
NAME_THRESHOLD = 0.5
PROFILE_COLUMNS: tuple[str, ...] = (
    "recency_days",
    "frequency",
    "monetary_total",
    "monetary_mean",
    "tenure_days",
    "web_share",
    "service_contacts",
    "complaints",
    "campaign_engagement_rate",
)


@dataclass
class ClusterModel:
    """Scaler statistics, k-means centroids and one readable name per cluster."""

    medians: pd.Series
    means: pd.Series
    scales: pd.Series
    kmeans: KMeans
    names: tuple[str, ...]

    def transform(self, features: pd.DataFrame) -> np.ndarray:
        return _standardise(_behaviour(features), self.medians, self.means, self.scales)

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        if features.empty:
            return np.empty(0, dtype="int64")
        with threadpool_limits(limits=1):
            return self.kmeans.predict(self.transform(features)).astype("int64")

    def name_of(self, labels: np.ndarray) -> np.ndarray:
        return np.asarray(self.names, dtype=object)[labels]


def _behaviour(features: pd.DataFrame) -> pd.DataFrame:
    out = features.loc[:, list(BEHAVIOUR_COLUMNS)].astype("float64").copy()
    for column in _LOG_COLUMNS:
        out[column] = np.log1p(out[column].clip(lower=0))
    return out


def _standardise(frame: pd.DataFrame, medians: pd.Series, means: pd.Series, scales: pd.Series) -> np.ndarray:
    filled = frame.fillna(medians).fillna(0.0)
    return ((filled - means) / scales).to_numpy(dtype="float64")


def name_clusters(centroids_z: np.ndarray) -> tuple[str, ...]:
    """A readable name per centroid (rows in BEHAVIOUR_COLUMNS order, z-scores)."""
    col = {c: i for i, c in enumerate(BEHAVIOUR_COLUMNS)}
    t = NAME_THRESHOLD
    names: list[str] = []
    for z in centroids_z:
        words: list[str] = []
        if z[col["tenure_days"]] <= -t:
            words.append("new")
        if z[col["recency_days"]] <= -t:
            words.append("recent")
        elif z[col["recency_days"]] >= t:
            words.append("lapsing")
        value = (z[col["frequency"]] + z[col["monetary_mean"]]) / 2
        if value >= t:
            words.append("frequent high-value")
        elif value <= -t:
            words.append("occasional low-value")
        if z[col["web_share"]] >= t:
            words.append("online")
        elif z[col["web_share"]] <= -t:
            words.append("in-store")
        if z[col["service_contacts"]] >= t:
            words.append("service-heavy")
        if z[col["campaign_engagement_rate"]] >= t:
            words.append("engaged")
        elif z[col["campaign_engagement_rate"]] <= -t:
            words.append("unengaged")
        if z[col["tenure_days"]] >= t and "lapsing" not in words:
            words.append("long-standing")
        names.append(" ".join(words) + " customers" if words else "typical customers")
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return tuple(unique)


def fit_clusters(
    features: pd.DataFrame, *, n_clusters: int = 5, max_fit_rows: int = 50_000, random_state: int = 0
) -> ClusterModel | None:
    """Fit k-means on the customers' behaviour; None with fewer customers than 10 per cluster."""
    if len(features) < 10 * n_clusters:
        return None
    behaviour = _behaviour(features)
    medians = behaviour.median().fillna(0.0)
    filled = behaviour.fillna(medians).fillna(0.0)
    means = filled.mean()
    scales = filled.std(ddof=0).replace(0.0, 1.0)
    z = _standardise(behaviour, medians, means, scales)
    rng = np.random.default_rng(random_state)
    sample = z if len(z) <= max_fit_rows else z[rng.choice(len(z), max_fit_rows, replace=False)]
    kmeans = KMeans(n_clusters=n_clusters, n_init=4, random_state=random_state)
    with threadpool_limits(limits=1):
        kmeans.fit(sample)
    return ClusterModel(medians, means, scales, kmeans, name_clusters(kmeans.cluster_centers_))


def cluster_profiles(features: pd.DataFrame, labels: np.ndarray, names: tuple[str, ...]) -> pd.DataFrame:
    """One row per cluster: name, customers, share and the mean of PROFILE_COLUMNS (plus any score columns)."""
    extra = [c for c in ("churn_probability", "expected_revenue", "clv") if c in features.columns]
    frame = features.loc[:, list(PROFILE_COLUMNS) + extra].assign(cluster_id=labels)
    profile = frame.groupby("cluster_id").mean()
    sizes = frame.groupby("cluster_id").size()
    profile.insert(0, "share", sizes / max(len(frame), 1))
    profile.insert(0, "customers", sizes)
    profile.insert(0, "cluster_name", [names[i] for i in profile.index])
    return profile.reset_index()
