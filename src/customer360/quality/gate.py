"""The data-quality gate: run the suites with Great Expectations, store, enforce.

GX runs in an ephemeral (in-memory) context: it writes no files. Every check result
is stored in ``ops.dq_results``; ``enforce`` raises ``QualityGateFailed`` when an
error-level check failed (warn-level failures are only logged).
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import psycopg
from psycopg import sql

from customer360.config import Settings
from customer360.db import tables
from customer360.db.connection import MARTS_SCHEMA, connect, qualified, table_exists, transaction
from customer360.ingestion.contracts import get_source
from customer360.quality.suites import MARTS_SUITES, SuiteSpec, quiet_gx, raw_suite, resolve_suite_names

log = logging.getLogger(__name__)

MAX_EXAMPLES = 10


class QualityGateFailed(RuntimeError):
    """An error-level data-quality check failed."""

    def __init__(self, message: str, failures: list[CheckResult]):
        super().__init__(message)
        self.failures = failures


@dataclass(frozen=True)
class CheckResult:
    run_id: str
    checked_at: datetime
    suite: str
    check_name: str
    table_name: str
    column_name: str | None
    severity: str
    owner: str
    passed: bool
    failing_count: int | None
    failing_examples: list[str] = field(default_factory=list)
    details: str | None = None

    def describe(self) -> str:
        if self.failing_count is None:
            text = f"{self.check_name} on {self.table_name} failed"
            return text + (f": {self.details}" if self.details else "")
        text = f"{self.check_name} on {self.table_name} failed for {self.failing_count} row(s)"
        if self.failing_examples:
            text += f" (e.g. {', '.join(self.failing_examples[:3])})"
        return text

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["checked_at"] = self.checked_at.isoformat()
        return d


# --- public API ----------------------------------------------------------------------


def run_checks(
    settings: Settings,
    suite_names: list[str] | str,
    as_of: datetime,
    run_id: str,
    *,
    marts: str = MARTS_SCHEMA,
    delivery_days: tuple[date, date] | None = None,
) -> list[CheckResult]:
    """Run the named suites ('raw', 'marts' or a list of suite names) and store the results.

    ``marts`` is the schema the marts suites read: the pipeline checks its build
    schema before publishing it.

    ``delivery_days`` ([start, end)): the days on which every source that delivers daily
    must have sent a file (``missing_delivery_day``); None skips that check.

    ``as_of`` is the run's data-interval end: it is the ``checked_at`` of every result and
    the bound of the "event time not in the future" checks. Rerunning a run_id replaces
    the stored rows of the suites being run.
    """
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    names = resolve_suite_names(suite_names)
    started = time.perf_counter()

    specs: list[SuiteSpec] = []
    results: list[CheckResult] = []
    with connect(settings, autocommit=True) as conn:
        for name in names:
            spec = _build_spec(conn, name, as_of, settings.max_quarantine_share, marts, run_id, delivery_days)
            if table_exists(conn, spec.schema, spec.table):
                specs.append(spec)
            else:
                results.append(_missing_table_result(spec, run_id, as_of))

    if specs:
        results.extend(_run_gx(settings, specs, as_of, run_id))

    store_results(settings, run_id, names, results)
    log.info(
        "data quality: %d checks in %d suites, %d failed (%.1fs)",
        len(results),
        len(names),
        sum(not r.passed for r in results),
        time.perf_counter() - started,
    )
    return results


def enforce(results: list[CheckResult]) -> None:
    """Raise QualityGateFailed naming every failing error-level check; log warn-level failures."""
    for r in results:
        if not r.passed and r.severity == "warn":
            log.warning("data quality warning [%s, owner %s]: %s", r.suite, r.owner, r.describe())
    failures = [r for r in results if not r.passed and r.severity == "error"]
    if failures:
        lines = [f"- [{r.suite}, owner {r.owner}] {r.describe()}" for r in failures]
        raise QualityGateFailed(
            f"data-quality gate failed: {len(failures)} error-level check(s) failed\n" + "\n".join(lines),
            failures,
        )


def ensure_results_table(settings: Settings) -> None:
    with connect(settings, autocommit=True) as conn:
        tables.create(conn, tables.DQ_RESULTS)


def store_results(settings: Settings, run_id: str, suite_names: list[str], results: list[CheckResult]) -> None:
    ensure_results_table(settings)
    with transaction(settings) as conn:
        conn.execute("delete from ops.dq_results where run_id = %s and suite = any(%s)", (run_id, list(suite_names)))
        with conn.cursor() as cur:
            cur.executemany(
                """
                insert into ops.dq_results (run_id, checked_at, suite, check_name, table_name, column_name,
                    severity, owner, passed, failing_count, failing_examples, details)
                values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                """,
                [
                    (
                        r.run_id,
                        r.checked_at,
                        r.suite,
                        r.check_name,
                        r.table_name,
                        r.column_name,
                        r.severity,
                        r.owner,
                        r.passed,
                        r.failing_count,
                        list(r.failing_examples),
                        r.details,
                    )
                    for r in results
                ],
            )


# --- internals -----------------------------------------------------------------------


def sqlalchemy_url(settings: Settings) -> str:
    """The warehouse URL with the psycopg2 SQLAlchemy driver that GX's postgres source expects,
    acting as the settings' role like every other session."""
    parts = urlsplit(settings.warehouse_url)
    query = [*parse_qsl(parts.query), ("options", settings.session_options)]
    return parts._replace(scheme="postgresql+psycopg2", query=urlencode(query)).geturl()


