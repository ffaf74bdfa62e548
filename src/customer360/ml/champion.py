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
from typing import Any


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
