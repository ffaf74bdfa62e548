"""The project's settings: one typed object built from the environment.

Defaults run the demo. WAREHOUSE_URL is the one warehouse setting; every
command, DAG and test reads it through `Settings.from_env()`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

# The repository root (src/customer360/config.py -> three levels up); also for the editable
# install in the Docker image at /opt/customer360.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = PROJECT_ROOT / "data"
_LOCK_TIMEOUT = re.compile(r"\d+\s*(ms|s|min|h)?")


class SettingsError(RuntimeError):
    """A setting is missing or wrong: the message says which and what to set."""


@dataclass(frozen=True)
class ConnectionParts:
    host: str
    port: int
    user: str
    password: str
    dbname: str


def parse_url(url: str) -> ConnectionParts:
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"):
        raise ValueError(
            "WAREHOUSE_URL must be a PostgreSQL URL like postgresql://user@host:5432/dbname, "
            f"got scheme {parts.scheme!r}"
        )
    dbname = unquote(parts.path.lstrip("/")) or "postgres"
    return ConnectionParts(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password or ""),
        dbname=dbname,
    )


def with_database(url: str, dbname: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return parts._replace(path="/" + dbname).geturl()


def redact(url: str) -> str:
    """The URL without its password, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
    return parts._replace(netloc=netloc).geturl()


def task_retries(env: dict[str, str] | None = None) -> int:
    """Airflow retries of every pipeline task (C360_TASK_RETRIES, default 2): read where a DAG is
    parsed, so it needs no warehouse URL. Retries ride out a restarted warehouse or a killed connection."""
    raw = (os.environ if env is None else env).get("C360_TASK_RETRIES", "2").strip()
    if not raw.isdigit():
        raise SettingsError(f"C360_TASK_RETRIES must be a whole number of retries (0 or more), got {raw!r}")
    return int(raw)


def task_retry_delay(default_seconds: int, env: dict[str, str] | None = None) -> int:
    """Seconds between a task's retries (C360_TASK_RETRY_DELAY; without it, the DAG's own default):
    time for a restarted warehouse to come back. The fault test sets 1: it has nothing to wait for."""
    raw = (os.environ if env is None else env).get("C360_TASK_RETRY_DELAY", "").strip()
    if not raw:
        return default_seconds
    if not raw.isdigit():
        raise SettingsError(f"C360_TASK_RETRY_DELAY must be a whole number of seconds (0 or more), got {raw!r}")
    return int(raw)


