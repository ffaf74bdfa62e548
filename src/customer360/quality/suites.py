"""Data-quality suites as code, built from the source contracts.

Every expectation carries in its ``meta``:

* ``check``    - a stable, human-readable check name (unique within its suite),
* ``severity`` - ``error`` (the gate fails) or ``warn`` (logged and reported only),
* ``owner``    - the area that fixes it: ``source``, ``identity``, ``marts`` or ``ml``.

Raw suites (``raw.<source>``), built from ``customer360.ingestion.contracts.SOURCES``:

* required columns are not null (error),
* the record key is unique **within the latest load batch** (error). Raw tables are
  append-only and sources legitimately re-send records over time (CRM accounts are
  re-sent on every update), so uniqueness over the whole table is not a property of
  the source; a duplicate within one batch is. The latest batch is the ``_batch_id`` of
  the row with the greatest ``_loaded_at``. Versioned sources (``VERSIONED_SOURCES``)
  are checked on (key, event_time) instead, because one batch may carry several
  versions of the same record.
* the event time is not after the run's as-of timestamp (error). The as-of is passed
  in (the Airflow run's data-interval end); nothing here reads the clock.
* every day of the run's interval has a file from each source that delivers daily
  (``missing_delivery_day``, error: the run names the source and the day instead of
  succeeding with nothing; an empty, header-only file is a delivery).
* source-specific value rules (``VALUE_RULES``), e.g. e-mail event types, survey scores,
  and non-negative amounts (warn).

Marts suites (``marts.dim_customer``, ``marts.fct_orders``, ``marts.fct_touchpoints``,
``marts.customer_360``) keep their logical names wherever they run: the pipeline runs
them on the build schema, before it is published as ``marts``.

Example keys of failing rows come from ``index_columns``: ``_file_name`` and
``_line_number`` for raw tables, the business key for marts. Never personal values.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

import great_expectations as gx
from great_expectations.expectations.row_conditions import Column as RowColumn

from customer360.ingestion.contracts import SOURCES, SourceContract

Severity = Literal["error", "warn"]
Owner = Literal["source", "identity", "marts", "ml"]

RAW_INDEX_COLUMNS = ("_file_name", "_line_number")

# Sources that deliver several versions of one record (key is not unique per batch).
VERSIONED_SOURCES = frozenset({"crm_accounts"})


@dataclass(frozen=True)
class SuiteSpec:
    """One GX suite and the table it runs against."""

    name: str  # "raw.surveys", "marts.customer_360"
    schema: str
    table: str
    index_columns: tuple[str, ...]  # key columns reported as failing examples
    suite: gx.ExpectationSuite
    # how to report the table itself being absent
    missing_severity: Severity = "error"
    missing_owner: Owner = "source"
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def table_name(self) -> str:
        """The table as its readers know it: marts suites check the build schema but report
        the published name, so a table's results history does not depend on where it was built."""
        return self.name


def _meta(check: str, severity: Severity, owner: Owner) -> dict[str, str]:
    return {"check": check, "severity": severity, "owner": owner}


def _utc(ts: datetime) -> datetime:
    if ts.tzinfo is None:
        return ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC)


# --- source-specific value rules -------------------------------------------------------


def _accepted_values(column: str, values: list[str], severity: Severity = "error") -> Callable[[], Any]:
    return lambda: gx.expectations.ExpectColumnValuesToBeInSet(
        column=column,
        value_set=values,
        meta=_meta(f"accepted_values:{column}", severity, "source"),
        description=f"{column} is one of {', '.join(values)}",
    )


def _between(column: str, lo: float | None, hi: float | None, severity: Severity, check: str) -> Callable[[], Any]:
    return lambda: gx.expectations.ExpectColumnValuesToBeBetween(
        column=column,
        min_value=lo,
        max_value=hi,
        meta=_meta(f"{check}:{column}", severity, "source"),
        description=f"{column} between {lo} and {hi}",
    )


