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
    parts = [[f'"{name}": ' + _json_value(v) for v in cols[name]] for name in contract.column_names]
    return ["{" + ", ".join(t) + "}" for t in zip(*parts)]


def write_text(path: Path, header: str | None, lines: list[str]) -> bytes:
    body = "\n".join(lines) + "\n"
    if header is not None:
        body = header + "\n" + body
    data = body.encode("utf-8")
    if BROKEN_UTF8 in data:
        data = data.replace(BROKEN_UTF8, INVALID_BYTES)
    path.write_bytes(data)
    return data


def write_parquet(path: Path, contract: SourceContract, cols: dict[str, np.ndarray], a: int, b: int) -> None:
    table = pa.table({name: pa.array(cols[name][a:b].tolist(), type=pa.string()) for name in contract.column_names})
    pq.write_table(table, path, compression="snappy")
