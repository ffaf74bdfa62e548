"""The fast path: read a landed file in Arrow batches and check whole columns at once.

The row-by-row readers (`customer360.ingestion.readers`) and `RowValidator` define what a
good row is. This module gets the same answer for the common case at COPY
speed: a file is parsed by Arrow's streaming CSV/JSON/Parquet readers into
string columns, every column is checked with vectorised rules that flag a
superset of the bad rows ("suspects"), and only the suspects go through
`RowValidator` for their exact reasons. Good rows leave as one CSV block per
batch for `COPY ... (format csv)`.

Anything this path is not sure about raises `FastPathUnavailable` (or an Arrow
or database error) and the loader rolls the file back and loads it row by row.

Line numbers are physical lines in the file (the line where a record starts),
as in the row-by-row readers: Arrow reports record ordinals, which are turned
into lines using each record's embedded newlines.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from customer360.ingestion.contracts import SourceContract
from customer360.ingestion.readers import ColumnPlan, FileProblem, JsonlReader
from customer360.ingestion.validation import BAD_FIELD_COUNT, UNDECODABLE, Problem, printable_raw

BLOCK_BYTES = 2 << 20  # our read chunk and Arrow block: a few per file in memory whatever its size; small
# enough that a 10 MB file is parsed while the server copies the blocks before it (4 MB overlapped too little)
MARKER = "\x01c360:"  # a stand-in line for a blank or undecodable line, parsed by Arrow as a 1-field row
FAST_ENCODINGS = {"utf-8", "utf8", "ascii", "us-ascii"}

_INTEGER = r"^[+-]?\d{1,18}$"  # 19 digits may overflow bigint: left to the row validator
_NUMERIC = r"^[+-]?(\d{1,12}(\.\d*)?|\.\d+)$"
_DATE = r"^\d{4}-\d{2}-\d{2}$"
_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)?$"
_HAS_OFFSET = r"(Z|[+-]\d{2}(:?\d{2})?)$"


class FastPathUnavailable(Exception):
    """This file needs the row-by-row reader (the reason says why; it is logged at debug level)."""


@dataclass
class Batch:
    """One block of a file: every field as a string column, in the file's own column order."""

    names: list[str]  # the file's column names, in order (jsonl: the contract's, then undeclared keys)
    fields: list[pa.Array]  # one string array per name
    lines: np.ndarray  # physical line (or parquet row) where each record starts
    raw_text: list[str] | str | None = None  # jsonl: the original lines (or the chunk, split when first needed)
    may_hold_nul: bool = False  # values may hold NUL, which PostgreSQL cannot store (csv and jsonl are screened)
    problems: list[tuple[int, Problem, str]] = field(default_factory=list)  # rows Arrow could not split


def fast_path_supported(contract: SourceContract) -> bool:
    return contract.encoding.lower() in FAST_ENCODINGS and (contract.format != "csv" or contract.delimiter != '"')


# ---------------------------------------------------------------------------
# Readers: each yields (plan, Batch) with plan a ColumnPlan over Batch.fields


