"""Deterministic match rules: records sharing a strong key are linked under the rule's name."""

from __future__ import annotations

import numpy as np
import pandas as pd

from customer360.identity.graph import Edge

# Rule name -> the columns that must all be equal (and present) for two records to link,
# strongest first: the order is the order edges are added in (identity/graph.py).
MATCH_RULES: dict[str, tuple[str, ...]] = {
    "same_crm_account": ("account_id",),
    "same_loyalty_card": ("loyalty_id",),
    "same_web_account": ("web_account_id",),
    "same_email": ("email_normalised",),
    # A shared phone alone never links (households share landlines): the full name must agree too.
    "same_phone_and_name": ("phone_normalised", "last_name_normalised", "first_name_normalised"),
}
# Rule -> further columns holding more values of the same key (a CRM account's earlier e-mail
# links the campaign records still sent to it).
ALTERNATE_KEYS: dict[str, tuple[str, ...]] = {"same_email": ("previous_email_normalised",)}


def rule_edges(records: pd.DataFrame, only: np.ndarray | None = None) -> list[Edge]:
    """Edges of every rule, strongest rule first.

    Each rule links every record to the first record sharing its key: the same
    components as all pairs, with n edges instead of n^2. With `only` (a
    boolean mask), just the edges that touch a masked record.
    """
    positions = np.arange(len(records))
    edges: list[Edge] = []
    for rule, columns in MATCH_RULES.items():
        members, group = _keyed(records, list(columns), positions)
        for alternate in ALTERNATE_KEYS.get(rule, ()):
            if alternate in records:
                more, more_group = _keyed(records, [alternate], positions)
                members = np.concatenate([members, more])
                group = pd.concat([pd.Series(group), pd.Series(more_group)], ignore_index=True).to_numpy(dtype=object)
        if not len(members):
            continue
        group = pd.factorize(pd.Series(group, dtype=object))[0]
        first = pd.Series(members).groupby(group).transform("min").to_numpy()
        linked = first != members
        src, dst = members[linked], first[linked]
        if only is not None:
            touches = only[src] | only[dst]
            # A new record in a group whose first member is old links to that member; a group whose
            # only new record is its first member links its old members to it, which is the same set.
            src, dst = src[touches], dst[touches]
        edges.extend(Edge(int(s), int(d), rule) for s, d in zip(src, dst) if s != d)
    return edges


def _keyed(records: pd.DataFrame, columns: list[str], positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the records with every column present, and their key (a tuple as one string)."""
    keyed = records[columns].replace("", np.nan).notna().all(axis=1).to_numpy()
    frame = records.loc[keyed, columns].astype(str)
    keys = frame[columns[0]]
    for column in columns[1:]:
        keys = keys + "\x1f" + frame[column]
    keys = keys.to_numpy(dtype=object)
    return positions[keyed], keys
