"""The COPY loader against a real PostgreSQL (a scratch database per test)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date
from pathlib import Path

import pytest

from customer360.config import Settings
from customer360.db.bootstrap import prepare_warehouse
from customer360.db.connection import connect
from customer360.ingestion import loader as loader_module
from customer360.ingestion.contracts import SOURCES, landing_file_name
from customer360.ingestion.loader import load_interval
from customer360.ingestion.report import FileRejected
from customer360.ingestion.tables import ddl_statements, ensure_tables

DAY = date(2024, 3, 1)
NEXT_DAY = date(2024, 3, 2)

CRM_HEADER = ",".join(SOURCES["crm_accounts"].column_names)
POS_HEADER = ";".join(SOURCES["pos_transactions"].column_names)


def crm_row(
    account_id: str,
    *,
    created="2024-01-01T09:00:00Z",
    updated="2024-03-01T10:15:00Z",
    dob="1980-05-17",
    email="jane@example.com",
) -> str:
    return ",".join(
        [
            account_id,
            "Ms",
            "Jane",
            "Doe",
            email,
            "07700 900123",
            dob,
            "1 High St",
            "Leeds",
            "LS1 1AA",
            "GB",
            "L-" + account_id,
            created,
            updated,
        ]
    )


def pos_row(tx: str, amount: str = "12.50", *, at: str = "2024-03-01T10:15:00Z", loyalty: str = "L-1") -> str:
    return ";".join([tx, loyalty, "S01", at, amount, "GBP", "SKU1*2|SKU2*1"])


@pytest.fixture(params=["columnar", "row_by_row"], autouse=True)
def read_path(request, monkeypatch) -> Iterator[str]:
    """Every loader test runs on both paths, which must give the same result.

    On the columnar path a file that falls back to row by row fails the test,
    unless the test is marked `falls_back` (files the columnar path cannot vouch for).
    """
    fell_back: list[str] = []
    if request.param == "row_by_row":
        monkeypatch.setattr(loader_module.columnar, "fast_path_supported", lambda contract: False)
    else:
        real = loader_module._FileLoader._copy_rows

        def row_by_row(self, contract, path, day):
            fell_back.append(path.name)
            return real(self, contract, path, day)

        monkeypatch.setattr(loader_module._FileLoader, "_copy_rows", row_by_row)
    yield request.param
    if fell_back and not request.node.get_closest_marker("falls_back"):
        pytest.fail(f"the columnar path fell back to row by row for {fell_back}")


@pytest.fixture
def settings(warehouse_url: str, tmp_path: Path) -> Settings:
    """A fresh database on the test server (conftest's `warehouse_url`), with the schemas."""
    s = Settings(warehouse_url=warehouse_url, data_dir=tmp_path / "data")
    prepare_warehouse(s)
    return s


def land(settings: Settings, source: str, day: date, content: str | bytes, name: str | None = None) -> Path:
    contract = SOURCES[source]
    d = settings.landing_dir / source / day.isoformat()
    d.mkdir(parents=True, exist_ok=True)
    path = d / (name or landing_file_name(contract, day.isoformat()))
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def lines(*rows: str) -> str:
    return "\n".join(rows) + "\n"


def q(settings: Settings, query: str, params=None) -> list[tuple]:
    with connect(settings) as conn:
        return conn.execute(query, params).fetchall()


def count(settings: Settings, table: str) -> int:
    return q(settings, f"select count(*) from {table}")[0][0]


def test_ensure_tables_is_idempotent_and_typed(settings):
    with connect(settings, autocommit=True) as conn:
        ensure_tables(conn)
        ensure_tables(conn)
    types = dict(
        q(
            settings,
            """
        select column_name, data_type from information_schema.columns
        where table_schema = 'raw' and table_name = 'call_center_contacts'""",
        )
    )
    assert types["handling_seconds"] == "bigint"
    assert types["is_complaint"] == "boolean"
    assert types["contacted_at"] == "timestamp with time zone"
    assert types["_extra"] == "jsonb"
    assert types["_line_number"] == "integer"
    for name in SOURCES:
        assert count(settings, f"raw.{name}") == 0
        assert count(settings, f"quarantine.{name}") == 0
    assert any("ops.file_manifest" in s for s in ddl_statements())


def test_good_files_load_with_metadata_and_rerun_is_noop(settings):
    land(settings, "crm_accounts", DAY, lines(CRM_HEADER, crm_row("A1"), crm_row("A2")))
    land(settings, "pos_transactions", DAY, lines(POS_HEADER, pos_row("T1"), pos_row("T2", "0.99", loyalty="")))
    report = load_interval(settings, DAY, NEXT_DAY, batch_id="b1")
    assert report.sources["crm_accounts"].rows_loaded == 2
    assert report.sources["pos_transactions"].rows_loaded == 2
    assert report.files_loaded == 2 and not report.rejected_files
    assert "crm_accounts" in report.summary()

    rows = q(
        settings,
        """select account_id, date_of_birth, created_at, _batch_id, _file_name, _line_number,
                                 _loaded_at is not null, _extra
                          from raw.crm_accounts order by _line_number""",
    )
    assert [r[0] for r in rows] == ["A1", "A2"]
    assert rows[0][1] == date(1980, 5, 17)
    assert rows[0][2].isoformat() == "2024-01-01T09:00:00+00:00"
    assert rows[0][3:8] == ("b1", "crm_accounts_2024-03-01_001.csv", 2, True, None)
    pos = q(settings, "select transaction_id, amount::text, loyalty_id from raw.pos_transactions order by 1")
    assert pos == [("T1", "12.50", "L-1"), ("T2", "0.99", None)]
    manifest = q(
        settings,
        "select source, file_day, batch_id, rows_in_file, rows_loaded, rows_quarantined, status "
        "from ops.file_manifest order by source",
    )
    assert manifest == [
        ("crm_accounts", DAY, "b1", 2, 2, 0, "loaded"),
        ("pos_transactions", DAY, "b1", 2, 2, 0, "loaded"),
    ]

    again = load_interval(settings, DAY, NEXT_DAY, batch_id="b2")
    assert again.files_loaded == 0 and again.duplicates_skipped == 2 and again.rows_loaded == 0
    assert count(settings, "raw.crm_accounts") == 2
    assert count(settings, "raw.pos_transactions") == 2
    assert count(settings, "ops.file_manifest") == 2
    log = q(settings, "select status, count(*) from ops.ingest_log group by 1 order by 1")
    assert log == [("duplicate", 2), ("loaded", 2)]


def test_interval_is_start_inclusive_end_exclusive(settings):
    land(settings, "crm_accounts", date(2024, 2, 29), lines(CRM_HEADER, crm_row("A0")))
    land(settings, "crm_accounts", DAY, lines(CRM_HEADER, crm_row("A1")))
    land(settings, "crm_accounts", NEXT_DAY, lines(CRM_HEADER, crm_row("A2")))
    report = load_interval(settings, DAY, NEXT_DAY, ["crm_accounts"], batch_id="b")
    assert report.files_loaded == 1
    assert q(settings, "select account_id from raw.crm_accounts") == [("A1",)]


def test_same_bytes_under_new_name_is_duplicate(settings):
    content = lines(CRM_HEADER, crm_row("A1"))
    land(settings, "crm_accounts", DAY, content)
    load_interval(settings, DAY, NEXT_DAY, ["crm_accounts"], batch_id="b1")
    land(settings, "crm_accounts", NEXT_DAY, content, name="crm_accounts_2024-03-02_001.csv")
    report = load_interval(settings, DAY, date(2024, 3, 3), ["crm_accounts"], batch_id="b2")
    src = report.sources["crm_accounts"]
    assert src.duplicates_skipped == 2 and src.files_loaded == 0
    assert count(settings, "raw.crm_accounts") == 1
    msg = q(settings, "select message from ops.ingest_log where status = 'duplicate' and file_name like '%03-02%'")
    assert "crm_accounts/2024-03-01/crm_accounts_2024-03-01_001.csv" in msg[0][0]


def test_bad_rows_quarantined_with_reasons(settings):
    content = lines(
        POS_HEADER,
        pos_row("T1"),
        pos_row("T2", "12,50"),  # bad_type (comma decimal)
        pos_row("T3", at="yesterday"),  # bad_type
        ";".join(["", "L-1", "S01", "2024-03-01T10:15:00Z", "1.00", "GBP", ""]),  # missing_required
        "T5;L-1;S01",  # bad_field_count
        pos_row("T6", "-3"),
        "",  # blank line: not a data row
        pos_row("T7", "1e5"),  # bad_type
    )
    land(settings, "pos_transactions", DAY, content)
    report = load_interval(settings, DAY, NEXT_DAY, ["pos_transactions"], batch_id="b")
    src = report.sources["pos_transactions"]
    assert (src.rows_loaded, src.rows_quarantined) == (2, 5)
    qrows = q(
        settings,
        "select _line_number, reason_code, reason, raw_record, _batch_id, _file_name "
        "from quarantine.pos_transactions order by _line_number",
    )
    assert [(r[0], r[1]) for r in qrows] == [
        (3, "bad_type"),
        (4, "bad_type"),
        (5, "missing_required"),
        (6, "bad_field_count"),
        (9, "bad_type"),
    ]
    assert "amount" in qrows[0][2] and "12,50" in qrows[0][2]
    assert "transaction_at" in qrows[1][2]
    assert "transaction_id" in qrows[2][2]
    assert "expected 7 fields" in qrows[3][2] and "found 3" in qrows[3][2]
    assert qrows[3][3] == "T5;L-1;S01"
    assert qrows[0][3] == pos_row("T2", "12,50")
    assert all(r[4] == "b" and r[5] == "pos_transactions_2024-03-01_001.csv" for r in qrows)
    m = q(settings, "select rows_in_file, rows_loaded, rows_quarantined from ops.file_manifest")[0]
    assert m == (7, 2, 5) and m[1] + m[2] == m[0]
    assert q(settings, "select amount::text from raw.pos_transactions order by 1") == [("-3.00",), ("12.50",)]


def test_personal_values_stay_out_of_reasons(settings):
    land(settings, "crm_accounts", DAY, lines(CRM_HEADER, crm_row("A1", dob="17/05/1980")))
    load_interval(settings, DAY, NEXT_DAY, ["crm_accounts"], batch_id="b")
    code, reason, raw = q(settings, "select reason_code, reason, raw_record from quarantine.crm_accounts")[0]
    assert code == "bad_type" and "date_of_birth" in reason and "17/05/1980" not in reason
    assert "17/05/1980" in raw


def test_invalid_utf8_line_is_quarantined_as_undecodable(settings):
    content = (
        lines(CRM_HEADER, crm_row("A1")).encode()
        + crm_row("A2").replace("Leeds", "Le").encode()
        + b"\xff\xfeds\n"
        + lines(crm_row("A3"), crm_row("A4 \u00e9")).encode()
    )
    land(settings, "crm_accounts", DAY, content)
    report = load_interval(settings, DAY, NEXT_DAY, ["crm_accounts"], batch_id="b")
    src = report.sources["crm_accounts"]
    assert (src.rows_loaded, src.rows_quarantined) == (3, 1)
    assert q(settings, "select account_id from raw.crm_accounts order by _line_number") == [
        ("A1",),
        ("A3",),
        ("A4 \u00e9",),
    ]
    line_no, code, raw = q(settings, "select _line_number, reason_code, raw_record from quarantine.crm_accounts")[0]
    assert (line_no, code) == (3, "undecodable")
    assert "\\xff\\xfe" in raw and raw.startswith("A2,")


def test_missing_required_column_rejects_file_other_source_loads(settings, caplog):
    header = ",".join(c for c in SOURCES["crm_accounts"].column_names if c != "updated_at")
    row = crm_row("A1").rsplit(",", 1)[0]
    bad = land(settings, "crm_accounts", DAY, lines(header, row))
    land(settings, "pos_transactions", DAY, lines(POS_HEADER, pos_row("T1")))
    report = load_interval(settings, DAY, NEXT_DAY, batch_id="b")
    assert count(settings, "raw.crm_accounts") == 0
    assert count(settings, "quarantine.crm_accounts") == 0
    assert count(settings, "raw.pos_transactions") == 1
    assert [r.file_name for r in report.rejected_files] == [f"crm_accounts/2024-03-01/{bad.name}"]
    assert "updated_at" in report.rejected_files[0].message
    status, message, checksum = q(
        settings, "select status, message, checksum from ops.ingest_log where source = 'crm_accounts'"
    )[0]
    assert status == "rejected" and bad.name in message and "updated_at" in message and checksum
    assert q(settings, "select count(*) from ops.file_manifest where source = 'crm_accounts'") == [(0,)]
    with pytest.raises(FileRejected) as exc:
        report.raise_if_rejected()
    assert bad.name in str(exc.value) and "REJECTED" in report.summary()
    # a rejected file is tried again on the next run (it is not in the manifest)
    again = load_interval(settings, DAY, NEXT_DAY, batch_id="b2")
    assert len(again.rejected_files) == 1 and again.sources["pos_transactions"].duplicates_skipped == 1


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"", "empty"),
        (b"\n\n", "empty"),
    ],
)
@pytest.mark.falls_back
def test_empty_csv_is_rejected(settings, content, expected):
    land(settings, "surveys", DAY, content)
    report = load_interval(settings, DAY, NEXT_DAY, ["surveys"], batch_id="b")
    assert len(report.rejected_files) == 1 and expected in report.rejected_files[0].message


