"""The erasure suppression list: keyed hashes of an erased person's identifiers.

`ops.erasure_suppressions` holds, per erasure request, HMAC-SHA256 hashes (see
`customer360.privacy.keys`) of the person's normalised e-mails and phones, their identifiers
(CRM account, loyalty card, web account) and the record keys of every row erased,
with the request id, the time and the id of the key that made them; never a clear
value. The loader asks `Suppressions` about every incoming row and drops (and
counts) the rows that match, so a backfill or a re-delivered file cannot bring an
erased person back.

Matching is by column name, the same in every source contract:

    email                                  kind 'email'   (normalised like dbt's normalise_email)
    phone                                  kind 'phone'   (normalised like dbt's normalise_phone)
    account_id, loyalty_id, web_account_id kind = the column name
    the contract's record key              kind 'record:<source>'

A phone is a household's as often as a person's: a row is dropped when its phone
matches, so an erased person's shared landline also drops the rest of the
household's calls from that number. Erasure wins; docs/operations.md says so.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from customer360.db import tables
from customer360.ingestion.contracts import SourceContract
from customer360.privacy.keys import (
    KeyedHasher,
    PseudonymKey,
    load_key,
    normalise_email,
    normalise_phone,
    previous_keys,
)

TABLE = "ops.erasure_suppressions"


IDENTIFIER_COLUMNS = ("account_id", "loyalty_id", "web_account_id")
_NORMALISERS: dict[str, Callable[[str | None], str | None]] = {"email": normalise_email, "phone": normalise_phone}


def _strip(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def record_kind(source: str) -> str:
    return f"record:{source}"


def checked_columns(contract: SourceContract) -> list[tuple[int, str, Callable[[str | None], str | None]]]:
    """(index in the contract's columns, kind, normaliser) of every column a suppression can match."""
    out = []
    for i, c in enumerate(contract.columns):
        if c.name in _NORMALISERS:
            out.append((i, c.name, _NORMALISERS[c.name]))
        elif c.name in IDENTIFIER_COLUMNS:
            out.append((i, c.name, _strip))
        if c.name == contract.key:
            out.append((i, record_kind(contract.name), _strip))
    return out


def ensure_table(conn) -> None:
    tables.create(conn, tables.ERASURE)


@dataclass
class Suppressions:
    """The hashes to drop, and the hashers (one per key that made some of them)."""

    hashes: frozenset[str]
    hashers: list[KeyedHasher]

    def __bool__(self) -> bool:
        return bool(self.hashes)

    def matches(self, kind: str, value: str) -> bool:
        return any(h(kind, value) in self.hashes for h in self.hashers)

    def row_matches(self, contract: SourceContract, values: Sequence[str | None]) -> bool:
        """A row of contract-ordered text values (the row-by-row path)."""
        for i, kind, normalise in checked_columns(contract):
            v = normalise(values[i])
            if v is not None and self.matches(kind, v):
                return True
        return False

    def mask(self, contract: SourceContract, values: list[pa.Array]) -> np.ndarray:
        """Rows to drop in a batch of contract-ordered string columns (the columnar path).

        Normalises a whole column with Arrow and hashes its distinct values only.
        """
        n = len(values[0]) if values else 0
        drop = np.zeros(n, dtype=bool)
        for i, kind, _ in checked_columns(contract):
            col = values[i]
            if kind == "email":
                col = pc.utf8_lower(pc.replace_substring_regex(col, r"\s", ""))
            elif kind != "phone":
                col = pc.utf8_trim_whitespace(col)
            distinct = pc.unique(col).to_pylist()
            if kind == "phone":
                hit = [v for v in distinct if (p := normalise_phone(v)) is not None and self.matches(kind, p)]
            else:
                hit = [v for v in distinct if v and self.matches(kind, v)]
            if hit:
                drop |= pc.fill_null(pc.is_in(col, pa.array(hit, pa.string())), False).to_numpy(zero_copy_only=False)
        return drop

    def text_matches(self, contract: SourceContract, raw: str | None) -> bool:
        """A row that did not parse (it goes to quarantine with its text): any field that matches."""
        if not raw or not self:
            return False
        fields = _fields(contract, raw)
        kinds = [k for _, k, _ in checked_columns(contract)]
        for value in fields:
            for kind in kinds:
                v = _NORMALISERS.get(kind, _strip)(value)
                if v is not None and self.matches(kind, v):
                    return True
        return False


_JSON_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _fields(contract: SourceContract, raw: str) -> list[str]:
    if contract.format == "csv":
        try:
            rows = list(csv.reader(io.StringIO(raw), delimiter=contract.delimiter))
            return [f for row in rows for f in row]
        except csv.Error:
            return raw.split(contract.delimiter)
    try:
        obj = json.loads(raw)
        if isinstance(obj, dict):
            return [str(v) for v in obj.values() if v is not None]
    except ValueError:
        pass
    return _JSON_STRING.findall(raw)


EMPTY = Suppressions(frozenset(), [])


def load(conn) -> Suppressions:
    """The suppression list (empty, and no key needed, when nobody was erased)."""
    if conn.execute("select to_regclass('ops.erasure_suppressions') is null").fetchone()[0]:
        return EMPTY
    rows = conn.execute("select key_id, value_hash from ops.erasure_suppressions").fetchall()
    if not rows:
        return EMPTY
    keys = {k.key_id: k for k in [load_key(), *previous_keys()]}
    needed = {r[0] for r in rows}
    missing = needed - set(keys)
    if missing:
        from customer360.privacy.keys import KEY_ENV, PREVIOUS_KEYS_ENV

        raise RuntimeError(
            f"ops.erasure_suppressions holds hashes made with key id(s) {', '.join(sorted(missing))}, which neither "
            f"{KEY_ENV} nor {PREVIOUS_KEYS_ENV} provides: without them erased people could be loaded again. "
            "See docs/operations.md (rotate the key)."
        )
    return Suppressions(frozenset(r[1] for r in rows), [keys[k].hasher() for k in sorted(needed)])


def hashes_for(key: PseudonymKey, items: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """(kind, hash) of (kind, already-normalised value) pairs, without duplicates."""
    h = key.hasher()
    return sorted({(kind, h(kind, value)) for kind, value in items if value})
