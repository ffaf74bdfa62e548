"""What the run report holds (`ReportData`), its overall status, and the JSON summary written beside it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ReportData:
    run_id: str
    status: str = "unknown"
    row_counts: dict[str, dict[str, int | None]] | None = None  # layer -> table -> rows (None: error)
    dq: list[dict[str, Any]] | None = None
    quarantine: dict[str, dict[str, int]] | None = None  # source -> reason -> rows
    files_not_loaded: list[dict[str, Any]] | None = None  # this run's rejected and duplicate files
    review_queue: int | None = None  # identity pairs waiting for a steward (None: no identity review yet)
    identity: dict[str, Any] | None = None  # the latest identity resolution: counts and how its model was trained
    plots: dict[str, str | None] = field(default_factory=dict)  # title -> base64 png
    trend_plots: dict[str, str | None] = field(default_factory=dict)


def summary(data: ReportData) -> dict[str, Any]:
    dq = data.dq or []
    return {
        "run_id": data.run_id,
        "status": data.status,
        "row_counts": data.row_counts,
        "layer_totals": None
        if data.row_counts is None
        else {layer: sum(n or 0 for n in tables.values()) for layer, tables in data.row_counts.items()},
        "dq": None
        if data.dq is None
        else {
            "checks": len(dq),
            "passed": sum(1 for r in dq if r["passed"]),
            "failed_error": sum(1 for r in dq if not r["passed"] and r["severity"] == "error"),
            "failed_warn": sum(1 for r in dq if not r["passed"] and r["severity"] == "warn"),
        },
        "quarantine": data.quarantine,
        "files_not_loaded": None
        if data.files_not_loaded is None
        else {
            status: sum(1 for f in data.files_not_loaded if f["status"] == status)
            for status in ("rejected", "replaced", "duplicate")
        },
        "identity_review_queue": data.review_queue,
        "identity_training_notes": None if data.identity is None else data.identity["notes"],
        "plots": {title: png is not None for title, png in {**data.trend_plots, **data.plots}.items()},
    }


def status(dq: list[dict[str, Any]] | None, files_not_loaded: list[dict[str, Any]] | None = None) -> str:
    if any(f["status"] == "rejected" for f in files_not_loaded or []):
        return "failed"  # a rejected file fails its ingest task, so the gates may not have run at all
    if not dq:
        return "unknown"
    if any(not r["passed"] and r["severity"] == "error" for r in dq):
        return "failed"
    if any(not r["passed"] for r in dq):
        return "passed with warnings"
    return "passed"
