"""Identity resolution: source records -> guarded clusters -> stable customer ids.

Reads `intermediate.int_source_records` (standardised by dbt) and, in order:

1. links records sharing a strong key under named rules (identity/rules.py);
2. scores the pairs the rules left apart with Splink (identity/probabilistic.py):
   at or above the link probability they link, in the review band they go to
   the review queue;
3. adds steward must-links first and applies steward cannot-links, then adds
   the edges strongest first under the over-merge guards (identity/graph.py);
   an edge a guard stops is held in the review queue;
4. gives clusters stable ids (identity/ids.py) and writes
   `identity.customer_source_xref`, `customer_id_history`, `match_pairs`,
   `review_queue` and `resolution_runs`.

A run is *full* (every record re-clustered, the Splink model re-trained) when
there is no previous result or `full=True`; otherwise *incremental*: customers
from the last run stay joined as they were, and only new records, records
whose matching attributes changed and customers a new cannot-link splits are
matched (with the last trained model), so customers the day did not touch keep
their records and ids.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from customer360.config import Settings
from customer360.db.connection import connect, table_exists
from customer360.identity import store
from customer360.identity.graph import STEWARD_MUST_LINK, Clustering, Edge, cluster, guarded_keys
from customer360.identity.ids import assign_customer_ids
from customer360.identity.probabilistic import BLOCKING_KEYS, ScoredPairs, Training, score_pairs
from customer360.identity.rules import rule_edges
from customer360.ingestion.contracts import SOURCES

log = logging.getLogger(__name__)

PROBABILISTIC_RULE = "probabilistic_match"
# Below this many candidate records EM has too little to learn from: no probabilistic step.
MIN_RECORDS_TO_TRAIN = 200
HASHED_COLUMNS = (
    "account_id",
    "loyalty_id",
    "web_account_id",
    "email_normalised",
    "previous_email_normalised",
    "phone_normalised",
    "first_name_normalised",
    "first_name_canonical",
    "last_name_normalised",
    "postcode_normalised",
    "date_of_birth",
)


@dataclass(frozen=True)
class MatchSettings:
    max_cluster_size: int = 50
    link_probability: float = 0.99
    review_probability: float = 0.5

    @classmethod
    def from_settings(cls, settings: Settings) -> MatchSettings:
        return cls(settings.max_cluster_size, settings.match_link_probability, settings.match_review_probability)


@dataclass
class MatchResult:
    clustering: Clustering
    free: np.ndarray  # records matched this run (all in a full run)
    scored: pd.DataFrame  # scored pairs with an `outcome` column
    review: pd.DataFrame  # left, right, reason, rule, match_probability (record positions)
    model_json: str | None
    trained: bool
    training: Training | None = None  # None: no probabilistic step this run


@dataclass
class ResolutionSummary:
    run_id: str
    mode: str
    records: int
    records_matched: int
    customers: int
    new_customers: int
    merged_ids: int
    split_ids: int
    scored_pairs: int = 0
    review_pairs: int = 0
    training: dict | None = None  # Training.as_dict() of the model used (None: rules only)
    links_by_rule: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def text(self) -> str:
        rules = ", ".join(f"{k}={v}" for k, v in self.links_by_rule.items())
        return (
            f"identity ({self.mode}): {self.records} source records ({self.records_matched} matched this run) -> "
            f"{self.customers} customers ({self.new_customers} new ids, {self.merged_ids} merged, "
            f"{self.split_ids} split); {self.scored_pairs} pairs scored, {self.review_pairs} for review; "
            f"links: {rules}"
        )


def match_key_hash(records: pd.DataFrame) -> pd.Series:
    """A hash of a record's matching attributes: a changed hash means the record is matched again."""
    values = records[list(HASHED_COLUMNS)].astype("string").fillna("\x00")
    return pd.util.hash_pandas_object(values, index=False).astype("uint64").astype(str)


