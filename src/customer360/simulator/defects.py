"""Defect injection: row-level defects on formatted chunks, file-level redeliveries."""

from __future__ import annotations

import numpy as np

from customer360.ingestion.contracts import SourceContract

# Placeholder written into a value; the csv writer swaps its UTF-8 bytes for invalid bytes.
BROKEN = "\ue000"
BROKEN_UTF8 = BROKEN.encode("utf-8")
INVALID_BYTES = b"\xff\xfe"

DEFECT_CLASSES = (
    "bad_email",
    "negative_amount",
    "future_date",
    "missing_required",
    "bad_type",
    "broken_encoding",
    "redelivered_file",
    "bad_field_count",
)
ROW_CLASSES = tuple(c for c in DEFECT_CLASSES if c != "redelivered_file")

_BAD_INTEGER = np.array(["five", "n/a", "7.5.1", "??", "1O"], dtype=object)
_BAD_BOOL = np.array(["maybe", "tru", "2", "Y/N"], dtype=object)
_BAD_TS = np.array(["2024-13-45T99:00:00Z", "31/02/2024 25:61", "yesterday", "2024-02-30T10:00:00Z"], dtype=object)
_BAD_DATE = np.array(["2023-02-30", "32/13/2021", "unknown"], dtype=object)


def applicable(contract: SourceContract) -> tuple[str, ...]:
    names = contract.column_names
    out = []
    for c in ROW_CLASSES:
        if c == "bad_email" and "email" not in names:
            continue
        if c == "negative_amount" and "amount" not in names:
            continue
        if c == "bad_type" and all(col.type == "text" for col in contract.columns):
            continue
        if c in ("broken_encoding", "bad_field_count") and contract.format != "csv":
            continue
        out.append(c)
    return tuple(out)


def _bad_email(value: object, u: float) -> str:
    v = value if isinstance(value, str) and "@" in value else "someone@example.co.uk"
    local, _, domain = v.strip().partition("@")
    k = int(u * 4)
    if k == 0:
        return f"{local}@@{domain}"
    if k == 1:
        return f"{local}{domain}"  # missing @
    if k == 2:
        return f"{local}@"
    return f"{local}@{domain.split('.')[0]}"  # no top-level domain


def inject_rows(
    contract: SourceContract, cols: dict[str, np.ndarray], rng: np.random.Generator, rate: float
) -> tuple[list[tuple[int, str]], set[int]]:
    """Corrupt about `rate` of the rows in place. Returns [(row, class)] and rows needing an extra field."""
    n = len(cols[contract.key])
    if rate <= 0 or n == 0:
        return [], set()
    classes = applicable(contract)
    hit = np.flatnonzero(rng.random(n) < rate)
    which = rng.integers(0, len(classes), size=hit.size)
    u = rng.random((hit.size, 3))
    typed = [c for c in contract.columns if c.type != "text"]
    text_cols = [c.name for c in contract.columns if c.type == "text" and c.personal] or [
        c.name for c in contract.columns if c.type == "text" and not c.required
    ]
    out: list[tuple[int, str]] = []
    extra: set[int] = set()
    for row, w, (u0, u1, _) in zip(hit, which, u):
        cls = classes[w]
        if cls == "bad_email":
            cols["email"][row] = _bad_email(cols["email"][row], u0)
        elif cls == "negative_amount":
            v = cols["amount"][row]
            cols["amount"][row] = "-" + v if v else "-1.00"
        elif cls == "future_date":
            years = 3 + int(u0 * 8)
            v = cols[contract.event_time][row]
            cols[contract.event_time][row] = str(int(v[:4]) + years) + v[4:] if v else "2099-01-01T00:00:00Z"
            if v and v[5:10] == "02-29":
                cols[contract.event_time][row] = str(int(v[:4]) + 4 * max(1, years // 4)) + v[4:]
        elif cls == "missing_required":
            req = contract.required_columns
            cols[req[int(u0 * len(req))]][row] = None
        elif cls == "bad_type":
            col = typed[int(u0 * len(typed))]
            k = int(u1 * 1000)
            if col.type == "numeric":
                v = cols[col.name][row] or "0.00"
                bad = v.replace(".", ",") + "abc"
            elif col.type == "integer":
                bad = _BAD_INTEGER[k % len(_BAD_INTEGER)]
            elif col.type == "boolean":
                bad = _BAD_BOOL[k % len(_BAD_BOOL)]
            elif col.type == "timestamp":
                bad = _BAD_TS[k % len(_BAD_TS)]
            else:
                bad = _BAD_DATE[k % len(_BAD_DATE)]
            cols[col.name][row] = bad
        elif cls == "broken_encoding":
            col = text_cols[int(u0 * len(text_cols))]
            v = cols[col][row] or ""
            cut = int(u1 * (len(v) + 1))
            cols[col][row] = v[:cut] + BROKEN + v[cut:]
        elif cls == "bad_field_count":
            extra.add(int(row))
        out.append((int(row), cls))
    return out, extra
