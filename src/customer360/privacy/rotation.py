"""Rotating the pseudonymisation key.

What depends on the secret, and what a rotation does to it:

- identity.record_pseudonyms (and so dim_customer.email_key / phone_key): recomputed
  from the records with the new secret (`rotate`); BI keys change.
- ops.erasure_suppressions: keyed hashes of erased people's values, whose clear values
  are gone, so they cannot be recomputed. Each row names the key that made it
  (`key_id`); the loader matches each row with its own key, so the retired secret stays
  in C360_PSEUDONYM_PREVIOUS_KEYS until every suppression made with it has been hashed
  again under the new secret from the erasure requests' own records
  (`python -m customer360.privacy suppress --request-id R --email ...`), after which its rows can be
  deleted and the old secret dropped. `rotate` reports what is still left per key.
"""

from __future__ import annotations

from customer360.config import Settings
from customer360.db.connection import transaction
from customer360.privacy import suppression
from customer360.privacy.keys import load_key, previous_keys
from customer360.privacy.pseudonyms import refresh


def rotate(settings: Settings) -> dict:
    key = load_key()
    old = {k.key_id for k in previous_keys()}
    with transaction(settings) as conn:
        suppression.ensure_table(conn)
        records = refresh(conn, key)
        by_key = dict(conn.execute("select key_id, count(*) from ops.erasure_suppressions group by key_id").fetchall())
    unmatched = sorted(k for k in by_key if k != key.key_id and k not in old)
    return {
        "key_id": key.key_id,
        "records_pseudonymised": records,
        "suppressions_by_key_id": by_key,
        "suppressions_needing_a_previous_key": sum(n for k, n in by_key.items() if k != key.key_id),
        "key_ids_missing_from_C360_PSEUDONYM_PREVIOUS_KEYS": unmatched,
    }


def suppress_again(settings: Settings, request_id: str, items: list[tuple[str, str | None]]) -> int:
    key = load_key()
    hashed = suppression.hashes_for(key, [(k, v) for k, v in items if v])
    with transaction(settings) as conn:
        suppression.ensure_table(conn)
        for kind, value_hash in hashed:
            conn.execute(
                """insert into ops.erasure_suppressions (request_id, kind, key_id, value_hash)
                   values (%s, %s, %s, %s) on conflict do nothing""",
                (request_id, kind, key.key_id, value_hash),
            )
    return len(hashed)