class _CleanLines:
    """A binary stream over a CSV file that replaces blank and undecodable lines with marker lines.

    Clean 4 MB chunks pass through untouched (one strict decode each). Only a
    chunk with a problem is walked line by line. A problem inside a quoted
    multi-line value cannot be cut out safely: that raises FastPathUnavailable.
    """

    def __init__(self, path: Path, hasher):
        self.f = open(path, "rb")
        self.hasher = hasher  # sees every byte of the file once, so the load needs no second read to hash it
        self.carry = b""
        self.buffer = b""
        self.quotes = 0  # quote characters seen so far: odd means inside a quoted value
        self.line_no = 0  # physical lines handed on so far
        self.replaced: dict[int, tuple[str, int, bytes]] = {}  # marker id -> (kind, line, raw bytes)
        self.first = True

    def _chunk(self) -> bytes:
        while True:
            data = self.f.read(BLOCK_BYTES)
            if not data:
                chunk, self.carry = self.carry, b""
                return chunk
            self.hasher.update(data)
            data = self.carry + data
            cut = data.rfind(b"\n")
            if cut < 0:
                self.carry = data
                continue
            chunk, self.carry = data[: cut + 1], data[cut + 1 :]
            return chunk

    def _clean(self, chunk: bytes) -> bool:
        if b"\x00" in chunk or b"\n\n" in chunk or b"\n\r\n" in chunk or chunk[:1] in (b"\n", b"\r"):
            return False
        try:
            chunk.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True

    def _repair(self, chunk: bytes) -> bytes:
        out: list[bytes] = []
        lines = chunk.split(b"\n")
        last = len(lines) - 1
        for i, line in enumerate(lines):
            if i == last and not line:
                break  # the chunk ended with a newline
            ending = b"\n" if i < last else b""
            number = self.line_no + i + 1
            inside = self.quotes % 2 == 1
            kind = None
            if not inside and not line.strip(b"\r"):
                kind = "blank"
            else:
                try:
                    line.decode("utf-8")
                    bad = b"\x00" in line
                except UnicodeDecodeError:
                    bad = True
                if bad:
                    if inside or line.count(b'"') % 2:
                        raise FastPathUnavailable(f"line {number}: undecodable bytes inside a quoted value")
                    kind = "undecodable"
            if kind is None:
                out.append(line + ending)
                self.quotes += line.count(b'"')
            else:
                marker_id = len(self.replaced)
                self.replaced[marker_id] = (kind, number, line)
                out.append(f"{MARKER}{marker_id}".encode() + ending)
        return b"".join(out)

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self.buffer) < size:
            chunk = self._chunk()
            if not chunk:
                if self.quotes % 2:  # the row-by-row reader names the line where the quoted value opened
                    raise FastPathUnavailable("the file ends inside a quoted value")
                break
            if self.first:
                self.first = False
                header_end = chunk.find(b"\n") + 1 or len(chunk)
                head, chunk = chunk[:header_end], chunk[header_end:]
                self.buffer += head
                self.quotes += head.count(b'"')
                self.line_no += 1
            if self._clean(chunk):
                self.quotes += chunk.count(b'"')
            else:
                chunk = self._repair(chunk)
            self.line_no += chunk.count(b"\n") + (0 if chunk.endswith(b"\n") or not chunk else 1)
            self.buffer += chunk
        if size < 0:
            data, self.buffer = self.buffer, b""
        else:
            data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    # what pyarrow asks of a Python file object
    closed = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self.f.close()


def _read_header(contract: SourceContract, path: Path) -> list[str]:
    with open(path, "rb") as f:
        first = f.readline()
    if not first.strip():
        raise FastPathUnavailable("empty file or blank header")
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FastPathUnavailable("header is not utf-8") from None
    if text.count('"') % 2:
        raise FastPathUnavailable("header spans lines")
    return next(csv.reader([text.rstrip("\r\n")], delimiter=contract.delimiter))


def csv_batches(contract: SourceContract, path: Path, hasher) -> Iterator[tuple[ColumnPlan, Batch]]:
    header = _read_header(contract, path)
    plan = ColumnPlan(contract, header)  # raises FileProblem for a missing required column
    width = len(header)
    if width < 2:
        raise FastPathUnavailable("a one-column file cannot mark bad lines")
    invalid: list[tuple[int, str]] = []  # (record ordinal, text) of rows Arrow could not split

    def on_invalid(row) -> str:
        if row.number is None:
            raise FastPathUnavailable("Arrow gave no row number")
        invalid.append((row.number, row.text))
        return "skip"

    names = [f"c{i}" for i in range(width)]
    stream = _CleanLines(path, hasher)
    reader = pa_csv.open_csv(
        stream,
        read_options=pa_csv.ReadOptions(use_threads=False, block_size=BLOCK_BYTES, column_names=names, skip_rows=1),
        parse_options=pa_csv.ParseOptions(
            delimiter=contract.delimiter,
            newlines_in_values=True,
            ignore_empty_lines=False,
            invalid_row_handler=on_invalid,
        ),
        convert_options=pa_csv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=False),
    )
    lines = _LineCounter(contract, width, stream.replaced)
    try:
        for record_batch in reader:
            fields = list(record_batch.columns)
            spans = np.ones(record_batch.num_rows, dtype=np.int64)
            for col in fields:
                spans += pc.count_substring(col, "\n").to_numpy(zero_copy_only=False)
            starts, problems = lines.place(spans, invalid)
            yield plan, Batch(names=header, fields=fields, lines=starts, problems=problems)
        _, problems = lines.place(np.zeros(0, dtype=np.int64), invalid)
        if problems:
            yield (
                plan,
                Batch(
                    names=header,
                    fields=[pa.array([], pa.string())] * width,
                    lines=np.zeros(0, np.int64),
                    problems=problems,
                ),
            )
    finally:
        stream.close()