def test_header_only_file_loads_zero_rows(settings):
    land(settings, "surveys", DAY, lines(",".join(SOURCES["surveys"].column_names)))
    report = load_interval(settings, DAY, NEXT_DAY, ["surveys"], batch_id="b")
    assert report.files_loaded == 1 and report.rows_loaded == 0
    assert q(settings, "select rows_in_file, status from ops.file_manifest") == [(0, "loaded")]


def test_wrong_extension_is_rejected(settings):
    land(settings, "surveys", DAY, b"whatever", name="surveys_2024-03-01_001.xlsx")
    report = load_interval(settings, DAY, NEXT_DAY, ["surveys"], batch_id="b")
    assert "unexpected file type" in report.rejected_files[0].message


def test_extra_column_kept_in_extra(settings):
    header = POS_HEADER + ";channel;promo"
    land(settings, "pos_transactions", DAY, lines(header, pos_row("T1") + ";app;SPRING", pos_row("T2") + ";till;"))
    report = load_interval(settings, DAY, NEXT_DAY, ["pos_transactions"], batch_id="b")
    src = report.sources["pos_transactions"]
    assert src.rows_loaded == 2 and src.extra_columns == {"channel", "promo"}
    assert "channel" in report.summary()
    extras = q(settings, "select _extra from raw.pos_transactions order by transaction_id")
    assert extras == [({"channel": "app", "promo": "SPRING"},), ({"channel": "till", "promo": None},)]
    assert "channel" in q(settings, "select message from ops.ingest_log")[0][0]


