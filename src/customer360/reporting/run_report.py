"""The run report: one self-contained static HTML page plus a JSON summary.

Only counts, keys and aggregates reach the report; plots are embedded as base64 PNG
(matplotlib, Agg backend); no external CSS, JS or fonts. Every section degrades to
"not available" when its tables do not exist yet.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from customer360.config import Settings
from customer360.db.connection import connect, qualified, scalar, table_exists
from customer360.ingestion.contracts import SOURCES

log = logging.getLogger(__name__)

LAYERS = ("raw", "quarantine", "staging", "intermediate", "identity", "marts", "ml")
TREND_RUNS = 20
SHOWN_EXAMPLES = 3  # example keys per check in the table; all stored ones are in the cell's tooltip
NOT_AVAILABLE = "not available"

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1100px;color:#222;
padding:0 1rem}
h1{margin-bottom:.2rem} h2{border-bottom:2px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.25rem .6rem;text-align:left}
th{background:#f3f3f3} td.n{text-align:right;font-variant-numeric:tabular-nums}
.status{display:inline-block;padding:.3rem .8rem;border-radius:4px;font-weight:bold;color:#fff}
.passed{background:#2e7d32} .warnings{background:#ef6c00} .failed{background:#c62828} .unknown{background:#757575}
tr.fail-error td{background:#fdecea} tr.fail-warn td{background:#fff4e5}
.na{color:#777;font-style:italic} .muted{color:#666;font-size:.85rem} img{max-width:100%;height:auto}
div.keys{max-width:24rem;overflow-wrap:anywhere;font-size:.8rem;color:#444}
"""


@dataclass
class ReportData:
    run_id: str
    status: str = "unknown"
    row_counts: dict[str, dict[str, int | None]] | None = None  # layer -> table -> rows (None: error)
    dq: list[dict[str, Any]] | None = None
    quarantine: dict[str, dict[str, int]] | None = None  # source -> reason -> rows
    files_not_loaded: list[dict[str, Any]] | None = None  # this run's rejected and duplicate files
    review_queue: int | None = None  # identity pairs waiting for a steward (None: no identity review yet)
    identity: dict[str, Any] | None = None  # the latest identity resolution: counts and how its model was trained
    plots: dict[str, str | None] = field(default_factory=dict)  # title -> base64 png
    trend_plots: dict[str, str | None] = field(default_factory=dict)


# --- public API ----------------------------------------------------------------------


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
        data.row_counts = row_counts(conn)
        data.dq = _dq_results(conn, run_id)
        data.quarantine = _quarantine(conn)
        data.files_not_loaded = _files_not_loaded(conn, run_id)
        data.review_queue = _review_queue(conn)
        data.identity = _identity_resolution(conn)
        check_trend = _check_trend(conn)
        quarantine_trend = _quarantine_trend(conn)
        revenue = _numeric_column(conn, "marts", "customer_360", "total_revenue")
        churn = _numeric_column(conn, "marts", "customer_360", "churn_probability")
        clv = _numeric_column(conn, "marts", "customer_360", "clv")
        evaluation = _ml_evaluation(conn)
    data.status = _status(data.dq, data.files_not_loaded)
    data.trend_plots = {
        f"Failed checks over the last {TREND_RUNS} runs": _plot_check_trend(check_trend) if check_trend else None,
        f"Quarantined share of rows over the last {TREND_RUNS} load batches": _plot_quarantine_trend(quarantine_trend)
        if quarantine_trend
        else None,
    }
    data.plots = {
        "Revenue concentration (80/20 curve)": _plot_revenue_curve(revenue) if revenue else None,
        "Churn probability distribution": _plot_churn_histogram(churn) if churn else None,
        "CLV by decile": _plot_clv_deciles(clv) if clv else None,
    }
    data.plots.update(_ml_plots(evaluation))
    return data


