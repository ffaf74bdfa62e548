"""bench.simulator measures a real simulator run in a child process."""

from __future__ import annotations

from pathlib import Path

from bench.simulator import markdown, run_simulator


def test_a_small_run_is_measured(tmp_path: Path) -> None:
    run = run_simulator(people=200, days=40, seed=3, defect_rate=0.01, out=tmp_path)
    assert (tmp_path / "truth" / "people.csv").read_text().count("\n") == 201  # header + one line a person
    assert run.rows > 200 and run.files > 40
    # the child imports pandas, numpy and pyarrow: tens of MB at least; a small run stays far below 2 GB
    assert 30 < run.peak_rss_mb < 2000
    assert run.wall_seconds > 0
    assert f"| 200 | 40 | {run.rows:,} |" in markdown([run])