def test_a_hostile_header_field_stays_data_and_never_becomes_sql(settings):
    hostile = 'x"; drop table raw.pos_transactions; --'
    quoted = '"' + hostile.replace('"', '""') + '"'  # a well-formed CSV header field
    land(settings, "pos_transactions", DAY, lines(POS_HEADER + ";" + quoted, pos_row("T1") + ";v"))
    report = load_interval(settings, DAY, NEXT_DAY, ["pos_transactions"], batch_id="b")
    assert report.sources["pos_transactions"].rows_loaded == 1
    assert q(settings, "select _extra from raw.pos_transactions") == [({hostile: "v"},)]


def test_a_contract_with_a_name_that_would_need_quoting_is_refused():
    from customer360.ingestion.contracts import Column, ContractError, SourceContract

    with pytest.raises(ContractError, match="lower-case letters"):
        Column('x"; drop table t; --')
    with pytest.raises(ContractError, match="not allowed"):
        SourceContract(
            name="Store Returns", description="", format="csv", columns=(Column("id"),), key="id", event_time="id"
        )
    with pytest.raises(ContractError, match="not one of its columns"):
        SourceContract(
            name="returns", description="", format="csv", columns=(Column("id"),), key="id", event_time="returned_at"
        )


def test_optional_column_missing_from_header_loads_as_null(settings):
    cols = [c for c in SOURCES["pos_transactions"].column_names if c != "items"]
    land(settings, "pos_transactions", DAY, lines(";".join(cols), "T1;L-1;S01;2024-03-01T10:15:00Z;5.00;GBP"))
    report = load_interval(settings, DAY, NEXT_DAY, ["pos_transactions"], batch_id="b")
    assert report.sources["pos_transactions"].missing_columns == {"items"}
    assert q(settings, "select transaction_id, items from raw.pos_transactions") == [("T1", None)]


def test_failure_mid_file_leaves_no_rows(settings, monkeypatch, read_path):
    land(
        settings,
        "pos_transactions",
        DAY,
        lines(POS_HEADER, *[pos_row(f"T{i}") for i in range(10)], pos_row("Tx", "bad")),
    )
    land(settings, "crm_accounts", DAY, lines(CRM_HEADER, crm_row("A1")))
    from customer360.ingestion import columnar, direct
    from customer360.ingestion.validation import RowValidator

    calls = {"n": 0}
    if read_path == "columnar":  # small blocks: several blocks of the direct path, the third one fails
        monkeypatch.setattr(columnar, "BLOCK_BYTES", 200)
        target, method, fail_at = direct.FieldSpans, "check", 3
    else:
        target, method, fail_at = RowValidator, "convert", 8
    real = getattr(target, method)

    def failing(*args):
        contract = args[1] if read_path == "columnar" else args[0].contract
        if contract.name == "pos_transactions":
            calls["n"] += 1
            if calls["n"] == fail_at:
                raise RuntimeError("disk on fire")
        return real(*args)

    monkeypatch.setattr(target, method, failing)
    report = load_interval(settings, DAY, NEXT_DAY, batch_id="b")
    assert calls["n"] == fail_at
    assert count(settings, "raw.pos_transactions") == 0
    assert count(settings, "quarantine.pos_transactions") == 0
    assert q(settings, "select count(*) from ops.file_manifest where source = 'pos_transactions'") == [(0,)]
    assert "disk on fire" in report.rejected_files[0].message
    assert count(settings, "raw.crm_accounts") == 1

    monkeypatch.undo()
    report = load_interval(settings, DAY, NEXT_DAY, batch_id="b2")
    assert report.sources["pos_transactions"].rows_loaded == 10
    assert report.sources["pos_transactions"].rows_quarantined == 1


def test_quarantine_flush_interleaves_with_raw_copy(settings, monkeypatch):
    monkeypatch.setattr(loader_module, "QUARANTINE_FLUSH_ROWS", 3)
    rows = [pos_row(f"T{i}", "x" if i % 2 else "1.00") for i in range(20)]
    land(settings, "pos_transactions", DAY, lines(POS_HEADER, *rows))
    report = load_interval(settings, DAY, NEXT_DAY, ["pos_transactions"], batch_id="b")
    src = report.sources["pos_transactions"]
    assert (src.rows_loaded, src.rows_quarantined) == (10, 10)
    assert count(settings, "quarantine.pos_transactions") == 10


