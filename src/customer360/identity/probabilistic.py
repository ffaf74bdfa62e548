"""Probabilistic matching with Splink (Fellegi-Sunter; m and u estimated from the data).

Runs on the records the deterministic rules left in different clusters: every
blocking rule also requires `l.rule_cluster <> r.rule_cluster`, and records of
one rule cluster with identical matching attributes are scored once (their
first record stands for them). Splink runs on an in-process DuckDB; the same
settings run on Spark or Postgres backends.

Training: u by random sampling, the prior from near-certain rules, m by
expectation maximisation on two blocking passes (names, then phone), so that
with e-mails and phones in the data every comparison is estimated in one pass.
Data can lack what a step needs (a legacy CRM export with names and addresses
only has no e-mail or phone to estimate the prior from, nor a phone pass to
train the names on): then that parameter is taken from `fallback_prior` or
`FALLBACK_M`, fixed values written down here, and the run says so
(`Training`, kept in identity.resolution_runs and shown in the run report).
Every scored pair is returned with its match weight, probability and
per-comparison evidence.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from customer360.cli import first_line

log = logging.getLogger(__name__)

MATCH_COLUMNS = (
    "first_name_normalised",
    "first_name_canonical",
    "last_name_normalised",
    "email_normalised",
    "phone_normalised",
    "postcode_normalised",
)
# Candidate pairs: records equal on one of these (and in different rule clusters) are scored.
BLOCKING_KEYS: tuple[tuple[str, ...], ...] = (
    ("email_normalised",),
    ("phone_normalised",),
    ("last_name_normalised", "postcode_normalised"),
    ("first_name_canonical", "last_name_normalised"),
    ("first_name_normalised", "postcode_normalised"),
)
# The full-name block is the one that grows with the square of the data (a million records hold
# hundreds of "john smith"s: 49M pairs at 1M records). A name shared by more candidate records
# than this is not blocked on by name alone: for a common name, the name alone is no evidence
# anyway, and the other blocks (e-mail, phone, postcode) still pair those records.
MAX_NAME_BLOCK = 20
MAX_TRAINING_PAIRS = 2_000_000
NAME_KEY = ("first_name_canonical", "last_name_normalised")
# Comparisons whose agreement counts as "the people are named alike" for the household guard.
# Not "one edit": Dan and Jan, Tom and Tim share landlines; such a pair goes to a steward.
NAME_EVIDENCE_LEVELS = {"first_name": ("exact", "same canonical name", "similar", "short form", "initial")}


def fallback_prior(n: int) -> float:
    """The prior (P(two random records are one person)) when no near-certain rule finds a pair.

    As if each of the n records had one other record of its person: 1 / (n - 1).
    """
    return 1.0 / max(n - 1, 1)


# Fixed parameters, used only where the data cannot estimate them.
# m (P(level | same person)) per comparison, non-null levels from the most to the least alike, for a
# comparison no EM pass could estimate (set by hand: typists and moves, not measured). u is always
# estimated, from random pairs.
FALLBACK_M: dict[str, tuple[float, ...]] = {
    # exact, same canonical name, similar, one edit, short form, initial, different
    "first_name": (0.80, 0.05, 0.05, 0.04, 0.02, 0.02, 0.02),
    # exact, one edit, similar, different
    "last_name": (0.85, 0.07, 0.04, 0.04),
    "email_normalised": (0.85, 0.15),  # people change e-mail addresses
    "phone_normalised": (0.75, 0.25),
    "postcode_normalised": (0.80, 0.20),  # people move
}
# The record column behind each comparison named otherwise.
COMPARED_COLUMNS = {"first_name": "first_name_normalised", "last_name": "last_name_normalised"}
# Near-certain rules for the prior, each with the columns it needs.
PRIOR_RULES: tuple[tuple[str, ...], ...] = (
    ("email_normalised",),
    ("phone_normalised", "last_name_normalised"),
)
TRAINING_PASSES: dict[str, tuple[str, ...]] = {"names": NAME_KEY, "phone": ("phone_normalised",)}
# Where no two records share a phone (a legacy CRM), the names are trained on pairs sharing a postcode.
FALLBACK_PASSES: dict[str, tuple[str, ...]] = {"phone": ("postcode_normalised",)}
# What can go wrong inside Splink's training on thin data: no pairs for a pass (EMTrainingException),
# a prior of 0 or 1 (ValueError: math domain error), an empty level (ZeroDivisionError).
TRAINING_ERRORS: tuple[type[Exception], ...] = (ValueError, ArithmeticError)


@dataclass
class Training:
    """How the model's parameters were obtained: estimated from this data, or fixed (and why)."""

    prior: float | None = None
    prior_source: str = "estimated"  # or "fixed: <why>"
    passes: dict[str, str] = field(default_factory=dict)  # training pass -> "trained" or why it was skipped
    fixed_m: list[str] = field(default_factory=list)  # comparisons whose m came from FALLBACK_M
    reused_model: bool = False

    def notes(self) -> list[str]:
        """Plain sentences for the run report and the log (empty when everything was estimated)."""
        notes = []
        if self.prior_source != "estimated":
            notes.append(
                f"The match prior was fixed at {self.prior:.3g} ({self.prior_source.removeprefix('fixed: ')})."
            )
        for name, outcome in self.passes.items():
            if outcome != "trained":
                notes.append(f"Training pass '{name}' was skipped: {outcome}.")
        if self.fixed_m:
            notes.append(
                "No training pass could estimate "
                + ", ".join(self.fixed_m)
                + ": fixed m probabilities were used (customer360.identity.probabilistic.FALLBACK_M)."
            )
        return notes

    def as_dict(self) -> dict:
        return {
            "prior": self.prior,
            "prior_source": self.prior_source,
            "passes": self.passes,
            "fixed_m": self.fixed_m,
            "reused_model": self.reused_model,
            "notes": self.notes(),
        }


