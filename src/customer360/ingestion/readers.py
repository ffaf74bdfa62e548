"""Streaming readers for landed files: csv, jsonl and parquet.

A reader opens one file, checks its header (file-level problems raise
`FileProblem`, which rejects the whole file) and then yields one `Record` per
data row without holding the file in memory:

    (line_number, values, extra, problem, raw)

* ``values``: the contract columns' string values in contract order (None when
  absent), or None when the row could not be split into fields;
* ``extra``: a dict of columns the contract does not declare, or None;
* ``problem``: a `Problem` found while reading (undecodable bytes, wrong field
  count, malformed JSON), else None; type checks happen later;
* ``raw``: reader-specific raw form, turned into text by ``reader.raw_text``
  only when the row is quarantined.

CSV and jsonl files are read as bytes, line by line, and each line is decoded
on its own, so one line with bad bytes is quarantined and the rest load.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from customer360.ingestion.contracts import SourceContract
from customer360.ingestion.validation import (
    BAD_FIELD_COUNT,
    BAD_TYPE,
    MALFORMED,
    UNDECODABLE,
    Problem,
    has_unstorable_chars,
)

Record = tuple[int, list[str | None] | None, dict[str, Any] | None, Problem | None, Any]

PARQUET_BATCH_ROWS = 8192


class FileProblem(Exception):
    """A problem with the whole file: nothing from it is loaded."""


def truncated(opened_at: int) -> str:
    return (
        f"the quoted value opened on line {opened_at} is never closed: the file ends inside it (cut off, "
        "truncated, or a stray quote on that line); fix that line or ask for the file again"
    )


class ColumnPlan:
    """Where each contract column sits in a file's header, and what is extra or missing."""

    def __init__(self, contract: SourceContract, header: list[str]):
        names = [h.strip() for h in header]
        names = [n if n else f"column_{i + 1}" for i, n in enumerate(names)]
        seen: set[str] = set()
        dupes = sorted({n for n in names if n in seen or seen.add(n)})  # type: ignore[func-returns-value]
        if dupes:
            declared = set(contract.column_names)
            shown = [d if d in declared else "(an undeclared name)" for d in dupes]
            raise FileProblem(f"header repeats column(s): {', '.join(shown)}")
        position = {n: i for i, n in enumerate(names)}
        missing_required = [c for c in contract.required_columns if c not in position]
        if missing_required:
            known = sum(1 for n in names if n in set(contract.column_names))
            # The header's own names are not echoed: a file without a header row
            # would put its first data row (maybe personal values) into the logs.
            # Only contract names are: those the header has in another case.
            lowered = {n.lower() for n in names}
            other_case = [c for c in missing_required if c in lowered]
            hint = (
                (
                    f"; the header has {', '.join(other_case)} in upper or mixed case: column names are "
                    "lower case, as the contract declares them; rename them in the export"
                )
                if other_case
                else ""
            )
            raise FileProblem(
                f"required column(s) missing from the header: {', '.join(missing_required)}"
                f" (the header has {len(names)} column(s), {known} of them declared by the contract){hint}"
            )
        self.width = len(names)
        self.index: list[int | None] = [position.get(c) for c in contract.column_names]
        declared = set(contract.column_names)
        self.extra: list[tuple[str, int]] = [(n, i) for i, n in enumerate(names) if n not in declared]
        self.extra_columns = [n for n, _ in self.extra]
        self.missing_columns = [c for c in contract.column_names if c not in position]


class _LineSource:
    """Binary lines decoded one at a time; remembers the raw lines of the current record."""

    def __init__(self, f, encoding: str):
        self.f = f
        self.encoding = encoding
        self.line_no = 0
        self.pending: list[str] = []
        self.bad = False
        self.quotes = 0  # quote characters so far: odd at the end means the file was cut inside a value

    def __iter__(self) -> Iterator[str]:
        enc = self.encoding
        for b in self.f:
            self.line_no += 1
            s = b.decode(enc, "surrogateescape")
            if self.line_no == 1 and s.startswith("\ufeff"):
                s = s[1:]
            self.pending.append(s)
            self.quotes += s.count('"')
            if not s.isascii() or "\x00" in s:
                if has_unstorable_chars(s):
                    self.bad = True
                    s = s.replace("\x00", "")
            yield s

    def take(self) -> tuple[int, str, bool]:
        """(first line number, raw text, had bad bytes) of the record just read."""
        lines, bad = self.pending, self.bad
        self.pending, self.bad = [], False
        return self.line_no - len(lines) + 1, "".join(lines), bad


