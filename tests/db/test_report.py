"""The HTML run report against a real PostgreSQL (its own throw-away database)."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime

import pytest

from customer360.config import Settings
from customer360.db.connection import connect
from customer360.ingestion.contracts import SOURCES
from customer360.ingestion.tables import ensure_tables
from customer360.quality.gate import CheckResult, store_results
from customer360.reporting.run_report import write_run_report

AS_OF = datetime(2025, 12, 31, tzinfo=UTC)
HEADINGS = (
    "Overall status",
    "Failed checks by owner",
    "Data-quality results",
    "Quarantined rows",
    "Files not loaded",
    "Identity review queue",
    "Trends",
    "Row counts per layer",
    "Customer plots",
)


@pytest.fixture()
def settings(warehouse_settings: Settings) -> Settings:
    """A throw-away database (tests/db/conftest.py) with the warehouse schemas."""
    return warehouse_settings


def _result(check: str, passed: bool, severity: str = "error", count: int | None = 0, examples=()):
    return CheckResult(
        run_id="r1",
        checked_at=AS_OF,
        suite="raw.web_orders",
        check_name=check,
        table_name="raw.web_orders",
        column_name=check.split(":")[-1],
        severity=severity,
        owner="source",
        passed=passed,
        failing_count=count,
        failing_examples=list(examples),
    )


def _populate(settings: Settings) -> None:
    with connect(settings) as conn:
        ensure_tables(conn, [SOURCES["web_orders"]])
    with connect(settings, autocommit=True) as conn:
        conn.execute(
            "insert into raw.web_orders (order_id, email, amount, _batch_id, _file_name, _line_number)"
            " values ('o1', 'secret.person@example.com', 10, 'b1', 'f.jsonl', 1),"
            " ('o2', null, 5, 'b1', 'f.jsonl', 2)"
        )
        conn.execute("""insert into quarantine.web_orders (_batch_id, _file_name, _line_number, reason_code, reason,
                        raw_record) values
                        ('b1', 'f.jsonl', 3, 'missing_required', 'email is empty', '{"email": "other@example.com"}'),
                        ('b1', 'f.jsonl', 4, 'missing_required', 'email is empty', null),
                        ('b1', 'f.jsonl', 5, 'bad_timestamp', 'ordered_at is not a timestamp', null)""")
        conn.execute(
            "create table marts.customer_360 (customer_id text unique, churn_probability double precision,"
            " clv numeric, total_revenue numeric)"
        )
        conn.execute("""insert into marts.customer_360
                        select 'C' || g, (g % 10) / 10.0, g * 3.5, case when g <= 10 then 1000 else 10 end
                        from generate_series(1, 50) g""")
        conn.execute("create view marts.v_customers as select customer_id from marts.customer_360")
        _log_files(conn, "r1")
    store_results(
        settings,
        "r1",
        ["raw.web_orders"],
        [
            _result("not_null:email", False, count=1, examples=["web_orders_2025-06-01_001.csv:3"]),
            _result(
                "non_negative:amount", False, severity="warn", count=2, examples=["web_orders_2025-06-01_001.csv:4"]
            ),
            _result("not_null:order_id", True),
        ],
    )


def _log_files(conn, run_id: str) -> None:
    conn.execute(
        """insert into ops.ingest_log (batch_id, source, file_name, status, message) values
           (%(run)s, 'web_orders', 'web_orders_2025-06-02_001.jsonl', 'rejected',
            'web_orders/web_orders_2025-06-02_001.jsonl rejected: required column order_id is missing'),
           (%(run)s, 'web_orders', 'web_orders_2025-06-01_001.jsonl', 'duplicate', 'same bytes as a loaded file'),
           (%(run)s, 'web_orders', 'web_orders_2025-06-03_001.jsonl', 'loaded', null),
           (%(run)s, 'web_orders', 'web_orders_2025-06-04_001.jsonl', 'replaced',
            'loaded 3 of 3 rows, quarantined 0; replaces the version loaded in r0 (changed content)'),
           ('an-earlier-run', 'surveys', 'surveys_2025-05-01_001.csv', 'rejected', 'not this run')""",
        {"run": run_id},
    )


def test_report_with_data(settings, tmp_path):
    _populate(settings)
    path = write_run_report(settings, "r1", tmp_path)
    assert path == tmp_path / "run_report.html"
    text = path.read_text(encoding="utf-8")
    for heading in HEADINGS:
        assert heading in text
    assert (
        text.count('<img alt="') == 4
        and '<img alt="Revenue concentration (80/20 curve)" src="data:image/png;base64,' in text
    )
    assert '<img alt="Failed checks over the last 20 runs" src="data:image/png;base64,' in text  # the trend
    # failing checks first, error before warn
    assert text.index("not_null:email") < text.index("non_negative:amount") < text.index("not_null:order_id")
    assert "web_orders_2025-06-01_001.csv:3" in text
    assert "missing_required" in text and "bad_timestamp" in text
    assert "secret.person" not in text and "@" not in text  # no personal data
    assert not re.search(r"<(link|script)\b|https?://|@import|url\(", text)  # self-contained
    assert "marts.v_customers" in text  # views are counted too
    summary = json.loads((tmp_path / "run_summary.json").read_text())
    assert summary["status"] == "failed"
    assert summary["row_counts"]["marts"]["customer_360"] == 50
    assert summary["row_counts"]["marts"]["v_customers"] == 50
    assert summary["layer_totals"]["raw"] == 2
    assert summary["quarantine"] == {"web_orders": {"missing_required": 2, "bad_timestamp": 1}}
    assert summary["dq"] == {"checks": 3, "passed": 1, "failed_error": 1, "failed_warn": 1}
    assert summary["files_not_loaded"] == {"rejected": 1, "replaced": 1, "duplicate": 1}
    files = text[text.index('id="files-not-loaded"') : text.index('id="identity-review"')]
    assert "required column order_id is missing" in files and "web_orders_2025-06-01_001.jsonl" in files
    assert "2025-06-03" not in files and "surveys_2025-05-01" not in files  # loaded, or another run's
    # a changed re-delivery is listed between the rejected and the duplicate files
    assert files.index("2025-06-02") < files.index("replaces the version loaded in r0") < files.index("2025-06-01")


def test_a_rejected_file_fails_the_report_even_before_any_gate_ran(settings, tmp_path):
    with connect(settings) as conn:
        ensure_tables(conn, [SOURCES["web_orders"]])
    with connect(settings, autocommit=True) as conn:
        _log_files(conn, "r2")
    text = write_run_report(settings, "r2", tmp_path).read_text()
    summary = json.loads((tmp_path / "run_summary.json").read_text())
    assert summary["status"] == "failed"  # no check has run: the rejected file alone fails it
    assert text.index("Files not loaded") < text.index("web_orders_2025-06-02_001.jsonl rejected")


def test_report_renders_when_optional_tables_are_missing(settings, tmp_path):
    path = write_run_report(settings, "nothing-yet", tmp_path / "out")
    text = path.read_text(encoding="utf-8")
    for heading in HEADINGS:
        assert heading in text
    assert "not available" in text
    assert "data:image/png;base64," not in text
    summary = json.loads((tmp_path / "out" / "run_summary.json").read_text())
    assert summary["status"] == "unknown" and summary["dq"] is None and summary["quarantine"] is None


def test_report_without_customer_360_columns(settings, tmp_path):
    with connect(settings, autocommit=True) as conn:
        conn.execute("create table marts.customer_360 (customer_id text, total_revenue numeric)")
        conn.execute("insert into marts.customer_360 values ('C1', 5), ('C2', 0)")
    text = write_run_report(settings, "partial", tmp_path).read_text()
    assert text.count("data:image/png;base64,") == 1  # revenue curve only
    assert text.count("not available") >= 2


def _chromium() -> str | None:
    import shutil

    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


def test_the_report_renders_in_headless_chromium(settings, tmp_path):
    """Debian's chromium opens the static file with no server; every section and plot renders."""
    import os
    import subprocess

    browser = _chromium()
    if browser is None:
        message = "no chromium: `apt-get install chromium` (.ci/run installs it)"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    _populate(settings)
    path = write_run_report(settings, "r1", tmp_path)
    flags = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1200,2400",
    ]
    # The page's own script-free DOM after load, and what a reader sees.
    dom = subprocess.run(
        [*flags, "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    for heading in HEADINGS:
        assert f">{heading}</h2>" in dom, heading
    assert dom.count("<img ") == 4
    shot = tmp_path / "report.png"
    subprocess.run([*flags, f"--screenshot={shot}", path.as_uri()], capture_output=True, timeout=120, check=True)
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1200, 2400)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # text, tables and plots, not a blank page
    keep = os.environ.get("C360_KEEP_SCREENSHOT")
    if keep:
        import shutil

        shutil.copy(shot, keep)


def test_report_shows_the_ml_evaluation_plots(settings, tmp_path):
    from customer360.ml.churn import ChurnConfig
    from customer360.ml.config import ScoringConfig
    from customer360.ml.scoring import compute_scores
    from customer360.ml.store import ensure_ml_tables, write_run
    from customer360.ml.synthetic import simulate_transactions
    from customer360.reporting.charts import ML_PLOTS

    history = simulate_transactions(1500, "2023-06-01", "2026-01-01", seed=3)
    run = compute_scores(history, date(2025, 12, 1), ScoringConfig(churn=ChurnConfig(max_iter=40)))
    with connect(settings) as conn, conn.transaction():
        ensure_ml_tables(conn)
        write_run(conn, run, {})
    text = write_run_report(settings, "ml", tmp_path).read_text()
    for title in ML_PLOTS:
        assert f'<img alt="{title}" src="data:image/png;base64,' in text
    assert json.loads((tmp_path / "run_summary.json").read_text())["plots"][ML_PLOTS[0]] is True


def test_partner_text_is_escaped_everywhere_it_shows(settings, tmp_path):
    """File names, messages and example keys come from partners: markup in them shows as text, in cells and
    in the tooltip attribute alike."""
    hostile = '"><img src=x onerror=alert(1)><script>alert(2)</script>'
    with connect(settings, autocommit=True) as conn:
        ensure_tables(conn)
        conn.execute(
            "insert into ops.ingest_log (batch_id, source, file_name, status, message) "
            "values ('r1', 'web_orders', %s, 'rejected', %s)",
            (f"web_orders_2025-06-02_{hostile}.jsonl", f"rejected: {hostile}"),
        )
    store_results(
        settings, "r1", ["raw.web_orders"], [_result("not_null:email", False, count=4, examples=[hostile] * 4)]
    )
    text = write_run_report(settings, "r1", tmp_path).read_text(encoding="utf-8")
    assert "<img src=x" not in text and "<script" not in text and 'title=""><' not in text
    assert text.count("&lt;script&gt;alert(2)&lt;/script&gt;") >= 4  # file name, message, example, tooltip