@pytest.mark.falls_back
def test_truncated_parquet_is_rejected(settings):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    contract = SOURCES["web_events"]
    table = pa.table(
        {
            c: [f"{c}-{i}" if c != "occurred_at" else "2024-03-01T10:15:00Z" for i in range(100)]
            for c in contract.column_names
        }
    )
    path = settings.landing_dir / "web_events" / DAY.isoformat() / landing_file_name(contract, DAY.isoformat())
    path.parent.mkdir(parents=True)
    pq.write_table(table, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 20])
    report = load_interval(settings, DAY, NEXT_DAY, ["web_events"], batch_id="b")
    assert "unreadable parquet" in report.rejected_files[0].message
    assert count(settings, "raw.web_events") == 0


def test_jsonl_loads(settings):
    good = {
        "order_id": "O1",
        "web_account_id": "W1",
        "email": "a@example.com",
        "first_name": "Ann",
        "ordered_at": "2024-03-01T10:15:00Z",
        "amount": "12.50",
        "currency": "GBP",
        "items": "SKU1*1",
        "coupon": {"code": "X", "pct": 10},
    }
    numeric_amount = {k: v for k, v in dict(good, order_id="O2", amount=7.5).items() if k != "coupon"}
    missing = dict(good, order_id="O3")
    del missing["email"]
    content = (
        json.dumps(good)
        + "\n"
        + json.dumps(numeric_amount)
        + "\n"
        + json.dumps(missing)
        + "\n"
        + "{not json\n"
        + "[1, 2]\n"
        + "\n"
    ).encode() + b'{"order_id": "O6\xff"}\n'
    land(settings, "web_orders", DAY, content)
    report = load_interval(settings, DAY, NEXT_DAY, ["web_orders"], batch_id="b")
    src = report.sources["web_orders"]
    assert (src.rows_loaded, src.rows_quarantined) == (2, 4)
    assert src.extra_columns == {"coupon"}
    rows = q(settings, "select order_id, amount::text, _extra, _line_number from raw.web_orders order by 1")
    assert rows == [("O1", "12.50", {"coupon": {"code": "X", "pct": 10}}, 1), ("O2", "7.50", None, 2)]
    codes = q(settings, "select _line_number, reason_code from quarantine.web_orders order by 1")
    assert codes == [(3, "missing_required"), (4, "malformed"), (5, "malformed"), (7, "undecodable")]


def test_parquet_loads(settings):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    contract = SOURCES["web_events"]
    n = 20_000  # several row batches
    cols = {c: [f"{c}-{i}" for i in range(n)] for c in contract.column_names}
    cols["occurred_at"] = ["2024-03-01T10:15:00Z"] * n
    cols["web_account_id"] = [None if i % 3 else f"W{i}" for i in range(n)]
    cols["occurred_at"][5] = "not a time"
    path = settings.landing_dir / "web_events" / DAY.isoformat() / landing_file_name(contract, DAY.isoformat())
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table(cols), path, row_group_size=5000)
    report = load_interval(settings, DAY, NEXT_DAY, ["web_events"], batch_id="b")
    src = report.sources["web_events"]
    assert (src.rows_loaded, src.rows_quarantined) == (n - 1, 1)
    assert q(settings, "select count(web_account_id) from raw.web_events") == [
        (sum(1 for i in range(n) if i % 3 == 0),)
    ]
    line, code, raw = q(settings, "select _line_number, reason_code, raw_record from quarantine.web_events")[0]
    assert (line, code) == (6, "bad_type") and json.loads(raw)["event_id"] == "event_id-5"


def test_cli_prints_counts(settings, monkeypatch, capsys):
    from customer360.ingestion.__main__ import main

    land(settings, "crm_accounts", DAY, lines(CRM_HEADER, crm_row("A1")))
    monkeypatch.setenv("WAREHOUSE_URL", settings.warehouse_url)
    monkeypatch.setenv("C360_DATA_DIR", str(settings.data_dir))
    rc = main(["--start", "2024-03-01", "--end", "2024-03-02", "--source", "crm_accounts", "--batch-id", "cli"])
    out = capsys.readouterr().out
    assert rc == 0 and "crm_accounts" in out and "TOTAL" in out
    assert q(settings, "select distinct _batch_id from raw.crm_accounts") == [("cli",)]