def summary(data: ReportData) -> dict[str, Any]:
    dq = data.dq or []
    return {
        "run_id": data.run_id,
        "status": data.status,
        "row_counts": data.row_counts,
        "layer_totals": None
        if data.row_counts is None
        else {layer: sum(n or 0 for n in tables.values()) for layer, tables in data.row_counts.items()},
        "dq": None
        if data.dq is None
        else {
            "checks": len(dq),
            "passed": sum(1 for r in dq if r["passed"]),
            "failed_error": sum(1 for r in dq if not r["passed"] and r["severity"] == "error"),
            "failed_warn": sum(1 for r in dq if not r["passed"] and r["severity"] == "warn"),
        },
        "quarantine": data.quarantine,
        "files_not_loaded": None
        if data.files_not_loaded is None
        else {
            status: sum(1 for f in data.files_not_loaded if f["status"] == status)
            for status in ("rejected", "replaced", "duplicate")
        },
        "identity_review_queue": data.review_queue,
        "identity_training_notes": None if data.identity is None else data.identity["notes"],
        "plots": {title: png is not None for title, png in {**data.trend_plots, **data.plots}.items()},
    }


# --- queries -------------------------------------------------------------------------


def row_counts(conn: psycopg.Connection, schemas: tuple[str, ...] = LAYERS) -> dict[str, dict[str, int | None]]:
    """Rows of every table and view in `schemas`, by schema (None where a view cannot be read)."""
    rows = conn.execute(
        """
        select table_schema, table_name from information_schema.tables
        where table_schema = any(%s) and table_type in ('BASE TABLE', 'VIEW')
        order by table_schema, table_name
        """,
        (list(schemas),),
    ).fetchall()
    counts: dict[str, dict[str, int | None]] = {schema: {} for schema in schemas}
    for schema, table in rows:
        try:
            n = scalar(conn, sql.SQL("select count(*) from {}").format(qualified(schema, table)))
        except psycopg.Error as exc:  # e.g. a view over a dropped table
            log.warning("cannot count %s.%s: %s", schema, table, exc)
            n = None
        counts[schema][table] = n
    return counts


def _dq_results(conn: psycopg.Connection, run_id: str) -> list[dict[str, Any]] | None:
    if not table_exists(conn, "ops", "dq_results"):
        return None
    cur = conn.execute(
        """
        select suite, check_name, table_name, column_name, severity, owner, passed, failing_count,
               failing_examples, checked_at
        from ops.dq_results where run_id = %s
        order by passed, severity = 'warn', suite, check_name
        """,
        (run_id,),
    )
    return _dicts(cur)


def _quarantine(conn: psycopg.Connection) -> dict[str, dict[str, int]] | None:
    out: dict[str, dict[str, int]] = {}
    for source in SOURCES:
        if not table_exists(conn, "quarantine", source) or not _has_column(conn, "quarantine", source, "reason_code"):
            continue
        rows = conn.execute(
            sql.SQL("select coalesce(reason_code::text, '(none)'), count(*) from {} group by 1 order by 2 desc").format(
                qualified("quarantine", source)
            )
        ).fetchall()
        out[source] = {reason: n for reason, n in rows}
    return out or None


def _files_not_loaded(conn: psycopg.Connection, run_id: str) -> list[dict[str, Any]] | None:
    """Files this run's loads rejected, loaded in place of an earlier version, or skipped as already loaded,
    in that order (the batch id is the run id)."""
    if not table_exists(conn, "ops", "ingest_log"):
        return None
    cur = conn.execute(
        """
        select source, file_name, status, message from ops.ingest_log
        where batch_id = %s and status in ('rejected', 'replaced', 'duplicate')
        order by array_position(array['rejected', 'replaced', 'duplicate'], status), source, file_name
        """,
        (run_id,),
    )
    return _dicts(cur)


def _dicts(cur: psycopg.Cursor) -> list[dict[str, Any]]:
    """The rows of an executed query as dicts by column name."""
    names = [d.name for d in cur.description or ()]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def _review_queue(conn: psycopg.Connection) -> int | None:
    """Pairs of source records held for a steward's decision (the identity review queue)."""
    for schema, table in (("steward", "steward_review_pairs"), ("identity", "review_queue")):
        if table_exists(conn, schema, table):
            return scalar(conn, sql.SQL("select count(*) from {}").format(qualified(schema, table)))
    return None


