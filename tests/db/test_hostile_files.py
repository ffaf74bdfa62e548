"""The hostile-file corpus (tests/support/hostile_files.py) loaded next to good files: for every file,
the outcome, the message a user sees, and every input row in raw or quarantine exactly once."""

from __future__ import annotations

from datetime import date

import pytest

from customer360.config import Settings
from customer360.db.connection import connect
from customer360.ingestion.loader import load_interval
from tests.support.hostile_files import write_corpus


@pytest.fixture
def corpus(warehouse_settings: Settings, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    cases = write_corpus(warehouse_settings.landing_dir, outside)
    report = load_interval(warehouse_settings, date(2024, 3, 1), date(2024, 3, 2), batch_id="corpus")
    with connect(warehouse_settings) as conn:
        log = {
            (source, name): (status, message)
            for source, name, status, message in conn.execute(
                "select source, file_name, status, message from ops.ingest_log where batch_id = 'corpus'"
            )
        }
        rows = {}
        for source in {c.source for c in cases}:
            for layer in ("raw", "quarantine"):
                reason = "reason_code" if layer == "quarantine" else "null"
                for name, line, code in conn.execute(
                    f"select _file_name, _line_number, {reason} from {layer}.{source}"
                ):
                    rows.setdefault((source, name), []).append((layer, line, code))
    return cases, report, log, rows


def test_every_hostile_file_gets_its_outcome_its_message_and_every_row_is_accounted_for(corpus):
    cases, report, log, rows = corpus
    problems = []
    for case in cases:
        status, message = log.get((case.source, case.file_name), ("skipped", ""))
        got = rows.get((case.source, case.file_name), [])
        raw = sum(1 for layer, *_ in got if layer == "raw")
        quarantined = [code for layer, _, code in got if layer == "quarantine"]
        lines = [line for _, line, _ in got]
        if status != case.outcome:
            problems.append(f"{case.name}: {status} ({message}), expected {case.outcome}")
        elif case.message and case.message not in (message or ""):
            problems.append(f"{case.name}: message {message!r} lacks {case.message!r}")
        elif (raw, len(quarantined)) != (case.raw, case.quarantined):
            problems.append(
                f"{case.name}: {raw} raw + {len(quarantined)} quarantined, expected {case.raw} + {case.quarantined}"
            )
        elif case.outcome == "loaded" and raw + len(quarantined) != case.rows:
            problems.append(f"{case.name}: {raw + len(quarantined)} rows kept of {case.rows}")
        elif len(lines) != len(set(lines)):
            problems.append(f"{case.name}: a line is kept twice")
        elif not set(case.reasons) <= set(quarantined):
            problems.append(f"{case.name}: reasons {sorted(set(quarantined))}, expected {list(case.reasons)}")
    assert not problems, "\n".join(problems)
    refused = {r.file_name.rsplit("/", 1)[-1] for r in report.rejected_files}
    assert refused == {c.file_name for c in cases if c.outcome == "rejected"}
