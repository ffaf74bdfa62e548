"""Pseudonymised keys and normalisation (no database)."""

from __future__ import annotations

import hashlib

import pytest

from customer360.privacy.keys import (
    KEY_ENV,
    KEY_FILE_ENV,
    PseudonymKey,
    PseudonymKeyMissing,
    ensure_local_key,
    load_key,
    normalise_email,
    normalise_phone,
)
from customer360.privacy.pseudonyms import email_key


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("+44 7700 900123", "+447700900123"),
        ("+44 (0)7700 900123", "+447700900123"),
        ("0044 7700 900123", "+447700900123"),
        ("07700 900123", "+447700900123"),
        ("(07700) 900-123", "+447700900123"),
        ("447700900123", "+447700900123"),
        ("7700900123", "+447700900123"),
        ("", None),
        ("n/a", None),
    ],
)
def test_phones_normalise_as_the_dbt_macro_does(raw, expected):
    assert normalise_phone(raw) == expected


def test_emails_normalise_as_the_dbt_macro_does():
    assert normalise_email("  John.Smith @Example.COM ") == "john.smith@example.com"
    assert normalise_email("   ") is None


def test_the_key_is_a_keyed_hash_not_a_bare_hash():
    a, b = PseudonymKey(b"a" * 40), PseudonymKey(b"b" * 40)
    e = "jo@example.com"
    assert email_key(a, e) != email_key(b, e)
    assert email_key(a, e) == email_key(a, e)
    assert email_key(a, e) not in (hashlib.sha256(e.encode()).hexdigest()[:32], hashlib.md5(e.encode()).hexdigest())
    assert "a" * 10 not in repr(a), "the secret is not in the key's repr (logs)"


def test_a_missing_or_short_key_fails_with_what_to_do(tmp_path):
    with pytest.raises(PseudonymKeyMissing, match="python -m customer360.privacy new-key"):
        load_key({})
    with pytest.raises(PseudonymKeyMissing, match="shorter"):
        load_key({KEY_ENV: "short"})
    assert load_key({KEY_ENV: "x" * 40}).secret == b"x" * 40


def test_the_local_key_is_private(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    said = []
    path = ensure_local_key(tmp_path / "k", say=said.append)
    assert path.stat().st_mode & 0o777 == 0o600 and said
    assert load_key().secret == path.read_text().encode()
