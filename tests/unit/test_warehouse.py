"""Finding a warehouse: the URL setting and a clear stop when nothing answers.

(tests/db/test_warehouse.py starts one.)"""

from __future__ import annotations

import subprocess
import sys

import pytest

from customer360.config import Settings, SettingsError, parse_url, redact, task_retries, task_retry_delay, with_database
from customer360.devtools import server


def test_the_url_is_the_one_setting_and_is_checked():
    settings = Settings.from_env({"WAREHOUSE_URL": "postgresql://loader:s3cret@db.example:6543/c360"})
    assert settings.dbt_env() == {
        "C360_PGHOST": "db.example",
        "C360_PGPORT": "6543",
        "C360_PGUSER": "loader",
        "C360_PGPASSWORD": "s3cret",
        "C360_PGDATABASE": "c360",
        "PGOPTIONS": "-c lock_timeout=2min",
    }
    assert (
        settings.as_role("c360_transformer").dbt_env()["PGOPTIONS"] == "-c lock_timeout=2min -c role=c360_transformer"
    )
    assert redact(settings.warehouse_url) == "postgresql://loader:***@db.example:6543/c360"
    assert with_database(settings.warehouse_url, "other").endswith("@db.example:6543/other")
    with pytest.raises(RuntimeError, match="WAREHOUSE_URL is not set"):
        Settings.from_env({})
    with pytest.raises(ValueError, match="PostgreSQL URL"):
        parse_url("mysql://root@localhost/x")


def test_task_retries_and_their_delay_come_from_the_environment_or_the_dag():
    assert task_retries({}) == 2 and task_retries({"C360_TASK_RETRIES": "0"}) == 0
    assert task_retry_delay(30, {}) == 30 and task_retry_delay(60, {"C360_TASK_RETRY_DELAY": "1"}) == 1
    with pytest.raises(SettingsError, match="C360_TASK_RETRY_DELAY must be a whole number of seconds"):
        task_retry_delay(30, {"C360_TASK_RETRY_DELAY": "30s"})


def test_a_url_that_does_not_answer_is_named_in_the_error():
    with pytest.raises(server.WarehouseUnavailable, match="127.0.0.1:1/"):
        server.resolve_warehouse_url({"WAREHOUSE_URL": "postgresql://postgres@127.0.0.1:1/c360"})


def test_with_no_postgres_at_all_the_message_says_what_to_install(monkeypatch):
    monkeypatch.setattr(server, "answers", lambda url, timeout=3: False)
    monkeypatch.setattr(server, "_postgres_bin_dir", lambda: None)
    with pytest.raises(server.WarehouseUnavailable, match="apt-get install postgresql"):
        server.resolve_warehouse_url({}, say=lambda _: None)


def test_one_environment_holds_every_pinned_package():
    result = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(
    "module, args",
    [
        ("ingestion", ["--start", "2025-01-01", "--end", "2025-01-02"]),
        ("identity", ["--as-of", "2025-01-01T00:00:00+00:00"]),
        ("ml", ["--cutoff", "2025-01-01"]),
        ("quality", ["--suite", "raw", "--as-of", "2025-01-01T00:00:00Z", "--run-id", "m"]),
        ("reporting", ["--run-id", "m"]),
    ],
)
def test_every_stage_command_says_what_to_do_when_the_warehouse_does_not_answer(
    module, args, monkeypatch, capsys, tmp_path
):
    """They ended in a raw psycopg.OperationalError traceback."""
    import importlib

    (tmp_path / "landing").mkdir()
    monkeypatch.setenv("C360_DATA_DIR", str(tmp_path))
    main = importlib.import_module(f"customer360.{module}.__main__").main
    monkeypatch.setenv("WAREHOUSE_URL", "postgresql://postgres@127.0.0.1:1/nowhere")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot use the warehouse at postgresql://postgres@127.0.0.1:1/nowhere")
    assert "set WAREHOUSE_URL" in err and "Traceback" not in err
    monkeypatch.delenv("WAREHOUSE_URL")
    assert main(args) == 2 and "WAREHOUSE_URL is not set" in capsys.readouterr().err


@pytest.mark.parametrize(("raw", "retries"), [(None, 2), ("0", 0), (" 3 ", 3)])
def test_the_retry_setting_reads_whole_numbers(raw, retries):
    from customer360.config import task_retries

    assert task_retries({} if raw is None else {"C360_TASK_RETRIES": raw}) == retries


@pytest.mark.parametrize("raw", ["-1", "1.5", "", "two"])
def test_the_retry_setting_rejects_anything_else(raw):
    from customer360.config import SettingsError, task_retries

    with pytest.raises(SettingsError, match="C360_TASK_RETRIES"):
        task_retries({"C360_TASK_RETRIES": raw})
