"""dbt through Cosmos: one typed configuration, rendered from a precompiled manifest.

`make` runs `dbt parse` once to write dbt_project/target/manifest.json, so
parsing the DAG never invokes dbt; each model and its tests become Airflow tasks.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from warehouse.settings import PROJECT_ROOT, Settings

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
MANIFEST_PATH = DBT_PROJECT_DIR / "target" / "manifest.json"
PROFILE_NAME = "customer360"
TARGET_NAME = "warehouse"

# The three builds of a run, split where Python stages sit between them.
STAGING_SELECT = ["path:models/staging", "path:seeds", "path:models/intermediate"]
CORE_MARTS_SELECT = ["tag:core"]
SCORED_MARTS_SELECT = ["tag:scored"]

# Keep dbt and Cosmos from phoning home: this network reaches package registries only.
QUIET_ENV = {"DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1",
             "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False"}


def export_dbt_env() -> None:
    """Derive dbt's connection variables from WAREHOUSE_URL in this process.

    profiles.yml reads C360_PG*; WAREHOUSE_URL stays the one setting. Called where
    the DAG is parsed, which is also the process (or its parent) that runs the dbt tasks.
    """
    os.environ.update(QUIET_ENV)
    if os.environ.get("WAREHOUSE_URL"):
        os.environ.update(Settings.from_env().dbt_env())


def dbt_task_group(group_id: str, select: list[str]):
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestIndirectSelection

    return DbtTaskGroup(
        group_id=group_id,
        project_config=ProjectConfig(dbt_project_path=DBT_PROJECT_DIR, manifest_path=MANIFEST_PATH),
        profile_config=ProfileConfig(
            profile_name=PROFILE_NAME, target_name=TARGET_NAME, profiles_yml_filepath=DBT_PROJECT_DIR / "profiles.yml"
        ),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.LOCAL,
            invocation_mode=InvocationMode.DBT_RUNNER,
            # A model's test task runs only the tests whose parents are all built; tests with
            # several parents (relationships) get their own task after all of them.
            test_indirect_selection=TestIndirectSelection.CAUTIOUS,
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST, select=select, should_detach_multiple_parents_tests=True
        ),
        operator_args={"install_deps": False},
    )


def compile_manifest(settings: Settings | None = None) -> Path:
    """Write the manifest Cosmos renders from (dbt parse needs no warehouse connection)."""
    env = {**os.environ, **QUIET_ENV}
    env.update(
        settings.dbt_env()
        if settings
        else {"C360_PGHOST": "127.0.0.1", "C360_PGPORT": "5432", "C360_PGUSER": "postgres",
              "C360_PGPASSWORD": "", "C360_PGDATABASE": "customer360"}
    )
    dbt = Path(sys.executable).parent / "dbt"
    subprocess.run(
        [str(dbt), "parse", "--quiet", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)],
        check=True,
        env=env,
    )
    return MANIFEST_PATH
