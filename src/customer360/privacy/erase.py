"""Right to erasure: remove a person from every schema and every file the pipeline wrote.

    result = erase(settings, email="jo@example.com")          # or customer_id="C000123"
    result.summary()   # counts only: safe for logs and XCom

1. **Find** the person. By e-mail (normalised like dbt's normalise_email), by the
   e-mail's pseudonymised key (`email_key`, so the clear address need not travel),
   or by customer_id (with the ids merged into it, from identity.customer_id_history).
   Their source records are every identity.customer_source_xref row of those
   customers; their e-mails, phones and identifiers (CRM account, loyalty card,
   web account) are read from those records.
2. **Delete, in one transaction:**
   - raw.<source> rows that are one of those records (by the record's key column),
     carry one of the identifiers, or carry one of the e-mails or phones, unless the
     row is a record of *another* customer (a shared household phone or e-mail
     never erases someone else);
   - quarantine.<source> rows whose raw text holds one of those values;
   - in every other table of every schema (found in information_schema, so new
     marts are covered without code): rows whose `*customer_id` column is one of the
     customers, and rows whose `[prefix]source` / `[prefix]source_record_key` pair is
     one of the records (identity pairs, review queue, steward decisions, xref,
     int_source_records, the marts and marts_build, the history snapshot, ml scores);
   - ops.dq_results failing examples that name one of the deleted rows or keys;
   - then a sweep: every text and json column of every table is searched for the
     e-mails and phones, and what is left is replaced by '[erased]'.
   The same transaction writes the suppression list (customer360.privacy.suppression) and the
   request (ops.erasure_requests: counts, never the value).
3. **Files**, after the commit: landing files holding the person's rows are
   rewritten without those records (CSV and JSON Lines: every other byte stays as
   it was; Parquet: the same schema and rows less theirs, re-encoded), and the new
   bytes are entered in ops.file_manifest so a rerun does not load the rest of the
   file twice; the run report is written again from the cleaned warehouse; other
   text files under the reports and data directories get the same sweep.

`dry_run=True` does all of it inside a transaction that rolls back and touches no file.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import uuid
from collections import defaultdict
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from psycopg import sql

from customer360.config import Settings
from customer360.db.connection import connect, qualified
from customer360.ingestion.contracts import IDENTITY_KEY_COLUMNS, LANDING_DAY_FORMAT, SOURCES, SourceContract
from customer360.privacy import suppression
from customer360.privacy.keys import PseudonymKey, load_key, normalise_email, normalise_phone

log = logging.getLogger(__name__)

# Identifier columns of int_source_records, and the raw columns that carry them.
IDENTIFIERS = suppression.IDENTIFIER_COLUMNS
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")
OWN_TABLES = {
    ("ops", "erasure_suppressions"),
    ("ops", "erasure_requests"),
    ("ops", "file_manifest"),
    ("ops", "ingest_log"),
}
ERASED = "[erased]"
TEXT_TYPES = ("text", "character varying", "character", "json", "jsonb")


class PersonNotFound(LookupError):
    pass


@dataclass
class Person:
    """What identifies the person: customer ids, records, and the values their records hold (memory only)."""

    customer_ids: set[str] = field(default_factory=set)
    records: set[tuple[str, str]] = field(default_factory=set)  # (source, source_record_key)
    emails: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    identifiers: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    record_keys: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # contract key per source
    locations: dict[str, set[tuple[str, int]]] = field(
        default_factory=lambda: defaultdict(set)
    )  # source -> (file, line)
    keys: set[str] = field(default_factory=set)  # key values of deleted rows, for dq examples
    # As delivered in their deleted raw rows, for the file sweep: full names and street addresses.
    names: set[tuple[str, str]] = field(default_factory=set)  # (first, last)
    full_names: set[str] = field(default_factory=set)  # a caller's or respondent's name as typed
    streets: set[str] = field(default_factory=set)

    def xref_keys(self, source: str) -> set[str]:
        return {k for s, k in self.records if s == source}

    def phone_tails(self) -> list[str]:
        return sorted({re.sub(r"[^0-9]", "", p)[-9:] for p in self.phones})

    def needles(self) -> list[str]:
        """The values a sweep searches every text column and file for."""
        out = set(self.emails)
        for p in self.phones:
            out.add(p)
        return sorted(v for v in out if v and len(v) >= 6)

    def file_patterns(self) -> list[str]:
        """Regular expressions for the file sweep: the needles, and what the standardisation reads as
        theirs in any other format - a phone written with spaces, brackets, dashes, a trunk 0 or a 00
        prefix; the full name as "first last" or "last, first" (any case and spacing); a street as
        delivered. A city or postcode alone is not theirs (neighbours share it)."""
        out = [re.escape(n) for n in self.needles()]
        out += [_phone_pattern(p) for p in sorted(self.phones)]
        for first, last in sorted(self.names):
            if len(first) >= 2 and len(last) >= 2:
                f, la = _words(first), _words(last)
                out += [rf"\b{f}\s+{la}\b", rf"\b{la}\s*,\s*{f}\b"]
        out += [rf"\b{_words(n)}\b" for n in sorted(self.full_names) if len(n.split()) >= 2]
        out += [rf"\b{_words(st)}\b" for st in sorted(self.streets) if len(st) >= 6]
        return [p for p in out if p]


def _words(text: str) -> str:
    """A value as a pattern: its words in order, any white space between them."""
    return r"\s+".join(re.escape(w) for w in text.split())


def _phone_pattern(e164: str) -> str:
    """The phone in the formats normalise_phone reads: +<cc>, 00<cc> or a trunk 0 before the national
    number, any of ' ().-' between digits. The country code is 1 to 3 digits: each split is tried."""
    digits = re.sub(r"[^0-9]", "", e164)
    sep = r"[\s().\-]{0,3}"
    alternatives = []
    for cc in (1, 2, 3):
        national = digits[cc:]
        if len(national) < 7:
            continue
        body = sep.join(national)
        prefix = rf"(?:(?:\+|00){sep}{sep.join(digits[:cc])}{sep}(?:\(0\){sep})?|\(?0\)?{sep})?"
        alternatives.append(prefix + body)
    return rf"(?<!\d)(?:{'|'.join(alternatives)})(?!\d)" if alternatives else ""


@dataclass
class ErasureResult:
    request_id: str
    found_by: str
    dry_run: bool
    customers: int = 0
    records: int = 0
    rows_deleted: dict[str, int] = field(default_factory=dict)  # schema.table -> rows
    values_scrubbed: dict[str, int] = field(default_factory=dict)  # schema.table.column -> rows swept
    dq_examples_removed: int = 0
    suppressions: int = 0
    shared_rows_kept: int = 0  # raw rows sharing an e-mail or phone but recorded as another customer's
    files_rewritten: list[str] = field(default_factory=list)  # landing-relative paths
    file_records_removed: int = 0
    other_files_scrubbed: list[str] = field(default_factory=list)
    reports_regenerated: bool = False

    def rows_by_schema(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for table, n in self.rows_deleted.items():
            out[table.split(".", 1)[0]] += n
        return dict(sorted(out.items()))

    def summary(self) -> dict:
        """Counts and ids only: safe for logs, XCom and the request table."""
        return {
            "request_id": self.request_id,
            "found_by": self.found_by,
            "dry_run": self.dry_run,
            "customers": self.customers,
            "records": self.records,
            "rows_deleted": sum(self.rows_deleted.values()),
            "rows_deleted_by_schema": self.rows_by_schema(),
            "values_scrubbed": sum(self.values_scrubbed.values()),
            "dq_examples_removed": self.dq_examples_removed,
            "shared_rows_kept": self.shared_rows_kept,
            "suppressions": self.suppressions,
            "files_rewritten": len(self.files_rewritten),
            "file_records_removed": self.file_records_removed,
            "other_files_scrubbed": len(self.other_files_scrubbed),
            "reports_regenerated": self.reports_regenerated,
        }


class _Rollback(Exception):
    pass


def new_request_id() -> str:
    return "erase_" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "_" + uuid.uuid4().hex[:8]


def erase(
    settings: Settings,
    *,
    email: str | None = None,
    customer_id: str | None = None,
    email_key: str | None = None,
    dry_run: bool = False,
    request_id: str | None = None,
) -> ErasureResult:
    if sum(v is not None for v in (email, customer_id, email_key)) != 1:
        raise ValueError("give exactly one of email, email_key or customer_id")
    key = load_key()  # the suppression list needs it: fail before touching anything
    found_by = "email" if email is not None else "email_key" if email_key is not None else "customer_id"
    result = ErasureResult(request_id=request_id or new_request_id(), found_by=found_by, dry_run=dry_run)
    rewrites: list[_Rewrite] = []
    try:
        with connect(settings) as conn:
            with conn.transaction():
                conn.execute("set local lock_timeout = '60s'")
                suppression.ensure_table(conn)
                person = _find(conn, email=email, customer_id=customer_id, email_key=email_key)
                result.customers, result.records = len(person.customer_ids), len(person.records)
                _delete_raw(conn, person, result)
                _delete_quarantine(conn, person, result)
                _delete_derived(conn, person, result)
                _scrub_dq_examples(conn, person, result)
                _sweep_tables(conn, person, result)
                result.suppressions = _suppress(conn, key, person, result.request_id)
                rewrites = _plan_file_rewrites(
                    settings, person, suppression.load(conn), _files_with_suppressed_rows(conn)
                )
                if (
                    email is not None
                    and not person.records
                    and not result.rows_deleted
                    and not result.values_scrubbed
                    and not rewrites
                ):
                    raise PersonNotFound(
                        "no record holds this e-mail (raw, quarantine, identity, marts or landing files): nothing "
                        "was erased; check its spelling (or it was erased before). To refuse the address in future "
                        "deliveries, use python -m customer360.privacy suppress"
                    )
                result.file_records_removed = sum(r.removed for r in rewrites)
                result.files_rewritten = [r.rel for r in rewrites]
                _record_rewrites(conn, rewrites, result.request_id)
                _record_request(conn, result)
                if dry_run:
                    raise _Rollback()
    except _Rollback:
        for r in rewrites:
            r.discard()
        log.info("erasure %s (dry run): %s", result.request_id, json.dumps(result.summary()))
        return result
    except BaseException:
        for r in rewrites:
            r.discard()
        raise
    for r in rewrites:
        r.apply()
    result.reports_regenerated = _regenerate_report(settings)
    result.other_files_scrubbed = _scrub_files(settings, person.file_patterns())
    log.info("erasure %s: %s", result.request_id, json.dumps(result.summary()))
    return result


# ---------------------------------------------------------------------------
# 1. Find the person


def _table_exists(conn, name: str) -> bool:
    return bool(conn.execute("select to_regclass(%s) is not null", (name,)).fetchone()[0])


def _find(conn, *, email: str | None, customer_id: str | None, email_key: str | None) -> Person:
    person = Person()
    has_xref = _table_exists(conn, "identity.customer_source_xref")
    has_records = _table_exists(conn, "intermediate.int_source_records")
    ids: set[str] = set()
    if email is not None:
        e = normalise_email(email)
        if not e:
            raise ValueError("the e-mail is empty")
        person.emails.add(e)
        if has_xref:
            ids |= {
                r[0]
                for r in conn.execute(
                    "select customer_id from identity.customer_source_xref "
                    "where source = 'email_campaign_events' and source_record_key = %s",
                    (e,),
                )
            }
        if has_xref and has_records:
            ids |= {
                r[0]
                for r in conn.execute(
                    """select x.customer_id from intermediate.int_source_records r
                   join identity.customer_source_xref x using (source, source_record_key)
                   where r.email_normalised = %(e)s or r.previous_email_normalised = %(e)s""",
                    {"e": e},
                )
            }
    elif email_key is not None:
        if not _table_exists(conn, "identity.record_pseudonyms"):
            raise PersonNotFound("no pseudonymised keys yet (identity.record_pseudonyms): erase by e-mail instead")
        ids |= {
            r[0]
            for r in conn.execute(
                """select x.customer_id from identity.record_pseudonyms p
               join identity.customer_source_xref x using (source, source_record_key)
               where p.email_key = %s""",
                (email_key,),
            )
        }
    else:
        assert customer_id is not None  # exactly one of the three is given
        ids.add(customer_id)
    if ids and _table_exists(conn, "identity.customer_id_history"):
        # ids merged into (or split from) theirs over time are theirs too
        frontier = set(ids)
        while frontier:
            rows = conn.execute(
                """select old_customer_id, new_customer_id from identity.customer_id_history
                   where old_customer_id = any(%(ids)s) or new_customer_id = any(%(ids)s)""",
                {"ids": list(frontier)},
            ).fetchall()
            found = {v for r in rows for v in r} - ids
            ids |= found
            frontier = found
    person.customer_ids = ids
    if ids and has_xref:
        person.records = {
            (s, k)
            for s, k in conn.execute(
                "select source, source_record_key from identity.customer_source_xref where customer_id = any(%s)",
                (list(ids),),
            )
        }
    if person.records and has_records:
        sources = [s for s, _ in person.records]
        keys = [k for _, k in person.records]
        for row in conn.execute(
            """select r.email_normalised, r.previous_email_normalised, r.phone_normalised,
                      r.account_id, r.loyalty_id, r.web_account_id
               from intermediate.int_source_records r
               join unnest(%s::text[], %s::text[]) as p(source, source_record_key) using (source, source_record_key)""",
            (sources, keys),
        ):
            person.emails.update(v for v in row[:2] if v)
            if row[2]:
                person.phones.add(row[2])
            for name, value in zip(IDENTIFIERS, row[3:]):
                if value:
                    person.identifiers[name].add(value)
    for source, k in person.records:  # the records' own keys are identifiers too
        column = IDENTITY_KEY_COLUMNS.get(source)
        if column in IDENTIFIERS:
            person.identifiers[column].add(k)
        elif column == "email":
            person.emails.add(k)
    if customer_id is not None and not person.records:
        raise PersonNotFound(
            f"no customer {customer_id}: no source record is resolved to it (identity.customer_source_xref), nor "
            "was it merged into one (identity.customer_id_history); check the id in marts.dim_customer"
        )
    if email_key is not None and not person.records:
        raise PersonNotFound(
            "no source record has this email_key: check the key (python -m customer360.privacy "
            "email-key --email ... computes it), or erase by e-mail"
        )
    return person


# ---------------------------------------------------------------------------
# 2. Delete


def _delete_raw(conn, person: Person, result: ErasureResult) -> None:
    """raw.<source>: the person's records, identifiers, e-mails and phones (not another customer's records)."""
    tails = person.phone_tails()
    has_xref = _table_exists(conn, "identity.customer_source_xref")
    for contract in SOURCES.values():
        table = qualified("raw", contract.name)
        if not _table_exists(conn, f"raw.{contract.name}"):
            continue
        cols = set(contract.column_names)
        xcol = IDENTITY_KEY_COLUMNS.get(contract.name)
        conditions: list[sql.Composable] = []
        params: dict[str, object] = {}
        if xcol and xcol != "email" and xcol in cols:
            conditions.append(sql.SQL("btrim({}) = any(%(xkeys)s)").format(sql.Identifier(xcol)))
            params["xkeys"] = sorted(person.xref_keys(contract.name))
        for name in IDENTIFIERS:
            if name in cols and person.identifiers.get(name):
                conditions.append(sql.SQL("btrim({}) = any(%({})s)").format(sql.Identifier(name), sql.SQL(name)))
                params[name] = sorted(person.identifiers[name])
        if "email" in cols and person.emails:
            conditions.append(sql.SQL("lower(regexp_replace(email, '[[:space:]]', '', 'g')) = any(%(emails)s)"))
            params["emails"] = sorted(person.emails)
        if "phone" in cols and tails:
            conditions.append(sql.SQL("right(regexp_replace(phone, '[^0-9]', '', 'g'), 9) = any(%(tails)s)"))
            params["tails"] = tails
        if not conditions:
            continue
        wanted = [c for c in ("email", "phone", *IDENTIFIERS, *FILE_SWEEP_COLUMNS) if c in cols]
        select_cols = list(dict.fromkeys([contract.key, *(c for c in [xcol] if c in cols), *wanted]))
        rows = conn.execute(
            sql.SQL("select ctid::text, _file_name, _line_number, {} from {} where {}").format(
                sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in select_cols),
                table,
                sql.SQL(" or ").join(conditions),
            ),
            params,
        ).fetchall()
        if not rows:
            continue
        # whose record is each candidate row? keep rows that are another customer's record
        xkeys_of_rows = {}
        for row in rows:
            values = dict(zip(select_cols, row[3:]))
            xk = values.get(xcol) if xcol else None
            xkeys_of_rows[row[0]] = (normalise_email(xk) if xcol == "email" else (xk or "").strip()) or None
        owners: dict[str, str] = {}
        if has_xref:
            candidates = sorted({k for k in xkeys_of_rows.values() if k})
            owners = dict(
                conn.execute(
                    "select source_record_key, customer_id from identity.customer_source_xref "
                    "where source = %s and source_record_key = any(%s)",
                    (contract.name, candidates),
                ).fetchall()
            )
        doomed = []
        for row in rows:
            values = dict(zip(select_cols, row[3:]))
            by_key = (
                bool(xcol)
                and xcol != "email"
                and (values.get(xcol or "") or "").strip() in person.xref_keys(contract.name)
            )
            by_identifier = any((values.get(n) or "").strip() in person.identifiers.get(n, ()) for n in IDENTIFIERS)
            by_email = normalise_email(values.get("email")) in person.emails
            by_phone = normalise_phone(values.get("phone")) in person.phones
            if not (by_key or by_identifier or by_email or by_phone):
                continue  # the phone's last digits matched, the number did not
            owner = owners.get(xkeys_of_rows[row[0]] or "")
            if not (by_key or by_identifier) and owner is not None and owner not in person.customer_ids:
                result.shared_rows_kept += 1  # another customer's record sharing a value (a household)
                continue
            doomed.append(row[0])
            person.locations[contract.name].add((row[1], int(row[2])))
            person.keys.add(f"{row[1]}:{row[2]}")
            if values.get(contract.key):
                person.record_keys[contract.name].add(values[contract.key].strip())
            if e := normalise_email(values.get("email")):
                person.emails.add(e)
            if p := normalise_phone(values.get("phone")):
                person.phones.add(p)
            for n in IDENTIFIERS:
                if v := (values.get(n) or "").strip():
                    person.identifiers[n].add(v)
            _remember_for_files(person, values)
        if doomed:
            n = conn.execute(sql.SQL("delete from {} where ctid = any(%s::tid[])").format(table), (doomed,)).rowcount
            result.rows_deleted[f"raw.{contract.name}"] = n


# Raw columns whose delivered values the file sweep looks for too.
FILE_SWEEP_COLUMNS = ("first_name", "last_name", "caller_name", "respondent_name", "street_address", "shipping_street")


def _remember_for_files(person: Person, values: dict[str, str | None]) -> None:
    def clean(name: str) -> str:
        return " ".join((values.get(name) or "").split())

    if clean("first_name") and clean("last_name"):
        person.names.add((clean("first_name"), clean("last_name")))
    for name in ("caller_name", "respondent_name"):
        if clean(name):
            person.full_names.add(clean(name))
    for name in ("street_address", "shipping_street"):
        if clean(name):
            person.streets.add(clean(name))


def _person_in_text(contract: SourceContract, person: Person, raw: str) -> bool:
    for value in suppression._fields(contract, raw):
        v = value.strip()
        if not v:
            continue
        if normalise_email(v) in person.emails or (
            sum(ch.isdigit() for ch in v) >= 7 and normalise_phone(v) in person.phones
        ):
            return True
        if any(v in person.identifiers.get(n, ()) for n in IDENTIFIERS):
            return True
        if v in person.record_keys.get(contract.name, ()) or v in person.xref_keys(contract.name):
            return True
    return False


def _delete_quarantine(conn, person: Person, result: ErasureResult) -> None:
    """quarantine.<source>: rows whose raw text holds one of the person's values or keys."""
    for contract in SOURCES.values():
        if not _table_exists(conn, f"quarantine.{contract.name}"):
            continue
        table = qualified("quarantine", contract.name)
        doomed = []
        for ctid, file_name, line, raw in conn.execute(
            sql.SQL("select ctid::text, _file_name, _line_number, raw_record from {}").format(table)
        ):
            if raw and _person_in_text(contract, person, raw):
                doomed.append(ctid)
                person.locations[contract.name].add((file_name, int(line)))
                person.keys.add(f"{file_name}:{line}")
        if doomed:
            n = conn.execute(sql.SQL("delete from {} where ctid = any(%s::tid[])").format(table), (doomed,)).rowcount
            result.rows_deleted[f"quarantine.{contract.name}"] = n


