"""Serialise formatted columns to csv / jsonl lines and parquet files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from customer360.ingestion.contracts import SourceContract
from customer360.simulator.defects import BROKEN_UTF8, INVALID_BYTES


def csv_lines(contract: SourceContract, cols: dict[str, np.ndarray], extra: set[int]) -> list[str]:
    """One csv line per row (no line break); quotes values holding the delimiter, quotes or breaks."""
    d = contract.delimiter
    needs = re.compile("[" + re.escape(d) + '"\r\n]')

    def field(v: object) -> str:
        if v is None:
            return ""
        v = str(v)
        if needs.search(v):
            return '"' + v.replace('"', '""') + '"'
        return v

    parts = [[field(v) for v in cols[name]] for name in contract.column_names]
    out = [d.join(t) for t in zip(*parts)]
    for row in extra:
        out[row] = out[row] + d + "EXTRA"
    return out


def csv_header(contract: SourceContract) -> str:
    return contract.delimiter.join(contract.column_names)


_JSON_ESCAPE = re.compile(r'[\\"\x00-\x1f]')


def _json_value(v: object) -> str:
    if v is None:
        return "null"
    v = str(v)
    if _JSON_ESCAPE.search(v):
        return json.dumps(v, ensure_ascii=False)
    return '"' + v + '"'


def jsonl_lines(contract: SourceContract, cols: dict[str, np.ndarray]) -> list[str]:
    """One JSON object per row, all values as strings (or null), keys in contract order."""
    # row by row: a list of fragments per column would hold every value twice more than the lines
    prefixes = [f'"{name}": ' for name in contract.column_names]
    columns = [cols[name] for name in contract.column_names]
    return ["{" + ", ".join([p + _json_value(v) for p, v in zip(prefixes, row)]) + "}" for row in zip(*columns)]


LINES_PER_WRITE = 20_000


def write_text(path: Path, header: str | None, lines: list[str]) -> None:
    """The lines (and header), each ended by a line break, as UTF-8 with BROKEN swapped for invalid bytes.

    Written a slice of lines at a time, so a large file is never whole in memory as one string and its bytes.
    """
    with path.open("wb") as out:
        if header is not None:
            out.write(header.encode("utf-8") + b"\n")
        if not lines:
            out.write(b"\n")  # what joining no lines and ending the text with a line break gives
        for a in range(0, len(lines), LINES_PER_WRITE):
            data = ("\n".join(lines[a : a + LINES_PER_WRITE]) + "\n").encode("utf-8")
            if BROKEN_UTF8 in data:  # never split: a slice ends at a line break
                data = data.replace(BROKEN_UTF8, INVALID_BYTES)
            out.write(data)


def write_parquet(path: Path, contract: SourceContract, cols: dict[str, np.ndarray], a: int, b: int) -> None:
    table = pa.table({name: pa.array(cols[name][a:b].tolist(), type=pa.string()) for name in contract.column_names})
    pq.write_table(table, path, compression="snappy")
