"""Stable customer ids: clusters keep the ids their records had; merges and splits are recorded."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd


def assign_customer_ids(
    records: pd.DataFrame, labels: np.ndarray, previous: pd.DataFrame, next_ids: Callable[[int], list[str]]
) -> tuple[pd.Series, list[tuple[str, str, str]]]:
    """Stable ids for clusters.

    `previous` maps (source, source_record_key) -> customer_id from the last run.
    A cluster keeps its members' previous id; if members had several (a merge),
    the oldest id (lowest number) survives. If one previous id is spread over
    several clusters (a split), the cluster holding most of its records keeps it
    and the others get new ids. `next_ids(k)` returns k fresh ids, never used before.
    Returns (customer_id per record, history rows (old id, new id, reason)).
    """
    frame = records[["source", "source_record_key"]].copy()
    frame["cluster"] = labels
    frame = frame.merge(
        previous[["source", "source_record_key", "customer_id"]], on=["source", "source_record_key"], how="left"
    )
    history: list[tuple[str, str, str]] = []

    cluster_size = frame.groupby("cluster").size()
    known = frame.dropna(subset=["customer_id"])
    # Candidate (cluster, old id) pairs; an old id goes to the cluster holding most of its records.
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

    # Old ids that lost members to a cluster with another id: a split.
    lost = candidates[~candidates.set_index(["cluster", "customer_id"]).index.isin(list(kept.items()))]
    for cluster, old in lost[["cluster", "customer_id"]].itertuples(index=False):
        new = assigned[cluster]
        if (old, new, "merge") not in history:
            history.append((old, new, "split"))
    return frame["cluster"].map(assigned), sorted(set(history))
