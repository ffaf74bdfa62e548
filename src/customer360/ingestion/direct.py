"""The direct path for plain CSV files: the file's own lines go to COPY, screened on their bytes.

A *plain* CSV file has no quote characters and no carriage return except in
CRLF line ends. Then every line is one record and PostgreSQL's CSV parser,
Arrow's and Python's csv module all split it at the delimiters alone, so the
loader need not parse it into values: each line is checked column by column
with numpy on the file's bytes, and the good lines go to COPY as they are,
with the line number in front (`N;<line>`); the batch and the file name are
the raw table's defaults, set for the file's transaction
(`customer360.ingestion.tables.BATCH_SETTINGS`). That is close to what a
plain COPY costs, on both sides: no Arrow parse, no CSV re-encoding, nothing
more per row for the server to parse.

The byte checks accept only canonical values (digits for an integer, a fixed
ISO-8601 shape for a time, a calendar-valid day, ...) and flag everything
else as a suspect; suspects go through `RowValidator` for their exact reason,
as on the columnar path. Lines that cannot be rows (bad bytes, wrong field
count) are quarantined with the row-by-row reader's reasons; blank lines are
skipped as it skips them.

A file this path cannot vouch for raises `FastPathUnavailable` (a quote
character, a lone carriage return, undeclared columns, a header it cannot
read, a non-ASCII delimiter) and the loader reads it on the columnar path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from customer360.ingestion import columnar
from customer360.ingestion.columnar import FAST_ENCODINGS, Checked, FastPathUnavailable, _read_header
from customer360.ingestion.contracts import Column, SourceContract
from customer360.ingestion.readers import ColumnPlan
from customer360.ingestion.validation import BAD_FIELD_COUNT, UNDECODABLE, Problem, printable_raw

_DIGIT = np.zeros(256, dtype=bool)
_DIGIT[ord("0") : ord("9") + 1] = True
_NUMBER_BYTE = _DIGIT.copy()
_NUMBER_BYTE[ord(".")] = True
# A required value starting with one of these may be blank (Python's isspace knows Unicode
# spaces, so any non-ASCII first byte is a suspect too).
_MAYBE_SPACE = np.zeros(256, dtype=bool)
_MAYBE_SPACE[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True
_MAYBE_SPACE[128:] = True

_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
_TIMESTAMP_WIDTHS = (19, 20, 25)  # YYYY-MM-DDTHH:MM:SS, then Z, or +HH:MM


def direct_path_supported(contract: SourceContract) -> bool:
    return (
        contract.format == "csv"
        and contract.header
        and contract.encoding.lower() in FAST_ENCODINGS
        and len(contract.delimiter) == 1
        and contract.delimiter.isascii()
        and contract.delimiter not in '"\r\n'
    )


@dataclass
class Screened:
    """One block of a plain file, checked."""

    rows: bytes  # COPY input for the good lines: `N;<line>` each
    suspects: list[tuple[int, str]] = field(default_factory=list)  # (line, text) for RowValidator
    problems: list[tuple[int, Problem, str]] = field(default_factory=list)  # quarantined as they are
    records: int = 0  # lines that are rows (blank lines are not)
    good: int = 0  # lines in `rows`


@dataclass
class FieldSpans:
    """Where each field of a block's well-formed lines starts and ends in its bytes: the direct path's batch,
    checked as `columnar.check_columns` checks an Arrow batch."""

    data: np.ndarray  # the block's bytes
    starts: np.ndarray  # (lines, fields in the file)
    ends: np.ndarray
    index: list[int | None]  # the file field of each contract column

    def check(self, contract: SourceContract, latest_event_at: datetime | None) -> Checked:
        """Rows whose values are not plainly good: a superset of the rows RowValidator rejects."""
        suspect = np.zeros(len(self.starts), dtype=bool)
        latest_day = None if latest_event_at is None else _day_number((latest_event_at - timedelta(days=1)).date())
        for column, i in zip(contract.columns, self.index):
            if i is not None:
                suspect |= self._suspect_values(contract, column, self.starts[:, i], self.ends[:, i], latest_day)
        return Checked(values=[], suspect=suspect)

    def _suspect_values(
        self,
        contract: SourceContract,
        column: Column,
        s: np.ndarray,
        e: np.ndarray,
        latest_day: int | None,
    ) -> np.ndarray:
        """Flags what the columnar checks flag, from the bytes: anything not in a canonical form."""
        data = self.data
        length = e - s
        present = length > 0
        flagged = np.zeros(len(s), dtype=bool)
        if len(data) > contract.max_field_chars:  # bytes >= characters: the validator counts exactly
            flagged |= length > contract.max_field_chars
        if column.required:
            flagged |= ~present | _MAYBE_SPACE[data[np.minimum(s, len(data) - 1)]]
        if column.type == "text":
            return flagged

        if column.type == "integer":
            window, inside, fits = _window(data, s, length, 18)
            flagged |= present & (~fits | (~_DIGIT[window] & inside).any(axis=1))
        elif column.type == "numeric":
            # as columnar's _NUMERIC: up to 12 digits before the point; a value that overflows once
            # rounded (999999999999.995) is the server's to refuse, and the file goes the slower way
            window, inside, fits = _window(data, s, length, 16)
            dot = (window == ord(".")) & inside
            dots = dot.sum(axis=1)
            whole = np.where(dots > 0, dot.argmax(axis=1), length)
            other = (~_NUMBER_BYTE[window] & inside).any(axis=1)
            flagged |= present & (~fits | other | (dots > 1) | (whole > 12) | (length == dots))
        elif column.type == "boolean":
            flagged |= present & ~(_equals(data, s, length, b"true") | _equals(data, s, length, b"false"))
        else:
            widths = (10,) if column.type == "date" else _TIMESTAMP_WIDTHS
            ok = np.zeros(len(s), dtype=bool)
            day = np.zeros(len(s), dtype=np.int64)
            for width in widths:
                rows = np.flatnonzero(length == width)
                if len(rows):
                    ok[rows], day[rows] = _iso_shape(data, s[rows], width)
            flagged |= present & ~ok
            checked = present & ok
            if column.name == contract.event_time and latest_day is not None:
                flagged |= checked & (day >= latest_day)
            if column.plausible is not None and column.plausible.severity == "quarantine":
                earliest = _day_number(column.plausible.earliest + timedelta(days=1))
                late = day >= latest_day if latest_day is not None else False
                flagged |= checked & ((day <= earliest) | late)
        return flagged


class PlainCsv:
    """A plain CSV file read in blocks of whole lines, each screened for COPY."""

    def __init__(self, contract: SourceContract, path: Path, latest_event_at: datetime):
        header = _read_header(contract, path)
        self.plan = ColumnPlan(contract, header)  # raises FileProblem for a missing required column
        if self.plan.extra:
            raise FastPathUnavailable("undeclared columns (kept in _extra)")
        self.width = len(header)
        if self.width < 2:
            raise FastPathUnavailable("a one-column file cannot tell blank lines from empty values")
        self.contract = contract
        self.path = path
        self.delimiter = ord(contract.delimiter)
        self.latest_event_at = latest_event_at
        self.file_columns = [name for _, name in sorted((i, n) for n, i in self._positions())]
        self.next_line = 2  # the header is line 1

    def _positions(self) -> Iterator[tuple[str, int]]:
        for name, i in zip(self.contract.column_names, self.plan.index):
            if i is not None:
                yield name, i

    def blocks(self, hasher) -> Iterator[bytes]:
        """The data lines in blocks of whole lines, each ending with a newline; the hasher sees every byte."""
        first = True
        for chunk in columnar.whole_line_chunks(self.path, hasher):
            if first:
                first = False
                # the header line; a file that is one line without a newline is all header
                chunk = chunk[chunk.find(b"\n") + 1 :] if b"\n" in chunk else b""
            if chunk:
                yield chunk if chunk.endswith(b"\n") else chunk + b"\n"

    def screen(self, block: bytes) -> Screened:
        if b'"' in block:
            raise FastPathUnavailable("quoted values")
        if b"\r" in block:
            if block.count(b"\r") != block.count(b"\r\n"):
                raise FastPathUnavailable("a carriage return inside a line")
            block = block.replace(b"\r\n", b"\n")
        first_line = self.next_line
        data = np.frombuffer(block, dtype=np.uint8)
        ends = np.flatnonzero(data == 10)
        n = len(ends)
        self.next_line += n
        starts = np.empty(n, dtype=np.int64)
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
        delimiters = np.flatnonzero(data == self.delimiter)
        before_end = np.searchsorted(delimiters, ends)
        counts = np.diff(before_end, prepend=0)
        lines = first_line + np.arange(n, dtype=np.int64)

        out = Screened(rows=b"")
        undecodable = self._undecodable(block, data, starts, ends)
        blank = (counts == 0) & ~undecodable
        if blank.any():  # a line without a delimiter is blank or has one field: decide as csv.reader would
            for r in np.flatnonzero(blank).tolist():
                blank[r] = not block[starts[r] : ends[r]].decode("utf-8").strip()
        wrong_count = (counts != self.width - 1) & ~undecodable & ~blank
        for r in np.flatnonzero(undecodable | wrong_count).tolist():
            line = int(lines[r])
            text = block[starts[r] : ends[r]].decode("utf-8", "surrogateescape")
            if undecodable[r]:
                problem = Problem(
                    UNDECODABLE, f"line {line} has bytes that are not valid {self.contract.encoding} (or NUL)"
                )
            else:
                problem = Problem(
                    BAD_FIELD_COUNT, f"expected {self.width} fields as in the header, found {int(counts[r]) + 1}"
                )
            out.problems.append((line, problem, printable_raw(text)))
        out.records = n - int(blank.sum())

        rows = np.flatnonzero(~(undecodable | wrong_count | blank))
        suspect = np.zeros(len(rows), dtype=bool)
        if len(rows):
            # each of these lines has exactly width - 1 delimiters: its k-th field ends at the k-th
            first_delimiter = (before_end - counts)[rows]
            inner = delimiters[first_delimiter[:, None] + np.arange(self.width - 1)]
            spans = FieldSpans(
                data=data,
                starts=np.hstack([starts[rows][:, None], inner + 1]),
                ends=np.hstack([inner, ends[rows][:, None]]),
                index=self.plan.index,
            )
            suspect = spans.check(self.contract, self.latest_event_at).suspect
        for r in rows[suspect].tolist():
            out.suspects.append((int(lines[r]), block[starts[r] : ends[r]].decode("utf-8")))
        good = rows[~suspect]
        out.good = len(good)
        if len(good):
            out.rows = self._copy_rows(block, starts, ends, good, lines[good])
        return out

    def _undecodable(self, block: bytes, data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Lines with bytes that are not UTF-8, or a NUL (the row-by-row reader quarantines them)."""
        bad = np.zeros(len(ends), dtype=bool)
        if b"\x00" in block:
            bad[np.searchsorted(ends, np.flatnonzero(data == 0))] = True
        if not block.isascii():
            try:
                block.decode("utf-8")
            except UnicodeDecodeError:
                for r in range(len(ends)):
                    try:
                        block[starts[r] : ends[r]].decode("utf-8")
                    except UnicodeDecodeError:
                        bad[r] = True
        return bad

    def _copy_rows(
        self, block: bytes, starts: np.ndarray, ends: np.ndarray, good: np.ndarray, lines: np.ndarray
    ) -> bytes:
        """`N;<line>` for the good lines, built by Arrow without a Python loop over rows."""
        offsets = np.empty(len(ends) + 1, dtype=np.int32)
        offsets[:-1] = starts
        offsets[-1] = len(block)
        all_lines = pa.Array.from_buffers(
            pa.binary(), len(ends), [None, pa.py_buffer(offsets.tobytes()), pa.py_buffer(block)]
        )
        kept = all_lines if len(good) == len(ends) else all_lines.take(pa.array(good))
        numbers = pc.cast(pc.cast(pa.array(lines), pa.string()), pa.binary())
        joined = pc.binary_join_element_wise(numbers, kept, bytes([self.delimiter]))
        _, offsets_buf, data_buf = joined.buffers()
        first, last = np.frombuffer(offsets_buf, dtype=np.int32)[[joined.offset, joined.offset + len(joined)]]
        return data_buf.to_pybytes()[first:last]