class _LineCounter:
    """Turns Arrow's record ordinals into physical line numbers.

    Arrow numbers records with the header as 1 and counts a record with
    embedded newlines once. Good records arrive in batches; rows Arrow could
    not split arrive through the handler with their ordinal, before the batch
    that follows them. Walking the ordinals in order, each record's first line
    is the line after the previous record's last.
    """

    def __init__(self, contract: SourceContract, width: int, replaced: dict[int, tuple[str, int, bytes]]):
        self.contract = contract
        self.width = width
        self.replaced = replaced
        self.next_ordinal = 2  # the first data record
        self.next_line = 2

    def place(self, spans: np.ndarray, invalid: list[tuple[int, str]]) -> tuple[np.ndarray, list]:
        """Start lines of a batch's good records (with their line spans), and the problem rows before them.

        Consumes from `invalid` the rows placed here.
        """
        invalid.sort()
        taken = np.array([o for o, _ in invalid], dtype=np.int64)
        # the k-th good record takes the k-th ordinal not taken by an invalid row
        base = self.next_ordinal + np.arange(len(spans), dtype=np.int64)
        ordinals = base + np.searchsorted(taken - np.arange(len(taken)), base, side="right") if len(taken) else base
        last = int(ordinals[-1]) if len(ordinals) else None
        used = [row for row in invalid if last is None or row[0] <= last]
        del invalid[: len(used)]
        all_ordinals = np.concatenate([ordinals, np.array([o for o, _ in used], dtype=np.int64)])
        all_spans = np.concatenate([spans, np.array([t.count("\n") + 1 for _, t in used], dtype=np.int64)])
        order = np.argsort(all_ordinals, kind="stable")
        expected = np.arange(self.next_ordinal, self.next_ordinal + len(order), dtype=np.int64)
        if not np.array_equal(all_ordinals[order], expected):
            raise FastPathUnavailable("record ordinals are not contiguous")
        spans_in_order = all_spans[order]
        starts = np.empty(len(order), dtype=np.int64)
        starts[order] = self.next_line + np.cumsum(spans_in_order) - spans_in_order
        self.next_ordinal += len(order)
        self.next_line += int(spans_in_order.sum())
        problems = [
            p
            for k, (_, text) in enumerate(used)
            if (p := self._problem_row(text, int(starts[len(spans) + k]))) is not None
        ]
        return starts[: len(spans)], problems

    def _problem_row(self, text: str, line: int) -> tuple[int, Problem, str] | None:
        """The quarantine entry for a row Arrow could not split (None for a blank line)."""
        if text.startswith(MARKER):
            kind, number, raw = self.replaced[int(text[len(MARKER) :])]
            if number != line:
                raise FastPathUnavailable(f"line bookkeeping is off at line {number}")
            if kind == "blank":
                return None
            problem = Problem(
                UNDECODABLE, f"line {number} has bytes that are not valid {self.contract.encoding} (or NUL)"
            )
            return number, problem, printable_raw(raw.decode("utf-8", "surrogateescape").rstrip("\r"))
        if not text.strip():
            return None  # a line of spaces: blank, as in the row-by-row reader
        try:
            found = len(next(csv.reader(io.StringIO(text), delimiter=self.contract.delimiter), []))
        except csv.Error:
            found = text.count(self.contract.delimiter) + 1
        return line, Problem(BAD_FIELD_COUNT, f"expected {self.width} fields as in the header, found {found}"), text


