"""The erasure test's canary: a person with a unique e-mail, phone and name, planted in one landing
file of every source, and the scans that look for them in the warehouse and in files.

Planted into the simulated company tests/e2e share (tests/e2e/conftest.py) before its first
run; tests/e2e/test_erasure.py erases them from a copy of the built warehouse.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq

from customer360.config import Settings
from customer360.db.connection import connect
from customer360.ingestion.contracts import SOURCES

EMAIL = "Zebedee.Canarywhistle.7Q@Canary-Erasure.test"
PHONE = "07999 314159"
FIRST, LAST = "Zebedee", "Canarywhistle"
IDS = {"account_id": "ACANARY7Q", "loyalty_id": "LCANARY7Q", "web_account_id": "WCANARY7Q"}
# What the scan looks for, case-insensitively: every form the values take on the way.
NEEDLES = [EMAIL.lower(), "+447999314159", "7999314159", "07999 314159", LAST.lower(), FIRST.lower()]
PATTERN = "(" + "|".join(re.escape(n) for n in NEEDLES) + ")"


def canary_values(source: str, column: str, i: int) -> str | None:
    contract = SOURCES[source]
    if column == contract.key and column not in IDS:  # the CRM account is the one the other sources name
        return f"CANARY7Q-{source}-{i}"
    return {
        "email": EMAIL,
        "phone": PHONE,
        "first_name": FIRST,
        "last_name": LAST,
        "title": "Mr",
        "caller_name": f"Mr {FIRST} {LAST}",
        "respondent_name": f"{FIRST} {LAST}",
        "comment": "lovely shop",
        "street_address": "1 Lark Lane",
        "shipping_street": "1 Lark Lane",
        **IDS,
    }.get(column)


def first_file(landing: Path, source: str, min_index: int = 10) -> Path:
    """A landing file with rows to copy (daily sources also send header-only files on quiet days),
    and none of the simulator's defects: a canary row is built on the file's first row, and
    should be loaded (or quarantined) for the canary's own reasons only."""
    defective = _defective_files(landing)
    days = sorted(p for p in (landing / source).iterdir() if p.is_dir())
    for day in days[min(min_index, len(days) - 1) :] + days:
        files = sorted(
            f
            for f in day.iterdir()
            if f.is_file() and f.relative_to(landing).as_posix() not in defective and _has_rows(f)
        )
        if files:
            return files[0]
    raise AssertionError(f"no landing file with rows and without defects for {source}")


def _defective_files(landing: Path) -> set[str]:
    """Landing-relative paths of the files the simulator put a defect in (truth/defects.csv)."""
    defects = landing.parent / "truth" / "defects.csv"
    if not defects.exists():
        return set()
    with defects.open(newline="") as f:
        return {row["file"] for row in csv.DictReader(f)}


def _has_rows(path: Path) -> bool:
    if path.suffix == ".parquet":
        return pq.ParquetFile(path).metadata.num_rows > 0
    with path.open("rb") as f:
        return sum(1 for line in f if line.strip()) > (1 if path.suffix == ".csv" else 0)