VALUE_RULES: dict[str, list[Callable[[], Any]]] = {
    "email_campaign_events": [
        _accepted_values("event_type", ["sent", "open", "click", "unsubscribe", "bounce"]),
    ],
    "surveys": [
        _between("satisfaction_score", 1, 5, "error", "range_1_5"),
        _between("recommend_score", 0, 10, "warn", "range_0_10"),
    ],
    "pos_transactions": [_between("amount", 0, None, "warn", "non_negative")],
    "web_orders": [_between("amount", 0, None, "warn", "non_negative")],
    "call_center_contacts": [_between("handling_seconds", 0, None, "warn", "non_negative")],
}


# --- raw -----------------------------------------------------------------------------

# Loose on purpose: spaces around a value, brackets, dots and dashes are staging's to tidy;
# a missing or doubled @, or letters in a phone number, are not.
EMAIL_PATTERN = r"^\s*[^@\s]+@[^@\s]+\.[^@\s]+\s*$"
PHONE_PATTERN = r"^\s*\+?[0-9(][0-9 ().\-]{5,24}\s*$"
QUARANTINE_SHARE_MIN_ROWS = 20  # fewer quarantined rows never fail the gate: a small source's noise
SCORE_SHIFT = 0.15  # mean churn probability moving more than this between cut-offs is worth a look
VOLUME_HISTORY = 7  # earlier batches a source's volume is compared with
VOLUME_BAND = (0.5, 2.0)  # a batch below half or above twice their median is flagged


def _literal(value: Any) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _unexpected_rows(query: str, check: str, severity: Severity, owner: Owner, description: str) -> Any:
    """A check whose SQL returns the offending rows (keys or aggregates only: no personal values).

    GX prints a hint for a query that does not read the validated table; these
    read the quarantine, the manifest or other marts on purpose (see `quiet_gx`).
    """
    with quiet_gx():
        return gx.expectations.UnexpectedRowsExpectation(
            unexpected_rows_query=query, meta=_meta(check, severity, owner), description=description
        )


def quiet_gx():
    """Swallow what GX prints to stdout (the {batch} hint above); its logging is untouched."""
    return contextlib.redirect_stdout(io.StringIO())


def _plausible_dates(contract: SourceContract, as_of: datetime) -> list[Any]:
    """The contract's plausible ranges of warn severity (quarantine ones are the loader's): from the
    range's earliest date to the run's as-of."""
    checks = []
    for column in contract.columns:
        if column.plausible is None or column.plausible.severity != "warn":
            continue
        earliest, latest = column.plausible.earliest, _utc(as_of)
        lo, hi = (
            (earliest, latest.date())
            if column.type == "date"
            else (datetime.combine(earliest, datetime.min.time(), UTC), latest)
        )
        checks.append(
            gx.expectations.ExpectColumnValuesToBeBetween(
                column=column.name,
                min_value=lo,
                max_value=hi,
                meta=_meta(f"plausible:{column.name}", "warn", "source"),
                description=f"{column.name} between {earliest} and the run's as-of (else a placeholder or a typo)",
            )
        )
    return checks


def _format_checks(contract: SourceContract) -> list[Any]:
    out = []
    for column in contract.column_names:
        if column == "email" or column.endswith("_email"):
            pattern, what = EMAIL_PATTERN, "an e-mail address"
        elif column == "phone" or column.endswith("_phone"):
            pattern, what = PHONE_PATTERN, "a phone number"
        else:
            continue
        out.append(
            gx.expectations.ExpectColumnValuesToMatchRegex(
                column=column,
                regex=pattern,
                meta=_meta(f"format:{column}", "warn", "source"),
                description=f"{column} looks like {what}",
            )
        )
    return out


