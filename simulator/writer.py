"""Serialise formatted columns to csv / jsonl lines and parquet files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ingestion.contracts import SourceContract
from simulator.defects import BROKEN_UTF8, INVALID_BYTES


def _str(values: np.ndarray) -> pd.Series:
    return pd.Series(values, dtype=object).fillna("").astype(str)


def csv_lines(contract: SourceContract, cols: dict[str, np.ndarray], extra: set[int]) -> np.ndarray:
    d = contract.delimiter
    needs = f'[{"".join(sorted(set(d + chr(34) + chr(10) + chr(13))))}]'
    parts = []
    for name in contract.column_names:
        s = _str(cols[name])
        q = s.str.contains(needs, regex=True)
        if q.any():
            s = s.where(~q, '"' + s.str.replace('"', '""', regex=False) + '"')
        parts.append(s)
    line = parts[0].str.cat(parts[1:], sep=d) if len(parts) > 1 else parts[0]
    out = line.to_numpy(dtype=object)
    for row in extra:
        out[row] = out[row] + d + "EXTRA"
    return out


def csv_header(contract: SourceContract) -> str:
    return contract.delimiter.join(contract.column_names)


def jsonl_lines(contract: SourceContract, cols: dict[str, np.ndarray]) -> np.ndarray:
    parts = []
    for name in contract.column_names:
        raw = pd.Series(cols[name], dtype=object)
        isnull = raw.isna()
        s = raw.fillna("").astype(str)
        s = s.str.replace("\\", "\\\\", regex=False).str.replace('"', '\\"', regex=False)
        s = s.str.replace(r"[\x00-\x1f]", " ", regex=True)
        val = ('"' + s + '"').where(~isnull, "null")
        parts.append(f'"{name}": ' + val)
    line = parts[0].str.cat(parts[1:], sep=", ")
    return ("{" + line + "}").to_numpy(dtype=object)


def write_text(path: Path, header: str | None, lines: np.ndarray) -> bytes:
    body = "\n".join(lines.tolist()) + "\n"
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