def _base_tables(conn) -> dict[tuple[str, str], dict[str, str]]:
    """Every base table outside raw/quarantine and the system schemas: {column: data_type}."""
    out: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    for schema, table, column, dtype in conn.execute(
        """select c.table_schema, c.table_name, c.column_name, c.data_type
           from information_schema.columns c
           join information_schema.tables t using (table_schema, table_name)
           where t.table_type = 'BASE TABLE' and c.table_schema <> all(%s)
             and c.table_schema not like 'pg\\_%%'
           order by c.table_schema, c.table_name, c.ordinal_position""",
        (list(SYSTEM_SCHEMAS),),
    ):
        out[(schema, table)][column] = dtype
    return out


def _delete_derived(conn, person: Person, result: ErasureResult) -> None:
    """Every other table: rows naming one of the customers or one of the records."""
    ids = sorted(person.customer_ids)
    sources = [s for s, _ in sorted(person.records)]
    keys = [k for _, k in sorted(person.records)]
    for (schema, table), columns in _base_tables(conn).items():
        if schema in ("raw", "quarantine") or (schema, table) in OWN_TABLES or (schema, table) == ("ops", "dq_results"):
            continue
        conditions: list[sql.Composable] = []
        if ids:
            for c in columns:
                if c == "customer_id" or c.endswith("_customer_id"):
                    conditions.append(sql.SQL("{}::text = any(%(ids)s)").format(sql.Identifier(c)))
        if keys:
            for c in columns:
                if c.endswith("source_record_key"):
                    prefix = c[: -len("source_record_key")]
                    if prefix + "source" in columns:
                        conditions.append(
                            sql.SQL(
                                "({}, {}::text) in (select * from unnest(%(sources)s::text[], %(keys)s::text[]))"
                            ).format(sql.Identifier(prefix + "source"), sql.Identifier(c))
                        )
        if not conditions:
            continue
        rows = conn.execute(
            sql.SQL("delete from {} as t where {} returning to_jsonb(t)").format(
                qualified(schema, table), sql.SQL(" or ").join(conditions)
            ),
            {"ids": ids, "sources": sources, "keys": keys},
        ).fetchall()
        if rows:
            result.rows_deleted[f"{schema}.{table}"] = len(rows)
            for (obj,) in rows:  # their keys, to find them among stored test failures
                for k, v in obj.items():
                    if v is not None and (k.endswith("_id") or k.endswith("_key")) and not isinstance(v, (dict, list)):
                        person.keys.add(str(v))


