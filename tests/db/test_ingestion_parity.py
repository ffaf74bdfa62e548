"""The columnar loader and the row-by-row loader give the same raw and quarantine rows."""

from __future__ import annotations

import csv
from datetime import date

from customer360.config import Settings
from customer360.db.bootstrap import prepare_warehouse
from customer360.db.connection import connect
from customer360.ingestion import loader as loader_module
from customer360.ingestion.contracts import SOURCES
from customer360.ingestion.loader import load_interval


def q(settings: Settings, query: str) -> list[tuple]:
    with connect(settings) as conn:
        return conn.execute(query).fetchall()


def _loaded_rows(settings: Settings, source: str) -> tuple[list[tuple], list[tuple]]:
    """raw and quarantine rows of a source without load-time columns, raw records parsed for csv."""
    contract = SOURCES[source]
    cols = ", ".join(f'"{c}"::text' for c in contract.column_names)
    raw = q(
        settings,
        f"select {cols}, _file_name, _line_number, _extra::text from raw.{source} order by _file_name, _line_number",
    )
    quarantined = q(
        settings,
        f"select _file_name, _line_number, reason_code, reason, raw_record "
        f"from quarantine.{source} order by _file_name, _line_number",
    )
    if contract.format == "csv":  # the columnar path rebuilds a csv row from its fields: compare the fields
        quarantined = [(*r[:4], tuple(next(csv.reader([r[4]], delimiter=contract.delimiter), []))) for r in quarantined]
    return raw, quarantined


def test_both_paths_load_a_defective_simulation_identically(server_url, tmp_path, monkeypatch):
    """Every source of a simulated company with many injected defects: same rows, lines, reasons on both paths."""
    from customer360.devtools.server import drop_database
    from customer360.simulator import SimulationConfig, simulate
    from tests.support.databases import make_test_database

    simulate(SimulationConfig(people=400, days=60, defect_rate=0.05), tmp_path / "data")
    results = {}
    fell_back: list[str] = []
    for path_name in ("columnar", "row_by_row"):
        url = make_test_database(server_url, f"parity{path_name[:3]}")
        try:
            s = Settings(warehouse_url=url, data_dir=tmp_path / "data")
            prepare_warehouse(s)
            with monkeypatch.context() as m:
                if path_name == "row_by_row":
                    m.setattr(loader_module.columnar, "fast_path_supported", lambda contract: False)
                else:
                    real = loader_module._FileLoader._copy_rows
                    m.setattr(
                        loader_module._FileLoader,
                        "_copy_rows",
                        lambda self, c, p, d, real=real: fell_back.append(p.name) or real(self, c, p, d),
                    )
                report = load_interval(s, date(2024, 1, 1), date(2024, 3, 1), batch_id=path_name)
            assert not report.rejected_files
            results[path_name] = {src: _loaded_rows(s, src) for src in SOURCES}
        finally:
            drop_database(url)
    for src in SOURCES:
        raw_c, quarantine_c = results["columnar"][src]
        raw_r, quarantine_r = results["row_by_row"][src]
        assert raw_c == raw_r, src
        assert quarantine_c == quarantine_r, src
    assert sum(len(results["columnar"][s][1]) for s in SOURCES) > 50  # the defects were there to find
    assert fell_back == []  # every file went the columnar way