def _check_line_encoding(encoding: str) -> None:
    try:
        ok = "\n".encode(encoding) == b"\n"
    except LookupError:
        raise FileProblem(f"unknown encoding {encoding!r}") from None
    if not ok:
        raise FileProblem(f"encoding {encoding!r} is not supported by the line-by-line reader")


# The csv module's own field limit (128 KiB by default) rejected a whole file for one long field.
# It is raised for every reader so that a long field is read whole and quarantined by its row's
# check (a field cut short would misalign the lines after it); beyond this, a field is taken for
# a quote that never closes and the file is rejected.
CSV_FIELD_LIMIT = 64 << 20


class CsvReader:
    def __init__(self, contract: SourceContract, path: Path):
        _check_line_encoding(contract.encoding)
        if csv.field_size_limit() < max(CSV_FIELD_LIMIT, contract.max_field_chars + 1):
            csv.field_size_limit(max(CSV_FIELD_LIMIT, contract.max_field_chars + 1))
        self.contract = contract
        self.f = open(path, "rb")
        try:
            self.lines = _LineSource(self.f, contract.encoding)
            self.reader = csv.reader(self.lines, delimiter=contract.delimiter)
            if contract.header:
                try:
                    header = next(self.reader, None)
                except csv.Error as e:
                    raise FileProblem(f"csv header cannot be parsed: {e}") from None
                _, _, bad = self.lines.take()
                if header is None or not any(h.strip() for h in header):
                    raise FileProblem("file is empty: no header row")
                if bad:
                    raise FileProblem("header row has bytes that are not valid " + contract.encoding)
            else:
                header = list(contract.column_names)
            self.plan = ColumnPlan(contract, header)
        except BaseException:
            self.f.close()
            raise
        self.extra_columns = set(self.plan.extra_columns)
        self.missing_columns = list(self.plan.missing_columns)

    def records(self) -> Iterator[Record]:
        width, index, extra_pos = self.plan.width, self.plan.index, self.plan.extra
        lines = self.lines
        it = iter(self.reader)
        line_no = 1
        while True:
            try:
                row = next(it)
            except StopIteration:
                if lines.quotes % 2:
                    raise FileProblem(truncated(line_no)) from None
                return
            except csv.Error as e:
                hint = (
                    (
                        ": a quote that is never closed makes the rest of the file one field; check the quotes "
                        "from that line on"
                    )
                    if "field larger than field limit" in str(e)
                    else ""
                )
                raise FileProblem(f"csv cannot be parsed at line {lines.line_no}: {e}{hint}") from None
            line_no, raw, bad = lines.take()
            if not bad and (not row or (len(row) == 1 and not row[0].strip())):
                continue  # blank line: not a data row
            if bad:
                yield (
                    line_no,
                    None,
                    None,
                    Problem(
                        UNDECODABLE, f"line {line_no} has bytes that are not valid {self.contract.encoding} (or NUL)"
                    ),
                    raw,
                )
            elif len(row) != width:
                yield (
                    line_no,
                    None,
                    None,
                    Problem(BAD_FIELD_COUNT, f"expected {width} fields as in the header, found {len(row)}"),
                    raw,
                )
            else:
                values = [row[i] if i is not None else None for i in index]
                extra = {n: (row[i] or None) for n, i in extra_pos} if extra_pos else None
                yield line_no, values, extra, None, raw

    @staticmethod
    def raw_text(raw: str) -> str:
        return raw.rstrip("\r\n")

    def close(self) -> None:
        self.f.close()


def _as_text(v: Any) -> str | None:
    """A JSON or Arrow value as the string the contract types parse."""
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).decode("utf-8", "surrogateescape")
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False, default=str)
    return str(v)


