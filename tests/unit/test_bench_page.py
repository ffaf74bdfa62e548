"""docs/measured.md is generated from the benchmark results: every results file becomes a section."""

import json

from bench.page import write_page


def test_every_results_file_becomes_a_section_with_its_table_and_command(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / "bench-1000.json").write_text(json.dumps({"measured_at": "2026-12-03T09:00:00", "cores": 2}))
    (results / "bench-1000.md").write_text("| stage (seconds) | 1,000 people |\n|---|---:|\n| pipeline_wall | 88.7 |\n")
    (results / "ingest-100000.json").write_text(json.dumps({"measured_at": "2026-12-03T10:00:00"}))
    page = write_page(results, tmp_path / "measured.md").read_text()
    assert "## bench-1000" in page and "| pipeline_wall | 88.7 |" in page
    assert "Measured 2026-12-03T09:00:00 (2 cores) by `python -m bench --sizes <people> --days <days>`" in page
    assert "## ingest-100000" in page and "(no table was written)" in page
    assert page.index("## bench-1000") < page.index("## ingest-100000")


def test_without_results_the_page_says_how_to_measure(tmp_path):
    page = write_page(tmp_path, tmp_path / "measured.md").read_text()
    assert "run `make bench`" in page
