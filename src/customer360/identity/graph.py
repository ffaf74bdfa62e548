"""Clustering with guards: edges are added strongest first, and an edge that would break a guard is held.

The rule (a maximum spanning forest under constraints): edges are taken in
order of strength - steward must-links, then the deterministic rules in their
order, then probabilistic links by falling match probability. Each edge joins
the two clusters its records are in, unless joining them would

- put two records a steward marked cannot-link into one cluster (`cannot_link`),
- put two different values of a guarded key into one cluster
  (`conflicting_<key>`): a date of birth, or the identity key of a source that
  declares one key per person (`identity_key_unique_per_person` in
  ingestion/contracts.py: the till's loyalty card, not the CRM's account id,
  since duplicate accounts of one person are what must be merged), or
- make a cluster larger than the configured maximum (`cluster_too_large`).

Such an edge is not added; it is returned as *held* for a steward to review.
So a cannot-link always cuts the weakest edges on the paths between the two
records: stronger edges have already been added when the weak one that would
complete the path comes up. Steward must-links skip the key and size guards
(the steward has looked) but not a cannot-link.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from customer360.ingestion.contracts import SourceContract

# Record columns that can hold a source's identity key (and so be guarded, where the source says so).
SOURCE_KEY_COLUMNS: tuple[str, ...] = ("account_id", "loyalty_id", "web_account_id")
STEWARD_MUST_LINK = "steward_must_link"


class Edge(NamedTuple):  # a tuple: a million rule edges are built each run; half the cost of a dataclass
    left: int
    right: int
    rule: str
    match_probability: float | None = None


@dataclass
class Clustering:
    labels: np.ndarray
    matched_by: list[str]
    held: list[tuple[Edge, str]] = field(default_factory=list)
    links_by_rule: dict[str, int] = field(default_factory=dict)


class _Forest:
    """Union-find whose roots carry the cluster's strong keys, size and cannot-link partners."""

    def __init__(self, keys: dict[str, list[object]], n: int) -> None:
        self.parent = list(range(n))
        self.size = [1] * n
        self.keys = {name: list(values) for name, values in keys.items()}
        self.cannot: dict[int, set[int]] = {}

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def blocker(self, a: int, b: int, max_size: int, guarded: bool) -> str | None:
        """Why roots a and b may not join, or None."""
        small, large = (a, b) if len(self.cannot.get(a, ())) <= len(self.cannot.get(b, ())) else (b, a)
        if any(self.find(x) == large for x in self.cannot.get(small, ())):
            return "cannot_link"
        if not guarded:
            return None
        for name, values in self.keys.items():
            if values[a] is not None and values[b] is not None and values[a] != values[b]:
                return f"conflicting_{name}"
        if self.size[a] + self.size[b] > max_size:
            return "cluster_too_large"
        return None

    def union(self, a: int, b: int) -> None:
        if self.size[a] < self.size[b]:
            a, b = b, a
        self.parent[b] = a
        self.size[a] += self.size[b]
        for values in self.keys.values():
            if values[a] is None:
                values[a] = values[b]
        if b in self.cannot:
            self.cannot.setdefault(a, set()).update(self.cannot.pop(b))


def guarded_keys(sources: Mapping[str, SourceContract]) -> tuple[str, ...]:
    """Keys whose different values veto a merge: each source's identity key it declares unique
    per person, and the date of birth."""
    unique = sorted({s.identity_key for s in sources.values() if s.identity_key_unique_per_person})
    unknown = [key for key in unique if key not in SOURCE_KEY_COLUMNS]
    if unknown:
        raise ValueError(
            f"identity_key_unique_per_person is set on a source keyed by {', '.join(unknown)}, which identity "
            f"resolution cannot guard: only {', '.join(SOURCE_KEY_COLUMNS)} can veto a merge"
        )
    return (*unique, "date_of_birth")


def cluster(
    n: int,
    edges: list[Edge],
    strong_keys: dict[str, list[object]],
    *,
    max_cluster_size: int,
    cannot_links: Sequence[tuple[int, int]] = (),
    initial: np.ndarray | None = None,
) -> Clustering:
    """Cluster n records. `edges` must already be in order of strength.

    `strong_keys` holds, per guarded key (see `guarded_keys`), one value (or None) per record. `initial`
    optionally gives a starting cluster label per record (-1: alone); records
    sharing a label start joined, unguarded, as the previous run left them.
    """
    forest = _Forest(strong_keys, n)
    for a, b in cannot_links:
        forest.cannot.setdefault(a, set()).add(b)
        forest.cannot.setdefault(b, set()).add(a)
    if initial is not None:
        first_of: dict[int, int] = {}
        for i, label in enumerate(initial.tolist()):
            if label < 0:
                continue
            if label in first_of:
                ra, rb = forest.find(first_of[label]), forest.find(i)
                if ra != rb:
                    forest.union(ra, rb)
            else:
                first_of[label] = i
    matched_by = ["singleton"] * n
    held: list[tuple[Edge, str]] = []
    held_between: set[tuple[int, int]] = set()
    links: dict[str, int] = {}
    for edge in edges:
        a, b = forest.find(edge.left), forest.find(edge.right)
        if a == b:
            continue
        reason = forest.blocker(a, b, max_cluster_size, guarded=edge.rule != STEWARD_MUST_LINK)
        if reason is not None:
            # One review row per pair of clusters and reason is enough for a steward.
            if (min(a, b), max(a, b)) not in held_between:
                held_between.add((min(a, b), max(a, b)))
                held.append((edge, reason))
            continue
        forest.union(a, b)
        links[edge.rule] = links.get(edge.rule, 0) + 1
        for i in (edge.left, edge.right):
            if matched_by[i] == "singleton":
                matched_by[i] = edge.rule
    roots = np.fromiter((forest.find(i) for i in range(n)), dtype=np.int64, count=n)
    _, labels = np.unique(roots, return_inverse=True)
    return Clustering(labels=labels, matched_by=matched_by, held=held, links_by_rule=links)
