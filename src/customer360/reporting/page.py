"""The run report as one self-contained HTML page: inline CSS, embedded PNGs, every value escaped."""

from __future__ import annotations

import html
from typing import Any

from customer360.reporting.data import ReportData, summary
from customer360.reporting.queries import LAYERS

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