def jsonl_batches(contract: SourceContract, path: Path, hasher) -> Iterator[tuple[ColumnPlan, Batch]]:
    """JSON Lines in chunks of whole lines.

    Arrow reads a clean chunk; a chunk it cannot read (malformed JSON, blank
    lines, bad bytes, nested values in declared columns) is parsed line by
    line with the row-by-row reader's rules, so one bad line slows one chunk.
    """
    # Declared text and time columns are read as strings; numbers and booleans as Arrow infers them.
    explicit = pa.schema([(c.name, pa.string()) for c in contract.columns if c.type in ("text", "date", "timestamp")])
    parse = pa_json.ParseOptions(explicit_schema=explicit, unexpected_field_behavior="infer")
    read = pa_json.ReadOptions(use_threads=False, block_size=BLOCK_BYTES * 2)
    names = contract.column_names
    declared = set(names)
    line_parser = JsonlReader(contract, None)
    first_line = 1
    for chunk in whole_line_chunks(path, hasher):
        n_lines = chunk.count(b"\n") + (0 if chunk.endswith(b"\n") else 1)
        try:
            batch = _arrow_jsonl_chunk(chunk, first_line, n_lines, contract, read, parse, declared)
        except (FastPathUnavailable, pa.ArrowInvalid, UnicodeDecodeError):
            batch = _parsed_jsonl_chunk(chunk, first_line, line_parser)
        yield ColumnPlan(contract, batch.names), batch
        first_line += n_lines
    if first_line == 1:
        raise FastPathUnavailable("empty file")


def _arrow_jsonl_chunk(
    chunk: bytes,
    first_line: int,
    n_lines: int,
    contract: SourceContract,
    read: pa_json.ReadOptions,
    parse: pa_json.ParseOptions,
    declared: set[str],
) -> Batch:
    if first_line == 1 and chunk.startswith(b"\xef\xbb\xbf"):
        chunk = b" " * 3 + chunk[3:]  # keep offsets; JSON allows leading spaces
    # Blank lines make rows and lines disagree (checked below) and a raw NUL is not valid JSON;
    # an escaped one would reach a value.
    if b"\\u0000" in chunk:
        raise FastPathUnavailable("an escaped NUL")
    if _nesting_depth(chunk) > MAX_ARROW_JSON_DEPTH:  # Arrow's reader overflows its stack on deep nesting
        raise FastPathUnavailable(f"JSON nested deeper than {MAX_ARROW_JSON_DEPTH} levels")
    text = chunk.decode("utf-8")
    table = pa_json.read_json(io.BytesIO(chunk), read_options=read, parse_options=parse)
    n = table.num_rows
    if n != n_lines:
        raise FastPathUnavailable("rows and lines disagree")
    fields = []
    for name in contract.column_names:
        if name not in table.column_names:
            fields.append(pa.nulls(n, pa.string()))
            continue
        col = table.column(name).combine_chunks()
        t = col.type
        if not (
            pa.types.is_string(t)
            or pa.types.is_null(t)
            or pa.types.is_integer(t)
            or pa.types.is_floating(t)
            or pa.types.is_boolean(t)
        ):
            raise FastPathUnavailable(f"column {name} holds {t}")
        fields.append(pc.cast(col, pa.string()))
    extras = [c for c in table.column_names if c not in declared]
    fields += [_json_text(table.column(name).combine_chunks()) for name in extras]
    return Batch(
        names=contract.column_names + extras,
        fields=fields,
        lines=np.arange(first_line, first_line + n, dtype=np.int64),
        raw_text=text,
    )


