"""RFM quintile scores and named customer segments.

Scores run 1 (worst) to 5 (best) and are quintiles of the scored population:

* R from ``recency_days`` (more recent = higher),
* F from ``frequency`` (orders), M from ``monetary_total``.

Ties share the score of their lowest rank, so e.g. all one-order customers
get the same F score. ``FM`` is round-half-up of (F + M) / 2.

Rule table, first match wins (every customer gets exactly one segment):

==================== ====================================================
segment              rule
==================== ====================================================
new                  first purchase less than ``new_days`` (90) ago
champions            R >= 4 and FM >= 4
loyal                R >= 3 and FM >= 3
potential loyalists  R >= 3 (and FM <= 2)
at risk              R <= 2 and FM >= 3
hibernating          R == 2 (and FM <= 2)
lost                 R == 1 (and FM <= 2)
==================== ====================================================
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SEGMENTS: tuple[str, ...] = (
    "new",
    "champions",
    "loyal",
    "potential loyalists",
    "at risk",
    "hibernating",
    "lost",
)
NEW_CUSTOMER_DAYS = 90


def quintile_score(values: pd.Series, *, higher_is_better: bool = True) -> pd.Series:
    """1..5 by quintile of rank; ties take the score of their lowest rank."""
    if values.empty:
        return pd.Series([], index=values.index, dtype="int64")
    keyed = values if higher_is_better else -values
    rank = keyed.rank(method="min", ascending=True)  # 1..n
    score = 1 + np.floor(5 * (rank - 1) / len(values))
    return score.clip(1, 5).astype("int64")


def rfm_scores(features: pd.DataFrame) -> pd.DataFrame:
    """R, F, M and FM scores from a frame with recency_days, frequency, monetary_total."""
    r = quintile_score(features["recency_days"], higher_is_better=False)
    f = quintile_score(features["frequency"])
    m = quintile_score(features["monetary_total"])
    fm = np.floor((f + m) / 2 + 0.5).astype("int64")
    return pd.DataFrame({"r_score": r, "f_score": f, "m_score": m, "fm_score": fm}, index=features.index)


def assign_segments(features: pd.DataFrame, *, new_days: float = NEW_CUSTOMER_DAYS) -> pd.Series:
    """The named segment of every customer (see the module's rule table)."""
    scores = rfm_scores(features)
    r, fm = scores["r_score"], scores["fm_score"]
    conditions = [
        features["tenure_days"] < new_days,
        (r >= 4) & (fm >= 4),
        (r >= 3) & (fm >= 3),
        r >= 3,
        fm >= 3,
        r == 2,
    ]
    choices = ["new", "champions", "loyal", "potential loyalists", "at risk", "hibernating"]
    segment = np.select(conditions, choices, default="lost")
    return pd.Series(segment, index=features.index, name="segment", dtype="object")