@dataclass
class ScoredPairs:
    """Scored pairs (left/right record positions, match_weight, match_probability, evidence json, name_agrees)."""

    pairs: pd.DataFrame
    model_json: str
    training: Training = field(default_factory=Training)


def _settings(prior: float):
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator

    def different_clusters(*columns: str) -> str:
        equal = " and ".join(f"l.{c} = r.{c}" for c in columns)
        return f"{equal} and l.rule_cluster <> r.rule_cluster"

    scoring_keys = [("name_block",) if key == NAME_KEY else key for key in BLOCKING_KEYS]

    first_name = cl.CustomComparison(
        output_column_name="first_name",
        comparison_levels=[
            cll.NullLevel("first_name_normalised"),
            # Term-frequency adjusted like the last name: "john" agreeing is weaker evidence than "ottoline".
            cll.ExactMatchLevel("first_name_normalised", term_frequency_adjustments=True).configure(
                label_for_charts="exact"
            ),
            cll.CustomLevel("first_name_canonical_l = first_name_canonical_r", "same canonical name"),
            cll.JaroWinklerLevel("first_name_normalised", 0.88).configure(label_for_charts="similar"),
            # A typo in a short name, where Jaro-Winkler is harsh: "jya" / "jay", "syan" / "sean".
            cll.DamerauLevenshteinLevel("first_name_normalised", 1).configure(label_for_charts="one edit"),
            # A short form the nickname seed does not know: "sam" / "samantha", "jon" / "jonathan".
            cll.CustomLevel(
                "(length(first_name_normalised_r) >= 3 and length(first_name_normalised_l) > "
                "length(first_name_normalised_r) and substr(first_name_normalised_l, 1, "
                "length(first_name_normalised_r)) = first_name_normalised_r) or "
                "(length(first_name_normalised_l) >= 3 and length(first_name_normalised_r) > "
                "length(first_name_normalised_l) and substr(first_name_normalised_r, 1, "
                "length(first_name_normalised_l)) = first_name_normalised_l)",
                "short form",
            ),
            cll.CustomLevel(
                "(length(first_name_normalised_l) = 1 or length(first_name_normalised_r) = 1) and "
                "substr(first_name_normalised_l, 1, 1) = substr(first_name_normalised_r, 1, 1)",
                "initial",
            ),
            cll.ElseLevel().configure(label_for_charts="different"),
        ],
    )
    last_name = cl.CustomComparison(
        output_column_name="last_name",
        comparison_levels=[
            cll.NullLevel("last_name_normalised"),
            cll.ExactMatchLevel("last_name_normalised", term_frequency_adjustments=True).configure(
                label_for_charts="exact"
            ),
            cll.DamerauLevenshteinLevel("last_name_normalised", 1).configure(label_for_charts="one edit"),
            cll.JaroWinklerLevel("last_name_normalised", 0.9).configure(label_for_charts="similar"),
            cll.ElseLevel().configure(label_for_charts="different"),
        ],
    )
    settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_position",
        probability_two_random_records_match=prior,  # replaced by the estimate where the data allows
        comparisons=[
            first_name,
            last_name,
            cl.ExactMatch("email_normalised").configure(term_frequency_adjustments=False),
            cl.ExactMatch("phone_normalised"),
            cl.ExactMatch("postcode_normalised"),
        ],
        # SQL strings are blocking rules too (Splink's type hints name only its rule objects)
        blocking_rules_to_generate_predictions=[different_clusters(*key) for key in scoring_keys],  # type: ignore[misc]
        retain_matching_columns=True,  # keeps the gamma_ (comparison level) columns
        retain_intermediate_calculation_columns=True,
        additional_columns_to_retain=[],
    )
    return settings


