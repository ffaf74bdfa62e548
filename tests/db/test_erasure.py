"""Right to erasure without the DAGs: a warehouse with one CRM delivery (the DAG runs: tests/e2e/test_erasure.py)."""

from __future__ import annotations

import csv

import pytest

from customer360.config import Settings
from customer360.db.connection import connect
from customer360.ingestion.contracts import SOURCES
from customer360.privacy.erase import erase


def _one_crm_delivery(settings: Settings) -> None:
    from datetime import date

    from customer360.ingestion.loader import load_interval

    contract = SOURCES["crm_accounts"]
    day = settings.landing_dir / "crm_accounts" / "2024-03-01"
    day.mkdir(parents=True)
    rows = [
        [
            "A1",
            "Ms",
            "Jane",
            "Doe",
            "jane.doe@example.com",
            "07700 900123",
            "1980-05-17",
            "1 High St",
            "Leeds",
            "LS1 1AA",
            "GB",
            "",
            "2024-01-01T09:00:00Z",
            "2024-03-01T10:00:00Z",
        ],
        [
            "A2",
            "Mr",
            "John",
            "Smith",
            "john@example.com",
            "07700 900456",
            "1970-01-01",
            "9 Low Rd",
            "Leeds",
            "LS1 1AA",
            "GB",
            "",
            "2024-01-01T09:00:00Z",
            "2024-03-01T10:00:00Z",
        ],
    ]
    with open(day / "crm_accounts_2024-03-01_001.csv", "w", newline="") as f:
        csv.writer(f).writerows([contract.column_names, *rows])
    load_interval(settings, date(2024, 3, 1), date(2024, 3, 2), batch_id="b").raise_if_rejected()


def test_the_file_sweep_erases_names_addresses_and_phones_in_any_format(warehouse_settings):
    """A name, an address or a phone written another way survived in files under the data folder."""
    _one_crm_delivery(warehouse_settings)
    export = warehouse_settings.data_dir / "exports" / "call_list.txt"
    export.parent.mkdir(parents=True)
    export.write_text(
        "DOE, JANE | +44 (0)7700 900-123 | 1  high st, Leeds\n"
        "Jane Doe called from 0044 7700 900123\n"
        "John Smith | 07700 900456 | 9 Low Rd, Leeds\n"
    )
    result = erase(warehouse_settings, email="Jane.Doe@example.com")
    assert result.rows_deleted == {"raw.crm_accounts": 1}
    assert str(export) in result.other_files_scrubbed
    assert export.read_text() == (
        "[erased] | [erased] | [erased], Leeds\n"
        "[erased] called from [erased]\n"
        "John Smith | 07700 900456 | 9 Low Rd, Leeds\n"
    )


def test_an_unknown_person_is_not_found_and_nothing_changes(warehouse_settings, monkeypatch, capsys):
    """An unknown customer id reported one customer found and exited 0; so did an unknown e-mail."""
    from customer360.privacy.__main__ import main
    from customer360.privacy.erase import PersonNotFound

    _one_crm_delivery(warehouse_settings)
    with pytest.raises(PersonNotFound, match="no customer C999999999"):
        erase(warehouse_settings, customer_id="C999999999")
    with pytest.raises(PersonNotFound, match="no record holds this e-mail"):
        erase(warehouse_settings, email="jane.do@example.com")  # a typo
    with connect(warehouse_settings) as conn:
        assert conn.execute("select count(*) from raw.crm_accounts").fetchone() == (2,)
        assert conn.execute("select to_regclass('ops.erasure_requests')").fetchone() == (None,)  # rolled back
    monkeypatch.setenv("WAREHOUSE_URL", warehouse_settings.warehouse_url)
    assert main(["erase", "--customer-id", "C999999999"]) == 1
    assert "not found: no customer C999999999" in capsys.readouterr().err