# Arrow's JSON reader recurses per nesting level and crashed the process (a segmentation fault)
# on a line nested some ten thousand levels deep; our rows are flat, so a chunk nested deeper
# than this is read row by row, where such a line is quarantined as malformed.
MAX_ARROW_JSON_DEPTH = 64


def _nesting_depth(chunk: bytes) -> int:
    """An upper bound of the chunk's JSON nesting: brackets inside strings count too (a chunk that
    only looks deep is read row by row, which is merely slower)."""
    data = np.frombuffer(chunk, dtype=np.uint8)
    step = ((data == 0x5B) | (data == 0x7B)).astype(np.int32) - ((data == 0x5D) | (data == 0x7D))
    return int(np.cumsum(step).max()) if len(step) else 0


def _parsed_jsonl_chunk(chunk: bytes, first_line: int, parser: JsonlReader) -> Batch:
    names = list(parser.names)
    columns: list[list[str | None]] = [[] for _ in names]
    extras: list[dict | None] = []
    lines: list[int] = []
    raw: list[str] = []
    problems: list[tuple[int, Problem, str]] = []
    for line_no, values, extra, problem, text in parser.parse_lines(chunk.split(b"\n"), first_line):
        if problem is not None:
            problems.append((line_no, problem, printable_raw(text.rstrip("\r\n"))))
            continue
        assert values is not None  # a record without a problem has its values
        for column, value in zip(columns, values):
            column.append(value)
        extras.append(extra)
        lines.append(line_no)
        raw.append(text)
    extra_names = sorted({k for e in extras if e for k in e})
    fields = [pa.array(c, pa.string()) for c in columns]
    for name in extra_names:
        fields.append(
            pa.array(
                [
                    None if not e or e.get(name) is None else json.dumps(e[name], ensure_ascii=False, default=str)
                    for e in extras
                ],
                pa.string(),
            )
        )
    return Batch(
        names=names + extra_names, fields=fields, lines=np.array(lines, dtype=np.int64), raw_text=raw, problems=problems
    )


def whole_line_chunks(path: Path, hasher) -> Iterator[bytes]:
    """The file in chunks that end at a newline (the last may not); the hasher sees every byte."""
    carry = b""
    with open(path, "rb") as f:
        while data := f.read(BLOCK_BYTES):
            hasher.update(data)
            data = carry + data
            cut = data.rfind(b"\n")
            if cut < 0:
                carry = data
                continue
            carry = data[cut + 1 :]
            yield data[: cut + 1]
    if carry:
        yield carry


def _json_text(col: pa.Array) -> pa.Array:
    """An undeclared jsonl field as JSON text, so `_extra` keeps its JSON type."""
    return pa.array(
        [None if v is None else json.dumps(v, ensure_ascii=False, default=str) for v in col.to_pylist()], pa.string()
    )


def parquet_batches(contract: SourceContract, path: Path, hasher) -> Iterator[tuple[ColumnPlan, Batch]]:
    with open(path, "rb") as f:  # Arrow reads the file itself (footer first): hash it on the side
        while block := f.read(BLOCK_BYTES):
            hasher.update(block)
    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # noqa: BLE001 - an unreadable file is the row-by-row reader's to report
        raise FastPathUnavailable(f"unreadable: {e}") from None
    try:
        header = list(pf.schema_arrow.names)
        plan = ColumnPlan(contract, header)
        first = 1
        for rb in pf.iter_batches(batch_size=65536):
            fields = []
            for col in rb.columns:
                t = col.type
                if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t):
                    fields.append(pc.cast(col, pa.string()))
                elif pa.types.is_integer(t) or pa.types.is_boolean(t) or pa.types.is_decimal(t):
                    fields.append(pc.cast(col, pa.string()))
                else:
                    raise FastPathUnavailable(f"parquet column type {t}")
            n = rb.num_rows
            yield (
                plan,
                Batch(
                    names=header, fields=fields, lines=np.arange(first, first + n, dtype=np.int64), may_hold_nul=True
                ),
            )
            first += n
    finally:
        pf.close()


