"""Row validation against a source contract.

Every landed value arrives as a string (or None). A column's converter turns it
into the Python value that COPY writes, or raises `BadValue` with a message that
names the column and the problem. Messages never include the value of a
personal column.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from customer360.ingestion.contracts import Column, SourceContract

# Reason codes written to quarantine.<source>.reason_code.
BAD_FIELD_COUNT = "bad_field_count"
MISSING_REQUIRED = "missing_required"
BAD_TYPE = "bad_type"
UNDECODABLE = "undecodable"
MALFORMED = "malformed"  # a jsonl line that is not a JSON object
FUTURE_DATE = "future_date"  # event time after the delivery day (plus grace): impossible, not late
FIELD_TOO_LONG = "field_too_long"  # a value longer than the contract's max_field_chars
IMPLAUSIBLE_DATE = "implausible_date"  # outside a column's plausible range declared to quarantine
REASON_CODES = (
    BAD_FIELD_COUNT,
    MISSING_REQUIRED,
    BAD_TYPE,
    UNDECODABLE,
    MALFORMED,
    FIELD_TOO_LONG,
    FUTURE_DATE,
    IMPLAUSIBLE_DATE,
)

BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1
NUMERIC_LIMIT = Decimal(10) ** 12  # numeric(14,2): 12 digits before the point
CENT = Decimal("0.01")

_INT_RE = re.compile(r"[+-]?\d+")
_NUM_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TS_RE = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,6})?)?(?:Z|z|[+-]\d{2}(?::?\d{2})?)?")


class BadValue(ValueError):
    """A value that does not parse as its column's declared type."""


def _shown(column: Column, value: str) -> str:
    if column.personal:
        return "the value"  # never echo personal data, even into reasons
    v = value if len(value) <= 40 else value[:37] + "..."
    return repr(v)


def _to_text(column: Column, value: str) -> str:
    return value


def _to_integer(column: Column, value: str) -> int:
    v = value.strip()
    if not _INT_RE.fullmatch(v):
        raise BadValue(f"column {column.name}: {_shown(column, value)} is not an integer")
    n = int(v)
    if not BIGINT_MIN <= n <= BIGINT_MAX:
        raise BadValue(f"column {column.name}: {_shown(column, value)} is out of range for bigint")
    return n


