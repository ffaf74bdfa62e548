"""The direct path for plain CSV files (`customer360.ingestion.direct`) against the other two paths.

Each test loads the same landing folder three ways (direct first, as the loader does; columnar
only; row by row) into its own database and compares every raw and quarantine row: values,
lines, `_extra`, reason codes, reasons and raw records.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from customer360.config import Settings
from customer360.db.bootstrap import prepare_warehouse
from customer360.db.connection import connect
from customer360.devtools.server import drop_database
from customer360.ingestion import loader as loader_module
from customer360.ingestion.contracts import SOURCES
from customer360.ingestion.loader import load_interval
from tests.support.databases import make_test_database

PATHS = ("direct", "columnar", "row_by_row")
POS = SOURCES["pos_transactions"]
POS_HEADER = ";".join(POS.column_names)


def _rows(settings: Settings, source: str) -> tuple[list[tuple], list[tuple], list[tuple]]:
    contract = SOURCES[source]
    cols = ", ".join(f'"{c}"::text' for c in contract.column_names)
    with connect(settings) as conn:
        raw = conn.execute(
            f"select {cols}, _batch_id, _file_name, _line_number, _extra::text from raw.{source} "
            "order by _file_name, _line_number"
        ).fetchall()
        quarantined = conn.execute(
            f"select _file_name, _line_number, reason_code, reason, raw_record "
            f"from quarantine.{source} order by _file_name, _line_number"
        ).fetchall()
        manifest = conn.execute(
            "select file_name, rows_in_file, rows_loaded, rows_quarantined from ops.file_manifest "
            "where source = %s order by file_name",
            (source,),
        ).fetchall()
    return raw, quarantined, manifest


def _load_three_ways(
    server_url: str, data_dir: Path, monkeypatch, start: date, end: date, sources: list[str]
) -> tuple[dict[str, dict], dict[str, list[str]]]:
    """Rows per path and source, and which files each loader method saw on the default (direct) run."""
    results: dict[str, dict] = {}
    seen: dict[str, list[str]] = {"direct": [], "columnar": [], "rows": []}
    for path_name in PATHS:
        url = make_test_database(server_url, f"direct{path_name[:3]}")
        try:
            s = Settings(warehouse_url=url, data_dir=data_dir)
            prepare_warehouse(s)
            with monkeypatch.context() as m:
                if path_name == "direct":
                    for method, key in (("_copy_direct", "direct"), ("_copy_columnar", "columnar")):
                        m.setattr(loader_module._FileLoader, method, _spy(method, seen[key]))
                    m.setattr(loader_module._FileLoader, "_copy_rows", _spy("_copy_rows", seen["rows"]))
                elif path_name == "columnar":
                    m.setattr(loader_module.direct, "direct_path_supported", lambda contract: False)
                else:
                    m.setattr(loader_module.columnar, "fast_path_supported", lambda contract: False)
                report = load_interval(s, start, end, sources, batch_id="same")
            assert not report.rejected_files, report.summary()
            results[path_name] = {src: _rows(s, src) for src in sources}
        finally:
            drop_database(url)
    return results, seen


def _spy(method: str, calls: list[str]) -> Callable:
    real = getattr(loader_module._FileLoader, method)

    def spy(self, contract, path, day, *args):
        calls.append(path.name)
        return real(self, contract, path, day, *args)

    return spy


def _assert_same(results: dict[str, dict], sources: list[str]) -> None:
    for src in sources:
        for other in ("columnar", "row_by_row"):
            raw, quarantined, manifest = results["direct"][src]
            raw_o, quarantined_o, manifest_o = results[other][src]
            assert raw == raw_o, (src, other)
            assert manifest == manifest_o, (src, other)
            if other == "row_by_row":  # the columnar path rebuilds a csv row from its fields; the others keep the line
                assert quarantined == quarantined_o, (src, other)
            else:
                assert [q[:4] for q in quarantined] == [q[:4] for q in quarantined_o], (src, other)


def test_direct_path_loads_a_defective_simulation_as_the_other_paths_do(server_url, tmp_path, monkeypatch):
    """Every CSV source of a company with 5% injected defects: the same rows, lines and reasons three ways."""
    from customer360.simulator import SimulationConfig, simulate

    simulate(SimulationConfig(people=300, days=45, defect_rate=0.05), tmp_path / "data")
    sources = [name for name, c in SOURCES.items() if c.format == "csv"]
    results, seen = _load_three_ways(
        server_url, tmp_path / "data", monkeypatch, date(2024, 1, 1), date(2024, 2, 15), sources
    )
    _assert_same(results, sources)
    till_files = [n for n in seen["direct"] if n.startswith("pos_transactions")]
    assert len(till_files) >= 40  # every till file took the direct path first ...
    assert not [n for n in seen["columnar"] if n.startswith("pos_transactions")]  # ... and none left it
    assert seen["rows"] == []
    codes = {q[2] for q in results["direct"]["pos_transactions"][1]}
    assert {"bad_field_count", "bad_type", "future_date", "missing_required", "undecodable"} <= codes


def _land(data_dir: Path, day: str, name: str, content: bytes) -> None:
    folder = data_dir / "landing" / "pos_transactions" / day
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(content)


def test_files_the_direct_path_cannot_vouch_for_fall_back_with_the_same_rows(server_url, tmp_path, monkeypatch):
    """Hand-made till files: defects the direct path screens itself, and files it hands to the columnar path."""
    day = "2024-03-01"
    good = "T1;L1;S01;2024-03-01T10:15:00Z;12.50;GBP;SKU1*2"
    plain_defects = [
        good,
        "",  # blank line: skipped
        "   ",  # blank too
        "T2;L1;S01;2024-03-01T10:15:00Z;12.50;GBP",  # a field short
        "T3;L1;S01;2024-03-01T10:15:00Z;12.50;GBP;x;y",  # a field over
        "T4;;S01;2024-03-01 10:15:00;1e5;GBP;",  # bad number; a local time
        "T5;; ;2024-03-01T10:15:00Z;1.00;GBP;",  # blank required store
        "T6;;S01;2024-03-01T24:00:00Z;1.00;GBP;",  # hour 24: PostgreSQL would take it
        "T7;;S01;2024-02-30T10:00:00Z;1.00;GBP;",  # no such day
        "T8;;S01;2031-03-01T10:00:00Z;1.00;GBP;",  # future
        "T9;;S01;2024-03-02T23:30:00+01:00;1.00;GBP;",  # near the limit, and allowed
        "T10;;S01;2024-03-01T10:15:00.25Z;-3.5;GBP;",  # a fraction; a negative amount (loads)
        "T11;;S01;2024-03-01T10:15:00Z;1234567890123;GBP;",  # too large for numeric(14,2)
        "T12;;S01;2024-03-01T10:15:00Z; 7.125 ;GBP;",  # spaces round a number (loads, rounded)
        "T13;;S01;;1.00;GBP;",  # missing required time
        "T14;;S01;2024-03-01T10:15:00Z;1.00;GBP;" + "x" * 300,  # long but allowed
        "T15;L\u00e9;S01;2024-03-01T10:15:00Z;1.00;\u00a0;caf\u00e9",  # non-ASCII; a no-break space as currency
    ]
    body = "\n".join(plain_defects).encode() + b"\nT16;;S01;2024-03-01T10:15:00Z;1.00;GBP;\xff\xfe\n" + b"T17;;S01;"
    _land(tmp_path / "data", day, "pos_transactions_2024-03-01_001.csv", (POS_HEADER + "\n").encode() + body)
    # CRLF line ends, a byte order mark, columns in another order and one optional column absent
    reordered = "amount;transaction_id;currency;transaction_at;store_id;loyalty_id"
    crlf = (
        f"\ufeff{reordered}\r\n1.00;T20;GBP;2024-03-01T09:00:00Z;S01;L2\r\n2.00;T21;GBP;2024-03-01T09:00:00Z;S01;\r\n"
    )
    _land(tmp_path / "data", day, "pos_transactions_2024-03-01_002.csv", crlf.encode())
    # falls back: a quoted value, an undeclared column
    quoted = f'{POS_HEADER}\nT30;L1;S01;2024-03-01T10:15:00Z;1.00;GBP;"SKU;1"\n{good.replace("T1;", "T31;")}\n'
    _land(tmp_path / "data", day, "pos_transactions_2024-03-01_003.csv", quoted.encode())
    extra = f"{POS_HEADER};till_note\n{good.replace('T1;', 'T50;')};late\n"
    _land(tmp_path / "data", day, "pos_transactions_2024-03-01_004.csv", extra.encode())

    results, seen = _load_three_ways(
        server_url, tmp_path / "data", monkeypatch, date(2024, 3, 1), date(2024, 3, 2), ["pos_transactions"]
    )
    _assert_same(results, ["pos_transactions"])
    assert sorted(seen["direct"]) == [f"pos_transactions_2024-03-01_00{i}.csv" for i in range(1, 5)]
    assert sorted(seen["columnar"]) == [f"pos_transactions_2024-03-01_00{i}.csv" for i in (3, 4)]
    raw, quarantined, manifest = results["direct"]["pos_transactions"]
    loaded = {r[0] for r in raw}
    assert loaded == {"T1", "T9", "T10", "T12", "T14", "T20", "T21", "T30", "T31", "T50"}
    reasons = {(q[1], q[2]) for q in quarantined if q[0].endswith("_001.csv")}
    assert reasons == {
        (5, "bad_field_count"),
        (6, "bad_field_count"),
        (7, "bad_type"),
        (8, "missing_required"),
        (9, "bad_type"),
        (10, "bad_type"),
        (11, "future_date"),
        (14, "bad_type"),
        (16, "missing_required"),
        (18, "missing_required"),
        (19, "undecodable"),
        (20, "bad_field_count"),
    }
    assert ("pos_transactions_2024-03-01_001.csv", 17, 5, 12) in manifest  # 20 lines: the header, 2 blank


@pytest.mark.parametrize("blocks", [1, 3])
def test_a_file_of_many_blocks_numbers_its_lines_across_them(server_url, tmp_path, monkeypatch, blocks):
    """Lines keep their numbers across read blocks, and a bad line in a later block is found."""
    monkeypatch.setattr(loader_module.columnar, "BLOCK_BYTES", 4096 if blocks > 1 else 1 << 20)
    lines = [f"T{i};L{i % 7};S01;2024-03-01T10:{i % 60:02d}:00Z;{i}.25;GBP;SKU{i}*1" for i in range(600)]
    lines[450] = lines[450].replace("GBP", "")  # missing required currency, in the last block
    _land(
        tmp_path / "data", "2024-03-01", "pos_transactions_2024-03-01_001.csv", "\n".join([POS_HEADER, *lines]).encode()
    )
    results, seen = _load_three_ways(
        server_url, tmp_path / "data", monkeypatch, date(2024, 3, 1), date(2024, 3, 2), ["pos_transactions"]
    )
    _assert_same(results, ["pos_transactions"])
    assert seen["columnar"] == []
    raw, quarantined, _ = results["direct"]["pos_transactions"]
    assert len(raw) == 599 and [(q[1], q[2]) for q in quarantined] == [(452, "missing_required")]
    assert [r[9] for r in raw[:3]] == [2, 3, 4]  # _line_number


def test_raw_tables_from_before_the_batch_defaults_get_them_and_rows_keep_their_batch_and_file(
    server_url, tmp_path, monkeypatch
):
    url = make_test_database(server_url, "directold")
    try:
        s = Settings(warehouse_url=url, data_dir=tmp_path / "data")
        prepare_warehouse(s)
        day = date(2024, 3, 1)
        row = "T1;L-1;S01;2024-03-01T10:15:00Z;5.00;GBP;SKU1*1"
        _land(tmp_path / "data", "2024-03-01", "pos_transactions_2024-03-01_001.csv", f"{POS_HEADER}\n{row}\n".encode())
        load_interval(s, day, date(2024, 3, 2), ["pos_transactions"], batch_id="first")  # creates the tables
        with connect(s) as conn:
            conn.execute("truncate raw.pos_transactions, ops.file_manifest")
            conn.execute(
                "alter table raw.pos_transactions alter column _batch_id drop default, "
                "alter column _file_name drop default"
            )
            conn.commit()
        seen: list[str] = []
        monkeypatch.setattr(loader_module._FileLoader, "_copy_direct", _spy("_copy_direct", seen))
        load_interval(s, day, date(2024, 3, 2), ["pos_transactions"], batch_id="second").raise_if_rejected()
        with connect(s) as conn:
            rows = conn.execute("select transaction_id, _batch_id, _file_name from raw.pos_transactions").fetchall()
            # Without the file's settings, the defaults are null and a row is refused rather than stored unlabelled.
            with pytest.raises(Exception, match="_batch_id"):
                conn.execute("insert into raw.pos_transactions (_line_number, transaction_id) values (2, 'T9')")
        assert seen == ["pos_transactions_2024-03-01_001.csv"]
        assert rows == [("T1", "second", "pos_transactions_2024-03-01_001.csv")]
    finally:
        drop_database(url)
