"""dbt in one `dbt build` per layer, with every node's result read back from run_results.json.

A run builds three layers (dbt_project/selectors.yml), split where Python stages sit
between them. Each layer is one Airflow task running `dbt build --selector <layer>`:
dbt builds the models in dependency order on its own threads, runs each model's tests
right after it and skips what depends on a failed error-level test. The task then
reads run_results.json, logs one line per node and fails naming every node that failed.

One dbt start-up per layer instead of one per model, and dbt in the task's own process: see
docs/decisions.md for the figures, and for why not Cosmos (its per-model tasks, or its watcher mode).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from customer360.config import PROJECT_ROOT, Settings
from customer360.db.connection import MARTS_BUILD_SCHEMA

log = logging.getLogger(__name__)

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
# Folders dbt writes into the project (never part of what it builds from).
DBT_OUTPUT_DIRS = frozenset({"target", "logs", "dbt_packages"})

# The three builds of a run, in order (dbt_project/selectors.yml holds their definitions).
STAGING_SELECTOR, CORE_MARTS_SELECTOR, SCORED_MARTS_SELECTOR = "staging_intermediate", "core_marts", "scored_marts"
LAYERS = (STAGING_SELECTOR, CORE_MARTS_SELECTOR, SCORED_MARTS_SELECTOR)

# Keep dbt from phoning home: this network reaches package registries only.
QUIET_ENV = {"DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"}
# The profile's connection without settings: the local server's default database.
LOCAL_DBT_ENV = {
    "C360_PGHOST": "127.0.0.1",
    "C360_PGPORT": "5432",
    "C360_PGUSER": "postgres",
    "C360_PGPASSWORD": "",
    "C360_PGDATABASE": "customer360",
}

# run_results.json statuses that fail a build (a warn-level test that fails says "warn").
FAILED_STATUSES = frozenset({"error", "fail", "runtime error"})

# Marts go to the build schema; customer360.orchestration.publish swaps it in after the marts gate.
BUILD_VARS = json.dumps({"marts_schema": MARTS_BUILD_SCHEMA})


@dataclass(frozen=True)
class NodeResult:
    """One node of a dbt invocation, as run_results.json reports it (names and counts only)."""

    resource_type: str  # model, test, seed, snapshot
    name: str
    status: str  # success, pass, warn, fail, error, skipped
    seconds: float
    failures: int | None
    message: str | None

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES

    def line(self) -> str:
        detail = f" ({self.message})" if self.message and self.status not in ("success", "pass") else ""
        return f"{self.resource_type:<8} {self.name:<60} {self.status:<8} {self.seconds:6.2f}s{detail}"


class DbtBuildFailed(RuntimeError):
    """A layer's build had failed nodes; the message names each with dbt's reason."""


def read_run_results(path: Path) -> list[NodeResult]:
    """The nodes of one dbt invocation, in the order dbt finished them."""
    results = json.loads(path.read_text())["results"]
    nodes = []
    for r in results:
        resource_type, _, name = r["unique_id"].split(".")[:3]
        message = r.get("message")
        nodes.append(
            NodeResult(
                resource_type=resource_type,
                name=name,
                status=str(r["status"]),
                seconds=round(float(r.get("execution_time") or 0.0), 3),
                failures=r.get("failures"),
                message=" ".join(str(message).split())[:300] if message else None,
            )
        )
    return nodes


def build_layer(settings: Settings, selector: str, target_path: Path) -> list[NodeResult]:
    """`dbt build --selector <selector>` into the build schema; every node's result, or DbtBuildFailed."""
    if selector not in LAYERS:
        raise ValueError(f"no dbt layer {selector!r}; the layers are {', '.join(LAYERS)}")
    run_results = target_path / "run_results.json"
    run_results.unlink(missing_ok=True)  # a result left by an earlier invocation must not pass for this one's
    completed = run_dbt(
        settings, "build", "--selector", selector, "--vars", BUILD_VARS, target_path=target_path, check=False
    )
    if not run_results.exists():
        raise DbtBuildFailed(
            f"dbt build --selector {selector} stopped before building anything (exit code {completed.returncode}): "
            "its error is in the lines above"
        )
    nodes = read_run_results(run_results)
    log.info("dbt build --selector %s: %d nodes\n%s", selector, len(nodes), "\n".join(n.line() for n in nodes))
    failed = [n for n in nodes if n.failed]
    if failed or completed.returncode != 0:
        skipped = sum(n.status == "skipped" for n in nodes)
        named = "; ".join(
            f"{n.resource_type} {n.name}: {n.status}{f' ({n.message})' if n.message else ''}" for n in failed
        )
        raise DbtBuildFailed(
            f"dbt build --selector {selector}: {len(failed)} of {len(nodes)} nodes failed"
            f"{f', {skipped} skipped because of them' if skipped else ''}: {named or 'see the lines above'}"
        )
    return nodes


