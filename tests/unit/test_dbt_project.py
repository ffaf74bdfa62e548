"""The dbt project without a database: the raw sources YAML is the one rendered from the contracts,
and every source has one staging model (tests/db/test_dbt_project.py builds the project)."""

from __future__ import annotations

from pathlib import Path

import yaml

from customer360.ingestion.contracts import SOURCES

PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
RAW_SOURCES_YML = PROJECT_DIR / "models" / "staging" / "_raw__sources.yml"


# --------------------------------------------------------------------------- static checks


def test_raw_sources_yml_is_the_one_rendered_from_the_contracts():
    from customer360.ingestion.dbt_sources import render

    assert RAW_SOURCES_YML.read_text() == render(), (
        "dbt_project/models/staging/_raw__sources.yml differs from src/customer360/ingestion/contracts.py: "
        "run `python -m customer360.ingestion.dbt_sources`"
    )
    declared = yaml.safe_load(RAW_SOURCES_YML.read_text())
    (raw_source,) = [s for s in declared["sources"] if s["name"] == "raw"]
    tables = {t["name"]: t for t in raw_source["tables"]}
    assert set(tables) == set(SOURCES)
    for name, contract in SOURCES.items():
        assert [c["name"] for c in tables[name]["columns"]] == contract.column_names
    assert raw_source["config"]["loaded_at_field"] == "_loaded_at"


def test_every_staging_source_has_a_staging_model():
    for name in SOURCES:
        folder = PROJECT_DIR / "models" / "staging" / name
        models = list(folder.glob("stg_*.sql"))
        assert len(models) == 1, f"expected one staging model in {folder}"
        assert f"source('raw', '{name}')" in models[0].read_text()
        assert models[0].with_suffix(".yml").exists(), f"{models[0].name} has no YAML beside it"


def test_only_staging_calls_source():
    """Marts and steward models read the Python stages' outputs through staging views, as they read raw data."""
    import re

    outside = sorted(
        str(path.relative_to(PROJECT_DIR))
        for path in (PROJECT_DIR / "models").rglob("*.sql")
        if re.search(r"\bsource\(", path.read_text()) and path.relative_to(PROJECT_DIR / "models").parts[0] != "staging"
    )
    assert outside == []