def _build_spec(
    conn,
    name: str,
    as_of: datetime,
    max_quarantine_share: float,
    marts: str,
    run_id: str | None = None,
    delivery_days: tuple[date, date] | None = None,
) -> SuiteSpec:
    schema, _, table = name.partition(".")
    if schema == "raw":
        latest = None
        if table_exists(conn, "raw", table):
            latest = _latest_batch_id(conn, table, run_id)
        return raw_suite(get_source(table), as_of, latest, max_quarantine_share, delivery_days=delivery_days)
    return MARTS_SUITES[name](marts)


def _latest_batch_id(conn, table: str, run_id: str | None = None) -> Any | None:
    """The batch the batch checks look at: this run's, if it loaded rows here, else the latest loaded.

    Preferring the run's own batch keeps parallel runs from checking each other's batches.
    """
    if run_id is not None:
        own = conn.execute(
            sql.SQL("select _batch_id::text from {} where _batch_id = %s limit 1").format(qualified("raw", table)),
            (run_id,),
        ).fetchone()
        if own:
            return own[0]
    row = conn.execute(
        sql.SQL("select _batch_id::text from {} order by _loaded_at desc nulls last limit 1").format(
            qualified("raw", table)
        )
    ).fetchone()
    return row[0] if row else None


def _missing_table_result(spec: SuiteSpec, run_id: str, as_of: datetime) -> CheckResult:
    return CheckResult(
        run_id=run_id,
        checked_at=as_of,
        suite=spec.name,
        check_name="table_exists",
        table_name=spec.table_name,
        column_name=None,
        severity=spec.missing_severity,
        owner=spec.missing_owner,
        passed=False,
        failing_count=None,
        failing_examples=[],
        details="table does not exist",
    )


def _run_gx(settings: Settings, specs: list[SuiteSpec], as_of: datetime, run_id: str) -> list[CheckResult]:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_postgres("warehouse", connection_string=sqlalchemy_url(settings))
    out: list[CheckResult] = []
    conn = connect(settings, autocommit=True)  # one connection for every suite's failing examples
    try:
        for spec in specs:
            with warnings.catch_warnings():
                # GX 1.14+ deprecates schema_name in favour of a schema in the connection
                # config, which PostgresDatasource does not offer; one source serves all schemas.
                warnings.filterwarnings("ignore", message="`schema_name` is deprecated", category=DeprecationWarning)
                asset = source.add_table_asset(spec.name, table_name=spec.table, schema_name=spec.schema)
            batch = asset.add_batch_definition_whole_table("whole_table")
            t0 = time.perf_counter()
            with quiet_gx():
                suite = context.suites.add(spec.suite)
                validation = context.validation_definitions.add(
                    gx.ValidationDefinition(name=f"{spec.name}:{run_id}", data=batch, suite=suite)
                )
                result = validation.run(result_format=_result_format(spec))
            log.debug("suite %s ran in %.2fs", spec.name, time.perf_counter() - t0)
            checks = _to_check_results(spec, result, as_of, run_id)
            out.extend(_with_query_examples(conn, spec, checks))
    finally:
        conn.close()
        engine = getattr(source, "_engine", None)
        if engine is not None:
            engine.dispose()
    return out