def _scrub_dq_examples(conn, person: Person, result: ErasureResult) -> None:
    """ops.dq_results keeps up to 10 failing keys per check: drop those that name the person's rows."""
    if not _table_exists(conn, "ops.dq_results"):
        return
    keys = sorted(person.keys | person.customer_ids | {k for _, k in person.records} | person.emails)
    rows = conn.execute(
        """select run_id, suite, check_name, failing_examples from ops.dq_results
           where failing_examples && %s::text[]""",
        (keys,),
    ).fetchall()
    doomed = set(keys)
    for run_id, suite, check_name, examples in rows:
        kept = [e for e in examples if e not in doomed]
        result.dq_examples_removed += len(examples) - len(kept)
        conn.execute(
            "update ops.dq_results set failing_examples = %s where run_id = %s and suite = %s and check_name = %s",
            (kept, run_id, suite, check_name),
        )


def _sweep_tables(conn, person: Person, result: ErasureResult) -> None:
    """The last net: any text or json value still holding an e-mail or phone of theirs becomes '[erased]'."""
    needles = person.needles()
    if not needles:
        return
    pattern = "(" + "|".join(re.escape(n) for n in needles) + ")"
    for (schema, table), columns in _base_tables(conn).items():
        if (schema, table) in OWN_TABLES:
            continue
        for column, dtype in columns.items():
            if dtype not in TEXT_TYPES:
                continue
            col = sql.Identifier(column)
            cast = sql.SQL("::jsonb" if dtype == "jsonb" else "::json" if dtype == "json" else "")
            n = conn.execute(
                sql.SQL(
                    "update {} set {} = (regexp_replace({}::text, %(p)s, %(erased)s, 'gi')){} where {}::text ~* %(p)s"
                ).format(qualified(schema, table), col, col, cast, col),
                {"p": pattern, "erased": ERASED},
            ).rowcount
            if n:
                result.values_scrubbed[f"{schema}.{table}.{column}"] = n


