"""dbt through Cosmos: one typed configuration, rendered from a precompiled manifest.

`make` runs `dbt parse` once to write dbt_project/target/manifest.json, so
parsing the DAG never invokes dbt. Each model (and seed) is one Airflow task running
`dbt build` on it: the model, then its tests, in one dbt invocation. A failing
error-level test fails that task and stops what depends on it; tests with several
parents run as their own task once all of them are built.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from customer360.config import PROJECT_ROOT, Settings
from customer360.db.bootstrap import TRANSFORMER
from customer360.db.connection import MARTS_BUILD_SCHEMA

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
MANIFEST_PATH = DBT_PROJECT_DIR / "target" / "manifest.json"
PROFILE_NAME = "customer360"
TARGET_NAME = "warehouse"

SELECTORS_PATH = DBT_PROJECT_DIR / "selectors.yml"


@functools.cache
def _selectors(path: Path) -> dict[str, dict]:
    """selectors.yml's definitions by name, read once per process (the DAG asks for three layers)."""
    import yaml  # type: ignore[import-untyped]  # PyYAML ships no type information

    return {s["name"]: s["definition"] for s in yaml.safe_load(path.read_text())["selectors"]}


def layer_select(selector: str, selectors_path: Path = SELECTORS_PATH) -> list[str]:
    """The Cosmos `select` of one of selectors.yml's layers: the selections are written once, there.

    A layer is one `method: value` criterion or a `union` of them (what Cosmos's select
    list expresses); anything else is refused, so that the DAG never builds another set of
    models than `dbt build --selector <layer>` does.
    """
    layers = _selectors(selectors_path)
    if selector not in layers:
        raise KeyError(f"no selector {selector!r} in {selectors_path}; it has {', '.join(sorted(layers))}")
    definition = layers[selector]
    criteria = definition["union"] if "union" in definition else [definition]
    out = []
    for criterion in criteria:
        if not isinstance(criterion, dict) or set(criterion) - {"method", "value", "indirect_selection"}:
            raise ValueError(f"selector {selector!r}: only method/value criteria (or a union of them) map to Cosmos")
        out.append(f"{criterion['method']}:{criterion['value']}")
    return out


# The three builds of a run, split where Python stages sit between them (dbt_project/selectors.yml).
STAGING_SELECTOR, CORE_MARTS_SELECTOR, SCORED_MARTS_SELECTOR = "staging_intermediate", "core_marts", "scored_marts"

# Keep dbt and Cosmos from phoning home: this network reaches package registries only.
QUIET_ENV = {
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "DO_NOT_TRACK": "1",
    "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
}


def export_dbt_env() -> None:
    """Derive dbt's connection variables from WAREHOUSE_URL in this process.

    profiles.yml reads C360_PG*; WAREHOUSE_URL stays the one setting. Called where
    the DAG is parsed, which is also the process (or its parent) that runs the dbt tasks.
    """
    os.environ.update(QUIET_ENV)
    if os.environ.get("WAREHOUSE_URL"):
        os.environ.update(Settings.from_env().as_role(TRANSFORMER).dbt_env())


def dbt_task_group(group_id: str, select: list[str], *, pre_execute: Callable[[dict], None] | None = None):
    """The dbt nodes of ``select`` as a task group; ``pre_execute`` runs before each of its tasks."""
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior, TestIndirectSelection

    return DbtTaskGroup(
        group_id=group_id,
        # no `dbt deps`: the project has no packages, and the network is not there to fetch any
        project_config=ProjectConfig(
            dbt_project_path=DBT_PROJECT_DIR, manifest_path=MANIFEST_PATH, install_dbt_deps=False
        ),
        profile_config=ProfileConfig(
            profile_name=PROFILE_NAME, target_name=TARGET_NAME, profiles_yml_filepath=DBT_PROJECT_DIR / "profiles.yml"
        ),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.LOCAL,
            invocation_mode=InvocationMode.DBT_RUNNER,
            # A model's build runs only the tests whose parents are all built; tests with
            # several parents (relationships) get their own task after all of them.
            test_indirect_selection=TestIndirectSelection.CAUTIOUS,
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            select=select,
            should_detach_multiple_parents_tests=True,
            # one dbt invocation per model instead of two: dbt's start-up is most of a small model's time
            test_behavior=TestBehavior.BUILD,
        ),
        # Marts go to the build schema; customer360.orchestration.publish swaps it in after the marts gate.
        operator_args={
            "vars": {"marts_schema": MARTS_BUILD_SCHEMA},
            **({"pre_execute": pre_execute} if pre_execute else {}),
        },
    )


def compile_manifest(settings: Settings | None = None) -> Path:
    """Write the manifest Cosmos renders from (dbt parse needs no warehouse connection)."""
    run_dbt(settings, "parse", "--quiet")
    return MANIFEST_PATH


def run_dbt(settings: Settings | None, *args: str, target_path: Path | None = None) -> None:
    """One dbt command in a subprocess, connected through ``settings`` (None: the local default)."""
    env = {**os.environ, **QUIET_ENV}
    env.update(
        settings.dbt_env()
        if settings
        else {
            "C360_PGHOST": "127.0.0.1",
            "C360_PGPORT": "5432",
            "C360_PGUSER": "postgres",
            "C360_PGPASSWORD": "",
            "C360_PGDATABASE": "customer360",
        }
    )
    dbt = Path(sys.executable).parent / "dbt"
    command = [str(dbt), *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    if target_path:
        command += ["--target-path", str(target_path)]
    subprocess.run(command, check=True, env=env)


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
        json.dumps({"marts_schema": MARTS_BUILD_SCHEMA}),
        target_path=target_path,
    )


def write_docs(settings: Settings, target_path: Path, reports_dir: Path) -> Path:
    """The dbt docs site as one self-contained page next to the run report."""
    run_dbt(settings, "docs", "generate", "--static", "--quiet", target_path=target_path)
    page = reports_dir / "dbt_docs.html"
    reports_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(target_path / "static_index.html", page)
    return page
