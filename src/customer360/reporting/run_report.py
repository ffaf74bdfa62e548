"""The run report: one self-contained static HTML page plus a JSON summary.

Only counts, keys and aggregates reach the report; plots are embedded as base64 PNG
(matplotlib, Agg backend); no external CSS, JS or fonts. Every section degrades to
"not available" when its tables do not exist yet. The queries are in
`customer360.reporting.queries`, the plots in `charts`, the page in `page`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from customer360.config import Settings
from customer360.db.connection import connect
from customer360.reporting import charts, queries
from customer360.reporting.data import ReportData, status, summary
from customer360.reporting.page import render_html

log = logging.getLogger(__name__)


def write_run_report(settings: Settings, run_id: str, out_dir: Path) -> Path:
    """Write out_dir/run_report.html and out_dir/run_summary.json; return the HTML path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = collect(settings, run_id)
    path = out_dir / "run_report.html"
    path.write_text(render_html(data), encoding="utf-8")
    (out_dir / "run_summary.json").write_text(json.dumps(summary(data), indent=2, sort_keys=True), encoding="utf-8")
    log.info("run report written to %s (status %s)", path, data.status)
    return path


def collect(settings: Settings, run_id: str) -> ReportData:
    data = ReportData(run_id=run_id)
    with connect(settings, autocommit=True) as conn:
        data.row_counts = queries.row_counts(conn)
        data.dq = queries.dq_results(conn, run_id)
        data.quarantine = queries.quarantine_counts(conn)
        data.files_not_loaded = queries.files_not_loaded(conn, run_id)
        data.review_queue = queries.review_queue_size(conn)
        data.identity = queries.identity_resolution(conn)
        check_trend = queries.check_trend(conn)
        quarantine_trend = queries.quarantine_trend(conn)
        revenue = queries.numeric_column(conn, "marts", "customer_360", "total_revenue")
        churn = queries.numeric_column(conn, "marts", "customer_360", "churn_probability")
        clv = queries.numeric_column(conn, "marts", "customer_360", "clv")
        evaluation = queries.ml_evaluation(conn)
    data.status = status(data.dq, data.files_not_loaded)
    runs = queries.TREND_RUNS
    data.trend_plots = {
        f"Failed checks over the last {runs} runs": charts.plot_check_trend(check_trend) if check_trend else None,
        f"Quarantined share of rows over the last {runs} load batches": charts.plot_quarantine_trend(quarantine_trend)
        if quarantine_trend
        else None,
    }
    data.plots = {
        "Revenue concentration (80/20 curve)": charts.plot_revenue_curve(revenue) if revenue else None,
        "Churn probability distribution": charts.plot_churn_histogram(churn) if churn else None,
        "CLV by decile": charts.plot_clv_deciles(clv) if clv else None,
    }
    data.plots.update(charts.ml_plots(evaluation))
    return data
