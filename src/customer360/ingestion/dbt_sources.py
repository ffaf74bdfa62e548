"""The dbt source for the raw tables, written from the source contracts.

    python -m customer360.ingestion.dbt_sources     # rewrites dbt_project/models/staging/_raw__sources.yml

The contracts are the one declaration of each source; this file is derived
from them so dbt documents and tests exactly what the loader writes. A test
fails when the file on disk is not what this renders (run the command above).
"""

from __future__ import annotations

import json

from customer360.config import PROJECT_ROOT
from customer360.ingestion.contracts import SOURCES, SourceContract
from customer360.ingestion.tables import PG_TYPES, canonical_type

RAW_SOURCES_YML = PROJECT_ROOT / "dbt_project" / "models" / "staging" / "_raw__sources.yml"

HEADER = """\
# Raw tables written by the loader (customer360.ingestion). Generated from src/customer360/ingestion/contracts.py by
# `python -m customer360.ingestion.dbt_sources`; tests/unit/test_dbt_project.py fails when the two disagree.
# Every raw table also carries _batch_id, _file_name, _line_number, _loaded_at, _extra.
sources:
  - name: raw
    schema: raw
    description: Touch-point files as loaded, typed per the source contracts; re-deliveries are kept.
    config:
      loaded_at_field: _loaded_at
      freshness:
        warn_after: {count: 2, period: day}
    tables:
"""


def _table(contract: SourceContract) -> list[str]:
    description = f"{contract.description} Key: {contract.key}; event time: {contract.event_time}."
    out = [
        f"      - name: {contract.name}",
        f"        description: {json.dumps(description, ensure_ascii=False)}",
        "        config:",
        "          freshness:",
        f"            warn_after: {{count: {contract.freshness_days}, period: day}}",
        "        columns:",
    ]
    for column in contract.columns:
        out += [f"          - name: {column.name}", f"            data_type: {canonical_type(PG_TYPES[column.type])}"]
        notes = []
        if column.name == contract.key:
            notes.append("record key")
        if column.required:
            notes.append("required")
        if column.personal:
            notes.append("personal data")
        if notes:
            text = "; ".join(notes)
            out.append(f"            description: {text[0].upper() + text[1:]}.")
        if column.name == contract.key:
            out += ["            data_tests:", "              - not_null"]
        if column.personal:
            out += ["            config:", "              meta: {personal: true}"]
    return out


def render() -> str:
    lines = [line for contract in SOURCES.values() for line in _table(contract)]
    return HEADER + "\n".join(lines) + "\n"


def main() -> int:
    RAW_SOURCES_YML.write_text(render())
    print(f"wrote {RAW_SOURCES_YML} ({len(SOURCES)} sources)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