def _identity_resolution(conn: psycopg.Connection) -> dict[str, Any] | None:
    """The latest identity resolution executed: its counts and its training notes."""
    if not table_exists(conn, "identity", "resolution_runs"):
        return None
    row = conn.execute(
        """select run_id, mode, records, customers, scored_pairs, review_pairs, training
           from identity.resolution_runs order by logged_at desc, resolved_at desc, attempt desc limit 1"""
    ).fetchone()
    if row is None:
        return None
    run_id, mode, records, customers, scored, review, training = row
    if training is None:
        notes = ["Rules only: no probabilistic model was used in this run."]
    elif training.get("reused_model"):
        # An incremental run scores with the last trained model: what that training could not estimate still holds.
        trained = conn.execute(
            """select run_id, training from identity.resolution_runs
               where training is not null and not coalesce((training ->> 'reused_model')::boolean, false)
               order by logged_at desc, resolved_at desc, attempt desc limit 1"""
        ).fetchone()
        notes = (
            [f"(The model was trained in run {trained[0]}.) {note}" for note in trained[1].get("notes", [])]
            if trained
            else []
        )
    else:
        notes = training.get("notes", [])
    return {
        "run_id": run_id,
        "mode": mode,
        "records": records,
        "customers": customers,
        "scored_pairs": scored,
        "review_pairs": review,
        "notes": notes,
    }


def _identity_html(identity: dict[str, Any] | None) -> str:
    if identity is None:
        return _na("identity resolution")
    parts = [
        f"<p>Latest resolution <code>{_e(identity['run_id'])}</code> ({_e(identity['mode'])}): "
        f'<span class="n">{identity["records"]:,}</span> source records, '
        f'<span class="n">{identity["customers"]:,}</span> customers, '
        f'<span class="n">{identity["scored_pairs"] or 0:,}</span> pairs scored.</p>'
    ]
    if identity["notes"]:
        parts.append("<p>The data could not give every parameter of the match model; check its links more closely:</p>")
        parts.append("<ul>" + "".join(f"<li>{_e(note)}</li>" for note in identity["notes"]) + "</ul>")
    else:
        parts.append(
            "<p>Every parameter of the match model was estimated from the data (or reused from the last training).</p>"
        )
    return "".join(parts)


def _check_trend(conn: psycopg.Connection) -> list[tuple[str, int, int]] | None:
    """(run, failed error checks, failed warn checks) for the last runs, oldest first."""
    if not table_exists(conn, "ops", "dq_results"):
        return None
    rows = conn.execute(
        """
        select run_id,
               count(*) filter (where not passed and severity = 'error'),
               count(*) filter (where not passed and severity = 'warn')
        from ops.dq_results group by run_id order by max(checked_at) desc, run_id desc limit %s
        """,
        (TREND_RUNS,),
    ).fetchall()
    return list(reversed(rows)) or None


def _quarantine_trend(conn: psycopg.Connection) -> dict[str, list[tuple[str, float]]] | None:
    """source -> [(batch, share of the batch's rows quarantined)] for the last load batches, oldest first."""
    if not table_exists(conn, "ops", "file_manifest"):
        return None
    rows = conn.execute(
        """
        with batches as (
            select batch_id, min(loaded_at) as at from ops.file_manifest
            group by batch_id order by min(loaded_at) desc limit %s
        )
        select m.source, m.batch_id, sum(m.rows_quarantined)::float / greatest(sum(m.rows_in_file), 1)
        from ops.file_manifest m join batches b using (batch_id)
        group by m.source, m.batch_id, b.at order by b.at
        """,
        (TREND_RUNS,),
    ).fetchall()
    out: dict[str, list[tuple[str, float]]] = {}
    for source, batch, share in rows:
        out.setdefault(source, []).append((batch, share))
    return out or None


def _has_column(conn: psycopg.Connection, schema: str, table: str, column: str) -> bool:
    return (
        conn.execute(
            "select 1 from information_schema.columns where table_schema = %s and table_name = %s and column_name = %s",
            (schema, table, column),
        ).fetchone()
        is not None
    )


def _numeric_column(conn: psycopg.Connection, schema: str, table: str, column: str) -> list[float] | None:
    if not table_exists(conn, schema, table) or not _has_column(conn, schema, table, column):
        return None
    rows = conn.execute(
        sql.SQL("select {c}::double precision from {t} where {c} is not null").format(
            c=sql.Identifier(column), t=qualified(schema, table)
        )
    ).fetchall()
    return [r[0] for r in rows] or None