def _batch_checks(contract: SourceContract, batch_id: Any, max_quarantine_share: float) -> list[Any]:
    """Checks on what the latest load batch did to this source (from the quarantine and the manifest)."""
    batch, source = _literal(batch_id), _literal(contract.name)
    return [
        _unexpected_rows(
            f"select _file_name || ':' || _line_number as row_key, reason_code "
            f"from quarantine.{contract.name} where _batch_id = {batch}",
            "quarantined_rows",
            "warn",
            "source",
            "rows of the latest batch set aside in quarantine (row-level noise: the good rows loaded)",
        ),
        _unexpected_rows(
            f"select source, sum(rows_quarantined) as quarantined, sum(rows_in_file) as rows_in_files "
            f"from ops.file_manifest where source = {source} and batch_id = {batch} group by source "
            f"having sum(rows_quarantined) > {max_quarantine_share!r} * sum(rows_in_file) "
            f"and sum(rows_quarantined) >= {QUARANTINE_SHARE_MIN_ROWS}",
            "quarantine_share",
            "error",
            "source",
            f"at most {max_quarantine_share:.0%} of the latest batch's rows quarantined, once "
            f"{QUARANTINE_SHARE_MIN_ROWS} or more are (more means a broken export, not noise; "
            "C360_MAX_QUARANTINE_SHARE)",
        ),
        _unexpected_rows(
            f"with batches as (select batch_id, sum(rows_in_file) as n, min(loaded_at) as at from ops.file_manifest "
            f"where source = {source} group by batch_id), "
            f"current as (select n from batches where batch_id = {batch}), "
            f"history as (select n from batches where batch_id <> {batch} order by at desc limit {VOLUME_HISTORY}) "
            f"select c.n as rows_now, h.median as usual from current c, "
            f"(select percentile_cont(0.5) within group (order by n) as median, count(*) as k from history) h "
            f"where h.k >= 3 and (c.n < {VOLUME_BAND[0]} * h.median or c.n > {VOLUME_BAND[1]} * h.median)",
            "volume",
            "warn",
            "source",
            f"the latest batch's row count is within {VOLUME_BAND[0]}x-{VOLUME_BAND[1]}x of the median of the "
            f"{VOLUME_HISTORY} batches before it",
        ),
    ]


def _missing_delivery_days(contract: SourceContract, days: tuple[date, date]) -> Any:
    """A source that delivers daily sent no file (an empty one counts) for a day of the run's interval.

    Reads ops.ingest_log, which lists every file seen, re-deliveries included: a header-only
    file whose bytes equal an earlier day's is logged as a duplicate but is still that day's delivery.
    """
    start, end = days
    return _unexpected_rows(
        f"select to_char(d, 'YYYY-MM-DD') as missing_day from generate_series("
        f"{_literal(start.isoformat())}::date, {_literal(end.isoformat())}::date - 1, interval '1 day') as d "
        f"where not exists (select 1 from ops.ingest_log l where l.source = {_literal(contract.name)} "
        f"and l.file_day = d::date and l.status in ('loaded', 'replaced', 'duplicate')) order by d",
        "missing_delivery_day",
        "error",
        "source",
        f"{contract.name} delivers a file every day (an empty one on a quiet day); these days of the run's "
        "interval have none: re-send them, then rerun the interval",
    )