def _suppress(conn, key: PseudonymKey, person: Person, request_id: str) -> int:
    items: list[tuple[str, str]] = [("email", e) for e in person.emails]
    items += [("phone", p) for p in person.phones]
    items += [(n, v) for n, values in person.identifiers.items() for v in values]
    items += [(suppression.record_kind(s), k) for s, keys in person.record_keys.items() for k in keys]
    hashed = suppression.hashes_for(key, items)
    if not hashed:
        return 0
    with conn.cursor().copy("copy ops.erasure_suppressions (request_id, kind, key_id, value_hash) from stdin") as copy:
        for kind, value_hash in hashed:
            copy.write_row((request_id, kind, key.key_id, value_hash))
    return len(hashed)


def _record_request(conn, result: ErasureResult) -> None:
    conn.execute(
        """insert into ops.erasure_requests
               (request_id, requested_at, found_by, customers, rows_deleted, files_rewritten, suppressions, dry_run)
           values (%s, now(), %s, %s, %s, %s, %s, %s)""",
        (
            result.request_id,
            result.found_by,
            result.customers,
            json.dumps(result.rows_deleted),
            len(result.files_rewritten),
            result.suppressions,
            result.dry_run,
        ),
    )


# ---------------------------------------------------------------------------
# 3. Files


