"""The run report as one self-contained HTML page, from templates/run_report.html.j2.

Jinja2 with autoescaping: every value that came from the warehouse (names of files, checks,
example keys, partner text in messages) is escaped wherever it lands, attributes included.
This module only shapes the data the template shows.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from customer360.reporting.data import ReportData, summary
from customer360.reporting.queries import LAYERS

SHOWN_EXAMPLES = 3  # example keys per check in the table; all stored ones are in the cell's tooltip
OWNERS = ("source", "identity", "marts", "ml")
STATUS_CLASSES = {"passed": "passed", "passed with warnings": "warnings", "failed": "failed"}


@cache
def _template():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("customer360.reporting", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a misspelt name fails the report instead of showing nothing
    )
    return env.get_template("run_report.html.j2")


def render_html(data: ReportData) -> str:
    return _template().render(
        data=data,
        status_class=STATUS_CLASSES.get(data.status, "unknown"),
        dq_counts=summary(data)["dq"],
        owners=_owner_rows(data.dq or []),
        checks=[_check_row(r) for r in data.dq or []],
        layers=LAYERS,
        table_rows=_table_rows(data.row_counts or {}),
    )


def _owner_rows(dq: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Failures per owner area, so each reader finds what is theirs to fix."""
    rows = []
    for owner in OWNERS:
        mine = [r for r in dq if r["owner"] == owner]
        rows.append(
            {
                "owner": owner,
                "errors": sum(1 for r in mine if not r["passed"] and r["severity"] == "error"),
                "warns": sum(1 for r in mine if not r["passed"] and r["severity"] == "warn"),
                "checks": len(mine),
            }
        )
    return rows


def _check_row(r: dict[str, Any]) -> dict[str, Any]:
    keys = r["failing_examples"] or []
    more = f" (+{len(keys) - SHOWN_EXAMPLES} more)" if len(keys) > SHOWN_EXAMPLES else ""
    return {
        **r,
        "count": "" if r["failing_count"] is None else f"{r['failing_count']:,}",
        "examples": ", ".join(keys[:SHOWN_EXAMPLES]) + more,
        "all_keys": ", ".join(keys),
    }


def _table_rows(counts: dict[str, dict[str, int | None]]) -> list[tuple[str, str]]:
    return [
        (f"{layer}.{table}", "error" if n is None else f"{n:,}")
        for layer in LAYERS
        for table, n in counts.get(layer, {}).items()
    ]