def candidates(records: pd.DataFrame, rule_cluster: np.ndarray) -> pd.DataFrame:
    """The records Splink sees: named records, one per rule cluster and distinct attributes.

    `name_block` is the full name (canonical first + last) where at most MAX_NAME_BLOCK
    candidates share it, else null.
    """
    frame = records[list(MATCH_COLUMNS)].copy()
    frame["record_position"] = np.arange(len(records))
    frame["rule_cluster"] = rule_cluster
    frame = frame[frame["last_name_normalised"].notna()]
    frame = frame.drop_duplicates(["rule_cluster", *MATCH_COLUMNS], keep="first").reset_index(drop=True)
    name = frame[NAME_KEY[0]].astype("string") + "|" + frame[NAME_KEY[1]].astype("string")
    shared_by = name.groupby(name).transform("size")
    frame["name_block"] = name.where(shared_by <= MAX_NAME_BLOCK)
    return frame


def score_pairs(records: pd.DataFrame, rule_cluster: np.ndarray, model_json: str | None = None) -> ScoredPairs:
    """Score candidate pairs across rule clusters; train a model unless `model_json` is given."""
    import duckdb
    from splink import DuckDBAPI, Linker

    frame = candidates(records, rule_cluster)
    empty = pd.DataFrame(columns=["left", "right", "match_weight", "match_probability", "evidence", "name_agrees"])
    if len(frame) < 2:
        return ScoredPairs(empty, model_json or "", Training(reused_model=bool(model_json)))
    con = duckdb.connect()
    db_api = DuckDBAPI(con)
    table = db_api.register(frame, dataset_display_name="identity_candidates")
    if model_json:
        linker = Linker(table, json.loads(model_json), log_level=logging.WARNING)
        training = Training(reused_model=True)
    else:
        linker, training = _train(table, frame)
    predictions = linker.inference.predict(warning_mode="never")
    model_out = json.dumps(linker.misc.save_model_to_json())
    levels = _level_labels(json.loads(model_out))
    scored = con.sql(_evidence_query(predictions.physical_name, levels)).df()
    con.close()
    if scored.empty:
        return ScoredPairs(empty, model_out, training)
    return ScoredPairs(scored, model_out, training)