@dataclass
class _Rewrite:
    source: str
    day: str
    path: Path
    tmp: Path
    removed: int
    checksum: str
    rows_left: int

    @property
    def rel(self) -> str:
        return f"{self.source}/{self.day}/{self.path.name}"

    def apply(self) -> None:
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        self.tmp.unlink(missing_ok=True)


def _csv_records(data: bytes) -> list[tuple[int, bytes]]:
    """(first line, bytes) of each CSV record (a quoted value may span lines); the header is the first."""
    out: list[tuple[int, bytes]] = []
    start, quotes, line, first_line = 0, 0, 1, 1
    pos = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        end = len(data) if nl < 0 else nl + 1
        quotes += data.count(b'"', pos, end)
        if quotes % 2 == 0:
            out.append((first_line, data[start:end]))
            start, first_line = end, line + 1
        line += 1
        pos = end
    if start < len(data):
        out.append((first_line, data[start:]))
    return out


def _holds(text_lower: bytes, needles: list[bytes]) -> bool:
    return any(n in text_lower for n in needles)


def _files_with_suppressed_rows(conn) -> set[tuple[str, str, str]]:
    """(source, day, file name) of loaded files the suppression list dropped rows of: re-sent files of erased people."""
    return {
        (r[0], r[1].strftime(LANDING_DAY_FORMAT), r[2])
        for r in conn.execute("select source, file_day, file_name from ops.file_manifest where rows_suppressed > 0")
    }


