"""Comparing the marts of two warehouses: every relation as sorted row texts, and the rows that differ.

The rerun, backfill and fault tests (tests/e2e) compare a disturbed run with an undisturbed one.
"""

from __future__ import annotations

from customer360.config import Settings
from customer360.db.connection import connect

# What a run records about itself rather than about the data: compared by count only.
RUN_RECORD_RELATIONS = {"dq_check_latest", "dq_table_status", "dim_customer_history"}
CUSTOMER_ID_COLUMNS = ("customer_id", "left_customer_id", "right_customer_id")


def relations(settings: Settings, schema: str) -> list[str]:
    with connect(settings) as conn:
        return [
            r[0]
            for r in conn.execute(
                "select table_name from information_schema.tables where table_schema = %s order by 1", (schema,)
            )
        ]


def columns(conn, schema: str, table: str) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "select column_name from information_schema.columns where table_schema = %s and table_name = %s "
            "order by ordinal_position",
            (schema, table),
        )
    ]


def marts_rows(
    settings: Settings, *, canonical_ids: bool, schema: str = "marts", exclude: frozenset[str] = frozenset()
) -> dict[str, list[str]]:
    """Every marts relation as sorted row texts; with ``canonical_ids`` a customer_id is replaced by its
    smallest source record (ids are minted in build order, which parallel runs change); ``exclude``
    leaves columns out."""
    out = {}
    with connect(settings) as conn:
        conn.execute("""create temp table canonical as
                        select customer_id, min(source || ':' || source_record_key) as person
                        from identity.customer_source_xref group by customer_id""")
        for table in relations(settings, schema):
            cols = [c for c in columns(conn, schema, table) if c not in exclude]
            select = []
            for c in cols:
                if canonical_ids and c in CUSTOMER_ID_COLUMNS:
                    select.append(f'(select person from canonical k where k.customer_id = t."{c}")')
                else:
                    select.append(f't."{c}"')
            rows = conn.execute(f'select row({", ".join(select)})::text from "{schema}"."{table}" t').fetchall()
            out[table] = sorted(r[0] for r in rows)
    return out


def diff_rows(a: dict[str, list[str]], b: dict[str, list[str]], skip=frozenset()) -> dict[str, int]:
    """Rows in one and not the other (multiset), per relation."""
    from collections import Counter

    out = {}
    for table in sorted(set(a) | set(b)):
        if table in skip:
            continue
        ca, cb = Counter(a.get(table, [])), Counter(b.get(table, []))
        out[table] = sum(((ca - cb) + (cb - ca)).values())
    return out


def diff_examples(
    a: dict[str, list[str]], b: dict[str, list[str]], diff: dict[str, int], limit: int = 3
) -> dict[str, dict[str, list[str]]]:
    """A few rows found on one side only, per relation that differs: what an assertion message shows."""
    from collections import Counter

    out = {}
    for table, n in diff.items():
        if n:
            ca, cb = Counter(a.get(table, [])), Counter(b.get(table, []))
            out[table] = {
                "only in first": sorted((ca - cb).elements())[:limit],
                "only in second": sorted((cb - ca).elements())[:limit],
            }
    return out
