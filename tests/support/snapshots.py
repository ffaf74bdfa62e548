"""What the end-to-end tests read back from a warehouse: a query as a frame, and the identity and
marts tables a rerun must leave as they were."""

from __future__ import annotations

import pandas as pd

from customer360.config import Settings
from customer360.db.connection import connect


def query(settings: Settings, sql: str) -> pd.DataFrame:
    with connect(settings) as conn:
        cur = conn.execute(sql)
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def run_snapshot(settings: Settings) -> dict[str, pd.DataFrame]:
    return {
        "xref": query(
            settings, "select source, source_record_key, customer_id from identity.customer_source_xref order by 1, 2"
        ),
        "customer_360": query(
            settings, "select customer_id, order_count, total_revenue from marts.customer_360 order by 1"
        ),
        "raw_rows": query(
            settings,
            "select (select count(*) from raw.pos_transactions) as pos, (select count(*) from raw.crm_accounts) as crm",
        ),
        "match_pairs": query(
            settings,
            "select left_source, left_source_record_key, right_source, "
            "right_source_record_key, run_id, match_probability, outcome "
            "from identity.match_pairs order by 1, 2, 3, 4",
        ),
        "review_queue": query(
            settings,
            "select left_source, left_source_record_key, right_source, "
            "right_source_record_key, reason from identity.review_queue "
            "order by 1, 2, 3, 4",
        ),
        "id_history": query(settings, "select * from identity.customer_id_history order by 1, 2, 3"),
    }
