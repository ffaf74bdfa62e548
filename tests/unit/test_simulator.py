"""Tests of the seeded touch-point simulator (small populations, real files in tmp_path)."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from customer360.ingestion.contracts import SOURCES, landing_file_name
from customer360.simulator import SimulationConfig, simulate

SMALL = dict(people=300, days=120, seed=7, start=date(2024, 1, 1), future_days=180)


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("clean")
    return out, simulate(SimulationConfig(defect_rate=0.0, **SMALL), out)


@pytest.fixture(scope="module")
def dirty_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("dirty")
    return out, simulate(SimulationConfig(defect_rate=0.05, **SMALL), out)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _rows(out: Path, source: str) -> pd.DataFrame:
    """All rows of a source's files (first part only), as strings, with '' for missing."""
    contract = SOURCES[source]
    frames = []
    for path in sorted((out / "landing" / source).glob(f"*/*_001.{contract.file_extension}")):
        if contract.format == "csv":
            text = path.read_bytes().decode("utf-8", errors="replace")
            rows = list(csv.reader(io.StringIO(text), delimiter=contract.delimiter))
            frames.append(pd.DataFrame([r[: len(contract.columns)] for r in rows[1:]], columns=rows[0], dtype=object))
        elif contract.format == "jsonl":
            recs = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
            frames.append(pd.DataFrame(recs, dtype=object))
        else:
            frames.append(pq.read_table(path).to_pandas().astype(object))
    return pd.concat(frames, ignore_index=True).fillna("")


def test_deterministic(tmp_path: Path) -> None:
    cfg = SimulationConfig(defect_rate=0.03, **SMALL)
    simulate(cfg, tmp_path / "a")
    simulate(cfg, tmp_path / "b")
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert a.keys() == b.keys() and len(a) > 100
    assert all(a[k] == b[k] for k in a)
    # writing again into the same folder clears it first and gives the same bytes
    simulate(cfg, tmp_path / "a")
    assert _files(tmp_path / "a") == a


def test_other_seed_differs(tmp_path: Path, clean_run) -> None:
    out, _ = clean_run
    simulate(SimulationConfig(defect_rate=0.0, **{**SMALL, "seed": 8}), tmp_path)
    assert (tmp_path / "truth" / "people.csv").read_bytes() != (out / "truth" / "people.csv").read_bytes()


def test_files_match_contracts(clean_run) -> None:
    out, summary = clean_run
    landing = out / "landing"
    for name, contract in SOURCES.items():
        paths = sorted((landing / name).glob("*/*"))
        assert paths, name
        if contract.delivers_daily:  # a file every day, no gap
            days = sorted({date.fromisoformat(p.parent.name) for p in paths})
            assert len(days) == (days[-1] - days[0]).days + 1, name
        assert summary.files[name] == len(paths)
        for path in paths:
            day = path.parent.name
            date.fromisoformat(day)
            assert path.name == landing_file_name(contract, day)
            if contract.format == "csv":
                lines = path.read_text("utf-8").splitlines()
                assert lines[0] == contract.delimiter.join(contract.column_names)
                # a source that delivers daily sends a header-only file on a day without records
                assert len(lines) > 1 or contract.delivers_daily
            elif contract.format == "jsonl":
                for line in path.read_text("utf-8").splitlines():
                    assert list(json.loads(line)) == contract.column_names
            else:
                schema = pq.read_schema(path)
                assert schema.names == contract.column_names
                assert all(str(t) == "string" for t in schema.types)
        df = _rows(out, name)
        assert len(df) == summary.rows[name]
        for col in contract.required_columns:
            assert (df[col] != "").all(), (name, col)
        # every event lies in the file of its day, formatted as ISO-8601 UTC
        assert df[contract.event_time].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").all()
        assert df[contract.key].is_unique or name == "crm_accounts"


def test_value_formats(clean_run) -> None:
    out, _ = clean_run
    pos = _rows(out, "pos_transactions")
    web = _rows(out, "web_orders")
    for df in (pos, web):
        assert df["amount"].str.fullmatch(r"\d+\.\d\d").all()
        assert (df["amount"].astype(float) > 0).all()
        assert (df["currency"] == "GBP").all()
        assert df["items"].str.fullmatch(r"SKU\d{4}\*\d(\|SKU\d{4}\*\d)*").all()
    assert (pos["loyalty_id"] == "").any() and pos["loyalty_id"].str.fullmatch(r"(L\d{6})?").all()
    crm = _rows(out, "crm_accounts")
    assert crm["account_id"].str.fullmatch(r"A\d{7}").all()
    assert crm["date_of_birth"].str.fullmatch(r"(\d{4}-\d\d-\d\d)?").all()
    assert crm["account_id"].duplicated().any()  # updates are re-sent under the same account
    calls = _rows(out, "call_center_contacts")
    assert set(calls["is_complaint"]) <= {"true", "false"}
    assert calls["handling_seconds"].str.fullmatch(r"\d+").all()
    surveys = _rows(out, "surveys")
    assert set(surveys["satisfaction_score"].astype(int)) <= {1, 2, 3, 4, 5}


