"""A corpus of hostile landing files, as an attacker or a careless partner system sends them.

Separate from the simulator's defect classes: these are the files around them (other
encodings, archives, links, odd headers, nesting, sizes). `write_corpus` lands every case
next to good files and returns what each must come to:

- `outcome`: `loaded` (with `raw` and `quarantined` rows), `rejected` (nothing of it loads),
  `duplicate` (skipped as known bytes) or `skipped` (never looked at: hidden, still being written);
- `message`: a fragment of what the user is told (the ingest log and the run report);
- `rows`: the data rows in the file, every one of which must end in raw or quarantine
  exactly once when the file loads.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from customer360.ingestion.contracts import SOURCES, landing_file_name

DAY = "2024-03-01"
SURVEY_COLUMNS = SOURCES["surveys"].column_names
CRM_COLUMNS = SOURCES["crm_accounts"].column_names


@dataclass(frozen=True)
class Case:
    name: str
    source: str
    file_name: str
    outcome: str  # loaded | rejected | duplicate | skipped
    message: str = ""
    rows: int = 0
    raw: int = 0
    quarantined: int = 0
    reasons: tuple[str, ...] = ()  # quarantine reason codes expected among its rows


def survey(i: int, comment: str = "fine") -> list[str]:
    return [f"R{i}", f"p{i}@example.com", f"Person {i}", "4", "8", comment, "2024-03-01T10:00:00Z"]


def crm(i: int, first: str = "Jane", last: str = "Doe") -> list[str]:
    return [
        f"A{i}",
        "Ms",
        first,
        last,
        f"c{i}@example.com",
        "07700 900123",
        "1980-05-17",
        "1 High St",
        "Leeds",
        "LS1 1AA",
        "GB",
        "",
        "2024-01-01T09:00:00Z",
        "2024-03-01T10:00:00Z",
    ]


def _csv(header: list[str], rows: list[list[str]], *, delimiter: str = ",", newline: str = "\n") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=newline)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def write_corpus(landing: Path, outside: Path) -> list[Case]:
    """Land every case under `landing` (day DAY); `outside` is a folder outside the landing root."""
    cases: list[Case] = []

    def land(case: Case, data: bytes | None) -> None:
        folder = landing / case.source / DAY
        folder.mkdir(parents=True, exist_ok=True)
        if data is not None:
            (folder / case.file_name).write_bytes(data)
        cases.append(case)

    def name(source: str, part: int, ext: str | None = None) -> str:
        base = landing_file_name(SOURCES[source], DAY, part)
        return base if ext is None else base.rsplit(".", 1)[0] + ext

    # --- surveys (CSV) -----------------------------------------------------------------
    land(
        Case("good file", "surveys", name("surveys", 1), "loaded", "loaded 3 of 3 rows", 3, 3, 0),
        _csv(SURVEY_COLUMNS, [survey(i) for i in range(1, 4)]),
    )
    land(
        Case("BOM and CRLF", "surveys", name("surveys", 2), "loaded", "loaded 2 of 2 rows", 2, 2, 0),
        b"\xef\xbb\xbf" + _csv(SURVEY_COLUMNS, [survey(i) for i in (11, 12)], newline="\r\n"),
    )
    land(
        Case(
            "columns reordered, one extra",
            "surveys",
            name("surveys", 3),
            "loaded",
            "undeclared columns kept in _extra: channel",
            1,
            1,
            0,
        ),
        _csv(["channel", *reversed(SURVEY_COLUMNS)], [["app", *reversed(survey(21))]]),
    )
    land(
        Case("header names with trailing spaces", "surveys", name("surveys", 4), "loaded", "loaded 1 of 1", 1, 1, 0),
        _csv([c + "  " for c in SURVEY_COLUMNS], [survey(31)]),
    )
    land(
        Case("upper-case header", "surveys", name("surveys", 5), "rejected", "in upper or mixed case"),
        _csv([c.upper() for c in SURVEY_COLUMNS], [survey(41)]),
    )
    land(
        Case("UTF-16 with a byte order mark", "surveys", name("surveys", 6), "rejected", "looks like UTF-16"),
        _csv(SURVEY_COLUMNS, [survey(51)]).decode().encode("utf-16"),
    )
    land(
        Case(
            "Windows-1252 smart quotes",
            "surveys",
            name("surveys", 7),
            "loaded",
            "quarantined 1",
            2,
            1,
            1,
            ("undecodable",),
        ),
        _csv(SURVEY_COLUMNS, [survey(61)]) + ",".join(survey(62, "\u201cgreat\u201d service")).encode("cp1252") + b"\n",
    )
    land(
        Case(
            "NUL bytes in a value", "surveys", name("surveys", 8), "loaded", "quarantined 1", 2, 1, 1, ("undecodable",)
        ),
        _csv(SURVEY_COLUMNS, [survey(71), survey(72, "nul\x00here")]),
    )
    land(
        Case(
            "an unclosed quote",
            "surveys",
            name("surveys", 9),
            "rejected",
            "the quoted value opened on line 3 is never closed",
        ),
        _csv(SURVEY_COLUMNS, [survey(81)])
        + b'R82,x@example.com,X,4,8,"never closed,2024-03-01T10:00:00Z\n'
        + ",".join(survey(83)).encode()
        + b"\n",
    )
    land(
        Case(
            "one field of 2 MB among good rows",
            "surveys",
            name("surveys", 10),
            "loaded",
            "quarantined 1",
            3,
            2,
            1,
            ("field_too_long",),
        ),
        _csv(SURVEY_COLUMNS, [survey(91), survey(92, "x" * (2 << 20)), survey(93)]),
    )
    land(
        Case(
            "a header naming a column twice",
            "surveys",
            name("surveys", 11),
            "rejected",
            "header repeats column(s): comment",
        ),
        _csv([*SURVEY_COLUMNS, "comment"], [[*survey(101), "again"]]),
    )
    land(
        Case(
            "mixed delimiters", "surveys", name("surveys", 12), "loaded", "quarantined 1", 2, 1, 1, ("bad_field_count",)
        ),
        _csv(SURVEY_COLUMNS, [survey(111)]) + ";".join(survey(112)).encode() + b"\n",
    )
    land(
        Case(
            "two thousand columns",
            "surveys",
            name("surveys", 13),
            "loaded",
            "undeclared columns kept in _extra: x0, x1, x10, x100, x1000, x1001, x1002, x1003, x1004, x1005 and "
            "1,990 more",
            1,
            1,
            0,
        ),
        _csv([*SURVEY_COLUMNS, *(f"x{i}" for i in range(2000))], [[*survey(121), *("v" for _ in range(2000))]]),
    )
    land(Case("an empty file", "surveys", name("surveys", 14), "rejected", "empty"), b"")
    land(
        Case(
            "the same bytes as the good file, another name",
            "surveys",
            name("surveys", 15),
            "duplicate",
            "same content as surveys/2024-03-01/" + name("surveys", 1),
        ),
        _csv(SURVEY_COLUMNS, [survey(i) for i in range(1, 4)]),
    )
    land(
        Case("gzip archive", "surveys", name("surveys", 16, ".csv.gz"), "rejected", "unexpected file type"),
        gzip.compress(_csv(SURVEY_COLUMNS, [survey(131)])),
    )
    land(
        Case(
            "gzip bytes under a .csv name",
            "surveys",
            name("surveys", 17),
            "rejected",
            "the file is a gzip archive, not csv text: deliver it uncompressed",
        ),
        gzip.compress(_csv(SURVEY_COLUMNS, [survey(141)])),
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("surveys.csv", _csv(SURVEY_COLUMNS, [survey(151)]))
    land(
        Case("zip archive", "surveys", name("surveys", 18, ".zip"), "rejected", "unexpected file type"),
        buffer.getvalue(),
    )
    land(
        Case("a file still being written", "surveys", name("surveys", 19, ".csv.part"), "skipped"),
        _csv(SURVEY_COLUMNS, [survey(161)]),
    )
    secret = outside / "passwd"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    land(Case("a link to a system file", "surveys", name("surveys", 20), "rejected", "a symbolic link"), None)
    (landing / "surveys" / DAY / name("surveys", 20)).symlink_to(secret)
    land(
        Case(
            "a folder named like a file", "surveys", name("surveys", 21), "rejected", "a folder where a file should be"
        ),
        None,
    )
    (landing / "surveys" / DAY / name("surveys", 21)).mkdir()
    land(Case("a named pipe", "surveys", name("surveys", 22), "rejected", "not a regular file"), None)
    os.mkfifo(landing / "surveys" / DAY / name("surveys", 22))

    # --- crm_accounts (CSV): values that are code somewhere else ------------------------
    land(
        Case(
            "SQL, HTML and formulas in names",
            "crm_accounts",
            name("crm_accounts", 1),
            "loaded",
            "loaded 3 of 3",
            3,
            3,
            0,
        ),
        _csv(
            CRM_COLUMNS,
            [
                crm(1, "Robert'); drop table raw.crm_accounts;--", "O'Brien"),
                crm(2, "<script>alert(1)</script>", "<b>Doe</b>"),
                crm(3, '=HYPERLINK("http://evil.example","x")', "+SUM(1)"),
            ],
        ),
    )
    land(
        Case(
            "implausible dates load and warn",
            "crm_accounts",
            name("crm_accounts", 2),
            "loaded",
            "loaded 2 of 2",
            2,
            2,
            0,
        ),
        _csv(CRM_COLUMNS, [[*crm(4)[:6], "1900-01-01", *crm(4)[7:]], [*crm(5)[:6], "9999-12-31", *crm(5)[7:]]]),
    )

    # --- web_orders (JSON Lines) ---------------------------------------------------------
    order = {
        "order_id": "O1",
        "web_account_id": "W1",
        "email": "w@example.com",
        "ordered_at": "2024-03-01T10:00:00Z",
        "amount": "10.00",
        "currency": "GBP",
    }
    lines = [order, dict(order, order_id="O2", email={"$ne": None}), dict(order, order_id="O3", first_name=["a", "b"])]
    land(
        Case(
            "an object and a list where single values belong",
            "web_orders",
            name("web_orders", 1),
            "loaded",
            "quarantined 3",
            4,
            1,
            3,
            ("bad_type", "malformed"),
        ),
        "".join(json.dumps(x) + "\n" for x in lines).encode() + b"{not json\n",
    )
    deep = '{"order_id": "O9", "nested": ' + "[" * 100_000 + "]" * 100_000 + "}\n"
    land(
        Case(
            "JSON nested 100,000 levels deep",
            "web_orders",
            name("web_orders", 2),
            "loaded",
            "quarantined 1",
            2,
            1,
            1,
            ("malformed",),
        ),
        (json.dumps(dict(order, order_id="O8")) + "\n" + deep).encode(),
    )
    land(
        Case(
            "an absurd amount", "web_orders", name("web_orders", 3), "loaded", "quarantined 1", 2, 1, 1, ("bad_type",)
        ),
        "".join(
            json.dumps(x) + "\n" for x in (dict(order, order_id="O20"), dict(order, order_id="O21", amount="1e400"))
        ).encode(),
    )

    # --- web_events (Parquet) ------------------------------------------------------------
    events = SOURCES["web_events"]
    table = pa.table(
        {
            c: [f"{c}-{i}" if c != "occurred_at" else "2024-03-01T10:00:00Z" for i in range(3)]
            for c in events.column_names
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    land(
        Case("a good Parquet file", "web_events", name("web_events", 1), "loaded", "loaded 3 of 3", 3, 3, 0),
        sink.getvalue(),
    )
    land(
        Case("Parquet cut short", "web_events", name("web_events", 2), "rejected", "unreadable parquet"),
        sink.getvalue()[:-40],
    )
    return cases