def _to_numeric(column: Column, value: str) -> Decimal:
    v = value.strip()
    if not _NUM_RE.fullmatch(v):
        raise BadValue(f"column {column.name}: {_shown(column, value)} is not a number like 12.50")
    try:
        d = Decimal(v).quantize(CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        raise BadValue(f"column {column.name}: {_shown(column, value)} is not a number like 12.50") from None
    if abs(d) >= NUMERIC_LIMIT:
        raise BadValue(f"column {column.name}: {_shown(column, value)} is too large for numeric(14,2)")
    return d


def _to_boolean(column: Column, value: str) -> bool:
    v = value.strip().lower()
    if v == "true":
        return True
    if v == "false":
        return False
    raise BadValue(f"column {column.name}: {_shown(column, value)} is not a boolean (true/false)")


def _to_date(column: Column, value: str) -> date:
    v = value.strip()
    if _DATE_RE.fullmatch(v):
        try:
            return date.fromisoformat(v)
        except ValueError:
            pass
    raise BadValue(f"column {column.name}: {_shown(column, value)} is not a date YYYY-MM-DD")


def _to_timestamp(column: Column, value: str) -> datetime:
    v = value.strip()
    if _TS_RE.fullmatch(v):
        try:
            ts = datetime.fromisoformat(v.replace(",", "."))
        except ValueError:
            pass
        else:
            # Without an offset it stays a wall-clock time: COPY reads it in the source's
            # declared zone (SourceContract.timezone), as it does on the columnar path.
            return ts
    raise BadValue(
        f"column {column.name}: {_shown(column, value)} is not an ISO-8601 timestamp like 2024-03-01T10:15:00Z"
    )


CONVERTERS: dict[str, Callable[[Column, str], Any]] = {
    "text": _to_text,
    "integer": _to_integer,
    "numeric": _to_numeric,
    "boolean": _to_boolean,
    "date": _to_date,
    "timestamp": _to_timestamp,
}


def is_missing(value: str | None) -> bool:
    return value is None or value.strip() == ""


def has_unstorable_chars(text: str) -> bool:
    """True for text PostgreSQL cannot store: NUL characters or undecodable bytes (surrogates)."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def printable_raw(text: str) -> str:
    """The raw record as storable text: undecodable bytes and NULs shown as \\xNN escapes."""
    try:
        out = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        out = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return out.replace("\x00", "\\x00")


@dataclass(frozen=True)
class Problem:
    code: str
    reason: str


class RowValidator:
    """Validates one row (the contract columns' string values, in contract order)."""

    def __init__(self, contract: SourceContract, latest_event_at: datetime | None = None):
        """`latest_event_at`: the latest event time a file can hold (from its delivery day), or None."""
        self.contract = contract
        self.columns = contract.columns
        self._latest_event_at = latest_event_at
        self._event_index = contract.column_names.index(contract.event_time)
        # text columns need no conversion: None marks them for the fast path
        self._plan = [(c, None if c.type == "text" else CONVERTERS[c.type], c.required) for c in contract.columns]
        self._quarantined_ranges = [
            (i, c)
            for i, c in enumerate(contract.columns)
            if c.plausible is not None and c.plausible.severity == "quarantine"
        ]

    @property
    def _latest_text(self) -> str:
        return "the file's delivery day" if self._latest_event_at is None else f"{self._latest_event_at:%Y-%m-%d}"

    def _plausible(self, column, value) -> bool:
        day = value.date() if isinstance(value, datetime) else value
        latest = self._latest_event_at
        return day >= column.plausible.earliest and (latest is None or day <= latest.date())

    def convert(self, values: list[str | None]) -> tuple[list[Any] | None, list[Problem]]:
        """Typed values ready for COPY, or None with the row's problems.

        Missing means None or an empty string; for typed columns also blanks.
        A required text column must have a non-blank value.
        """
        out: list[Any] = []
        append = out.append
        problems: list[Problem] = []
        longest = self.contract.max_field_chars
        for (column, conv, required), value in zip(self._plan, values):
            if value and len(value) > longest:
                problems.append(
                    Problem(
                        FIELD_TOO_LONG,
                        f"column {column.name}: {len(value):,} characters, more than the {longest:,} "
                        "the source's contract allows (max_field_chars)",
                    )
                )
                append(None)
            elif not value or (conv is not None and value.isspace()):
                if required:
                    problems.append(Problem(MISSING_REQUIRED, f"column {column.name}: required value is missing"))
                append(None)
            elif conv is None:
                if required and value.isspace():
                    problems.append(Problem(MISSING_REQUIRED, f"column {column.name}: required value is blank"))
                append(value)
            else:
                try:
                    append(conv(column, value))
                except BadValue as e:
                    problems.append(Problem(BAD_TYPE, str(e)))
                    append(None)
        for i, column in self._quarantined_ranges:
            assert column.plausible is not None  # only such columns are in the list
            if out[i] is not None and not self._plausible(column, out[i]):
                problems.append(
                    Problem(
                        IMPLAUSIBLE_DATE,
                        f"column {column.name}: {out[i]:%Y-%m-%d} is outside its plausible range, from "
                        f"{column.plausible.earliest} to {self._latest_text} (a placeholder or a typo?)",
                    )
                )
        latest, event_at = self._latest_event_at, out[self._event_index]
        if event_at is not None and event_at.tzinfo is None:
            event_at = event_at.replace(tzinfo=self.contract.zone)  # only to compare; COPY gets the wall time
        if latest is not None and event_at is not None and event_at > latest:
            problems.append(
                Problem(
                    FUTURE_DATE,
                    f"column {self.contract.event_time}: event time is after {latest.isoformat()}, "
                    "later than the file's delivery day allows",
                )
            )
        if problems:
            return None, problems
        return out, problems


def summarize(problems: list[Problem]) -> Problem:
    """One quarantine reason for a row: the most serious code, every message."""
    order = {
        code: i
        for i, code in enumerate(
            (
                UNDECODABLE,
                MALFORMED,
                BAD_FIELD_COUNT,
                FIELD_TOO_LONG,
                MISSING_REQUIRED,
                BAD_TYPE,
                FUTURE_DATE,
                IMPLAUSIBLE_DATE,
            )
        )
    }
    code = min((p.code for p in problems), key=lambda c: order.get(c, 99))
    return Problem(code, "; ".join(p.reason for p in problems))