def _plan_file_rewrites(
    settings: Settings,
    person: Person,
    supp: suppression.Suppressions = suppression.EMPTY,
    resent: AbstractSet[tuple[str, str, str]] = frozenset(),
) -> list[_Rewrite]:
    """Write each landing file that holds the person without their records, beside it (hidden), for later.

    Files are found by the deleted rows' file and line, by the person's e-mails and phones
    in their bytes, and, for files the loader dropped suppressed rows of, by the whole
    suppression list (a later erasure of the same person knows only what it was given).
    """
    landing = settings.landing_dir
    if not landing.is_dir():
        return []
    needles = [n.lower().encode() for n in person.needles()]
    plans: list[_Rewrite] = []
    for contract in SOURCES.values():
        source_dir = landing / contract.name
        if not source_dir.is_dir():
            continue
        by_name: dict[str, set[int]] = defaultdict(set)
        for file_name, line in person.locations.get(contract.name, ()):
            by_name[file_name].add(line)
        for day_dir in sorted(p for p in source_dir.iterdir() if p.is_dir()):
            for path in sorted(p for p in day_dir.iterdir() if p.is_file() and not p.name.startswith((".", "_"))):
                lines = by_name.get(path.name, set())
                check = supp if (contract.name, day_dir.name, path.name) in resent else suppression.EMPTY
                plan = _rewrite_file(contract, path, lines, needles, person, check)
                if plan is not None:
                    plans.append(plan)
    return plans