def _nested_value(names: list[str], values: list[Any], row_word: str, line_no: int) -> Problem | None:
    """Every contract column is a single value: an object or a list in one is a bad type, not text.

    (It used to be stored as its JSON text and fed identity and the marts as, say, an e-mail.)
    """
    for name, value in zip(names, values):
        if isinstance(value, (dict, list)):
            kind = "an object" if isinstance(value, dict) else "a list"
            return Problem(
                BAD_TYPE,
                f"{row_word} {line_no}: {name} is {kind}, not a single value "
                "(text, number, true/false or a date); send the value itself",
            )
    return None


def _json_storable(v: Any) -> bool:
    if isinstance(v, str):
        return v.isascii() and "\x00" not in v or not has_unstorable_chars(v)
    if isinstance(v, dict):
        return all(_json_storable(k) and _json_storable(x) for k, x in v.items())
    if isinstance(v, list):
        return all(_json_storable(x) for x in v)
    return True


class JsonlReader:
    def __init__(self, contract: SourceContract, path: Path | None):
        """`path` None: no file, only `parse_lines` for lines read elsewhere."""
        _check_line_encoding(contract.encoding)
        self.contract = contract
        self.f = open(path, "rb") if path is not None else None
        self.names = contract.column_names
        self.declared = set(self.names)
        self.extra_columns: set[str] = set()
        self.missing_columns: list[str] = []
        if self.f is not None and path is not None and path.stat().st_size == 0:
            self.f.close()
            raise FileProblem("file is empty (0 bytes)")

    def records(self) -> Iterator[Record]:
        return self.parse_lines(self.f, first_line=1)

    def parse_lines(self, byte_lines, first_line: int) -> Iterator[Record]:
        """Records from binary lines (numbered from `first_line`); also for a chunk the columnar path cannot read."""
        enc, names, declared = self.contract.encoding, self.names, self.declared
        line_no = first_line - 1
        for b in byte_lines:
            line_no += 1
            if not b.strip():
                continue
            try:
                s = b.decode(enc)
            except UnicodeDecodeError:
                yield (
                    line_no,
                    None,
                    None,
                    Problem(UNDECODABLE, f"line {line_no} has bytes that are not valid {enc}"),
                    b.decode(enc, "surrogateescape"),
                )
                continue
            if line_no == 1 and s.startswith("\ufeff"):
                s = s[1:]
            try:
                obj = json.loads(s)
            except json.JSONDecodeError as e:
                yield line_no, None, None, Problem(MALFORMED, f"line {line_no} is not valid JSON: {e.msg}"), s
                continue
            except RecursionError:
                yield (
                    line_no,
                    None,
                    None,
                    Problem(
                        MALFORMED,
                        f"line {line_no} nests JSON too deeply to read (objects or lists inside each other "
                        "thousands of levels down)",
                    ),
                    s,
                )
                continue
            if not isinstance(obj, dict):
                yield (
                    line_no,
                    None,
                    None,
                    Problem(MALFORMED, f"line {line_no} is a JSON {type(obj).__name__}, not an object"),
                    s,
                )
                continue
            if not _json_storable(obj):
                yield (
                    line_no,
                    None,
                    None,
                    Problem(
                        UNDECODABLE, f"line {line_no} has a NUL or unpaired surrogate escape PostgreSQL cannot store"
                    ),
                    s,
                )
                continue
            nested = _nested_value(names, [obj.get(n) for n in names], "line", line_no)
            if nested is not None:
                yield line_no, None, None, nested, s
                continue
            values = [_as_text(obj.get(n)) for n in names]
            extra = None
            if len(obj) > len(names) or any(k not in declared for k in obj):
                extra = {k: v for k, v in obj.items() if k not in declared}
                if extra:
                    self.extra_columns.update(extra)
                else:
                    extra = None
            yield line_no, values, extra, None, s

    @staticmethod
    def raw_text(raw: str) -> str:
        return raw.rstrip("\r\n")

    def close(self) -> None:
        if self.f is not None:
            self.f.close()


