"""Source contracts: each touch-point source is declared once, here.

The declaration drives the simulator's file writer, the loader (raw table
columns, types, required fields), the dbt sources and the quality suites.
Adding a source means adding a `SourceContract` to `SOURCES` and a staging model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Literal
from zoneinfo import ZoneInfo

ColumnType = Literal["text", "integer", "numeric", "boolean", "date", "timestamp"]
FileFormat = Literal["csv", "jsonl", "parquet"]


# Names become table and column names in SQL: lower snake case only, so no name can need
# quoting, let alone escape it. A header field outside the contract never becomes an
# identifier (it is kept as a key in the row's _extra JSON).
SQL_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class ContractError(ValueError):
    pass


def check_sql_name(kind: str, name: str) -> None:
    if not isinstance(name, str) or not SQL_NAME.fullmatch(name):
        raise ContractError(
            f"{kind} name {name!r} is not allowed: use lower-case letters, digits and underscores "
            "(at most 63, not starting with a digit), e.g. 'loyalty_id'"
        )


@dataclass(frozen=True)
class Plausible:
    """A date or time column's plausible range: from `earliest` to the file's delivery day.

    Outside it a value is a placeholder or a typo (a birth date of 1900-01-01 or 9999-12-31,
    an account created in 1900). `warn`: the row loads and the raw quality gate reports the
    rows (check `plausible:<column>`, warn); `quarantine`: the loader quarantines the row
    (`implausible_date`). Event times carry none: a till export from the 1990s is real.
    """

    earliest: date
    severity: Literal["warn", "quarantine"] = "warn"


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType = "text"
    required: bool = False
    personal: bool = False  # holds personal data: kept out of BI-facing output
    plausible: Plausible | None = None

    def __post_init__(self) -> None:
        check_sql_name("column", self.name)
        if self.plausible is not None and self.type not in ("date", "timestamp"):
            raise ContractError(f"column {self.name!r}: a plausible range needs a date or timestamp column")


@dataclass(frozen=True)
class SourceContract:
    name: str
    description: str
    format: FileFormat
    columns: tuple[Column, ...]
    key: str  # the record key within the source
    event_time: str  # the column that says when the record happened
    delimiter: str = ","
    encoding: str = "utf-8"
    header: bool = True
    extension: str = field(default="")
    freshness_days: int = 2  # the newest event older than this at a run's end is worth a warning
    # The declared rule for source times written without an offset: they are wall-clock times
    # in this IANA zone and are stored in UTC (a time with an explicit offset keeps it). The
    # loader applies it by giving Postgres the zone for the file's COPY (ingestion.loader);
    # a wall-clock time that does not exist or occurs twice on a daylight-saving change is
    # read as standard time, as Postgres does.
    timezone: str = "UTC"
    # The source sends a file every day, an empty one (header only) on a day without records;
    # a day of a run's interval with no file from it fails the raw gate (missing_delivery_day).
    delivers_daily: bool = False
    # The column whose value keys this source's records in identity resolution (one record per
    # value: a loyalty card's transactions are one record), as int_source_records builds them.
    identity_key: str = ""
    # Whether the source guarantees one identity key per person. Only then do two records with
    # different keys of this source count as different people (the key vetoes a merge). A CRM
    # usually holds duplicate accounts of one person, so the default is False.
    identity_key_unique_per_person: bool = False
    # The longest value (in characters) a field may hold; a row with a longer one is quarantined
    # (field_too_long), the rest of its file loads. A survey comment or a page URL can be long;
    # a value of megabytes is a broken export.
    max_field_chars: int = 1 << 20

    def __post_init__(self) -> None:
        check_sql_name("source", self.name)
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ContractError(f"source {self.name!r} declares a column twice")
        for role, name in (
            ("key", self.key),
            ("event_time", self.event_time),
            ("identity_key", self.identity_key or self.key),
        ):
            if name not in names:
                raise ContractError(f"source {self.name!r}: its {role} {name!r} is not one of its columns")

    @property
    def file_extension(self) -> str:
        return self.extension or {"csv": "csv", "jsonl": "jsonl", "parquet": "parquet"}[self.format]

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def personal_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.personal]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"source {self.name!r} declares no column {name!r}")


def _c(
    name: str,
    type: ColumnType = "text",
    *,
    required: bool = False,
    personal: bool = False,
    plausible: Plausible | None = None,
) -> Column:
    return Column(name, type, required, personal, plausible)


# 1900-01-01 is the usual placeholder birth date, so the plausible range starts the day after.
BIRTH_DATES = Plausible(date(1900, 1, 2))
# No customer system of ours dates from before 1950.
SYSTEM_DATES = Plausible(date(1950, 1, 1))


SOURCES: dict[str, SourceContract] = {
    s.name: s
    for s in (
        SourceContract(
            name="crm_accounts",
            identity_key="account_id",
            # Duplicate accounts of one person are what a single customer view must merge.
            identity_key_unique_per_person=False,
            description="Customer accounts from the CRM; one row per account version (re-sent on every update).",
            format="csv",
            key="account_id",
            event_time="updated_at",
            delivers_daily=True,
            columns=(
                _c("account_id", required=True),
                _c("title", personal=True),
                _c("first_name", personal=True),
                _c("last_name", personal=True),
                _c("email", personal=True),
                _c("phone", personal=True),
                _c("date_of_birth", "date", personal=True, plausible=BIRTH_DATES),
                _c("street_address", personal=True),
                _c("city", personal=True),
                _c("postcode", personal=True),
                _c("country"),
                _c("loyalty_id"),
                _c("created_at", "timestamp", required=True, plausible=SYSTEM_DATES),
                _c("updated_at", "timestamp", required=True),
            ),
        ),
        SourceContract(
            name="pos_transactions",
            identity_key="loyalty_id",
            # A loyalty card belongs to one member, and a member has one card.
            identity_key_unique_per_person=True,
            description="Till transactions from the stores; loyalty_id is empty for customers without a card.",
            format="csv",
            delimiter=";",
            key="transaction_id",
            event_time="transaction_at",
            timezone="Europe/London",  # the tills' clocks show UK time
            delivers_daily=True,
            columns=(
                _c("transaction_id", required=True),
                _c("loyalty_id"),
                _c("store_id", required=True),
                _c("transaction_at", "timestamp", required=True),
                _c("amount", "numeric", required=True),
                _c("currency", required=True),
                _c("items"),  # "SKU*qty|SKU*qty"
            ),
        ),
        SourceContract(
            name="web_orders",
            identity_key="web_account_id",
            description="Orders from the web shop, with the shopper's account and delivery details.",
            format="jsonl",
            key="order_id",
            event_time="ordered_at",
            columns=(
                _c("order_id", required=True),
                _c("web_account_id", required=True),
                _c("email", required=True, personal=True),
                _c("first_name", personal=True),
                _c("last_name", personal=True),
                _c("phone", personal=True),
                _c("shipping_street", personal=True),
                _c("shipping_city", personal=True),
                _c("shipping_postcode", personal=True),
                _c("country"),
                _c("ordered_at", "timestamp", required=True),
                _c("amount", "numeric", required=True),
                _c("currency", required=True),
                _c("items"),
            ),
        ),
        SourceContract(
            name="web_events",
            identity_key="web_account_id",
            description="Click-stream events from the web site; web_account_id is set when the visitor is logged in.",
            format="parquet",
            key="event_id",
            event_time="occurred_at",
            columns=(
                _c("event_id", required=True),
                _c("session_id", required=True),
                _c("web_account_id"),
                _c("event_type", required=True),
                _c("page_url"),
                _c("product_sku"),
                _c("occurred_at", "timestamp", required=True),
            ),
        ),
        SourceContract(
            name="call_center_contacts",
            identity_key="contact_id",
            description="Calls to the call centre; the agent types the caller's name as heard.",
            format="csv",
            freshness_days=7,
            key="contact_id",
            event_time="contacted_at",
            columns=(
                _c("contact_id", required=True),
                _c("account_id"),
                _c("caller_name", personal=True),
                _c("phone", personal=True),
                _c("postcode", personal=True),
                _c("contact_reason", required=True),
                _c("is_complaint", "boolean"),
                _c("is_resolved_first_time", "boolean"),
                _c("handling_seconds", "integer"),
                _c("contacted_at", "timestamp", required=True),
            ),
        ),
        SourceContract(
            name="email_campaign_events",
            identity_key="email",
            description="Sends, opens, clicks, bounces and unsubscribes from the e-mail marketing platform.",
            format="jsonl",
            freshness_days=45,
            key="event_id",
            event_time="occurred_at",
            columns=(
                _c("event_id", required=True),
                _c("campaign_id", required=True),
                _c("campaign_name"),
                _c("email", required=True, personal=True),
                _c("event_type", required=True),
                _c("occurred_at", "timestamp", required=True),
            ),
        ),
        SourceContract(
            name="surveys",
            identity_key="response_id",
            description="Customer satisfaction survey answers (satisfaction 1-5, likelihood to recommend 0-10).",
            format="csv",
            freshness_days=14,
            key="response_id",
            event_time="responded_at",
            columns=(
                _c("response_id", required=True),
                _c("email", personal=True),
                _c("respondent_name", personal=True),
                _c("satisfaction_score", "integer", required=True),
                _c("recommend_score", "integer"),
                _c("comment", personal=True),
                _c("responded_at", "timestamp", required=True),
            ),
        ),
        SourceContract(
            name="product_registrations",
            identity_key="registration_id",
            description="Warranty registrations of bought products.",
            format="jsonl",
            freshness_days=14,
            key="registration_id",
            event_time="registered_at",
            columns=(
                _c("registration_id", required=True),
                _c("product_sku", required=True),
                _c("serial_number"),
                _c("first_name", personal=True),
                _c("last_name", personal=True),
                _c("email", personal=True),
                _c("phone", personal=True),
                _c("postcode", personal=True),
                _c("purchase_date", "date", plausible=SYSTEM_DATES),
                _c("registered_at", "timestamp", required=True),
            ),
        ),
    )
}


def get_source(name: str) -> SourceContract:
    try:
        return SOURCES[name]
    except KeyError:
        known = ", ".join(sorted(SOURCES))
        raise KeyError(f"unknown source {name!r}; declared sources are: {known}") from None


LANDING_DAY_FORMAT = "%Y-%m-%d"


def landing_file_name(source: SourceContract, day: str, part: int = 1) -> str:
    """Landing layout: <landing>/<source>/<YYYY-MM-DD>/<source>_<YYYY-MM-DD>_<part>.<ext>."""
    return f"{source.name}_{day}_{part:03d}.{source.file_extension}"


# The column of each source whose value is the record's key in identity.customer_source_xref
# (as int_source_records builds it): the loyalty card for till sales, the web account for
# web orders and events; e-mail campaign events are keyed by the normalised e-mail.
IDENTITY_KEY_COLUMNS: dict[str, str] = {name: s.identity_key or s.key for name, s in SOURCES.items()}
