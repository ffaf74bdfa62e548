"""The checks that keep the code as it is: ruff's lint rules (with Airflow's and the import ban
between stages and orchestration), ruff's format, and mypy on the package (pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LINTED = ["src", "dags", "bench", "tests"]


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", *LINTED],
        ["ruff", "format", "--check", *LINTED],
        ["mypy"],
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_the_code_passes_its_checks(command):
    result = subprocess.run([str(BIN / command[0]), *command[1:]], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout[-4000:]}{result.stderr[-2000:]}"


def test_a_stage_that_imports_the_orchestration_layer_is_refused(tmp_path):
    stage = ROOT / "src" / "customer360" / "identity" / "_import_ban_probe.py"
    stage.write_text("from customer360.orchestration.stages import prepare\n")
    try:
        result = subprocess.run(
            [str(BIN / "ruff"), "check", "--select", "TID251", str(stage)], cwd=ROOT, capture_output=True, text=True
        )
    finally:
        stage.unlink()
    assert result.returncode == 1 and "customer360.orchestration` is banned" in result.stdout