def _rewrite_file(
    contract: SourceContract,
    path: Path,
    lines: set[int],
    needles: list[bytes],
    person: Person,
    supp: suppression.Suppressions = suppression.EMPTY,
) -> _Rewrite | None:
    data = path.read_bytes()
    if contract.format == "parquet":
        return _rewrite_parquet(contract, path, data, lines, needles, person, supp)
    if not lines and not supp and not _holds(data.lower(), needles):
        return None
    if contract.format == "csv":
        records = _csv_records(data)
        head, body = records[:1], records[1:]
    else:
        head, body = [], []
        line = 1
        for chunk in data.splitlines(keepends=True):
            body.append((line, chunk))
            line += 1

    def theirs(first: int, chunk: bytes) -> bool:
        if first in lines or _holds(chunk.lower(), needles):
            return True
        text = chunk.decode(contract.encoding, "replace").rstrip("\r\n")
        return _person_in_text(contract, person, text) or supp.text_matches(contract, text)

    kept = [chunk for first, chunk in body if not theirs(first, chunk)]
    removed = len(body) - len(kept)
    if not removed:
        return None
    new = b"".join(chunk for _, chunk in head) + b"".join(kept)
    return _stage(contract, path, new, removed, len(kept))


def _rewrite_parquet(
    contract: SourceContract,
    path: Path,
    data: bytes,
    lines: set[int],
    needles: list[bytes],
    person: Person,
    supp: suppression.Suppressions = suppression.EMPTY,
) -> _Rewrite | None:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(data))
    n = table.num_rows
    drop = [False] * n
    for i in lines:
        if 1 <= i <= n:
            drop[i - 1] = True
    str_values = {
        name: table.column(name).cast(pa.string()).to_pylist()
        for name in table.column_names
        if pa.types.is_string(table.column(name).type) or pa.types.is_large_string(table.column(name).type)
    }
    for name, values in str_values.items():
        for i, v in enumerate(values):
            if v is None or drop[i]:
                continue
            low = v.lower().encode()
            if _holds(low, needles):
                drop[i] = True
            elif name in IDENTIFIERS and v.strip() in person.identifiers.get(name, ()):
                drop[i] = True
            elif name == contract.key and v.strip() in person.record_keys.get(contract.name, ()):
                drop[i] = True
    if supp:
        for i, row in enumerate(table.to_pylist()):
            if not drop[i] and supp.text_matches(contract, json.dumps(row, default=str)):
                drop[i] = True
    removed = sum(drop)
    if not removed:
        return None
    kept = table.filter(pc.invert(pa.array(drop)))
    sink = io.BytesIO()
    metadata = pq.ParquetFile(io.BytesIO(data)).metadata
    compression = metadata.row_group(0).column(0).compression.lower() if metadata.num_row_groups else "snappy"
    pq.write_table(kept, sink, compression=compression if compression != "uncompressed" else "none")
    return _stage(contract, path, sink.getvalue(), removed, kept.num_rows)