class ParquetReader:
    def __init__(self, contract: SourceContract, path: Path):
        import pyarrow.parquet as pq

        self.contract = contract
        try:
            self.pf = pq.ParquetFile(path)
            header = list(self.pf.schema_arrow.names)
        except Exception as e:  # noqa: BLE001 - any pyarrow failure means an unreadable file
            raise FileProblem(f"unreadable parquet file: {type(e).__name__}: {e}") from None
        try:
            self.plan = ColumnPlan(contract, header)
        except BaseException:
            self.pf.close()
            raise
        self.header = header
        self.extra_columns = set(self.plan.extra_columns)
        self.missing_columns = list(self.plan.missing_columns)

    def records(self) -> Iterator[Record]:
        index, extra_pos = self.plan.index, self.plan.extra
        line_no = 0
        for batch in self.pf.iter_batches(batch_size=PARQUET_BATCH_ROWS):
            cols = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
            for row in zip(*cols):
                line_no += 1
                texts = [_as_text(v) for v in row]
                if any(t is not None and ("\x00" in t or not t.isascii()) and has_unstorable_chars(t) for t in texts):
                    yield (
                        line_no,
                        None,
                        None,
                        Problem(UNDECODABLE, f"row {line_no} has bytes that are not valid utf-8 (or NUL)"),
                        row,
                    )
                    continue
                nested = _nested_value(
                    self.contract.column_names, [row[i] if i is not None else None for i in index], "row", line_no
                )
                if nested is not None:
                    yield line_no, None, None, nested, row
                    continue
                values = [texts[i] if i is not None else None for i in index]
                extra = {n: texts[i] for n, i in extra_pos} if extra_pos else None
                yield line_no, values, extra, None, row

    def raw_text(self, raw: tuple) -> str:
        return json.dumps(dict(zip(self.header, raw)), ensure_ascii=False, default=str)

    def close(self) -> None:
        self.pf.close()


READERS = {"csv": CsvReader, "jsonl": JsonlReader, "parquet": ParquetReader}


# Byte order marks of the encodings a file declared as UTF-8 most often really is in.
_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32 (little-endian)"),
    (b"\x00\x00\xfe\xff", "UTF-32 (big-endian)"),
    (b"\xff\xfe", "UTF-16 (little-endian)"),
    (b"\xfe\xff", "UTF-16 (big-endian)"),
)


# Binary files that arrive under a text file's name.
_ARCHIVES = (
    (b"\x1f\x8b", "a gzip archive"),
    (b"PK\x03\x04", "a zip archive (or an Excel workbook)"),
    (b"PAR1", "a Parquet file"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
)


def check_text_encoding(contract: SourceContract, path: Path) -> None:
    """Reject, naming what it is, a text file that is an archive, or UTF-16 or UTF-32 (each row would be
    undecodable)."""
    if contract.format == "parquet" or contract.encoding.lower().replace("_", "-") not in ("utf-8", "utf8", "ascii"):
        return
    with open(path, "rb") as f:
        head = f.read(256)
    for magic, kind in _ARCHIVES:
        if head.startswith(magic):
            raise FileProblem(
                f"the file is {kind}, not {contract.format} text: deliver it uncompressed, as {contract.format}"
            )
    found = next(
        (
            (name, f"it starts with the byte order mark {bom.hex(' ').upper()}")
            for bom, name in _BOMS
            if head.startswith(bom)
        ),
        None,
    )
    if found is None and len(head) >= 8:
        even, odd = head[0::2], head[1::2]
        if odd.count(0) > 0.9 * len(odd) and 0 not in even:
            found = ("UTF-16 (little-endian)", "every second byte is NUL")
        elif even.count(0) > 0.9 * len(even) and 0 not in odd:
            found = ("UTF-16 (big-endian)", "every second byte is NUL")
    if found is not None:
        raise FileProblem(
            f"the file looks like {found[0]} ({found[1]}), not {contract.encoding} as the contract "
            f"declares: export it as {contract.encoding.upper()}"
        )


def open_reader(contract: SourceContract, path: Path):
    try:
        cls = READERS[contract.format]
    except KeyError:
        raise FileProblem(f"unknown file format {contract.format!r} for source {contract.name}") from None
    return cls(contract, path)