# (contract, path, hasher) -> (ColumnPlan, Batch) pairs; the hasher has seen the whole file once they are all read
BATCH_READERS = {"csv": csv_batches, "jsonl": jsonl_batches, "parquet": parquet_batches}


# ---------------------------------------------------------------------------
# Vectorised checks


def _blank(col: pa.Array) -> pa.Array:
    """Null, empty or only whitespace."""
    return pc.fill_null(pc.or_(pc.equal(col, ""), pc.utf8_is_space(col)), True)


def _timestamps_utc(col: pa.Array) -> pa.Array:
    """Parse ISO-8601 text (no offset = UTC) to timestamp[us, UTC]; raises for values Arrow rejects."""
    text = pc.utf8_trim_whitespace(col)
    with_offset = pc.match_substring_regex(text, _HAS_OFFSET)
    text = pc.if_else(with_offset, text, pc.binary_join_element_wise(text, "Z", ""))
    return pc.cast(text, pa.timestamp("us", tz="UTC"))


def _real_dates(text: pa.Array) -> pa.Array:
    """True where YYYY-MM-DD text names a real day (Arrow's strptime rolls 2023-02-30 over to March)."""
    parsed = pc.strptime(text, format="%Y-%m-%d", unit="s", error_is_null=True)
    back = pc.strftime(parsed, format="%Y-%m-%d")
    return pc.fill_null(pc.equal(back, text), False)


def _impossible_times(latest: datetime | None | bool, text: pa.Array, checked: pa.Array) -> np.ndarray:
    """Rows whose well-formed timestamp is not a real time (Feb 30) or, for the event time, after `latest`."""
    mask = checked.to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(mask)
    flagged = np.zeros(len(mask), dtype=bool)
    try:
        parsed = _timestamps_utc(pc.filter(text, checked))
    except pa.ArrowInvalid:
        flagged[rows] = True  # some value Arrow will not parse: the row validator looks at each
        return flagged
    if isinstance(latest, datetime):
        late = pc.greater(parsed, pa.scalar(latest, pa.timestamp("us", tz="UTC")))
        flagged[rows[pc.fill_null(late, True).to_numpy(zero_copy_only=False)]] = True
    return flagged


def _maybe_implausible(earliest: date, latest: datetime | None, text: pa.Array) -> np.ndarray:
    """Rows whose date may fall outside [earliest, latest]: a day of margin either side, since a
    time's offset can move its UTC day; the row validator decides."""
    day = pc.utf8_slice_codeunits(text, 0, 10)
    outside = pc.less_equal(day, (earliest + timedelta(days=1)).isoformat())
    if latest is not None:
        outside = pc.or_(outside, pc.greater_equal(day, (latest - timedelta(days=1)).date().isoformat()))
    return pc.and_(pc.not_equal(text, ""), outside).to_numpy(zero_copy_only=False)


@dataclass
class Checked:
    values: list[pa.Array]  # contract order, ready for COPY (csv): None for missing
    suspect: np.ndarray  # bool per row: send through RowValidator


