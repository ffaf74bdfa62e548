"""Pseudonymised person keys for BI: identity.record_pseudonyms.

BI marts sometimes need to count or join people without showing who they are
(`dim_customer.email_key`: the same address is the same key in every run and
every mart, and nobody without the secret can compute it from an address). The
keys are keyed hashes (customer360.privacy.keys) computed here, in Python, after identity
resolution, one row per source record of intermediate.int_source_records; dbt
only joins the table. The secret therefore never appears in dbt's compiled SQL,
its logs or the database.

Rotating the key means recomputing this table (`python -m customer360.privacy rotate-key`,
or the next pipeline run): the keys BI users saw change.
"""

from __future__ import annotations

import logging

from customer360.db import tables
from customer360.privacy.keys import PseudonymKey, load_key

log = logging.getLogger(__name__)

KEY_LENGTH = 32  # hex characters kept for BI keys (128 bits)


def email_key(key: PseudonymKey, normalised_email: str) -> str:
    return key.hasher()("bi_email", normalised_email)[:KEY_LENGTH]


def refresh(conn, key: PseudonymKey | None = None) -> int:
    """Recompute identity.record_pseudonyms from int_source_records (in the caller's transaction)."""
    key = key or load_key()
    tables.create(conn, tables.PSEUDONYMS)
    if conn.execute("select to_regclass('intermediate.int_source_records') is null").fetchone()[0]:
        return 0
    h = key.hasher()
    rows = conn.execute(
        "select source, source_record_key, email_normalised, phone_normalised from intermediate.int_source_records"
    ).fetchall()
    conn.execute("delete from identity.record_pseudonyms")
    with conn.cursor().copy(
        "copy identity.record_pseudonyms (source, source_record_key, key_id, email_key, phone_key) from stdin"
    ) as copy:
        for source, record_key, email, phone in rows:
            copy.write_row(
                (
                    source,
                    record_key,
                    key.key_id,
                    h("bi_email", email)[:KEY_LENGTH] if email else None,
                    h("bi_phone", phone)[:KEY_LENGTH] if phone else None,
                )
            )
    log.info("pseudonymised keys for %d source record(s) (key id %s)", len(rows), key.key_id)
    return len(rows)
