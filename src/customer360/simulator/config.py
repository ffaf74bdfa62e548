"""Configuration and run summary of the touch-point simulator."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate. The same config always produces byte-identical files."""

    people: int = 10_000
    seed: int = 42
    start: date = date(2024, 1, 1)
    days: int = 730
    defect_rate: float = 0.01
    future_days: int = 365  # how far past the end the truth purchases go

    def __post_init__(self) -> None:
        if self.people < 1:
            raise ValueError("people must be >= 1")
        if self.days < 1:
            raise ValueError("days must be >= 1")
        if not 0.0 <= self.defect_rate <= 0.5:
            raise ValueError("defect_rate must be within [0, 0.5]")
        if self.future_days < 0:
            raise ValueError("future_days must be >= 0")

    @property
    def end(self) -> date:
        """First day after the landing period (exclusive end)."""
        return self.start + timedelta(days=self.days)

    def as_dict(self) -> dict[str, object]:
        return {
            "people": self.people,
            "seed": self.seed,
            "start": self.start.isoformat(),
            "days": self.days,
            "defect_rate": self.defect_rate,
            "future_days": self.future_days,
        }


@dataclass
class SimulationSummary:
    """What a run wrote. `seconds` is wall time and is not written to the truth."""

    people: int
    files: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    defects: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def counts(self) -> dict[str, object]:
        """The deterministic part (everything but the timing)."""
        return {
            "people": self.people,
            "files": dict(self.files),
            "rows": dict(self.rows),
            "defects": dict(self.defects),
        }