def raw_suite(
    contract: SourceContract,
    as_of: datetime,
    latest_batch_id: Any | None = None,
    max_quarantine_share: float = 0.05,
    *,
    delivery_days: tuple[date, date] | None = None,
) -> SuiteSpec:
    """The suite of one raw source, derived from its contract.

    ``latest_batch_id``: restricts the key-uniqueness check to that batch and is the
    batch whose quarantine share and volume are checked; None (an empty table)
    checks the whole table, which is then trivially true.
    """
    name = f"raw.{contract.name}"
    expectations: list[Any] = []
    for column in contract.required_columns:
        expectations.append(
            gx.expectations.ExpectColumnValuesToNotBeNull(
                column=column,
                meta=_meta(f"not_null:{column}", "error", "source"),
                description=f"required column {column} is set",
            )
        )

    batch_condition = None
    if latest_batch_id is not None:
        batch_condition = RowColumn("_batch_id") == latest_batch_id
    if contract.name in VERSIONED_SOURCES:
        expectations.append(
            gx.expectations.ExpectCompoundColumnsToBeUnique(
                column_list=[contract.key, contract.event_time],
                row_condition=batch_condition,
                meta=_meta(f"unique_in_latest_batch:{contract.key}+{contract.event_time}", "error", "source"),
                description=f"({contract.key}, {contract.event_time}) unique within the latest batch",
            )
        )
    else:
        expectations.append(
            gx.expectations.ExpectColumnValuesToBeUnique(
                column=contract.key,
                row_condition=batch_condition,
                meta=_meta(f"unique_in_latest_batch:{contract.key}", "error", "source"),
                description=f"{contract.key} unique within the latest batch",
            )
        )

    expectations.append(
        gx.expectations.ExpectColumnValuesToBeBetween(
            column=contract.event_time,
            max_value=_utc(as_of),
            meta=_meta(f"not_in_future:{contract.event_time}", "error", "source"),
            description=f"{contract.event_time} not after the run's as-of {_utc(as_of).isoformat()}",
        )
    )
    for rule in VALUE_RULES.get(contract.name, []):
        expectations.append(rule())
    expectations.extend(_plausible_dates(contract, as_of))
    expectations.extend(_format_checks(contract))
    expectations.append(
        _unexpected_rows(
            f"select max({contract.event_time}) as newest_event from {{batch}} "
            f"having max({contract.event_time}) < {_literal(_utc(as_of).isoformat())}::timestamptz "
            f"- interval '{contract.freshness_days} days'",
            "freshness",
            "warn",
            "source",
            f"the newest {contract.event_time} is within {contract.freshness_days} day(s) of the run's as-of",
        )
    )
    if latest_batch_id is not None:
        expectations.extend(_batch_checks(contract, latest_batch_id, max_quarantine_share))
    if contract.delivers_daily and delivery_days is not None:
        expectations.append(_missing_delivery_days(contract, delivery_days))

    return SuiteSpec(
        name=name,
        schema="raw",
        table=contract.name,
        index_columns=RAW_INDEX_COLUMNS,
        suite=gx.ExpectationSuite(name=name, expectations=expectations),
        # a source that never delivered has no raw table yet: reported, not fatal
        missing_severity="warn",
        missing_owner="source",
        notes={"latest_batch_id": latest_batch_id},
    )


# --- marts ---------------------------------------------------------------------------


def customer_360_suite(schema: str) -> SuiteSpec:
    name = "marts.customer_360"
    e = gx.expectations
    expectations = [
        e.ExpectTableRowCountToBeBetween(min_value=1, meta=_meta("row_count_positive", "error", "marts")),
        e.ExpectColumnValuesToNotBeNull(column="customer_id", meta=_meta("not_null:customer_id", "error", "identity")),
        e.ExpectColumnValuesToBeUnique(column="customer_id", meta=_meta("unique:customer_id", "error", "identity")),
        e.ExpectColumnValuesToBeBetween(
            column="churn_probability",
            min_value=0,
            max_value=1,
            meta=_meta("range_0_1:churn_probability", "error", "ml"),
        ),
        e.ExpectColumnValuesToBeBetween(column="clv", min_value=0, meta=_meta("non_negative:clv", "error", "ml")),
        _unexpected_rows(
            "with runs as (select cutoff_date, avg(churn_probability) as mean_churn from ml.customer_scores "
            "group by cutoff_date order by cutoff_date desc limit 2) "
            "select max(cutoff_date) as cutoff_date, max(mean_churn) - min(mean_churn) as shift from runs "
            f"having count(*) = 2 and max(mean_churn) - min(mean_churn) > {SCORE_SHIFT!r}",
            "score_shift:churn_probability",
            "warn",
            "ml",
            f"mean churn probability moved by at most {SCORE_SHIFT} since the previous cut-off",
        ),
    ]
    return SuiteSpec(
        name=name,
        schema=schema,
        table="customer_360",
        index_columns=("customer_id",),
        suite=gx.ExpectationSuite(name=name, expectations=expectations),
        missing_severity="error",
        missing_owner="marts",
    )