def test_truth_consistency(clean_run) -> None:
    out, _ = clean_run
    truth = out / "truth"
    people = pd.read_csv(truth / "people.csv", dtype=str, keep_default_na=False)
    records = pd.read_csv(truth / "source_records.csv", dtype=str, keep_default_na=False)
    tx = pd.read_csv(truth / "transactions.csv", dtype=str, keep_default_na=False)
    assert len(people) == SMALL["people"] and people["person_id"].is_unique
    assert set(records["person_id"]) <= set(people["person_id"])
    assert set(records["source"]) == set(SOURCES)
    for source, key_col in {
        "crm_accounts": "account_id",
        "pos_transactions": "loyalty_id",
        "web_orders": "web_account_id",
        "web_events": "web_account_id",
        "call_center_contacts": "contact_id",
        "email_campaign_events": "email",
        "surveys": "response_id",
        "product_registrations": "registration_id",
    }.items():
        written = set(_rows(out, source)[key_col]) - {""}
        keys = set(records.loc[records["source"] == source, "source_record_key"])
        assert keys == written, source
        # a key belongs to exactly one person
        assert not records[records["source"] == source].duplicated("source_record_key").any(), source
    # transactions: those in the landing period are in the files, the later ones are not
    landed = set(_rows(out, "pos_transactions")["transaction_id"]) | set(_rows(out, "web_orders")["order_id"])
    inside = tx["in_landing"] == "true"
    assert set(tx.loc[inside, "source_key"]) == landed
    assert (~inside).any() and not (set(tx.loc[~inside, "source_key"]) & landed)
    end = pd.Timestamp(SMALL["start"]) + pd.Timedelta(days=SMALL["days"])
    after = pd.to_datetime(tx.loc[~inside, "purchased_at"]).dt.tz_localize(None)
    assert (after >= end).all()
    assert (people["has_lapsed"] == "true").any() and (people["has_lapsed"] == "false").any()
    assert (people["email_2"] != "").any()


def test_clean_run_has_no_defects(clean_run) -> None:
    out, summary = clean_run
    assert sum(summary.defects.values()) == 0
    assert pd.read_csv(out / "truth" / "defects.csv").empty
    assert not list((out / "landing").rglob("*_002.*"))
    for path in (out / "landing").rglob("*.csv"):
        path.read_bytes().decode("utf-8")  # strict


def test_defects_present_and_listed(dirty_run) -> None:
    out, summary = dirty_run
    defects = pd.read_csv(out / "truth" / "defects.csv", dtype=str, keep_default_na=False)
    total_rows = sum(summary.rows.values())
    assert 0.02 < (defects["defect_class"] != "redelivered_file").sum() / total_rows < 0.09
    assert (
        set(defects["defect_class"])
        == set(summary.defects)
        == {
            "bad_email",
            "negative_amount",
            "future_date",
            "missing_required",
            "bad_type",
            "broken_encoding",
            "redelivered_file",
            "bad_field_count",
        }
    )
    assert len(defects) == sum(summary.defects.values())
    landing = out / "landing"
    for d in defects.itertuples():
        path = landing / d.file
        assert path.exists(), d.file
        if d.defect_class == "redelivered_file":
            assert path.read_bytes() == path.with_name(path.name.replace("_002.", "_001.")).read_bytes()
            continue
        contract = SOURCES[d.source]
        line_no = int(d.line)
        if contract.format == "parquet":
            row = pq.read_table(path).to_pylist()[line_no - 1]
            assert row["event_id"] == d.record_key or row["event_id"] is None
            continue
        line = path.read_bytes().split(b"\n")[line_no - 1]
        if d.defect_class == "broken_encoding":
            assert b"\xff\xfe" in line
            continue
        text = line.decode("utf-8")
        if d.record_key and d.defect_class != "missing_required":
            assert d.record_key in text
        if contract.format == "csv":
            fields = next(csv.reader([text], delimiter=contract.delimiter))
            expected = len(contract.columns) + (d.defect_class == "bad_field_count")
            assert len(fields) == expected
            values = dict(zip(contract.column_names, fields))
        else:
            values = json.loads(text)
        if d.defect_class == "negative_amount":
            assert values["amount"].startswith("-")
        if d.defect_class == "future_date":
            assert int(values[contract.event_time][:4]) >= 2027
        if d.defect_class == "missing_required":
            assert any(not values[c] for c in contract.required_columns)


def test_households_and_namesakes(clean_run) -> None:
    out, _ = clean_run
    people = pd.read_csv(out / "truth" / "people.csv", dtype=str, keep_default_na=False)
    shared = people[people.duplicated("household_id", keep=False)]
    assert len(shared) >= 0.1 * len(people)
    for _, g in shared.groupby("household_id"):
        assert g["postcode"].nunique() == 1 and g["landline"].nunique() == 1 and g["landline"].iloc[0]
    assert people.duplicated(["first_name", "last_name"]).any()
    same_name = people[people.duplicated(["first_name", "last_name"], keep=False)]
    assert same_name["person_id"].nunique() >= 2
    assert people["email"].is_unique


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from customer360.simulator.__main__ import main

    assert main(["--people", "50", "--days", "20", "--out", str(tmp_path), "--defect-rate", "0"]) == 0
    text = capsys.readouterr().out
    assert "pos_transactions" in text and "done in" in text
    assert (tmp_path / "truth" / "summary.json").exists()