@dataclass(frozen=True)
class Settings:
    warehouse_url: str
    data_dir: Path = DEFAULT_DATA_DIR
    reports_dir: Path = PROJECT_ROOT / "reports"
    dbt_project_dir: Path = PROJECT_ROOT / "dbt_project"
    churn_horizon_days: int = 90
    clv_horizon_months: int = 12
    annual_discount_rate: float = 0.10
    # Days between model refits (customer360.ml.scoring.refit_cutoff); the runs between score with the last fit.
    model_refit_days: int = 1
    max_quarantine_share: float = 0.05  # a batch quarantining more of a source's rows fails the raw gate
    # Identity resolution (customer360.identity): largest cluster merged without a steward, and the
    # match-probability band: >= link links, [review, link) goes to the steward review queue.
    max_cluster_size: int = 50
    match_link_probability: float = 0.99
    match_review_probability: float = 0.5
    # Longest a pipeline statement waits for a table lock before it fails (a Postgres interval:
    # 500ms, 30s, 2min); the task then fails, rolls back and is retried (see docs/operations.md).
    lock_timeout: str = "2min"
    # A run's build (staging -> identity -> marts -> scores -> publish) holds the warehouse build
    # lease (customer360.orchestration.lease): another run waits this long for it, then fails saying who holds it.
    build_wait_seconds: int = 7200
    # A lease not renewed for this long is taken to belong to a run that died.
    build_lease_seconds: int = 21600
    extra: dict[str, str] = field(default_factory=dict)
    # The group role this work acts as (SET ROLE at connect); None: the URL's own user.
    role: str | None = None

    def as_role(self, role: str) -> Settings:
        """The same warehouse, acting as ``role``: the URL's user must be a member of it."""
        return replace(self, role=role)

    @property
    def landing_dir(self) -> Path:
        return self.data_dir / "landing"

    @property
    def truth_dir(self) -> Path:
        return self.data_dir / "truth"

    @property
    def connection(self) -> ConnectionParts:
        return parse_url(self.warehouse_url)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        url = env.get("WAREHOUSE_URL")
        if not url:
            raise SettingsError(
                "WAREHOUSE_URL is not set. Set it to a PostgreSQL URL "
                "(e.g. postgresql://postgres@127.0.0.1:5432/customer360), or run through "
                "`make demo`, which finds or starts a local PostgreSQL and sets it."
            )
        parse_url(url)  # fail early on a malformed URL
        data_dir = Path(env.get("C360_DATA_DIR", str(DEFAULT_DATA_DIR)))
        return cls(
            warehouse_url=url,
            data_dir=data_dir,
            reports_dir=Path(env.get("C360_REPORTS_DIR", str(PROJECT_ROOT / "reports"))),
            churn_horizon_days=int(env.get("C360_CHURN_HORIZON_DAYS", "90")),
            clv_horizon_months=int(env.get("C360_CLV_HORIZON_MONTHS", "12")),
            annual_discount_rate=float(env.get("C360_ANNUAL_DISCOUNT_RATE", "0.10")),
            model_refit_days=int(env.get("C360_MODEL_REFIT_DAYS", "1")),
            max_quarantine_share=float(env.get("C360_MAX_QUARANTINE_SHARE", "0.05")),
            max_cluster_size=int(env.get("C360_MAX_CLUSTER_SIZE", "50")),
            match_link_probability=float(env.get("C360_MATCH_LINK_PROBABILITY", "0.99")),
            match_review_probability=float(env.get("C360_MATCH_REVIEW_PROBABILITY", "0.5")),
            lock_timeout=env.get("C360_LOCK_TIMEOUT", "2min").strip(),
            build_wait_seconds=int(env.get("C360_BUILD_WAIT_SECONDS", "7200")),
            build_lease_seconds=int(env.get("C360_BUILD_LEASE_SECONDS", "21600")),
        )

    def __post_init__(self) -> None:
        if self.model_refit_days < 1:
            raise ValueError(f"C360_MODEL_REFIT_DAYS must be at least 1, got {self.model_refit_days}")
        if self.max_cluster_size < 2:
            raise ValueError(f"C360_MAX_CLUSTER_SIZE must be at least 2, got {self.max_cluster_size}")
        if not 0.0 < self.match_review_probability <= self.match_link_probability <= 1.0:
            raise ValueError(
                "C360_MATCH_REVIEW_PROBABILITY and C360_MATCH_LINK_PROBABILITY must satisfy "
                f"0 < review <= link <= 1, got review={self.match_review_probability}, "
                f"link={self.match_link_probability}"
            )
        if not _LOCK_TIMEOUT.fullmatch(self.lock_timeout):
            raise ValueError(
                f"C360_LOCK_TIMEOUT must be a Postgres duration like 500ms, 30s or 2min, got {self.lock_timeout!r}"
            )
        if self.build_wait_seconds < 0 or self.build_lease_seconds < 60:
            raise ValueError("C360_BUILD_WAIT_SECONDS must be >= 0 and C360_BUILD_LEASE_SECONDS >= 60")

    @property
    def session_options(self) -> str:
        """libpq options every pipeline session starts with (psycopg here, PGOPTIONS for dbt):
        the lock timeout, and the group role the work acts as (a SET ROLE from the start)."""
        role = f" -c role={self.role}" if self.role else ""
        return f"-c lock_timeout={self.lock_timeout}{role}"

    def dbt_env(self) -> dict[str, str]:
        """Environment variables that dbt_project/profiles.yml reads, derived from WAREHOUSE_URL."""
        c = self.connection
        return {
            "C360_PGHOST": c.host,
            "C360_PGPORT": str(c.port),
            "C360_PGUSER": c.user,
            "C360_PGPASSWORD": c.password,
            "C360_PGDATABASE": c.dbname,
            # libpq reads PGOPTIONS: dbt's sessions get the same lock_timeout as the Python stages
            "PGOPTIONS": self.session_options,
        }
