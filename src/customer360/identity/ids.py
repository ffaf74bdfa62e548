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

    # Vectorised: a run has hundreds of thousands of clusters, and a loop over them took 40 s at a million records.
    survivor = owner_of_id["cluster"].map(kept)
    merged = owner_of_id.loc[owner_of_id["customer_id"] != survivor]
    history = {(old, new, "merge") for old, new in zip(merged["customer_id"], survivor[merged.index])}

    clusters = np.unique(labels)
    needs_id = clusters[~np.isin(clusters, kept.index.to_numpy())]
    fresh = next_ids(len(needs_id))
    assigned = pd.concat([kept, pd.Series(fresh, index=needs_id, dtype="object")])

    # Old ids that lost members to a cluster with another id: a split (unless that id merged into it).
    lost = candidates.loc[candidates["cluster"].map(kept) != candidates["customer_id"]]
    new_ids = lost["cluster"].map(assigned)
    history |= {
        (old, new, "split") for old, new in zip(lost["customer_id"], new_ids) if (old, new, "merge") not in history
    }
    return frame["cluster"].map(assigned), sorted(history)