def check_columns(
    contract: SourceContract,
    values: list[pa.Array],
    latest_event_at: datetime | None,
    may_hold_nul: bool = False,
) -> Checked:
    """Vectorised checks; `values` are the contract columns' strings (null where absent). The direct path
    checks the bytes of its blocks the same way (`customer360.ingestion.direct.FieldSpans.check`)."""
    n = len(values[0]) if values else 0
    suspect = np.zeros(n, dtype=bool)
    out: list[pa.Array] = []
    for column, col in zip(contract.columns, values):
        # A value over the contract's length is quarantined by the row validator (field_too_long).
        suspect |= pc.fill_null(pc.greater(pc.utf8_length(col), contract.max_field_chars), False).to_numpy(
            zero_copy_only=False
        )
        if may_hold_nul:
            suspect |= pc.fill_null(pc.match_substring(col, "\x00"), False).to_numpy(zero_copy_only=False)
        if column.type == "text":
            if column.required:
                suspect |= _blank(col).to_numpy(zero_copy_only=False)
            empty = pc.equal(col, "")
            out.append(pc.if_else(empty, pa.scalar(None, pa.string()), col) if pc.any(empty).as_py() else col)
            continue
        if column.required:
            suspect |= _blank(col).to_numpy(zero_copy_only=False)
        text = pc.utf8_trim_whitespace(col)
        text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)  # blank: missing
        present = pc.is_valid(text)
        safe = pc.fill_null(text, "")
        if column.type == "integer":
            ok = pc.match_substring_regex(safe, _INTEGER)
        elif column.type == "numeric":
            ok = pc.match_substring_regex(safe, _NUMERIC)
        elif column.type == "boolean":
            ok = pc.is_in(pc.utf8_lower(safe), pa.array(["true", "false"]))
        elif column.type == "date":
            ok = pc.and_(pc.match_substring_regex(safe, _DATE), _real_dates(safe))
        else:  # timestamp; "," before the fraction and a lower-case "z" are left to the row validator
            ok = pc.match_substring_regex(safe, _TIMESTAMP)
        checked = pc.and_(present, ok)
        suspect |= pc.and_(present, pc.invert(ok)).to_numpy(zero_copy_only=False)
        if column.plausible is not None and column.plausible.severity == "quarantine":
            suspect |= _maybe_implausible(column.plausible.earliest, latest_event_at, safe)
        if column.type == "timestamp":
            suspect |= _impossible_times(column.name == contract.event_time and latest_event_at, text, checked)
        out.append(text)
    return Checked(values=out, suspect=suspect)


def extra_json(contract: SourceContract, plan: ColumnPlan, batch: Batch) -> pa.Array | None:
    """`_extra` per row, as the row-by-row readers write it.

    CSV and Parquet: every undeclared column, empty as null. JSON Lines: the
    undeclared keys a line has (their values are JSON text here), or null.
    """
    if not plan.extra:
        return None
    names = [name for name, _ in plan.extra]
    columns = [batch.fields[i].to_pylist() for _, i in plan.extra]
    if contract.format == "jsonl":
        out = []
        for row in zip(*columns):
            obj = {k: json.loads(v) for k, v in zip(names, row) if v is not None}
            out.append(json.dumps(obj, ensure_ascii=False) if obj else None)
        return pa.array(out, pa.string())
    return pa.array(
        [json.dumps({k: (v or None) for k, v in zip(names, row)}, ensure_ascii=False) for row in zip(*columns)],
        pa.string(),
    )


def csv_block(columns: list[pa.Array], names: list[str]) -> bytes:
    """Rows as CSV text for COPY (format csv): null is an unquoted empty field."""
    sink = io.BytesIO()
    pa_csv.write_csv(
        pa.Table.from_arrays(columns, names=names),
        sink,
        pa_csv.WriteOptions(include_header=False, quoting_style="needed"),
    )
    return sink.getvalue()


def raw_record(contract: SourceContract, batch: Batch, row: int) -> str:
    """A quarantined row's raw text: the jsonl line itself, a CSV row rebuilt from its fields, a parquet row as JSON."""
    if isinstance(batch.raw_text, str):
        batch.raw_text = batch.raw_text.split("\n")
    if batch.raw_text is not None:
        return batch.raw_text[row].rstrip("\r")
    values = [f[row].as_py() for f in batch.fields]
    if contract.format == "csv":
        buf = io.StringIO()
        csv.writer(buf, delimiter=contract.delimiter, lineterminator="").writerow(
            ["" if v is None else v for v in values]
        )
        return buf.getvalue()
    return json.dumps(dict(zip(batch.names, values)), ensure_ascii=False, default=str)


__all__ = [
    "BATCH_READERS",
    "Batch",
    "Checked",
    "FastPathUnavailable",
    "FileProblem",
    "check_columns",
    "csv_block",
    "extra_json",
    "fast_path_supported",
    "raw_record",
]