def _window(data: np.ndarray, s: np.ndarray, length: np.ndarray, limit: int) -> tuple[np.ndarray, ...]:
    """The first `limit` bytes of each value (n x width), which of them are inside it, and whether it fits."""
    width = max(1, min(limit, int(length.max(initial=0))))  # no wider than the longest value
    positions = np.minimum(s[:, None] + np.arange(width), len(data) - 1)
    inside = np.arange(width) < length[:, None]
    return data[positions], inside, length <= limit


def _equals(data: np.ndarray, s: np.ndarray, length: np.ndarray, word: bytes) -> np.ndarray:
    out = np.zeros(len(s), dtype=bool)
    rows = np.flatnonzero(length == len(word))
    if len(rows):
        window = data[s[rows][:, None] + np.arange(len(word))]
        out[rows] = (window == np.frombuffer(word, dtype=np.uint8)).all(axis=1)
    return out


def _day_number(day: date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def _iso_template(width: int) -> tuple[np.ndarray, np.ndarray]:
    """The fixed bytes of an ISO value of this width (0 where a digit goes), and where the digits go."""
    text = {10: "0000-00-00", 19: "0000-00-00T00:00:00", 20: "0000-00-00T00:00:00Z", 25: "0000-00-00T00:00:00+00:00"}
    template = np.frombuffer(text[width].encode(), dtype=np.uint8).copy()
    digits = template == ord("0")
    template[digits] = 0
    return template, digits


_ISO_TEMPLATES = {width: _iso_template(width) for width in (10, *_TIMESTAMP_WIDTHS)}
_PLACES = np.array([1000, 100, 10, 1], dtype=np.int64)


def _iso_shape(data: np.ndarray, s: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(canonical, YYYYMMDD) for values of one width: a real calendar day, a real time of day, an offset
    both Python and PostgreSQL read; anything else is left to the row validator."""
    w = data[s[:, None] + np.arange(width)]
    if width > 10:  # the separator may be T or a space, an offset's sign + or -
        w[:, 10] = np.where(w[:, 10] == ord(" "), ord("T"), w[:, 10])
    if width == 25:
        w[:, 19] = np.where(w[:, 19] == ord("-"), ord("+"), w[:, 19])
    template, digit_at = _ISO_TEMPLATES[width]
    v = w - np.uint8(48)  # a byte below "0" wraps round to a large number
    ok = np.where(digit_at, v <= 9, w == template).all(axis=1)

    def number(first: int, digits: int = 2) -> np.ndarray:
        return v[:, first : first + digits].astype(np.int64) @ _PLACES[-digits:]

    if width > 10:
        ok &= (number(11) <= 23) & (number(14) <= 59) & (number(17) <= 59)
    if width == 25:
        ok &= (number(20) <= 14) & (number(23) <= 59)
    year, month, day = number(0, 4), number(5), number(8)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_days = _DAYS_IN_MONTH[np.clip(month, 0, 12)] + ((month == 2) & leap)
    ok &= (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= month_days)
    return ok, year * 10000 + month * 100 + day