def _stage(contract: SourceContract, path: Path, new: bytes, removed: int, rows_left: int) -> _Rewrite:
    tmp = path.with_name(f".{path.name}.erasure.tmp")
    tmp.write_bytes(new)
    os.chmod(tmp, path.stat().st_mode & 0o777)
    return _Rewrite(
        source=contract.name,
        day=path.parent.name,
        path=path,
        tmp=tmp,
        removed=removed,
        checksum=hashlib.sha256(new).hexdigest(),
        rows_left=rows_left,
    )


def _record_rewrites(conn, rewrites: list[_Rewrite], request_id: str) -> None:
    """The rewritten bytes count as loaded: a rerun must not load the rest of the file a second time.

    The original bytes keep their manifest row, so a re-delivery of the original
    file is still a duplicate (and its rows of the person would be suppressed anyway).
    """
    for r in rewrites:
        try:
            day = datetime.strptime(r.day, LANDING_DAY_FORMAT).date()
        except ValueError:
            continue
        loaded = conn.execute(
            "select 1 from ops.file_manifest where source = %s and file_name = %s and file_day = %s",
            (r.source, r.path.name, day),
        ).fetchone()
        if not loaded:
            continue  # not loaded yet: it loads as a new file, without the person
        conn.execute(
            """insert into ops.file_manifest
                   (checksum, source, file_name, file_day, batch_id, rows_in_file, rows_loaded, rows_quarantined,
                    status)
               values (%s, %s, %s, %s, %s, 0, 0, 0, 'erasure_rewrite')
               on conflict (checksum) do nothing""",
            (r.checksum, r.source, r.path.name, day, request_id),
        )


def _regenerate_report(settings: Settings) -> bool:
    """Write the latest run's report again from the cleaned warehouse (it lists review pairs, examples)."""
    if not (settings.reports_dir / "run_report.html").exists():
        return False
    with connect(settings) as conn:
        if not _table_exists(conn, "ops.dq_results"):
            return False
        row = conn.execute("select run_id from ops.dq_results order by checked_at desc limit 1").fetchone()
    if not row:
        return False
    from customer360.reporting.run_report import write_run_report

    write_run_report(settings, row[0], settings.reports_dir)
    return True


TEXT_SUFFIXES = {".html", ".json", ".csv", ".jsonl", ".txt", ".log", ".md", ".sql", ".yml", ".yaml", ".xml"}


def _scrub_files(settings: Settings, patterns: list[str]) -> list[str]:
    """Text files under the reports and data directories (landing aside): matches of the person's
    patterns (Person.file_patterns) replaced by '[erased]'."""
    if not patterns:
        return []
    pattern = re.compile("|".join(patterns).encode(), re.IGNORECASE)
    changed = []
    roots = [settings.reports_dir, settings.data_dir]
    landing = settings.landing_dir.resolve()
    for root in roots:
        if not root.is_dir():
            continue
        for dirpath, _, files in os.walk(root):
            if Path(dirpath).resolve().is_relative_to(landing):
                continue
            for name in files:
                path = Path(dirpath) / name
                if path.suffix.lower() not in TEXT_SUFFIXES:
                    continue
                data = path.read_bytes()
                new, n = pattern.subn(ERASED.encode(), data)
                if n:
                    tmp = path.with_name(f".{name}.erasure.tmp")
                    tmp.write_bytes(new)
                    os.replace(tmp, path)
                    changed.append(str(path))
    return changed


__all__ = ["ErasureResult", "PersonNotFound", "erase", "new_request_id"]