def _ml_evaluation(conn: psycopg.Connection) -> dict[str, list[dict[str, Any]]]:
    """The evaluation tables of the latest scoring run (latest cutoff, then model version)."""
    if not table_exists(conn, "ml", "evaluation_tables"):
        return {}
    rows = conn.execute(
        """
        select table_name, rows from ml.evaluation_tables
        where (cutoff_date, model_version) = (
            select cutoff_date, model_version from ml.evaluation_tables
            order by cutoff_date desc, model_version desc limit 1)
        """
    ).fetchall()
    return {name: table for name, table in rows}


def _status(dq: list[dict[str, Any]] | None, files_not_loaded: list[dict[str, Any]] | None = None) -> str:
    if any(f["status"] == "rejected" for f in files_not_loaded or []):
        return "failed"  # a rejected file fails its ingest task, so the gates may not have run at all
    if not dq:
        return "unknown"
    if any(not r["passed"] and r["severity"] == "error" for r in dq):
        return "failed"
    if any(not r["passed"] for r in dq):
        return "passed with warnings"
    return "passed"


# --- plots ---------------------------------------------------------------------------


def _figure():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    return plt, fig, ax


def _png(plt, fig) -> str:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _plot_revenue_curve(revenue: list[float]) -> str:
    import numpy as np

    values = np.sort(np.clip(np.asarray(revenue, dtype=float), 0, None))[::-1]
    total = values.sum()
    plt, fig, ax = _figure()
    x = np.arange(1, len(values) + 1) / len(values) * 100
    y = np.cumsum(values) / total * 100 if total > 0 else np.zeros_like(values)
    ax.plot(np.r_[0, x], np.r_[0, y], color="#1565c0", label="customers, by revenue (desc)")
    ax.plot([0, 100], [0, 100], ls="--", color="#999", label="equal share")
    top20 = float(np.interp(20, np.r_[0, x], np.r_[0, y]))
    ax.axvline(20, color="#c62828", lw=0.8)
    ax.annotate(
        f"top 20% = {top20:.0f}% of revenue",
        (20, top20),
        xytext=(30, max(top20 - 20, 5)),
        arrowprops={"arrowstyle": "->"},
    )
    ax.set_xlabel("customer percentile (by revenue)")
    ax.set_ylabel("cumulative share of revenue (%)")
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 101)
    ax.legend(loc="lower right")
    return _png(plt, fig)


def _plot_check_trend(trend: list[tuple[str, int, int]]) -> str:
    plt, fig, ax = _figure()
    x = range(len(trend))
    errors = [e for _, e, _ in trend]
    warns = [w for _, _, w in trend]
    ax.bar(x, errors, color="#c62828", label="error")
    ax.bar(x, warns, bottom=errors, color="#ef6c00", label="warn")
    ax.set_xticks(list(x))
    ax.set_xticklabels([_short(run) for run, _, _ in trend], rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("failed checks")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="upper left")
    return _png(plt, fig)