def test_a_changed_redelivery_replaces_the_version_it_corrects(settings, caplog):
    """Policy: new content under a known name supersedes the loaded version. Raw used to hold both
    versions under one file name, logged as 'loaded' at INFO."""
    path = land(settings, "crm_accounts", DAY, lines(CRM_HEADER, crm_row("A1"), crm_row("A2", dob="1980-13-45")))
    same_name_next_day = land(settings, "crm_accounts", NEXT_DAY, lines(CRM_HEADER, crm_row("A9")), name=path.name)
    load_interval(settings, DAY, date(2024, 3, 3), ["crm_accounts"], batch_id="b1")
    path.write_text(lines(CRM_HEADER, crm_row("A1", email="jane.doe@example.com"), crm_row("A2"), crm_row("A3")))
    with caplog.at_level("WARNING", logger="customer360.ingestion.loader"):
        report = load_interval(settings, DAY, date(2024, 3, 3), ["crm_accounts"], batch_id="b2")
    assert (report.files_loaded, report.duplicates_skipped, report.rows_loaded) == (1, 1, 3)
    assert report.sources["crm_accounts"].files_replaced == 1 and "replaced: 1 crm_accounts" in report.summary()
    # Only the corrected version's rows are in raw, and the other day's file of the same name is untouched.
    assert q(settings, "select account_id, email, _batch_id from raw.crm_accounts order by 1") == [
        ("A1", "jane.doe@example.com", "b2"),
        ("A2", "jane@example.com", "b2"),
        ("A3", "jane@example.com", "b2"),
        ("A9", "jane@example.com", "b1"),
    ]
    assert count(settings, "quarantine.crm_accounts") == 0  # the old version's bad date went with it
    statuses = q(
        settings, "select file_day, status, rows_loaded, rows_quarantined from ops.file_manifest order by loaded_at"
    )
    assert statuses == [(DAY, "superseded", 1, 1), (NEXT_DAY, "loaded", 1, 0), (DAY, "loaded", 3, 0)]
    status, message = q(
        settings, "select status, message from ops.ingest_log where batch_id = 'b2' and file_day = %s", (DAY,)
    )[0]
    assert status == "replaced"
    assert (
        "replaces the version loaded in b1" in message and "its 1 raw and 1 quarantined row(s) were removed" in message
    )
    assert any("replaces the version" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    # A rerun changes nothing: the corrected version is now a known file.
    again = load_interval(settings, DAY, date(2024, 3, 3), ["crm_accounts"], batch_id="b3")
    assert (again.files_loaded, again.duplicates_skipped) == (0, 2) and count(settings, "raw.crm_accounts") == 4
    assert same_name_next_day.exists()


def test_concurrent_runs_load_each_file_once(settings):
    import threading

    for i in range(30):
        land(settings, "pos_transactions", DAY, lines(POS_HEADER, pos_row(f"T{i}")), name=f"pos_{i:03d}.csv")
    reports = []
    threads = [
        threading.Thread(target=lambda b=b: reports.append(load_interval(settings, DAY, NEXT_DAY, batch_id=b)))
        for b in ("t1", "t2")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.files_loaded for r in reports) == 30
    assert sum(r.duplicates_skipped for r in reports) == 30
    assert count(settings, "raw.pos_transactions") == 30


def test_headerless_file_rejection_does_not_echo_values(settings, caplog):
    land(settings, "crm_accounts", DAY, lines(crm_row("A1", email="secret.person@example.com")))
    report = load_interval(settings, DAY, NEXT_DAY, ["crm_accounts"], batch_id="b")
    assert len(report.rejected_files) == 1
    assert "secret.person" not in report.rejected_files[0].message
    assert "secret.person" not in caplog.text
    assert "secret.person" not in q(settings, "select message from ops.ingest_log")[0][0]


def test_an_event_dated_after_its_delivery_day_is_quarantined_as_future_date():
    from datetime import date, datetime

    from customer360.ingestion.contracts import get_source
    from customer360.ingestion.loader import latest_event_time
    from customer360.ingestion.validation import FUTURE_DATE, RowValidator

    validator = RowValidator(get_source("pos_transactions"), latest_event_at=latest_event_time(date(2024, 3, 1)))
    row = ["T1", "", "S001", "2024-03-02T23:00:00Z", "10.00", "GBP", ""]
    typed, problems = validator.convert(row)
    assert typed is not None and problems == []  # late evening of the next day: still fine
    typed, problems = validator.convert([*row[:3], "2031-03-01T10:00:00Z", *row[4:]])
    assert typed is None and [p.code for p in problems] == [FUTURE_DATE]
    assert "transaction_at" in problems[0].reason
    assert latest_event_time(date(2024, 3, 1)) == datetime(2024, 3, 3, tzinfo=UTC)


HOSTILE = [
    'say "hi"',  # quotes
    "two\nlines",  # embedded newline
    "crlf\r\nline",  # embedded CRLF
    "x" * 100_000,  # very long text
    "'); drop table raw.crm_accounts; --",  # an SQL fragment
    "\U0001f600 emoji",
    "Zoë Ærøskøbing Łódź Ψ 北京 مرحبا",  # mixed scripts
    "back\\slash \\. \\N",  # COPY escapes
    "semi;colon, comma\ttab",
    "  padded  ",
]


def test_hostile_values_load_byte_for_byte(settings):
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(SOURCES["crm_accounts"].column_names)
    for i, value in enumerate(HOSTILE):
        row = crm_row(f"A{i}").split(",")
        row[1] = value  # title
        row[7] = value  # street_address
        writer.writerow(row)
    land(settings, "crm_accounts", DAY, buf.getvalue())
    report = load_interval(settings, DAY, NEXT_DAY, ["crm_accounts"], batch_id="b")
    assert (report.rows_loaded, report.rows_quarantined) == (len(HOSTILE), 0)
    rows = q(settings, "select title, street_address from raw.crm_accounts order by _line_number")
    assert rows == [(v, v) for v in HOSTILE]
    assert count(settings, "raw.crm_accounts") == len(HOSTILE)  # the SQL fragment stayed a value


def test_unparseable_dates_and_times_are_quarantined(settings):
    rows = [
        crm_row("A1"),
        crm_row("A2", dob="2023-02-30"),  # no such day
        crm_row("A3", dob="17/05/1980"),
        crm_row("A4", updated="2024-13-01T10:00:00Z"),  # no such month
        crm_row("A5", updated="2024-02-30T10:00:00Z"),
        crm_row("A6", created="yesterday"),
        crm_row("A7", dob="1980-05-17 "),  # blanks around a good value are fine
    ]
    land(settings, "crm_accounts", DAY, lines(CRM_HEADER, *rows))
    load_interval(settings, DAY, NEXT_DAY, ["crm_accounts"], batch_id="b")
    assert q(settings, "select account_id from raw.crm_accounts order by 1") == [("A1",), ("A7",)]
    got = q(settings, "select _line_number, reason_code, reason from quarantine.crm_accounts order by 1")
    assert [(r[0], r[1]) for r in got] == [
        (3, "bad_type"),
        (4, "bad_type"),
        (5, "bad_type"),
        (6, "bad_type"),
        (7, "bad_type"),
    ]
    assert "date_of_birth" in got[0][2] and "updated_at" in got[2][2] and "created_at" in got[4][2]


@pytest.mark.falls_back  # the row-by-row reader names the line where the quoted value opened
def test_csv_cut_off_inside_a_quoted_value_is_rejected_naming_the_line(settings):
    content = lines(POS_HEADER, pos_row("T1"), pos_row("T2")) + 'T3;L-1;S01;2024-03-01T10:15:00Z;1.00;GBP;"SKU1*1|SKU'
    path = land(settings, "pos_transactions", DAY, content)
    report = load_interval(settings, DAY, NEXT_DAY, ["pos_transactions"], batch_id="b")
    assert len(report.rejected_files) == 1
    assert path.name in report.rejected_files[0].file_name
    assert "the quoted value opened on line 4 is never closed" in report.rejected_files[0].message
    assert "truncated" in report.rejected_files[0].message
    assert count(settings, "raw.pos_transactions") == 0


def test_a_header_in_upper_case_or_a_utf16_file_is_rejected_with_a_message_that_says_why(settings):
    land(settings, "crm_accounts", DAY, lines(CRM_HEADER.upper(), crm_row("A1")))
    land(settings, "pos_transactions", DAY, lines(POS_HEADER, pos_row("T1")).encode("utf-16"))
    land(
        settings,
        "surveys",
        DAY,
        lines(",".join(SOURCES["surveys"].column_names), "R1,a@x.com,Ann,5,9,,2024-03-01T10:00:00Z").encode(
            "utf-16-le"
        ),
    )
    report = load_interval(settings, DAY, NEXT_DAY, ["crm_accounts", "pos_transactions", "surveys"], batch_id="b")
    messages = {r.source: r.message for r in report.rejected_files}
    assert "required column(s) missing from the header: account_id, created_at, updated_at" in messages["crm_accounts"]
    assert "the header has account_id, created_at, updated_at in upper or mixed case" in messages["crm_accounts"]
    assert messages["pos_transactions"].startswith(
        "the file looks like UTF-16 (little-endian) (it starts with the byte order mark FF FE), not utf-8"
    )
    assert "export it as UTF-8" in messages["pos_transactions"]
    assert "UTF-16 (little-endian) (every second byte is NUL)" in messages["surveys"]
    assert count(settings, "quarantine.pos_transactions") == 0 and count(settings, "quarantine.surveys") == 0


def test_cli_on_a_fresh_database_sets_it_up_and_a_missing_setting_or_folder_says_what_to_do(
    warehouse_url, tmp_path, monkeypatch, capsys
):
    from customer360.ingestion.__main__ import main

    monkeypatch.setenv("WAREHOUSE_URL", warehouse_url)  # a database with no schema yet
    monkeypatch.setenv("C360_DATA_DIR", str(tmp_path))
    args = ["--start", "2024-03-01", "--end", "2024-03-02"]
    assert main(args) == 2 and "no landing folder at" in capsys.readouterr().err
    (tmp_path / "landing").mkdir()
    assert main(args) == 0 and "TOTAL" in capsys.readouterr().out  # it was a traceback: schema "raw" does not exist
    monkeypatch.setenv("WAREHOUSE_URL", "postgresql://postgres@127.0.0.1:1/nowhere")
    assert main(args) == 2 and "cannot use the warehouse at" in capsys.readouterr().err
    monkeypatch.delenv("WAREHOUSE_URL")
    assert main(args) == 2 and "WAREHOUSE_URL is not set" in capsys.readouterr().err


def test_killed_mid_file_leaves_nothing_and_the_rerun_loads_it_all(settings, read_path):
    """A real SIGKILL of the loading process while its COPY runs: no partial file, then a full load."""
    import os
    import signal
    import subprocess
    import sys
    import time

    n = 300_000
    land(settings, "pos_transactions", DAY, lines(POS_HEADER, *[pos_row(f"T{i:07d}") for i in range(n)]))
    code = (
        "import sys; from datetime import date; from pathlib import Path\n"
        "from customer360.config import Settings; from customer360.ingestion import columnar\n"
        "from customer360.ingestion.loader import load_interval\n"
        "if sys.argv[3] == 'row_by_row': columnar.fast_path_supported = lambda c: False\n"
        "load_interval(Settings(warehouse_url=sys.argv[1], data_dir=Path(sys.argv[2])), date(2024, 3, 1), "
        "date(2024, 3, 2), ['pos_transactions'], batch_id='killed')\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, settings.warehouse_url, str(settings.data_dir), read_path])
    database = settings.warehouse_url.rsplit("/", 1)[1]
    copying = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        rows = q(
            settings,
            "select count(*) from pg_stat_activity where datname = %s and query ilike 'copy %%pos_transactions%%'",
            (database,),
        )
        if rows[0][0]:
            copying = True
            time.sleep(0.1)  # let some rows reach the table
            break
        time.sleep(0.02)
    assert copying, "the loader never started its COPY"
    assert proc.poll() is None, "the load finished before it could be killed: make the file bigger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    time.sleep(0.5)  # the server notices the closed socket and rolls back
    assert count(settings, "raw.pos_transactions") == 0
    assert count(settings, "ops.file_manifest") == 0

    report = load_interval(settings, DAY, NEXT_DAY, ["pos_transactions"], batch_id="rerun")
    assert report.rows_loaded == n and count(settings, "raw.pos_transactions") == n
    assert q(settings, "select count(distinct transaction_id) from raw.pos_transactions") == [(n,)]


def test_a_ninth_source_needs_only_its_declaration(settings, monkeypatch):
    """The worked example in docs/sources-and-ingestion.md: declare store_returns, and the loader, dbt source
    and raw suite follow."""
    from datetime import datetime

    from customer360.ingestion import contracts, dbt_sources
    from customer360.ingestion.contracts import SourceContract, _c
    from customer360.quality.suites import raw_suite

    store_returns = SourceContract(
        name="store_returns",
        description="Goods brought back to a store.",
        format="csv",
        key="return_id",
        event_time="returned_at",
        columns=(
            _c("return_id", required=True),
            _c("transaction_id"),
            _c("loyalty_id"),
            _c("store_id", required=True),
            _c("amount", "numeric", required=True),
            _c("returned_at", "timestamp", required=True),
        ),
    )
    monkeypatch.setitem(contracts.SOURCES, "store_returns", store_returns)
    land(
        settings,
        "store_returns",
        DAY,
        lines(
            ",".join(store_returns.column_names),
            "R1,T1,L-1,S01,12.50,2024-03-01T10:15:00Z",
            "R2,T2,,S01,oops,2024-03-01T11:00:00Z",
        ),
    )
    report = load_interval(settings, DAY, NEXT_DAY, ["store_returns"], batch_id="b")
    assert (report.rows_loaded, report.rows_quarantined) == (1, 1)
    assert q(settings, "select return_id, amount::text from raw.store_returns") == [("R1", "12.50")]
    assert "- name: store_returns" in dbt_sources.render()
    suite = raw_suite(store_returns, datetime(2024, 3, 2, tzinfo=UTC))
    assert suite.table_name == "raw.store_returns" and suite.suite.expectations


@pytest.mark.falls_back
def test_a_value_the_server_refuses_sends_the_file_row_by_row(settings, read_path, caplog):
    """999999999999.995 passes the columnar number check but overflows numeric(14,2) once rounded."""
    import logging

    caplog.set_level(logging.INFO, logger="customer360.ingestion.loader")
    land(
        settings,
        "pos_transactions",
        DAY,
        lines(POS_HEADER, pos_row("T1"), pos_row("T2", "999999999999.995"), pos_row("T3")),
    )
    report = load_interval(settings, DAY, NEXT_DAY, ["pos_transactions"], batch_id="b")
    assert (report.rows_loaded, report.rows_quarantined) == (2, 1)
    assert q(settings, "select _line_number, reason_code from quarantine.pos_transactions") == [(3, "bad_type")]
    assert q(settings, "select transaction_id from raw.pos_transactions order by 1") == [("T1",), ("T3",)]
    if read_path == "columnar":
        assert "reading row by row (NumericValueOutOfRange)" in caplog.text


def test_hostile_values_in_json_lines_load_byte_for_byte(settings):
    rows = []
    for i, value in enumerate(HOSTILE):
        rows.append(
            json.dumps(
                {
                    "order_id": f"O{i}",
                    "web_account_id": "W1",
                    "email": "a@example.com",
                    "first_name": value,
                    "shipping_street": value,
                    "ordered_at": "2024-03-01T10:15:00Z",
                    "amount": "1.00",
                    "currency": "GBP",
                },
                ensure_ascii=i % 2 == 0,
            )
        )
    land(settings, "web_orders", DAY, lines(*rows))
    report = load_interval(settings, DAY, NEXT_DAY, ["web_orders"], batch_id="b")
    assert (report.rows_loaded, report.rows_quarantined) == (len(HOSTILE), 0)
    got = q(settings, "select first_name, shipping_street from raw.web_orders order by _line_number")
    assert got == [(v, v) for v in HOSTILE]


def test_windows_line_endings_load_like_unix_ones(settings):
    crlf = lambda *rows: "\r\n".join(rows) + "\r\n"  # noqa: E731
    land(settings, "pos_transactions", DAY, crlf(POS_HEADER, pos_row("T1"), pos_row("T2", "oops"), pos_row("T3")))
    good = {
        "order_id": "O1",
        "web_account_id": "W1",
        "email": "a@example.com",
        "ordered_at": "2024-03-01T10:15:00Z",
        "amount": "1.00",
        "currency": "GBP",
    }
    land(settings, "web_orders", DAY, crlf(json.dumps(good), "{broken", json.dumps(dict(good, order_id="O3"))))
    report = load_interval(settings, DAY, NEXT_DAY, ["pos_transactions", "web_orders"], batch_id="b")
    assert (report.rows_loaded, report.rows_quarantined) == (4, 2)
    assert q(settings, "select transaction_id, items from raw.pos_transactions order by 1") == [
        ("T1", "SKU1*2|SKU2*1"),
        ("T3", "SKU1*2|SKU2*1"),
    ]
    assert q(settings, "select _line_number, raw_record from quarantine.pos_transactions") == [
        (3, pos_row("T2", "oops"))
    ]
    assert q(settings, "select _line_number, raw_record from quarantine.web_orders") == [(2, "{broken")]


def test_rows_of_erased_people_are_dropped_and_counted(settings):
    """The suppression list (customer360.privacy.suppression) drops matching rows on both paths, counted,
    never loaded."""
    from customer360.privacy import suppression
    from customer360.privacy.keys import load_key

    key = load_key()
    with connect(settings) as conn:
        ensure_tables(conn)
        suppression.ensure_table(conn)
        for kind, value_hash in suppression.hashes_for(
            key,
            [
                ("email", "erased@example.com"),
                ("phone", "+447700900999"),
                ("loyalty_id", "L-GONE"),
                (suppression.record_kind("crm_accounts"), "A-OLD"),
            ],
        ):
            conn.execute(
                "insert into ops.erasure_suppressions (request_id, kind, key_id, value_hash) values ('r1', %s, %s, %s)",
                (kind, key.key_id, value_hash),
            )
        conn.commit()
    land(
        settings,
        "crm_accounts",
        DAY,
        lines(
            CRM_HEADER,
            crm_row("A1"),
            crm_row("A2", email="  Erased@Example.COM "),  # the same address, as another system writes it
            crm_row("A-OLD"),  # an erased record key
            crm_row("A3", dob="1980-02-30", email="erased@example.com"),  # would be quarantined: dropped instead
            crm_row("A4"),
        ),
    )
    land(
        settings,
        "pos_transactions",
        DAY,
        lines(POS_HEADER, pos_row("T1"), pos_row("T2", loyalty="L-GONE"), pos_row("T3", loyalty="")),
    )
    report = load_interval(settings, DAY, NEXT_DAY, ["crm_accounts", "pos_transactions"], batch_id="b1")
    assert report.sources["crm_accounts"].rows_suppressed == 3
    assert report.sources["pos_transactions"].rows_suppressed == 1
    with connect(settings) as conn:
        assert conn.execute("select array_agg(account_id order by account_id) from raw.crm_accounts").fetchone()[0] == [
            "A1",
            "A4",
        ]
        assert conn.execute("select count(*) from quarantine.crm_accounts").fetchone()[0] == 0
        assert conn.execute("select array_agg(transaction_id order by 1) from raw.pos_transactions").fetchone()[0] == [
            "T1",
            "T3",
        ]
        manifest = conn.execute(
            "select rows_in_file, rows_loaded, rows_quarantined, rows_suppressed "
            "from ops.file_manifest where source = 'crm_accounts'"
        ).fetchone()
        message = conn.execute("select message from ops.ingest_log where source = 'crm_accounts'").fetchone()[0]
    assert manifest == (5, 2, 0, 3)
    assert "erased" not in message.lower() or "erased people" in message


def test_links_folders_and_pipes_in_the_landing_folder_are_refused_unread(settings, tmp_path):
    """A partner's link to a system file is never read (it was: its lines reached a quarantine table
    stewards read, and the file was logged as loaded); each refused entry is named in the log."""
    import os

    secret = tmp_path / "outside" / "passwd"
    secret.parent.mkdir()
    secret.write_text('{"email": "root:x:0:0:root:/root:/bin/bash"}\n')
    good = land(
        settings,
        "surveys",
        DAY,
        lines(",".join(SOURCES["surveys"].column_names), "R1,a@x.com,Ann,5,9,,2024-03-01T10:00:00Z"),
    )
    folder = good.parent
    (folder / "surveys_link_001.csv").symlink_to(secret)
    (folder / "surveys_local_link_002.csv").symlink_to(good)  # a link inside the folder is refused too
    (folder / "surveys_folder_003.csv").mkdir()
    os.mkfifo(folder / "surveys_pipe_004.csv")  # opening it would wait forever
    day_link = settings.landing_dir / "surveys" / NEXT_DAY.isoformat()
    day_link.symlink_to(secret.parent, target_is_directory=True)
    (secret.parent / "surveys_2024-03-02_001.csv").write_text(good.read_text())
    report = load_interval(settings, DAY, date(2024, 3, 3), ["surveys"], batch_id="b")
    assert report.files_loaded == 1 and report.rows_loaded == 1
    refused = {r.file_name: r.message for r in report.rejected_files}
    assert set(refused) == {
        "surveys/2024-03-01/surveys_link_001.csv",
        "surveys/2024-03-01/surveys_local_link_002.csv",
        "surveys/2024-03-01/surveys_folder_003.csv",
        "surveys/2024-03-01/surveys_pipe_004.csv",
        "surveys/2024-03-02/",
    }
    assert "symbolic link" in refused["surveys/2024-03-01/surveys_link_001.csv"]
    assert "a folder where a file should be" in refused["surveys/2024-03-01/surveys_folder_003.csv"]
    assert "not a regular file" in refused["surveys/2024-03-01/surveys_pipe_004.csv"]
    assert "symbolic link" in refused["surveys/2024-03-02/"]
    logged = q(settings, "select file_name, status, checksum from ops.ingest_log where status = 'rejected'")
    assert len(logged) == 5 and all(checksum is None for *_, checksum in logged)  # not even hashed
    assert q(settings, "select count(*) from quarantine.surveys") == [(0,)]
    assert q(settings, "select file_name from ops.file_manifest") == [(good.name,)]


@pytest.mark.falls_back
def test_an_object_or_a_list_in_a_single_value_column_is_a_bad_type(settings):
    """A JSON object or list where an e-mail or a name is expected used to load as its JSON text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    good = {
        "order_id": "O1",
        "web_account_id": "W1",
        "email": "a@example.com",
        "first_name": "Ann",
        "ordered_at": "2024-03-01T10:15:00Z",
        "amount": "12.50",
        "currency": "GBP",
    }
    rows = [
        good,
        dict(good, order_id="O2", email={"$ne": None}),
        dict(good, order_id="O3", first_name=["Ann", "Bo"]),
        dict(good, order_id="O4", coupon={"nested": ["kept", "in", "_extra"]}),
    ]
    land(settings, "web_orders", DAY, "".join(json.dumps(r) + "\n" for r in rows))
    contract = SOURCES["web_events"]
    events = {c: [f"{c}-{i}" for i in range(2)] for c in contract.column_names}
    events["occurred_at"] = ["2024-03-01T10:15:00Z"] * 2
    table = pa.table({**events, "page_url": pa.array([["/a", "/b"], None], pa.list_(pa.string()))})
    path = settings.landing_dir / "web_events" / DAY.isoformat() / landing_file_name(contract, DAY.isoformat())
    path.parent.mkdir(parents=True)
    pq.write_table(table, path)
    report = load_interval(settings, DAY, NEXT_DAY, ["web_orders", "web_events"], batch_id="b")
    assert not report.rejected_files
    assert q(settings, "select order_id from raw.web_orders order by 1") == [("O1",), ("O4",)]
    quarantined = q(settings, "select _line_number, reason_code, reason from quarantine.web_orders order by 1")
    assert [(line, code) for line, code, _ in quarantined] == [(2, "bad_type"), (3, "bad_type")]
    assert "line 2: email is an object, not a single value" in quarantined[0][2]
    assert "first_name is a list" in quarantined[1][2]
    assert q(settings, "select event_id from raw.web_events") == [("event_id-1",)]
    assert q(settings, "select _line_number, reason_code from quarantine.web_events") == [(1, "bad_type")]


@pytest.mark.falls_back  # Arrow cannot hold a multi-megabyte row in one block: that file is read row by row
def test_a_long_field_loads_up_to_the_contracts_maximum_and_only_its_row_is_quarantined(settings):
    """A field over the csv module's 128 KiB default used to reject the whole file."""
    header = ",".join(SOURCES["surveys"].column_names)
    long_comment, too_long = "ok " * 70_000, "x" * (SOURCES["surveys"].max_field_chars + 1)
    land(
        settings,
        "surveys",
        DAY,
        lines(
            header,
            "R1,a@x.com,Ann,5,9,short,2024-03-01T10:00:00Z",
            f'R2,b@x.com,Bo,4,8,"{long_comment}",2024-03-01T10:00:00Z',
            f"R3,c@x.com,Cy,3,7,{too_long},2024-03-01T10:00:00Z",
            "R4,d@x.com,Di,2,6,,2024-03-01T10:00:00Z",
        ),
    )
    report = load_interval(settings, DAY, NEXT_DAY, ["surveys"], batch_id="b")
    assert not report.rejected_files
    assert q(settings, "select response_id, length(comment) from raw.surveys order by 1") == [
        ("R1", 5),
        ("R2", len(long_comment)),
        ("R4", None),
    ]
    ((line, code, reason),) = q(settings, "select _line_number, reason_code, reason from quarantine.surveys")
    assert (line, code) == (4, "field_too_long")
    assert "column comment: 1,048,577 characters, more than the 1,048,576" in reason


def test_a_plausible_range_of_quarantine_severity_quarantines_the_row(settings, monkeypatch):
    """The same rule as the warning (tests/db/test_quality.py), declared strict: the loader quarantines."""
    from dataclasses import replace

    from customer360.ingestion.contracts import Plausible

    crm = SOURCES["crm_accounts"]
    strict = replace(
        crm,
        columns=tuple(
            replace(c, plausible=Plausible(date(1900, 1, 2), "quarantine")) if c.name == "date_of_birth" else c
            for c in crm.columns
        ),
    )
    monkeypatch.setitem(SOURCES, "crm_accounts", strict)
    land(
        settings,
        "crm_accounts",
        DAY,
        lines(
            CRM_HEADER,
            crm_row("A1"),
            crm_row("A2", dob="1900-01-01"),
            crm_row("A3", dob="9999-12-31"),
            crm_row("A4", dob="1900-01-02"),
            crm_row("A5", dob=""),
        ),
    )
    load_interval(settings, DAY, NEXT_DAY, ["crm_accounts"], batch_id="b")
    assert q(settings, "select account_id from raw.crm_accounts order by 1") == [("A1",), ("A4",), ("A5",)]
    got = q(settings, "select _line_number, reason_code, reason from quarantine.crm_accounts order by 1")
    assert [(line, code) for line, code, _ in got] == [(3, "implausible_date"), (4, "implausible_date")]
    assert "column date_of_birth: 1900-01-01 is outside its plausible range, from 1900-01-02 to 2024-03-03" in got[0][2]
