"""Publish the marts a run built, only after they passed the gate.

dbt builds into ``marts_build``; the marts gate checks that schema; publishing
swaps the two schemas by renaming them in one transaction. BI users therefore
see either yesterday's marts or today's complete, checked ones, never a half
build or one that failed a check. After the swap ``marts_build`` holds the
previous marts: the next run's incremental models catch up from there (they
merge by their own high-water mark), so no copy is made.
"""

from __future__ import annotations

import logging
from typing import Any

from psycopg import sql

from customer360.config import Settings
from customer360.db.connection import MARTS_BUILD_SCHEMA, MARTS_SCHEMA, connect, scalar, table_exists

log = logging.getLogger(__name__)

LOCK_TIMEOUT = "60s"


def publish_marts(settings: Settings, run_id: str) -> dict[str, Any]:
    """Swap the build in (ops.publish_marts(), made by customer360.db.bootstrap) and count what BI now sees."""
    with connect(settings) as conn:
        if not table_exists(conn, MARTS_BUILD_SCHEMA, "customer_360"):
            raise RuntimeError(f"nothing to publish: {MARTS_BUILD_SCHEMA}.customer_360 does not exist")
        with conn.transaction():
            # A reader's long query must not hold the swap forever, nor the swap block readers for long.
            conn.execute(sql.SQL("set local lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT)))
            conn.execute("select ops.publish_marts()")
            tables = scalar(
                conn, "select count(*) from information_schema.tables where table_schema = %s", (MARTS_SCHEMA,)
            )
    log.info("published %d marts tables and views of run %s", tables, run_id)
    return {"published_tables": tables}