def _plot_quarantine_trend(trend: dict[str, list[tuple[str, float]]]) -> str:
    plt, fig, ax = _figure()
    batches = list(dict.fromkeys(b for points in trend.values() for b, _ in points))
    position = {b: i for i, b in enumerate(batches)}
    for source, points in sorted(trend.items()):
        ax.plot([position[b] for b, _ in points], [100 * share for _, share in points], marker="o", label=source)
    ax.set_xticks(range(len(batches)))
    ax.set_xticklabels([_short(b) for b in batches], rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("rows quarantined (%)")
    ax.legend(fontsize=7, ncol=2)
    return _png(plt, fig)


def _short(run_id: str, width: int = 24) -> str:
    return run_id if len(run_id) <= width else run_id[: width - 1] + "…"


def _plot_churn_histogram(churn: list[float]) -> str:
    plt, fig, ax = _figure()
    ax.hist(churn, bins=20, range=(0, 1), color="#6a1b9a", edgecolor="white")
    ax.set_xlabel("churn probability")
    ax.set_ylabel("customers")
    return _png(plt, fig)


def _plot_clv_deciles(clv: list[float]) -> str:
    import numpy as np

    values = np.sort(np.asarray(clv, dtype=float))
    deciles = np.array_split(values, 10) if len(values) >= 10 else [values]
    means = [float(d.mean()) if len(d) else 0.0 for d in deciles]
    plt, fig, ax = _figure()
    ax.bar(range(1, len(means) + 1), means, color="#2e7d32")
    ax.set_xlabel("CLV decile (1 = lowest)")
    ax.set_ylabel("mean CLV")
    ax.set_xticks(range(1, len(means) + 1))
    return _png(plt, fig)


ML_PLOTS = (
    "Churn calibration (backtest)",
    "Churn gains chart (backtest)",
    "Revenue in the horizon by predicted decile (backtest)",
    "Cluster profiles",
)


def _ml_plots(evaluation: dict[str, list[dict[str, Any]]]) -> dict[str, str | None]:
    calibration, gains = evaluation.get("churn_calibration"), evaluation.get("churn_gains")
    deciles, clusters = evaluation.get("revenue_deciles"), evaluation.get("cluster_profiles")
    plots = (
        _plot_calibration(calibration) if calibration else None,
        _plot_gains(gains) if gains else None,
        _plot_revenue_deciles(deciles) if deciles else None,
        _plot_cluster_profiles(clusters) if clusters else None,
    )
    return dict(zip(ML_PLOTS, plots))


def _plot_calibration(rows: list[dict[str, Any]]) -> str:
    plt, fig, ax = _figure()
    ax.plot([0, 1], [0, 1], ls="--", color="#999", label="perfect calibration")
    ax.plot(
        [r["mean_predicted"] for r in rows],
        [r["observed_rate"] for r in rows],
        marker="o",
        color="#6a1b9a",
        label="model (bins of equal size)",
    )
    ax.set_xlabel("mean predicted churn probability")
    ax.set_ylabel("observed churn rate")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left")
    return _png(plt, fig)


def _plot_gains(rows: list[dict[str, Any]]) -> str:
    plt, fig, ax = _figure()
    x = [0] + [r["decile"] * 10 for r in rows]
    ax.plot(x, [0] + [100 * r["cumulative_gain"] for r in rows], marker="o", color="#6a1b9a", label="model")
    if all(r.get("baseline_cumulative_gain") is not None for r in rows):
        ax.plot(
            x,
            [0] + [100 * r["baseline_cumulative_gain"] for r in rows],
            marker=".",
            color="#ef6c00",
            label="recency rule",
        )
    ax.plot([0, 100], [0, 100], ls="--", color="#999", label="random")
    top = rows[0]
    ax.annotate(
        f"lift in top decile: {top['lift']:.1f}x",
        (10, 100 * top["cumulative_gain"]),
        xytext=(30, 20),
        arrowprops={"arrowstyle": "->"},
    )
    ax.set_xlabel("customers contacted, by predicted churn (%)")
    ax.set_ylabel("churners found (%)")
    ax.legend(loc="lower right")
    return _png(plt, fig)


def _plot_revenue_deciles(rows: list[dict[str, Any]]) -> str:
    import numpy as np

    plt, fig, ax = _figure()
    x = np.array([r["decile"] for r in rows])
    ax.bar(x - 0.2, [r["mean_predicted"] for r in rows], width=0.4, color="#1565c0", label="predicted")
    ax.bar(x + 0.2, [r["mean_actual"] for r in rows], width=0.4, color="#2e7d32", label="actual")
    ax.set_xlabel("decile of predicted revenue (1 = highest)")
    ax.set_ylabel("mean revenue per customer")
    ax.set_xticks(x)
    ax.legend(loc="upper right")
    return _png(plt, fig)


def _plot_cluster_profiles(rows: list[dict[str, Any]]) -> str:
    import numpy as np

    plt, fig, ax = _figure()
    names = [f"{r['cluster_name']} ({r['customers']:,})" for r in rows]
    y = np.arange(len(rows))
    values = [r.get("clv") or 0.0 for r in rows]
    ax.barh(y, values, color="#2e7d32")
    for i, r in enumerate(rows):
        ax.annotate(
            f"churn {r.get('churn_probability') or 0:.0%}, recency {r['recency_days']:.0f} d",
            (values[i], i),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax.set_xlim(0, max(values + [1.0]) * 1.6)
    ax.set_yticks(y)
    ax.set_yticklabels(names, fontsize=8)
    ax.set_xlabel("mean CLV")
    return _png(plt, fig)


# --- HTML ----------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _na(what: str = "") -> str:
    return f'<p class="na">{_e(what + ": " if what else "")}{NOT_AVAILABLE}</p>'


def render_html(data: ReportData) -> str:
    status_class = {"passed": "passed", "passed with warnings": "warnings", "failed": "failed"}.get(
        data.status, "unknown"
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Customer 360 run report {_e(data.run_id)}</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>Customer 360 run report</h1>",
        f'<p class="muted">run id <code>{_e(data.run_id)}</code></p>',
        '<h2 id="status">Overall status</h2>',
        f'<p><span class="status {status_class}">{_e(data.status)}</span></p>',
    ]
    if data.dq is None:
        parts.append(_na("data-quality results"))
    elif not data.dq:
        parts.append('<p class="na">no data-quality checks recorded for this run</p>')
    else:
        s = summary(data)["dq"]
        parts.append(
            f"<p>{s['checks']} checks: {s['passed']} passed, {s['failed_error']} failed (error), "
            f"{s['failed_warn']} failed (warn).</p>"
        )

    parts.append('<h2 id="by-owner">Failed checks by owner</h2>')
    parts.append(_owner_html(data.dq))
    parts.append('<h2 id="data-quality">Data-quality results</h2>')
    parts.append(_dq_html(data.dq))
    parts.append('<h2 id="quarantine">Quarantined rows</h2>')
    parts.append(_quarantine_html(data.quarantine))
    parts.append('<h2 id="files-not-loaded">Files not loaded</h2>')
    parts.append(_files_not_loaded_html(data.files_not_loaded))
    parts.append('<h2 id="identity">Identity resolution</h2>')
    parts.append(_identity_html(data.identity))
    parts.append('<h2 id="identity-review">Identity review queue</h2>')
    parts.append(
        _na("identity review")
        if data.review_queue is None
        else f'<p><span class="n">{data.review_queue:,}</span> pair(s) of records wait for a steward\'s '
        "decision (<code>steward.steward_review_pairs</code>).</p>"
    )
    parts.append('<h2 id="trends">Trends</h2>')
    for title, png in data.trend_plots.items():
        parts.append(f"<h3>{_e(title)}</h3>")
        parts.append(f'<img alt="{_e(title)}" src="data:image/png;base64,{png}">' if png else _na("history"))
    parts.append('<h2 id="row-counts">Row counts per layer</h2>')
    parts.append(_row_counts_html(data.row_counts))
    parts.append('<h2 id="plots">Customer plots</h2>')
    for title, png in data.plots.items():
        parts.append(f"<h3>{_e(title)}</h3>")
        if png:
            parts.append(f'<img alt="{_e(title)}" src="data:image/png;base64,{png}">')
        else:
            parts.append(_na("marts.customer_360 data"))
    parts.append("</body></html>")
    return "\n".join(parts)


def _row_counts_html(counts: dict[str, dict[str, int | None]] | None) -> str:
    if counts is None:
        return _na()
    rows = ["<table><tr><th>layer</th><th>tables</th><th>rows</th></tr>"]
    for layer in LAYERS:
        tables = counts.get(layer, {})
        total = sum(n or 0 for n in tables.values())
        rows.append(f'<tr><td>{_e(layer)}</td><td class="n">{len(tables)}</td><td class="n">{total:,}</td></tr>')
    rows.append("</table>")
    detail = ["<table><tr><th>table</th><th>rows</th></tr>"]
    for layer in LAYERS:
        for table, n in counts.get(layer, {}).items():
            shown = "error" if n is None else f"{n:,}"
            detail.append(f'<tr><td>{_e(layer)}.{_e(table)}</td><td class="n">{shown}</td></tr>')
    detail.append("</table>")
    if len(detail) == 2:
        return "".join(rows) + '<p class="na">no tables yet</p>'
    return "".join(rows) + "".join(detail)


def _owner_html(dq: list[dict[str, Any]] | None) -> str:
    """Failures per owner area, so each reader finds what is theirs to fix."""
    if not dq:
        return _na("data-quality results")
    owners = ("source", "identity", "marts", "ml")
    out = ["<table><tr><th>owner</th><th>failed (error)</th><th>failed (warn)</th><th>checks</th></tr>"]
    for owner in owners:
        mine = [r for r in dq if r["owner"] == owner]
        errors = sum(1 for r in mine if not r["passed"] and r["severity"] == "error")
        warns = sum(1 for r in mine if not r["passed"] and r["severity"] == "warn")
        cls = ' class="fail-error"' if errors else (' class="fail-warn"' if warns else "")
        out.append(
            f'<tr{cls}><td>{owner}</td><td class="n">{errors}</td><td class="n">{warns}</td>'
            f'<td class="n">{len(mine)}</td></tr>'
        )
    out.append("</table>")
    return "".join(out)


def _dq_html(dq: list[dict[str, Any]] | None) -> str:
    if dq is None:
        return _na("ops.dq_results")
    if not dq:
        return '<p class="na">no checks recorded for this run</p>'
    # one suite per table: the table column names both
    out = [
        "<table><tr><th>result</th><th>severity</th><th>owner</th><th>table</th><th>check</th>"
        "<th>failing rows</th><th>example keys</th></tr>"
    ]
    for r in dq:  # already ordered: failing first, errors before warnings
        result = "pass" if r["passed"] else "FAIL"
        cls = "" if r["passed"] else f' class="fail-{_e(r["severity"])}"'
        keys = r["failing_examples"] or []
        examples = ", ".join(keys[:SHOWN_EXAMPLES]) + (
            f" (+{len(keys) - SHOWN_EXAMPLES} more)" if len(keys) > SHOWN_EXAMPLES else ""
        )
        count = "" if r["failing_count"] is None else f"{r['failing_count']:,}"
        out.append(
            f"<tr{cls}><td>{result}</td><td>{_e(r['severity'])}</td><td>{_e(r['owner'])}</td>"
            f'<td>{_e(r["table_name"])}</td><td>{_e(r["check_name"])}</td><td class="n">{count}</td>'
            f'<td><div class="keys" title="{_e(", ".join(keys))}">{_e(examples)}</div></td></tr>'
        )
    out.append("</table>")
    return "".join(out)


def _quarantine_html(quarantine: dict[str, dict[str, int]] | None) -> str:
    if not quarantine:
        return _na("quarantine tables")
    out = ["<table><tr><th>source</th><th>reason</th><th>rows</th></tr>"]
    for source, reasons in quarantine.items():
        if not reasons:
            out.append(f'<tr><td>{_e(source)}</td><td class="na">none</td><td class="n">0</td></tr>')
        for reason, n in reasons.items():
            out.append(f'<tr><td>{_e(source)}</td><td>{_e(reason)}</td><td class="n">{n:,}</td></tr>')
    out.append("</table>")
    return "".join(out)


def _files_not_loaded_html(files: list[dict[str, Any]] | None) -> str:
    if files is None:
        return _na("ops.ingest_log")
    if not files:
        return "<p>Every file this run found was loaded.</p>"
    out = [
        "<p>A rejected file loaded nothing and stopped the run: fix or replace it in the landing folder and "
        "rerun the interval. A replaced file is a changed re-delivery: it was loaded, and the rows of the "
        "version it replaces were removed (check that the change was meant). A duplicate is a file whose "
        "bytes were loaded before; it is skipped.</p>",
        "<table><tr><th>status</th><th>source</th><th>file</th><th>why</th></tr>",
    ]
    for f in files:
        cls = {"rejected": ' class="fail-error"', "replaced": ' class="fail-warn"'}.get(f["status"], "")
        out.append(
            f"<tr{cls}><td>{_e(f['status'])}</td><td>{_e(f['source'])}</td><td>{_e(f['file_name'])}</td>"
            f"<td>{_e(f['message'])}</td></tr>"
        )
    out.append("</table>")
    return "".join(out)