def _train(table, frame: pd.DataFrame):
    """A linker trained on `frame`, with parameters the data cannot give taken as fixed (see Training)."""
    from splink import Linker, block_on
    from splink.internals.exceptions import EMTrainingException

    fallback = fallback_prior(len(frame))
    training = Training(prior=fallback)
    linker = Linker(table, _settings(fallback), log_level=logging.WARNING)
    usable = [rule for rule in PRIOR_RULES if _pairs_sharing(frame, rule)]
    if usable:
        try:
            linker.training.estimate_probability_two_random_records_match(
                [block_on(*rule) for rule in usable], recall=0.8
            )
        except TRAINING_ERRORS as error:
            training.prior_source = f"fixed: the estimate failed ({first_line(error)})"
    else:
        training.prior_source = "fixed: no two records share an e-mail, or a phone and last name, to estimate it from"
    prior = linker.misc.save_model_to_json()["probability_two_random_records_match"]
    if not 0 < prior < 1:  # an estimate of 0 or 1 would make every match weight infinite
        training.prior_source = f"fixed: the estimate was {prior}"
        linker = Linker(table, _settings(fallback), log_level=logging.WARNING)
    else:
        training.prior = float(prior)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=360)
    pass_errors: tuple[type[Exception], ...] = (EMTrainingException, *TRAINING_ERRORS)
    for name, columns in TRAINING_PASSES.items():
        pairs = _pairs_sharing(frame, columns)
        if not pairs and name in FALLBACK_PASSES:
            training.passes[name] = f"no two records share {' and '.join(columns)}"
            name, columns = f"{name} (instead: {' and '.join(FALLBACK_PASSES[name])})", FALLBACK_PASSES[name]
            pairs = _pairs_sharing(frame, columns)
        if not pairs:
            training.passes[name] = f"no two records share {' and '.join(columns)}"
            continue
        try:
            # Splink 5 samples EM pairs only through max_pairs (record_sample_proportion just sizes its
            # estimate of the blocked pairs): without it the full-name pass trained on 39M pairs at 1M records.
            linker.training.estimate_parameters_using_expectation_maximisation(
                block_on(*columns), max_pairs=MAX_TRAINING_PAIRS
            )
            training.passes[name] = "trained"
        except pass_errors as error:
            training.passes[name] = first_line(error)
    model = linker.misc.save_model_to_json()
    amended = False
    for comparison in model["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        if any("m_probability" in lv for lv in levels):
            continue
        name = comparison["output_column_name"]
        column = COMPARED_COLUMNS.get(name, name)
        if frame[column].notna().any():  # a comparison with no values in the data never fires: nothing to say
            training.fixed_m.append(name)
        for level, m in zip(levels, FALLBACK_M[name], strict=True):
            level["m_probability"] = m
        amended = True
    for note in training.notes():
        log.warning("identity: %s", note)
    if amended:
        linker = Linker(table, model, log_level=logging.WARNING)
    return linker, training


def _pairs_sharing(frame: pd.DataFrame, columns: tuple[str, ...]) -> int:
    """How many record pairs agree on all `columns` (nulls never agree)."""
    sizes = frame.dropna(subset=list(columns)).groupby(list(columns)).size()
    return int((sizes * (sizes - 1) // 2).sum())


def _level_labels(model: dict) -> dict[str, dict[int, str]]:
    """Comparison name -> comparison vector value -> level label."""
    out: dict[str, dict[int, str]] = {}
    for comparison in model["comparisons"]:
        name = comparison["output_column_name"]
        levels = comparison["comparison_levels"]
        labels: dict[int, str] = {}
        value = sum(1 for lv in levels if not lv.get("is_null_level")) - 1
        for lv in levels:
            if lv.get("is_null_level"):
                labels[-1] = "null"
            else:
                labels[value] = lv.get("label_for_charts") or lv["sql_condition"]
                value -= 1
        out[name] = labels
    return out


def _evidence_query(predictions: str, levels: dict[str, dict[int, str]]) -> str:
    """One row per pair: positions, weight, probability, evidence {comparison: {level, match_weight}}, name_agrees.

    Built in DuckDB, where the predictions are: a Python loop over a million pairs took longer than scoring them.
    """

    def text(value: str) -> str:
        return "'" + value.replace("'", "''") + "'"

    def label(name: str) -> str:
        cases = " ".join(f"when {value} then {text(lv)}" for value, lv in levels[name].items())
        return f"case gamma_{name} {cases} end"

    evidence = ", ".join(
        f"{text(name)}, json_object('level', {label(name)}, 'match_weight', round(mw_{name}, 3))" for name in levels
    )
    agreeing = [value for value, lv in levels["first_name"].items() if lv in NAME_EVIDENCE_LEVELS["first_name"]]
    return f"""
        select record_position_l::bigint as "left", record_position_r::bigint as "right",
               match_weight::double as match_weight, match_probability::double as match_probability,
               json_object({evidence})::varchar as evidence,
               coalesce(gamma_first_name in ({", ".join(map(str, agreeing))}) or gamma_email_normalised = 1, false)
                   as name_agrees
        from {predictions}
    """