def decision_positions(
    records: pd.DataFrame, decisions: pd.DataFrame
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Steward decisions as (must-link, cannot-link) record position pairs; later decisions on a pair win."""
    position = {(s, k): i for i, (s, k) in enumerate(zip(records["source"], records["source_record_key"]))}
    latest: dict[tuple[int, int], str] = {}
    for row in decisions.itertuples(index=False):
        a = position.get((row.left_source, row.left_source_record_key))
        b = position.get((row.right_source, row.right_source_record_key))
        if a is not None and b is not None and a != b:
            latest[(min(a, b), max(a, b))] = row.decision
    must = [pair for pair, d in latest.items() if d == "must_link"]
    cannot = [pair for pair, d in latest.items() if d == "cannot_link"]
    return must, cannot


def match_records(
    records: pd.DataFrame,
    params: MatchSettings,
    *,
    decisions: pd.DataFrame | None = None,
    previous: pd.DataFrame | None = None,
    model_json: str | None = None,
    probabilistic: bool = True,
    timings: dict[str, float] | None = None,
) -> MatchResult:
    """Cluster records; with `previous` (an incremental run) only the free records are matched.

    `records` must hold store.INPUT_COLUMNS; `previous` source, source_record_key,
    customer_id, match_key_hash of the last run.
    """
    timings = {} if timings is None else timings
    started = time.monotonic()
    n = len(records)
    must, cannot = decision_positions(
        records,
        decisions
        if decisions is not None
        else pd.DataFrame(
            columns=["left_source", "left_source_record_key", "right_source", "right_source_record_key", "decision"]
        ),
    )
    initial, free = None, np.ones(n, dtype=bool)
    if previous is not None and len(previous):
        initial, free = _carry_over(records, previous, cannot)
    strong = {k: records[k].where(records[k].notna(), None).astype(object).tolist() for k in guarded_keys(SOURCES)}
    incremental = initial is not None
    edges = [Edge(a, b, STEWARD_MUST_LINK) for a, b in must]
    edges += rule_edges(records, only=free if incremental else None)
    rule_clusters = cluster(
        n, edges, strong, max_cluster_size=params.max_cluster_size, cannot_links=cannot, initial=initial
    )
    timings["rules"] = round(time.monotonic() - started, 2)
    log.info(
        "identity: rules: %d records (%d to match), %d rule edges in %.1fs",
        n,
        int(free.sum()),
        len(edges),
        timings["rules"],
    )

    started = time.monotonic()
    scored = pd.DataFrame(columns=["left", "right", "match_weight", "match_probability", "evidence", "name_agrees"])
    trained = False
    training = None
    if probabilistic:
        subset = _candidates_for(records, free) if incremental else np.ones(n, dtype=bool)
        can_train = int(records.loc[subset, "last_name_normalised"].notna().sum()) >= MIN_RECORDS_TO_TRAIN
        if (incremental and model_json) or (not incremental and can_train):
            use_model = model_json if incremental else None
            positions = np.flatnonzero(subset)
            result: ScoredPairs = score_pairs(
                records.iloc[positions].reset_index(drop=True), rule_clusters.labels[positions], use_model
            )
            scored = result.pairs
            scored["left"] = positions[scored["left"].to_numpy(dtype=int)]
            scored["right"] = positions[scored["right"].to_numpy(dtype=int)]
            if incremental:
                scored = scored[free[scored["left"].to_numpy(dtype=int)] | free[scored["right"].to_numpy(dtype=int)]]
            model_json, trained, training = result.model_json, use_model is None, result.training
        else:
            log.info(
                "identity: no trained model (a full run trains one when there are %d named records); rules only",
                MIN_RECORDS_TO_TRAIN,
            )
    scored = scored.sort_values(["match_probability", "left", "right"], ascending=[False, True, True])
    p = scored["match_probability"].to_numpy(dtype=float)
    agrees = scored["name_agrees"].to_numpy(dtype=bool)
    scored["outcome"] = np.select(
        [(p >= params.link_probability) & agrees, p >= params.link_probability, p >= params.review_probability],
        ["link", "household_guard", "review"],
        "below_review",
    )
    timings["probabilistic"] = round(time.monotonic() - started, 2)
    log.info("identity: probabilistic: %d pairs scored in %.1fs", len(scored), timings["probabilistic"])

    started = time.monotonic()
    links = scored[scored["outcome"] == "link"]
    edges += [
        Edge(int(a), int(b), PROBABILISTIC_RULE, float(q))
        for a, b, q in zip(links["left"], links["right"], links["match_probability"])
    ]
    final = cluster(n, edges, strong, max_cluster_size=params.max_cluster_size, cannot_links=cannot, initial=initial)
    band = scored[scored["outcome"].isin(["review", "household_guard"])]
    review = pd.concat(
        [
            pd.DataFrame(
                {
                    "left": band["left"].astype(int),
                    "right": band["right"].astype(int),
                    "reason": np.where(
                        band["outcome"] == "review", "match_probability_in_review_band", "shared_contact_details_only"
                    ),
                    "rule": PROBABILISTIC_RULE,
                    "match_probability": band["match_probability"].astype(float),
                }
            ),
            pd.DataFrame(
                [
                    (e.left, e.right, reason, e.rule, e.match_probability)
                    for e, reason in final.held
                    if reason != "cannot_link"
                ],
                columns=["left", "right", "reason", "rule", "match_probability"],
            ),
        ],
        ignore_index=True,
    )
    # Pairs a steward already decided, or that ended up in one cluster anyway, need no review.
    decided = set(must) | set(cannot)
    keep = [
        (min(a, b), max(a, b)) not in decided and final.labels[a] != final.labels[b]
        for a, b in zip(review["left"], review["right"])
    ]
    review = review.loc[np.array(keep, dtype=bool)].drop_duplicates(["left", "right"])
    timings["clustering"] = round(time.monotonic() - started, 2)
    return MatchResult(final, free, scored, review, model_json, trained, training)


def _carry_over(
    records: pd.DataFrame, previous: pd.DataFrame, cannot: list[tuple[int, int]]
) -> tuple[np.ndarray, np.ndarray]:
    """Initial labels from the last run's customers, and which records are free to match again."""
    prev = records[["source", "source_record_key"]].merge(
        previous[["source", "source_record_key", "customer_id", "match_key_hash"]],
        on=["source", "source_record_key"],
        how="left",
    )
    changed = prev["match_key_hash"].isna() | (prev["match_key_hash"].astype(str) != match_key_hash(records).to_numpy())
    customer = prev["customer_id"].where(~changed.to_numpy())
    # A cannot-link inside one customer dissolves that customer: its records are matched again.
    split = {customer.iat[a] for a, b in cannot if pd.notna(customer.iat[a]) and customer.iat[a] == customer.iat[b]}
    free = (customer.isna() | customer.isin(split)).to_numpy()
    labels = pd.factorize(customer.where(~free))[0]
    return labels, free


def _candidates_for(records: pd.DataFrame, free: np.ndarray) -> np.ndarray:
    """Free records and the records sharing a blocking key with one: all Splink needs to see."""
    subset = free.copy()
    for columns in BLOCKING_KEYS:
        keys = records[list(columns)]
        present = keys.notna().all(axis=1).to_numpy()
        wanted = pd.MultiIndex.from_frame(keys[free & present].astype(str)).unique()
        if len(wanted):
            subset |= present & pd.MultiIndex.from_frame(keys.astype(str)).isin(wanted)
    return subset


def resolve_identities(settings: Settings, run_id: str, as_of: datetime, *, full: bool = False) -> ResolutionSummary:
    params = MatchSettings.from_settings(settings)
    timings: dict[str, float] = {}
    started = time.monotonic()
    with connect(settings) as conn:
        with conn.transaction():
            store.ensure_identity_tables(conn)
            if not table_exists(conn, "intermediate", "int_source_records"):
                raise RuntimeError(
                    f"{store.INPUT_TABLE} does not exist: run the dbt staging and intermediate models first"
                )
            # One resolver at a time: a second concurrent run waits here instead of racing.
            conn.execute("select pg_advisory_xact_lock(hashtext('identity.resolve'))")
            records = store.read_records(conn)
            previous = store.read_previous(conn)
            decisions = store.read_decisions(conn)
            model_json = store.latest_model(conn)
            timings["read"] = round(time.monotonic() - started, 2)
            log.info("identity: read %d records in %.1fs", len(records), timings["read"])
            incremental = not full and len(previous) > 0
            result = match_records(
                records,
                params,
                decisions=decisions,
                previous=previous if incremental else None,
                model_json=model_json if incremental else None,
                timings=timings,
            )

            started = time.monotonic()

            def next_ids(k: int) -> list[str]:
                if k == 0:
                    return []
                rows = conn.execute(
                    "select nextval('identity.customer_id_seq') from generate_series(1, %s)", (k,)
                ).fetchall()
                return [f"C{r[0]:09d}" for r in rows]

            customer_ids, history = assign_customer_ids(records, result.clustering.labels, previous, next_ids)
            matched_by = pd.Series(result.clustering.matched_by, dtype="object")
            if incremental:
                before = records[["source", "source_record_key"]].merge(
                    previous[["source", "source_record_key", "matched_by"]],
                    on=["source", "source_record_key"],
                    how="left",
                )["matched_by"]
                carry = (~result.free) & (matched_by == "singleton").to_numpy() & before.notna().to_numpy()
                matched_by[carry] = before[carry]
            _write(conn, run_id, as_of, records, customer_ids, matched_by, history, result, full_run=not incremental)
            timings["write"] = round(time.monotonic() - started, 2)
            new_count = len(set(customer_ids) - set(previous["customer_id"]))
            summary = ResolutionSummary(
                run_id=run_id,
                mode="incremental" if incremental else "full",
                records=len(records),
                records_matched=int(result.free.sum()),
                customers=int(customer_ids.nunique()),
                new_customers=new_count,
                merged_ids=sum(1 for h in history if h[2] == "merge"),
                split_ids=sum(1 for h in history if h[2] == "split"),
                scored_pairs=len(result.scored),
                review_pairs=len(result.review),
                links_by_rule=result.clustering.links_by_rule,
                seconds=timings,
                training=None if result.training is None else result.training.as_dict(),
            )
            # A log of executions: a rerun of the interval is its next attempt, the first one's row stays.
            conn.execute(
                """insert into identity.resolution_runs
                       (run_id, attempt, resolved_at, records, customers, new_customers, merged_ids, split_ids,
                        links_by_rule, mode, records_matched, scored_pairs, review_pairs, seconds, training)
                   select %s, coalesce(max(attempt), 0) + 1, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s
                   from identity.resolution_runs where run_id = %s""",
                (
                    run_id,
                    as_of,
                    summary.records,
                    summary.customers,
                    summary.new_customers,
                    summary.merged_ids,
                    summary.split_ids,
                    json.dumps(summary.links_by_rule),
                    summary.mode,
                    summary.records_matched,
                    summary.scored_pairs,
                    summary.review_pairs,
                    json.dumps(timings),
                    None if summary.training is None else json.dumps(summary.training),
                    run_id,
                ),
            )
    log.info(summary.text())
    return summary


def _delete_pairs_touching(conn, keys: np.ndarray) -> None:
    """Delete the scored pairs with a record among `keys` ((source, source_record_key) rows)."""
    if not len(keys):
        return
    conn.execute("create temp table matched_records (source text, source_record_key text) on commit drop")
    store.copy_rows(conn, "matched_records", ("source", "source_record_key"), keys.tolist())
    for side in ("left", "right"):
        conn.execute(
            f"""delete from identity.match_pairs p using matched_records m
                where p.{side}_source = m.source and p.{side}_source_record_key = m.source_record_key"""
        )


def _write(
    conn,
    run_id: str,
    as_of: datetime,
    records: pd.DataFrame,
    customer_ids: pd.Series,
    matched_by: pd.Series,
    history: list[tuple[str, str, str]],
    result: MatchResult,
    *,
    full_run: bool,
) -> None:
    keys = records[["source", "source_record_key"]].to_numpy()
    conn.execute("delete from identity.customer_source_xref")
    n = len(records)
    store.copy_columns(
        conn,
        "identity.customer_source_xref",
        {
            "source": keys[:, 0],
            "source_record_key": keys[:, 1],
            "customer_id": customer_ids.to_numpy(dtype=object),
            "matched_by": matched_by.to_numpy(dtype=object),
            "resolved_run_id": np.full(n, run_id, dtype=object),
            "match_key_hash": match_key_hash(records).to_numpy(dtype=object),
        },
    )
    # The id history is a log of changes that happened: a rerun that changes nothing adds nothing
    # and never removes what the interval's first run recorded.
    with conn.cursor() as cur:
        cur.executemany(
            "insert into identity.customer_id_history values (%s, %s, %s, %s, %s) on conflict do nothing",
            [(old, new, reason, run_id, as_of) for old, new, reason in history],
        )
    # match_pairs holds the latest score of each pair. A full run scores every pair again; an
    # incremental run re-scores exactly the pairs touching the records it matched, so only those
    # are replaced (a rerun of an interval matches nothing and leaves the interval's pairs as they are).
    if full_run:
        conn.execute("delete from identity.match_pairs")
        conn.execute("delete from identity.review_queue")
    else:
        _delete_pairs_touching(conn, keys[result.free])
    scored = result.scored
    left, right = scored["left"].to_numpy(dtype=int), scored["right"].to_numpy(dtype=int)
    store.copy_columns(
        conn,
        "identity.match_pairs",
        {
            "run_id": np.full(len(scored), run_id, dtype=object),
            "left_source": keys[left, 0],
            "left_source_record_key": keys[left, 1],
            "right_source": keys[right, 0],
            "right_source_record_key": keys[right, 1],
            "match_weight": scored["match_weight"].to_numpy(dtype=float),
            "match_probability": scored["match_probability"].to_numpy(dtype=float),
            "evidence": scored["evidence"].to_numpy(dtype=object),
            "outcome": scored["outcome"].to_numpy(dtype=object),
        },
    )
    # The queue holds open questions only: pairs now in one customer or decided drop out.
    conn.execute(
        """delete from identity.review_queue q using identity.customer_source_xref l, identity.customer_source_xref r
           where l.source = q.left_source and l.source_record_key = q.left_source_record_key
             and r.source = q.right_source and r.source_record_key = q.right_source_record_key
             and l.customer_id = r.customer_id"""
    )
    conn.execute(
        """delete from identity.review_queue q using identity.steward_decisions d
           where (d.left_source, d.left_source_record_key, d.right_source, d.right_source_record_key)
                 in ((q.left_source, q.left_source_record_key, q.right_source, q.right_source_record_key),
                     (q.right_source, q.right_source_record_key, q.left_source, q.left_source_record_key))"""
    )
    review = result.review
    with conn.cursor() as cur:
        cur.executemany(
            """insert into identity.review_queue values (%s, %s, %s, %s, %s, %s, %s, %s)
               on conflict (left_source, left_source_record_key, right_source, right_source_record_key)
               do update set run_id = excluded.run_id, reason = excluded.reason, rule = excluded.rule,
                 match_probability = excluded.match_probability""",
            [
                (run_id, *keys[min(a, b)], *keys[max(a, b)], reason, rule, None if pd.isna(p) else float(p))
                for a, b, reason, rule, p in zip(
                    review["left"].astype(int),
                    review["right"].astype(int),
                    review["reason"],
                    review["rule"],
                    review["match_probability"],
                )
            ],
        )
    if result.trained and result.model_json:
        conn.execute(
            """insert into identity.match_models values (%s, %s, %s)
               on conflict (run_id) do update set trained_at = excluded.trained_at, model = excluded.model""",
            (run_id, as_of, result.model_json),
        )
