"""Deterministic identity resolution: source records -> clusters -> stable customer ids.

Reads `intermediate.int_source_records` (one row per source record, already
standardised by dbt), links records that share a strong key under named rules,
and writes `identity.customer_source_xref`. Customer ids are stable: a cluster
keeps the id its records already had; merges keep the oldest id and splits give
new ids, and both are written to `identity.customer_id_history`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from warehouse.db import connect, table_exists
from warehouse.settings import Settings

log = logging.getLogger(__name__)

INPUT_TABLE = "intermediate.int_source_records"

# Rule name -> the columns that must all be equal (and present) for two records to link.
# Order matters only for the reported `matched_by`: the first rule that links a record names it.
MATCH_RULES: dict[str, tuple[str, ...]] = {
    "same_crm_account": ("account_id",),
    "same_loyalty_card": ("loyalty_id",),
    "same_web_account": ("web_account_id",),
    "same_email": ("email_normalised",),
    # A shared phone alone never links (households share landlines): the name must agree too.
    "same_phone_and_name": ("phone_normalised", "last_name_normalised", "first_initial"),
}

DDL = """
create table if not exists identity.customer_source_xref (
    source text not null,
    source_record_key text not null,
    customer_id text not null,
    matched_by text not null,
    resolved_run_id text not null,
    primary key (source, source_record_key)
);
create index if not exists customer_source_xref_customer on identity.customer_source_xref (customer_id);
create sequence if not exists identity.customer_id_seq;
create table if not exists identity.customer_id_history (
    old_customer_id text not null,
    new_customer_id text not null,
    reason text not null,
    run_id text not null,
    changed_at timestamptz not null,
    primary key (old_customer_id, new_customer_id, run_id)
);
create table if not exists identity.resolution_runs (
    run_id text primary key,
    resolved_at timestamptz not null,
    records integer not null,
    customers integer not null,
    new_customers integer not null,
    merged_ids integer not null,
    split_ids integer not null,
    links_by_rule jsonb not null
);
"""


@dataclass
class ResolutionSummary:
    run_id: str
    records: int
    customers: int
    new_customers: int
    merged_ids: int
    split_ids: int
    links_by_rule: dict[str, int] = field(default_factory=dict)

    def text(self) -> str:
        rules = ", ".join(f"{k}={v}" for k, v in self.links_by_rule.items())
        return (
            f"identity: {self.records} source records -> {self.customers} customers "
            f"({self.new_customers} new ids, {self.merged_ids} merged, {self.split_ids} split); links: {rules}"
        )


def ensure_identity_tables(conn) -> None:
    conn.execute(DDL)


def cluster_records(records: pd.DataFrame) -> tuple[np.ndarray, pd.Series, dict[str, int]]:
    """Connected components over rule links.

    Returns (cluster label per record, matched_by per record, links per rule).
    Each rule links every record to the first record sharing its key, which
    connects the same components as all pairs would, with n edges instead of n^2.
    """
    n = len(records)
    frame = records.copy()
    frame["first_initial"] = frame["first_name_normalised"].str.slice(0, 1)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    matched_by = pd.Series("singleton", index=frame.index, dtype="object")
    links_by_rule: dict[str, int] = {}
    positions = np.arange(n)
    for rule, columns in MATCH_RULES.items():
        keyed = frame[list(columns)].replace("", np.nan).notna().all(axis=1)
        if not keyed.any():
            links_by_rule[rule] = 0
            continue
        group_first = frame.loc[keyed].groupby(list(columns), sort=False).ngroup()
        first_position = pd.Series(positions[keyed.to_numpy()]).groupby(group_first.to_numpy()).transform("min")
        linked = first_position.to_numpy() != positions[keyed.to_numpy()]
        src = positions[keyed.to_numpy()][linked]
        dst = first_position.to_numpy()[linked]
        rows.append(src)
        cols.append(dst)
        links_by_rule[rule] = int(linked.sum())
        # Name the rule on both ends of each link, first rule wins.
        touched = np.unique(np.concatenate([src, dst]))
        unnamed = matched_by.iloc[touched] == "singleton"
        matched_by.iloc[touched[unnamed.to_numpy()]] = rule
    if rows:
        r, c = np.concatenate(rows), np.concatenate(cols)
    else:
        r = c = np.array([], dtype=int)
    graph = coo_matrix((np.ones(len(r), dtype=np.int8), (r, c)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return labels, matched_by, links_by_rule


def assign_customer_ids(
    records: pd.DataFrame, labels: np.ndarray, previous: pd.DataFrame, next_ids
) -> tuple[pd.Series, list[tuple[str, str, str]]]:
    """Stable ids for clusters.

    `previous` maps (source, source_record_key) -> customer_id from the last run.
    A cluster keeps its members' previous id; if members had several (a merge),
    the oldest id (lowest number) survives. If one previous id is spread over
    several clusters (a split), the largest cluster keeps it and the others get
    new ids. `next_ids(k)` returns k fresh ids, never used before.
    Returns (customer_id per record, history rows (old id, new id, reason)).
    """
    frame = records[["source", "source_record_key"]].copy()
    frame["cluster"] = labels
    frame = frame.merge(previous, on=["source", "source_record_key"], how="left")
    history: list[tuple[str, str, str]] = []

    cluster_size = frame.groupby("cluster").size()
    known = frame.dropna(subset=["customer_id"])
    # Candidate (cluster, old id) pairs; an old id goes to its largest cluster.
    candidates = known.groupby(["cluster", "customer_id"]).size().rename("members").reset_index()
    candidates["cluster_size"] = candidates["cluster"].map(cluster_size)
    candidates = candidates.sort_values(
        ["customer_id", "members", "cluster_size", "cluster"], ascending=[True, False, False, True]
    )
    owner_of_id = candidates.drop_duplicates("customer_id", keep="first")
    # A cluster may own several old ids (a merge): keep the oldest.
    owner_of_id = owner_of_id.sort_values(["cluster", "customer_id"])
    kept = owner_of_id.drop_duplicates("cluster", keep="first").set_index("cluster")["customer_id"]

    for cluster, ids in owner_of_id.groupby("cluster")["customer_id"]:
        survivor = kept[cluster]
        for old in ids:
            if old != survivor:
                history.append((old, survivor, "merge"))

    clusters = np.unique(labels)
    needs_id = [c for c in clusters if c not in kept.index]
    fresh = next_ids(len(needs_id))
    assigned = pd.concat([kept, pd.Series(fresh, index=needs_id, dtype="object")])

    # Old ids that lost members to a cluster with a fresh id: a split.
    lost = candidates[~candidates.set_index(["cluster", "customer_id"]).index.isin(list(kept.items()))]
    for cluster, old in lost[["cluster", "customer_id"]].itertuples(index=False):
        new = assigned[cluster]
        if (old, new, "merge") not in history:
            history.append((old, new, "split"))
    return frame["cluster"].map(assigned), sorted(set(history))


def resolve_identities(settings: Settings, run_id: str, as_of: datetime) -> ResolutionSummary:
    with connect(settings) as conn:
        with conn.transaction():
            ensure_identity_tables(conn)
            if not table_exists(conn, "intermediate", "int_source_records"):
                raise RuntimeError(
                    f"{INPUT_TABLE} does not exist: run the dbt staging and intermediate models first"
                )
            # One resolver at a time: a second concurrent run waits here instead of racing.
            conn.execute("select pg_advisory_xact_lock(hashtext('identity.resolve'))")
            records = _read_frame(
                conn,
                f"""select source, source_record_key, account_id, loyalty_id, web_account_id,
                           email_normalised, phone_normalised, first_name_normalised, last_name_normalised
                    from {INPUT_TABLE} order by source, source_record_key""",
            )
            previous = _read_frame(
                conn, "select source, source_record_key, customer_id from identity.customer_source_xref"
            )
            labels, matched_by, links = cluster_records(records)

            def next_ids(k: int) -> list[str]:
                if k == 0:
                    return []
                rows = conn.execute(
                    "select nextval('identity.customer_id_seq') from generate_series(1, %s)", (k,)
                ).fetchall()
                return [f"C{r[0]:09d}" for r in rows]

            customer_ids, history = assign_customer_ids(records, labels, previous, next_ids)
            out = pd.DataFrame(
                {
                    "source": records["source"],
                    "source_record_key": records["source_record_key"],
                    "customer_id": customer_ids.to_numpy(),
                    "matched_by": matched_by.to_numpy(),
                }
            )
            conn.execute("delete from identity.customer_source_xref")
            with conn.cursor().copy(
                "copy identity.customer_source_xref (source, source_record_key, customer_id, matched_by, resolved_run_id) from stdin"
            ) as copy:
                for row in out.itertuples(index=False):
                    copy.write_row((*row, run_id))
            conn.execute("delete from identity.customer_id_history where run_id = %s", (run_id,))
            with conn.cursor() as cur:
                cur.executemany(
                    "insert into identity.customer_id_history values (%s, %s, %s, %s, %s)",
                    [(old, new, reason, run_id, as_of) for old, new, reason in history],
                )
            new_count = out.loc[~out["customer_id"].isin(previous["customer_id"]), "customer_id"].nunique()
            summary = ResolutionSummary(
                run_id=run_id,
                records=len(out),
                customers=int(out["customer_id"].nunique()),
                new_customers=new_count,
                merged_ids=sum(1 for h in history if h[2] == "merge"),
                split_ids=sum(1 for h in history if h[2] == "split"),
                links_by_rule=links,
            )
            conn.execute(
                """insert into identity.resolution_runs values (%s, %s, %s, %s, %s, %s, %s, %s)
                   on conflict (run_id) do update set resolved_at = excluded.resolved_at, records = excluded.records,
                     customers = excluded.customers, new_customers = excluded.new_customers,
                     merged_ids = excluded.merged_ids, split_ids = excluded.split_ids,
                     links_by_rule = excluded.links_by_rule""",
                (
                    run_id,
                    as_of,
                    summary.records,
                    summary.customers,
                    summary.new_customers,
                    summary.merged_ids,
                    summary.split_ids,
                    json.dumps(links),
                ),
            )
    log.info(summary.text())
    return summary


def _read_frame(conn, query: str) -> pd.DataFrame:
    cur = conn.execute(query)
    columns = [d.name for d in cur.description]
    return pd.DataFrame(cur.fetchall(), columns=columns, dtype="object")