def plant(landing: Path) -> dict[str, list[str]]:
    """Append canary rows (built on a real row of the file) to one file per source; return the rows' text."""
    planted: dict[str, list[str]] = {}
    for source, contract in SOURCES.items():
        path = first_file(landing, source)
        rows = 1 if source == "crm_accounts" else 2  # one CRM account (its key is the account id)
        if contract.format == "csv":
            text = path.read_text(encoding=contract.encoding)
            newline = "\r\n" if "\r\n" in text.split("\n", 1)[0] + "\n" else "\n"
            reader = csv.DictReader(io.StringIO(text), delimiter=contract.delimiter)
            template = next(reader)
            out = io.StringIO()
            writer = csv.DictWriter(
                out, fieldnames=reader.fieldnames, delimiter=contract.delimiter, lineterminator=newline
            )
            for i in range(rows):
                row = dict(template)
                for col in row:
                    if (v := canary_values(source, col, i)) is not None:
                        row[col] = v
                if source == "surveys" and i == 1:
                    row["satisfaction_score"] = "very"  # bad_type: this one goes to quarantine
                writer.writerow(row)
            extra = out.getvalue()
            with open(path, "a", encoding=contract.encoding, newline="") as f:
                if not text.endswith("\n"):
                    f.write(newline)
                f.write(extra)
            planted[source] = extra.splitlines()
        elif contract.format == "jsonl":
            template = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
            lines = []
            for i in range(rows):
                row = dict(template)
                for col in row:
                    if (v := canary_values(source, col, i)) is not None:
                        row[col] = v
                lines.append(json.dumps(row))
            with open(path, "a", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
            planted[source] = lines
        else:
            table = pq.read_table(path)
            template = table.slice(0, 1).to_pylist()[0]
            new = []
            for i in range(rows):
                row = dict(template)
                for col in row:
                    if (v := canary_values(source, col, i)) is not None:
                        row[col] = v
                new.append(row)
            pq.write_table(pa.concat_tables([table, pa.Table.from_pylist(new, schema=table.schema)]), path)
            planted[source] = [json.dumps(r, default=str) for r in new]
    return planted


def redeliver(landing: Path) -> int:
    """The canary's rows again, in a new file next to each planted one (a re-sent delivery)."""
    rows = 0
    for source, contract in SOURCES.items():
        path = first_file(landing, source)
        again = path.with_name(path.name.replace("_001.", "_900."))
        shutil.copyfile(path, again)  # (the file is already without them after the erasure)
        if contract.format == "csv":
            text = again.read_text(encoding=contract.encoding)
            reader = csv.DictReader(io.StringIO(text), delimiter=contract.delimiter)
            template = next(reader)
            out = io.StringIO()
            writer = csv.DictWriter(
                out, fieldnames=reader.fieldnames, delimiter=contract.delimiter, lineterminator="\n"
            )
            writer.writeheader()
            for i in range(2):
                row = dict(template)
                for col in row:
                    if (v := canary_values(source, col, i)) is not None:
                        row[col] = v
                writer.writerow(row)
            # a new call from the same phone and a new survey by the same e-mail, with new keys
            row = dict(template)
            for col in row:
                if (v := canary_values(source, col, 9)) is not None:
                    row[col] = v
            writer.writerow(row)
            again.write_text(out.getvalue(), encoding=contract.encoding)
            rows += 3
        elif contract.format == "jsonl":
            template = json.loads(again.read_text(encoding="utf-8").splitlines()[0])
            lines = []
            for i in (0, 1, 9):
                row = dict(template)
                for col in row:
                    if (v := canary_values(source, col, i)) is not None:
                        row[col] = v
                lines.append(json.dumps(row))
            again.write_text("\n".join(lines) + "\n", encoding="utf-8")
            rows += 3
        else:
            table = pq.read_table(again)
            template = table.slice(0, 1).to_pylist()[0]
            new = []
            for i in (0, 1, 9):
                row = dict(template)
                for col in row:
                    if (v := canary_values(source, col, i)) is not None:
                        row[col] = v
                new.append(row)
            pq.write_table(pa.Table.from_pylist(new, schema=table.schema), again)
            rows += 3
    return rows


def scan_database(settings: Settings) -> dict[str, int]:
    """Rows holding a needle, per schema.table.column: every text/json column of every table and view."""
    hits: dict[str, int] = {}
    with connect(settings, autocommit=True) as conn:
        columns = conn.execute(
            """select table_schema, table_name, column_name from information_schema.columns
               where table_schema not in ('pg_catalog', 'information_schema') and table_schema not like 'pg\\_%%'
                 and data_type in ('text', 'character varying', 'character', 'json', 'jsonb', 'ARRAY')"""
        ).fetchall()
        for schema, table, column in columns:
            try:
                n = conn.execute(
                    f'select count(*) from "{schema}"."{table}" where "{column}"::text ~* %s', (PATTERN,)
                ).fetchone()[0]
            except psycopg.errors.ArraySubscriptError:
                # marts.dq_check_latest.failing_examples: array_agg over empty arrays fails in the view
                # itself (a known bug of that view); its table, ops.dq_results, is scanned.
                continue
            if n:
                hits[f"{schema}.{table}.{column}"] = n
    return hits


def scan_files(*roots: Path) -> dict[str, int]:
    """Needle hits per file under the roots (Parquet read as text, everything else as bytes)."""
    needles = [n.encode() for n in NEEDLES]
    hits: dict[str, int] = {}
    for root in roots:
        for dirpath, _, names in os.walk(root):
            for name in names:
                path = Path(dirpath) / name
                try:
                    if name.endswith(".parquet"):
                        data = json.dumps(pq.read_table(path).to_pylist(), default=str).encode()
                    else:
                        data = path.read_bytes()
                except Exception:  # noqa: BLE001 - an unreadable file is scanned as bytes
                    data = path.read_bytes()
                low = data.lower()
                n = sum(low.count(x) for x in needles)
                if n:
                    hits[str(path.relative_to(root.parent))] = n
    return hits