def _with_query_examples(conn: psycopg.Connection, spec: SuiteSpec, checks: list[CheckResult]) -> list[CheckResult]:
    """Failed query checks get the first column of their first rows as examples (keys by construction)."""
    queries = {
        (e.meta or {}).get("check"): getattr(e, "unexpected_rows_query")  # noqa: B009 - only that class has it
        for e in spec.suite.expectations
        if type(e).__name__ == "UnexpectedRowsExpectation"
    }
    out = []
    for check in checks:
        query = queries.get(check.check_name)
        if query and not check.passed and check.failing_count:
            query = query.replace("{batch}", f'"{spec.schema}"."{spec.table}"')  # as GX substitutes it
            rows = conn.execute(f"select * from ({query}) as failing limit {MAX_EXAMPLES}").fetchall()
            check = replace(check, failing_examples=[str(r[0]) for r in rows])
        out.append(check)
    return out


def _result_format(spec: SuiteSpec) -> dict[str, Any]:
    return {
        "result_format": "SUMMARY",
        "unexpected_index_column_names": list(spec.index_columns),
        # keys only: GX then returns no column values at all
        "exclude_unexpected_values": True,
        "partial_unexpected_count": MAX_EXAMPLES,
        "return_unexpected_index_query": False,
    }


def _to_check_results(spec: SuiteSpec, result, as_of: datetime, run_id: str) -> list[CheckResult]:
    out = []
    for r in result.results:
        cfg = r.expectation_config
        meta = cfg.meta or {}
        kwargs = cfg.kwargs or {}
        column = kwargs.get("column") or (",".join(kwargs["column_list"]) if kwargs.get("column_list") else None)
        res = r.result or {}
        exception = r.exception_info or {}
        raised = bool(exception.get("raised_exception"))
        details = None
        if raised:
            message = str(exception.get("exception_message") or "expectation raised").strip()
            details = "check could not run: " + message.splitlines()[0][:300]
        elif "observed_value" in res and not isinstance(res["observed_value"], (dict, list)):
            details = f"observed {res['observed_value']}"  # aggregates only (row count, etc.)
        failing_count = res.get("unexpected_count")  # None for table-level (aggregate) checks
        examples = _examples(res, spec.index_columns)
        if cfg.type == "unexpected_rows_expectation" and not raised:
            # a query check: its rows are the failures (examples are read by `_query_examples`)
            failing_count = res.get("observed_value")
            examples = []
            details = None
        out.append(
            CheckResult(
                run_id=run_id,
                checked_at=as_of,
                suite=spec.name,
                check_name=meta.get("check", cfg.type),
                table_name=spec.table_name,
                column_name=column,
                severity=meta.get("severity", "error"),
                owner=meta.get("owner", "source"),
                passed=bool(r.success) and not raised,
                failing_count=None if raised else failing_count,
                failing_examples=[] if r.success else examples,
                details=details,
            )
        )
    return out


def _examples(res: dict, index_columns: tuple[str, ...]) -> list[str]:
    """Keys of failing rows ("file.csv:12" or "C-123"), from GX's partial index list.

    GX returns either one dict per row ({col: value}) or, with exclude_unexpected_values,
    one dict of lists ({col: [v1, v2]}). Only the index columns are read.
    """
    rows: list[tuple] = []
    for item in res.get("partial_unexpected_index_list") or []:
        if not isinstance(item, dict):
            continue
        values = [item.get(c) for c in index_columns]
        if values and all(isinstance(v, list) for v in values):
            rows.extend(zip(*values))
        else:
            rows.append(tuple(values))
    keys = [":".join("" if v is None else str(v) for v in row) for row in rows]
    return list(dict.fromkeys(keys))[:MAX_EXAMPLES]
