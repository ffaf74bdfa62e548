"""The data interval a run works on.

Scheduled runs use Airflow's data interval. A run may instead name an explicit
interval with the `interval_start` / `interval_end` params (dates, end
exclusive): that is how the demo loads its whole history in one run and how a
backfill of any past period is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time


class IntervalError(ValueError):
    pass


@dataclass(frozen=True)
class DataInterval:
    start: datetime
    end: datetime
    # What the run's build describes: the warehouse's as-of when it took the build lease
    # (customer360.orchestration.lease), at least `end`. None before then: the interval's end.
    build_as_of: datetime | None = None
    # The build lease token the run holds (customer360.orchestration.lease.claim); None: no lease taken.
    lease: str | None = None

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise IntervalError("data interval bounds must be timezone-aware (UTC)")
        if self.end <= self.start:
            raise IntervalError(
                f"empty data interval {self.start.isoformat()} .. {self.end.isoformat()}: "
                "the end must be after the start"
            )

    @property
    def run_key(self) -> str:
        """Names everything a run writes, so rerunning an interval replaces instead of duplicating."""
        return f"{self.start:%Y%m%d}-{self.end:%Y%m%d}"

    @property
    def as_of(self) -> datetime:
        """The as-of of what this run builds: the scoring cutoff and the bound of "not in the future" checks."""
        return self.build_as_of or self.end

    def with_as_of(self, as_of: datetime) -> DataInterval:
        return replace(self, build_as_of=max(as_of, self.end))

    def with_lease(self, token: str) -> DataInterval:
        return replace(self, lease=token)

    @property
    def start_date(self) -> date:
        return self.start.date()

    @property
    def end_date(self) -> date:
        return self.end.date()

    @property
    def cutoff_date(self) -> date:
        """Scores are as of the build's as-of (the end of the interval unless a later one was run)."""
        return self.as_of.date()

    def as_dict(self) -> dict[str, str]:
        d = {"start": self.start.isoformat(), "end": self.end.isoformat(), "run_key": self.run_key}
        if self.build_as_of is not None:
            d["as_of"] = self.build_as_of.isoformat()
        if self.lease is not None:
            d["lease"] = self.lease
        return d

    @classmethod
    def from_dict(cls, d: dict[str, str]) -> DataInterval:
        """The interval as XCom carries it between tasks (`as_dict`): plain strings only."""
        as_of = datetime.fromisoformat(d["as_of"]) if d.get("as_of") else None
        return cls(datetime.fromisoformat(d["start"]), datetime.fromisoformat(d["end"]), as_of, d.get("lease"))


def _midnight_utc(value: str, name: str) -> datetime:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise IntervalError(f"param {name}={value!r} is not a date; use YYYY-MM-DD") from None
    return datetime.combine(day, time(), tzinfo=UTC)


def resolve_interval(
    params: dict, data_interval_start: datetime | None, data_interval_end: datetime | None
) -> DataInterval:
    start_param, end_param = params.get("interval_start"), params.get("interval_end")
    if bool(start_param) != bool(end_param):
        raise IntervalError("give both interval_start and interval_end, or neither")
    if start_param and end_param:
        return DataInterval(_midnight_utc(start_param, "interval_start"), _midnight_utc(end_param, "interval_end"))
    if data_interval_start is None or data_interval_end is None:
        raise IntervalError(
            "this run has no data interval: trigger it with a logical date, or pass "
            "interval_start and interval_end (YYYY-MM-DD) as params"
        )
    return DataInterval(data_interval_start.astimezone(UTC), data_interval_end.astimezone(UTC))


def resolve_cutoff(param: str | None, interval: DataInterval) -> date:
    """The scoring cutoff: the ``cutoff`` param (YYYY-MM-DD) or, without it, the end of the interval.

    A cutoff after the interval's end is refused: the run has not loaded that history.
    """
    if not param:
        return interval.cutoff_date
    try:
        cutoff = date.fromisoformat(str(param))
    except ValueError:
        raise IntervalError(f"param cutoff={param!r} is not a date; use YYYY-MM-DD") from None
    if cutoff > interval.cutoff_date:
        raise IntervalError(
            f"param cutoff={cutoff.isoformat()} is after the end of the data interval "
            f"({interval.cutoff_date.isoformat()}): pick a cutoff on or before it, or widen the interval"
        )
    return cutoff