def fct_orders_suite(schema: str) -> SuiteSpec:
    name = "marts.fct_orders"
    e = gx.expectations
    expectations = [
        e.ExpectColumnValuesToNotBeNull(column="order_key", meta=_meta("not_null:order_key", "error", "marts")),
        e.ExpectColumnValuesToBeUnique(column="order_key", meta=_meta("unique:order_key", "error", "marts")),
        # Till sales without a loyalty card are anonymous by design; a web order always has an account.
        e.ExpectColumnValuesToNotBeNull(
            column="customer_id",
            row_condition=RowColumn("channel") == "web",
            meta=_meta("not_null_for_web_orders:customer_id", "error", "identity"),
        ),
        e.ExpectColumnValuesToBeBetween(
            column="amount", min_value=0, meta=_meta("non_negative:amount", "warn", "marts")
        ),
        _orphans(schema, "fct_orders", "order_key"),
    ]
    return SuiteSpec(
        name=name,
        schema=schema,
        table="fct_orders",
        index_columns=("order_key",),
        suite=gx.ExpectationSuite(name=name, expectations=expectations),
        missing_severity="error",
        missing_owner="marts",
    )


def _orphans(schema: str, table: str, key: str) -> Any:
    return _unexpected_rows(
        f"select f.{key} from {schema}.{table} f left join {schema}.dim_customer d using (customer_id) "
        "where f.customer_id is not null and d.customer_id is null",
        "no_orphans:customer_id",
        "error",
        "marts",
        f"every customer_id in {table} is in dim_customer",
    )


def dim_customer_suite(schema: str) -> SuiteSpec:
    name = "marts.dim_customer"
    e = gx.expectations
    expectations = [
        e.ExpectColumnValuesToNotBeNull(column="customer_id", meta=_meta("not_null:customer_id", "error", "identity")),
        e.ExpectColumnValuesToBeUnique(column="customer_id", meta=_meta("unique:customer_id", "error", "identity")),
    ]
    return SuiteSpec(
        name=name,
        schema=schema,
        table="dim_customer",
        index_columns=("customer_id",),
        suite=gx.ExpectationSuite(name=name, expectations=expectations),
        missing_owner="marts",
    )


def fct_touchpoints_suite(schema: str) -> SuiteSpec:
    name = "marts.fct_touchpoints"
    expectations = [_orphans(schema, "fct_touchpoints", "touchpoint_key")]
    return SuiteSpec(
        name=name,
        schema=schema,
        table="fct_touchpoints",
        index_columns=("touchpoint_key",),
        suite=gx.ExpectationSuite(name=name, expectations=expectations),
        missing_owner="marts",
    )


# Each takes the schema the marts were built into.
MARTS_SUITES: dict[str, Callable[[str], SuiteSpec]] = {
    "marts.dim_customer": dim_customer_suite,
    "marts.fct_orders": fct_orders_suite,
    "marts.fct_touchpoints": fct_touchpoints_suite,
    "marts.customer_360": customer_360_suite,
}

RAW_SUITE_NAMES = tuple(f"raw.{name}" for name in SOURCES)
ALL_SUITE_NAMES = RAW_SUITE_NAMES + tuple(MARTS_SUITES)


def resolve_suite_names(suite_names: list[str] | str) -> list[str]:
    """'raw' / 'marts' / 'all' or a list of suite names (or of those group words)."""
    items = [suite_names] if isinstance(suite_names, str) else list(suite_names)
    out: list[str] = []
    for item in items:
        if item == "raw":
            out.extend(RAW_SUITE_NAMES)
        elif item == "marts":
            out.extend(MARTS_SUITES)
        elif item == "all":
            out.extend(ALL_SUITE_NAMES)
        elif item in ALL_SUITE_NAMES:
            out.append(item)
        else:
            raise ValueError(f"unknown suite {item!r}; known: raw, marts, all, {', '.join(ALL_SUITE_NAMES)}")
    return list(dict.fromkeys(out))  # de-duplicated, in order