def summarise(selector: str, nodes: list[NodeResult]) -> dict[str, Any]:
    """What a layer task returns (XCom): counts by type and status, the warnings and the slowest nodes."""
    by_status: dict[str, int] = {}
    by_type: dict[str, int] = {}
    for n in nodes:
        by_status[n.status] = by_status.get(n.status, 0) + 1
        by_type[n.resource_type] = by_type.get(n.resource_type, 0) + 1
    slowest = sorted(nodes, key=lambda n: n.seconds, reverse=True)[:3]
    return {
        "selector": selector,
        "nodes": by_type,
        "statuses": by_status,
        "warnings": [n.name for n in nodes if n.status == "warn"],
        "slowest": {n.name: n.seconds for n in slowest},
    }


@dataclass(frozen=True)
class DbtInvocation:
    """What a dbt command left: its exit code (0 ok, 1 a node failed, 2 dbt itself failed)."""

    args: tuple[str, ...]
    returncode: int


class DbtCommandFailed(RuntimeError):
    """A dbt command other than a layer build failed (a layer build raises DbtBuildFailed, naming its nodes)."""


# dbt's runner keeps global state (flags, the adapter) for the length of an invocation: one at a time.
_DBT_LOCK = threading.Lock()


def run_dbt(
    settings: Settings | None, *args: str, target_path: Path | None = None, check: bool = True
) -> DbtInvocation:
    """One dbt command in this process, connected through ``settings`` (None: the local default).

    In-process (dbt's programmatic runner), not a subprocess: a dbt process spends seconds
    importing dbt before it does anything, and a run makes five dbt invocations (three layers,
    history, docs); the import is paid once per process (docs/decisions.md has the figures).
    The connection variables the profile reads are set in os.environ for the invocation only
    and put back after it.
    """
    from dbt.cli.main import dbtRunner  # heavy: imported by the tasks that run dbt, not at DAG parse

    command = [*args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    if target_path:
        command += ["--target-path", str(target_path), "--log-path", str(target_path / "logs")]
    connection = settings.dbt_env() if settings else LOCAL_DBT_ENV
    with _DBT_LOCK, _environ({**QUIET_ENV, **connection}):
        result = dbtRunner().invoke(command)
    returncode = 0 if result.success else (2 if result.exception is not None else 1)
    if check and returncode != 0:
        raise DbtCommandFailed(
            f"dbt {' '.join(args)} failed (exit code {returncode}): {result.exception or 'see the lines above'}"
        )
    return DbtInvocation(tuple(args), returncode)


@contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def record_history(settings: Settings, target_path: Path) -> None:
    """Snapshot the checked build's golden records and build the marts view over the snapshot."""
    run_dbt(
        settings,
        "build",
        "--quiet",
        "--select",
        "customer_history_snapshot",
        "dim_customer_history",
        "--vars",
        BUILD_VARS,
        target_path=target_path,
    )


def write_docs(settings: Settings, target_path: Path, reports_dir: Path) -> tuple[Path, bool]:
    """The dbt docs site as one self-contained page next to the run report; (page, whether written).

    The page shows the project and the warehouse's tables and columns, which a day's data does
    not change: it is generated again only when either differs from when it was last written.
    """
    page = reports_dir / "dbt_docs.html"
    stamp = page.with_suffix(".fingerprint")
    fingerprint = docs_fingerprint(settings)
    if page.exists() and stamp.exists() and stamp.read_text() == fingerprint:
        return page, False
    run_dbt(settings, "docs", "generate", "--static", "--quiet", target_path=target_path)
    reports_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(target_path / "static_index.html", page)
    stamp.write_text(fingerprint)
    return page, True


def docs_fingerprint(settings: Settings) -> str:
    """A digest of what the dbt docs show: the project's files, dbt's version and every column."""
    from importlib.metadata import version

    from customer360.db.connection import fetch_all

    digest = hashlib.sha256(version("dbt-core").encode())
    for path in sorted(DBT_PROJECT_DIR.rglob("*")):
        relative = path.relative_to(DBT_PROJECT_DIR)
        if path.is_file() and relative.parts[0] not in DBT_OUTPUT_DIRS:
            digest.update(str(relative).encode() + b"\0" + path.read_bytes())
    # Not the build schema: after a publish it holds the marts a run replaced, or nothing at all
    # after the first run, while the docs describe the published marts.
    columns = fetch_all(
        settings,
        "select table_schema, table_name, column_name, data_type from information_schema.columns "
        "where table_schema not in ('pg_catalog', 'information_schema', %s) and table_schema not like 'pg_toast%%' "
        "order by 1, 2, 3",
        (MARTS_BUILD_SCHEMA,),
    )
    digest.update(repr(columns).encode())
    return digest.hexdigest()
