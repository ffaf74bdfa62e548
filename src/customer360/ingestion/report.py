"""What one loader run did, per source."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

SHOWN_NAMES = 10  # column names a message lists; a header of thousands would fill the log


def name_list(names) -> str:
    """Sorted names for a message: the first SHOWN_NAMES of them and how many more."""
    ordered = sorted(names)
    shown = ", ".join(ordered[:SHOWN_NAMES])
    return shown if len(ordered) <= SHOWN_NAMES else f"{shown} and {len(ordered) - SHOWN_NAMES:,} more"


@dataclass(frozen=True)
class RejectedFile:
    source: str
    file_name: str  # <source>/<YYYY-MM-DD>/<file>, relative to the landing directory
    message: str

    def __str__(self) -> str:
        return f"{self.file_name}: {self.message}"


class FileRejected(Exception):
    """Raised by `IngestReport.raise_if_rejected` when a run rejected files."""

    def __init__(self, files: list[RejectedFile]):
        self.files = list(files)
        lines = "\n".join(f"  - {f}" for f in self.files)
        super().__init__(f"{len(self.files)} landed file(s) rejected:\n{lines}")


@dataclass
class SourceReport:
    source: str
    files_loaded: int = 0
    duplicates_skipped: int = 0
    files_replaced: int = 0  # loaded files that replaced an earlier version of the same name (counted in loaded)
    rejected: list[RejectedFile] = field(default_factory=list)
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_suppressed: int = 0  # rows of erased people the suppression list dropped
    extra_columns: set[str] = field(default_factory=set)  # drift: columns the contract does not declare
    missing_columns: set[str] = field(default_factory=set)  # drift: optional contract columns absent from headers

    @property
    def files_rejected(self) -> int:
        return len(self.rejected)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "files_loaded": self.files_loaded,
            "duplicates_skipped": self.duplicates_skipped,
            "files_replaced": self.files_replaced,
            "files_rejected": self.files_rejected,
            "rejected": [{"file_name": r.file_name, "message": r.message} for r in self.rejected],
            "rows_loaded": self.rows_loaded,
            "rows_quarantined": self.rows_quarantined,
            "rows_suppressed": self.rows_suppressed,
            "extra_columns": sorted(self.extra_columns),
            "missing_columns": sorted(self.missing_columns),
        }


@dataclass
class IngestReport:
    batch_id: str
    start: date
    end: date
    sources: dict[str, SourceReport] = field(default_factory=dict)
    seconds: float = 0.0

    def source(self, name: str) -> SourceReport:
        if name not in self.sources:
            self.sources[name] = SourceReport(name)
        return self.sources[name]

    @property
    def rejected_files(self) -> list[RejectedFile]:
        return [r for s in self.sources.values() for r in s.rejected]

    @property
    def files_loaded(self) -> int:
        return sum(s.files_loaded for s in self.sources.values())

    @property
    def duplicates_skipped(self) -> int:
        return sum(s.duplicates_skipped for s in self.sources.values())

    @property
    def rows_loaded(self) -> int:
        return sum(s.rows_loaded for s in self.sources.values())

    @property
    def rows_quarantined(self) -> int:
        return sum(s.rows_quarantined for s in self.sources.values())

    def raise_if_rejected(self) -> None:
        if self.rejected_files:
            raise FileRejected(self.rejected_files)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (for an Airflow XCom)."""
        return {
            "batch_id": self.batch_id,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "seconds": round(self.seconds, 3),
            "sources": [s.to_dict() for s in self.sources.values()],
        }

    def summary(self) -> str:
        head = ("source", "loaded", "dupes", "rejected", "rows", "quarantined")
        rows = [
            (s.source, s.files_loaded, s.duplicates_skipped, s.files_rejected, s.rows_loaded, s.rows_quarantined)
            for s in self.sources.values()
        ]
        rows.append(
            (
                "TOTAL",
                self.files_loaded,
                self.duplicates_skipped,
                len(self.rejected_files),
                self.rows_loaded,
                self.rows_quarantined,
            )
        )
        widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]

        def fmt(r) -> str:
            return "  ".join(str(v).ljust(w) if i == 0 else str(v).rjust(w) for i, (v, w) in enumerate(zip(r, widths)))

        out = [
            f"ingest batch {self.batch_id}: days {self.start} to {self.end} (end exclusive), {self.seconds:.1f}s",
            fmt(head),
            fmt(["-" * w for w in widths]),
            *[fmt(r) for r in rows[:-1]],
            fmt(["-" * w for w in widths]),
            fmt(rows[-1]),
        ]
        for s in self.sources.values():
            if s.extra_columns:
                out.append(
                    f"drift: {s.source} files have undeclared column(s) kept in _extra: {name_list(s.extra_columns)}"
                )
            if s.missing_columns:
                out.append(f"drift: {s.source} files lack optional column(s): {name_list(s.missing_columns)}")
        for s in self.sources.values():
            if s.files_replaced:
                out.append(
                    f"replaced: {s.files_replaced} {s.source} file(s) replaced an earlier version of the "
                    "same name (ops.ingest_log status 'replaced')"
                )
        for r in self.rejected_files:
            out.append(f"REJECTED {r}")
        return "\n".join(out)
