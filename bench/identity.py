"""`python -m bench.identity`: identity resolution quality against the simulator's truth, and its speed.

For each (people, defect rate) it simulates a company, loads it, builds the dbt
staging and intermediate models, runs identity resolution and compares
`identity.customer_source_xref` with `truth/source_records.csv`:

- pairwise precision / recall / F1 over all pairs of source records
  (a pair is predicted when both records got the same customer_id, true when
  both belong to the same person);
- customers found versus true people;
- the same precision / recall / F1 over *linkable* records only, and the best
  all-records F1 that unlinkable records leave possible (see `linkable_records`);
- why the missed pairs were missed (`missed_pair_reasons`).

The truth files are read here only, never by the pipeline.

Speed is measured on a real simulated company of the size wanted:
`--people 300000 --defect-rates 0.01` gives about 1,000,000 source records; the
seconds of each identity stage are in the table. Figures go to
bench/results/identity-<label>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from customer360.config import PROJECT_ROOT, Settings, with_database

WORK_DIR = PROJECT_ROOT / ".local" / "bench-identity"


@dataclass
class Quality:
    people: int
    defect_rate: float
    records: int
    records_in_truth: int
    customers: int
    true_people: int
    precision: float
    recall: float
    f1: float
    seconds: dict[str, float]
    linkable_records: int = 0
    linkable_precision: float = 0.0
    linkable_recall: float = 0.0
    linkable_f1: float = 0.0
    f1_upper_bound: float = 0.0
    missed_pairs: dict[str, int] = field(default_factory=dict)
    training_notes: list[str] = field(default_factory=list)  # parameters the data could not give


def pairs(sizes: pd.Series) -> int:
    return int((sizes * (sizes - 1) // 2).sum())


def pairwise_quality(xref: pd.DataFrame, truth: pd.DataFrame) -> tuple[float, float, float, int, int, int]:
    """Precision, recall, F1, records compared, customers and true people among the records both sides know."""
    truth = _truth_keys(truth)
    joined = xref.merge(truth, on=["source", "source_record_key"], how="inner")
    predicted = pairs(joined.groupby("customer_id").size())
    actual = pairs(joined.groupby("person_id").size())
    correct = pairs(joined.groupby(["customer_id", "person_id"]).size())
    precision = correct / predicted if predicted else 1.0
    recall = correct / actual if actual else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1, len(joined), joined["customer_id"].nunique(), joined["person_id"].nunique()


# The int_source_records column holding a source's own record key (sources keyed by a contact,
# response or registration id have it in no matching column).
OWN_KEY_COLUMN = {
    "crm_accounts": "account_id",
    "pos_transactions": "loyalty_id",
    "web_orders": "web_account_id",
    "web_events": "web_account_id",
    "email_campaign_events": "email_normalised",
}
IDENTIFYING_COLUMNS = (
    "account_id",
    "loyalty_id",
    "web_account_id",
    "email_normalised",
    "previous_email_normalised",
    "phone_normalised",
    "first_name_normalised",
    "last_name_normalised",
)


def linkable_records(records: pd.DataFrame) -> np.ndarray:
    """Which records carry anything another record could be linked on.

    A record is *linkable* when it holds an identifying attribute other than its own
    source key - a CRM account, loyalty card or web account id, an e-mail (current or
    earlier), a phone, a first or last name - or when its own key value is also held by
    another record (a loyalty card the CRM knows, a campaign e-mail on a CRM account).
    A postcode alone does not count (a household shares it). The rest (a web account
    that never ordered, a loyalty card the CRM does not know, an empty survey) carry
    nothing but a key no other record holds: no method can link them.
    """
    own = records["source"].map(OWN_KEY_COLUMN)
    other = np.zeros(len(records), dtype=bool)
    for column in IDENTIFYING_COLUMNS:
        other |= (records[column].notna() & (own != column)).to_numpy()
    shared = np.zeros(len(records), dtype=bool)
    for column in ("account_id", "loyalty_id", "web_account_id"):
        count = records[column].map(records[column].value_counts())
        shared |= ((own == column) & (count > 1)).to_numpy()
    # A campaign e-mail is also held by a record with it as its current or earlier e-mail.
    emails = pd.concat([records["email_normalised"], records["previous_email_normalised"]]).dropna().value_counts()
    shared |= ((own == "email_normalised") & (records["email_normalised"].map(emails) > 1)).to_numpy()
    return other | shared


def _truth_keys(truth: pd.DataFrame) -> pd.DataFrame:
    truth = truth.copy()
    is_email = truth["source"] == "email_campaign_events"
    truth.loc[is_email, "source_record_key"] = truth.loc[is_email, "source_record_key"].str.strip().str.lower()
    return truth.drop_duplicates(["source", "source_record_key"])


def _edits(a: str, b: str) -> int:
    """Levenshtein distance (small strings, few calls)."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _values(part: pd.DataFrame, *columns: str) -> set[str]:
    return {v for c in columns for v in part[c].dropna().tolist()}


def _near(left: set[str], right: set[str], edits: int) -> bool:
    return any(_edits(a, b) <= edits for a in left for b in right if a != b)


def _why_apart(a: pd.DataFrame, b: pd.DataFrame, scored: dict, held: dict) -> str:
    """Why two parts of one true person ended up in different customers (the first reason that applies)."""
    if (len(a) == 1 and not a["linkable"].iat[0]) or (len(b) == 1 and not b["linkable"].iat[0]):
        return "unlinkable record"
    ca, cb = a["customer_id"].iat[0], b["customer_id"].iat[0]
    key = (min(ca, cb), max(ca, cb))
    if key in held:
        return f"held by guard: {held[key]}"
    emails = ("email_normalised", "previous_email_normalised")
    ea, eb = _values(a, *emails), _values(b, *emails)
    la, lb = _values(a, "last_name_normalised"), _values(b, "last_name_normalised")
    fa, fb = _values(a, "first_name_canonical"), _values(b, "first_name_canonical")
    pa, pb = _values(a, "phone_normalised"), _values(b, "phone_normalised")
    za, zb = _values(a, "postcode_normalised"), _values(b, "postcode_normalised")
    score = ""
    if key in scored:
        outcome = scored[key][1]
        score = {
            "household_guard": "scored >= link but no name agrees (household guard)",
            "review": "review band",
            "below_review": "scored below review band",
        }.get(outcome, outcome)
    score = f" ({score or 'not scored'})"
    if not ((ea and eb) or (pa and pb) or (za and zb)):
        # E.g. a call (name, phone) and a survey (name, e-mail): only the names can be compared,
        # and a name alone is no proof (people share names).
        return ("only names comparable" if la and lb else "nothing comparable") + score
    if ea & eb or pa & pb:
        return "share an e-mail or phone, names differ" + score
    if za & zb and la & lb and fa & fb:
        # The data holds different people with one name at one postcode: left to a steward.
        return "same name and postcode only" + score
    if za & zb and la & lb:
        return "same last name and postcode, first name differs" + score
    if la and lb and _near(la, lb, 1):
        return "last name typo, contacts differ" + score
    if ea and eb and not (la and lb):
        return "different e-mails, no names" + score
    return "names or contacts differ (moved, changed e-mail or phone)" + score


def missed_pair_reasons(records: pd.DataFrame, scored: pd.DataFrame, held: pd.DataFrame) -> dict[str, int]:
    """Missed true pairs (same person, different customer_id) counted by why they were missed.

    `records` holds the identity input with customer_id, person_id and linkable;
    `scored` left/right positions, match_probability and outcome of every scored pair;
    `held` left/right positions and reason of the pairs a guard held.
    """
    customer = records["customer_id"].to_numpy()

    def by_customers(frame: pd.DataFrame, value) -> dict:
        out: dict = {}
        for left, right, v in zip(frame["left"].astype(int), frame["right"].astype(int), value):
            a, b = customer[left], customer[right]
            if a != b:
                key = (min(a, b), max(a, b))
                if key not in out or (isinstance(v, tuple) and v[0] > out[key][0]):
                    out[key] = v
        return out

    scored_by = by_customers(scored, list(zip(scored["match_probability"], scored["outcome"])))
    held_by = by_customers(held, held["reason"].tolist())
    split = records.groupby("person_id")["customer_id"].transform("nunique") > 1
    reasons: dict[str, int] = {}
    for _, person in records[split].groupby("person_id"):
        parts = [part for _, part in person.groupby("customer_id")]
        for i in range(len(parts)):
            for j in range(i + 1, len(parts)):
                reason = _why_apart(parts[i], parts[j], scored_by, held_by)
                reasons[reason] = reasons.get(reason, 0) + len(parts[i]) * len(parts[j])
    return dict(sorted(reasons.items(), key=lambda kv: -kv[1]))


def build_company(
    people: int, defect_rate: float, days: int, server_url: str, *, rebuild_models: bool = False
) -> Settings:
    """Simulate, load and build int_source_records in a fresh database.

    Reuses what is done: a finished database (unless `rebuild_models`: the dbt models
    are built again, e.g. after a staging change), loaded raw tables, simulated files.
    """
    from customer360.db.connection import connect, table_exists
    from customer360.devtools.server import drop_database, ensure_database
    from customer360.ingestion.loader import load_interval
    from customer360.orchestration.stages import prepare
    from customer360.simulator import simulate
    from customer360.simulator.config import SimulationConfig

    label = f"{people}_{str(defect_rate).replace('.', '')}"
    work = WORK_DIR / label
    url = with_database(server_url, f"c360_bench_identity_{label}")
    settings = Settings.from_env({**os.environ, "WAREHOUSE_URL": url, "C360_DATA_DIR": str(work / "data")})
    config = SimulationConfig(people=people, days=days, defect_rate=defect_rate)
    built, loaded = work / "built.json", work / "loaded.json"
    if built.exists() and not rebuild_models:
        ensure_database(url)
        with connect(settings) as conn:
            if table_exists(conn, "intermediate", "int_source_records"):
                print(f"reusing {url.rsplit('/', 1)[-1]}")
                return settings
    if not loaded.exists():
        drop_database(url)
        ensure_database(url)
        summary = settings.truth_dir / "summary.json"
        if summary.exists() and json.loads(summary.read_text())["config"] == json.loads(json.dumps(config.as_dict())):
            print(f"reusing the simulated files in {settings.data_dir}")
        else:
            print(f"simulating {people:,} people, defect rate {defect_rate}")
            simulate(config, settings.data_dir)
        prepare(settings)
        print("loading raw")
        load_interval(settings, config.start, config.end, batch_id="bench")
        loaded.write_text(json.dumps(config.as_dict()))
    build_models(settings, work / "target")
    built.write_text(json.dumps(config.as_dict()))
    return settings


def build_models(settings: Settings, target_path: Path) -> None:
    print("dbt seed, staging + intermediate")
    env = {**os.environ, **settings.dbt_env(), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    project = PROJECT_ROOT / "dbt_project"
    dbt = Path(sys.executable).parent / "dbt"
    for command in (["seed"], ["run", "--selector", "staging_intermediate"]):
        subprocess.run(
            [
                str(dbt),
                *command,
                "--quiet",
                "--project-dir",
                str(project),
                "--profiles-dir",
                str(project),
                "--target-path",
                str(target_path),
            ],
            check=True,
            env=env,
        )


def reset_identity(settings: Settings) -> None:
    from customer360.db.connection import connect

    with connect(settings) as conn:
        conn.execute("drop schema if exists identity cascade")
        conn.execute("create schema identity")
        conn.commit()


def build_dataset(name: str, server_url: str) -> Settings:
    """A public benchmark set (bench.febrl) delivered as one CRM export, loaded and built in a fresh database."""
    from customer360.devtools.server import drop_database, ensure_database

    work = WORK_DIR / name
    url = with_database(server_url, f"c360_bench_identity_{name}")
    settings = Settings.from_env({**os.environ, "WAREHOUSE_URL": url, "C360_DATA_DIR": str(work / "data")})
    drop_database(url)
    ensure_database(url)
    deliver_dataset(settings, name, work / "target")
    return settings


def deliver_dataset(settings: Settings, name: str, target_path: Path) -> pd.DataFrame:
    """Land `name` as the CRM's delivery of one day, load it and build int_source_records; return the truth
    (also written to the truth folder)."""
    from bench.febrl import febrl_csv, read_febrl, write_crm_export
    from customer360.ingestion.loader import load_interval
    from customer360.orchestration.stages import prepare

    truth = write_crm_export(read_febrl(febrl_csv(name)), settings.landing_dir, "2024-01-01")
    settings.truth_dir.mkdir(parents=True, exist_ok=True)
    truth.to_csv(settings.truth_dir / "source_records.csv", index=False)
    prepare(settings)
    print(f"loading {name} as a crm_accounts delivery ({len(truth):,} accounts)")
    load_interval(settings, date(2024, 1, 1), date(2024, 1, 2), batch_id="bench").raise_if_rejected()
    build_models(settings, target_path)
    return truth


def measure_dataset(name: str, server_url: str) -> Quality:
    settings = build_dataset(name, server_url)
    return evaluate(settings, people=0, defect_rate=0.0)


def measure_quality(
    people: int, defect_rate: float, days: int, server_url: str, rebuild_models: bool = False
) -> Quality:
    settings = build_company(people, defect_rate, days, server_url, rebuild_models=rebuild_models)
    return evaluate(settings, people, defect_rate)


def evaluate(settings: Settings, people: int, defect_rate: float) -> Quality:
    """Resolve identities from scratch and compare the result with the truth file."""
    from customer360.db.connection import connect, fetch_all
    from customer360.identity import store
    from customer360.identity.resolve import resolve_identities

    reset_identity(settings)
    summary = resolve_identities(settings, "bench", datetime(2026, 1, 1, tzinfo=UTC))
    xref = pd.DataFrame(
        fetch_all(settings, "select source, source_record_key, customer_id from identity.customer_source_xref"),
        columns=["source", "source_record_key", "customer_id"],
    )
    truth = pd.read_csv(settings.truth_dir / "source_records.csv", dtype=str)
    precision, recall, f1, compared, customers, true_people = pairwise_quality(xref, truth)

    # Linkable records, and why the missed pairs were missed.
    with connect(settings) as conn:
        records = store.read_records(conn)
        pair_columns = "left_source, left_source_record_key, right_source, right_source_record_key"
        scored = store.read_frame(conn, f"select {pair_columns}, match_probability, outcome from identity.match_pairs")
        held = store.read_frame(
            conn,
            f"select {pair_columns}, reason from identity.review_queue where reason "
            "not in ('match_probability_in_review_band', 'shared_contact_details_only')",
        )
    records["linkable"] = linkable_records(records)
    records = records.merge(xref, on=["source", "source_record_key"], how="left").merge(
        _truth_keys(truth), on=["source", "source_record_key"], how="left"
    )
    position = pd.Series(
        np.arange(len(records)), index=pd.MultiIndex.from_frame(records[["source", "source_record_key"]])
    )
    for frame in (scored, held):
        for side in ("left", "right"):
            keys = pd.MultiIndex.from_frame(frame[[f"{side}_source", f"{side}_source_record_key"]])
            frame[side] = position.reindex(keys).to_numpy()
    in_truth = records[records["person_id"].notna()]
    linkable = in_truth[in_truth["linkable"]]
    l_precision, l_recall, l_f1, *_ = pairwise_quality(linkable[["source", "source_record_key", "customer_id"]], truth)
    # Best possible on all records: every linkable true pair found, nothing wrong linked.
    bound_recall = pairs(linkable.groupby("person_id").size()) / max(pairs(in_truth.groupby("person_id").size()), 1)
    bound_f1 = 2 * bound_recall / (1 + bound_recall)
    missed = missed_pair_reasons(
        in_truth.reset_index(drop=True), _remap(scored, records, in_truth), _remap(held, records, in_truth)
    )
    return Quality(
        people=people,
        defect_rate=defect_rate,
        records=len(xref),
        records_in_truth=compared,
        customers=customers,
        true_people=true_people,
        precision=round(precision, 5),
        recall=round(recall, 5),
        f1=round(f1, 5),
        seconds=summary.seconds,
        linkable_records=len(linkable),
        linkable_precision=round(l_precision, 5),
        linkable_recall=round(l_recall, 5),
        linkable_f1=round(l_f1, 5),
        f1_upper_bound=round(bound_f1, 5),
        missed_pairs=missed,
        training_notes=(summary.training or {}).get("notes", []),
    )


def _remap(pairs_frame: pd.DataFrame, records: pd.DataFrame, kept: pd.DataFrame) -> pd.DataFrame:
    """Pairs re-indexed from positions in `records` to positions in `kept` (a filtered, re-indexed copy)."""
    new = pd.Series(-1, index=records.index)
    new[kept.index] = np.arange(len(kept))
    out = pairs_frame.dropna(subset=["left", "right"]).copy()
    out["left"] = new.to_numpy()[out["left"].astype(int)]
    out["right"] = new.to_numpy()[out["right"].astype(int)]
    return out[(out["left"] >= 0) & (out["right"] >= 0)]


def markdown(quality: list[Quality]) -> str:
    lines = [
        "| people | defect rate | records | customers | true people | precision | recall | F1 "
        "| linkable records | linkable precision | linkable recall | linkable F1 | F1 upper bound |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for q in quality:
        lines.append(
            f"| {q.people:,} | {q.defect_rate} | {q.records:,} | {q.customers:,} | {q.true_people:,} | "
            f"{q.precision:.4f} | {q.recall:.4f} | {q.f1:.4f} | {q.linkable_records:,} | "
            f"{q.linkable_precision:.4f} | {q.linkable_recall:.4f} | {q.linkable_f1:.4f} | "
            f"{q.f1_upper_bound:.4f} |"
        )
    reasons = list(dict.fromkeys(r for q in quality for r in q.missed_pairs))
    lines += [
        "",
        "| missed true pairs, by why | " + " | ".join(f"@ {q.defect_rate}" for q in quality) + " |",
        "|---|" + "---:|" * len(quality),
    ]
    for reason in reasons:
        lines.append(f"| {reason} | " + " | ".join(f"{q.missed_pairs.get(reason, 0):,}" for q in quality) + " |")
    stages = list(dict.fromkeys(s for q in quality for s in q.seconds))
    lines += [
        "",
        "| stage (seconds) | " + " | ".join(f"{q.records:,} records @ {q.defect_rate}" for q in quality) + " |",
        "|---|" + "---:|" * len(quality),
    ]
    for stage in stages:
        lines.append(f"| {stage} | " + " | ".join(f"{q.seconds.get(stage, 0):.1f}" for q in quality) + " |")
    lines.append("| total | " + " | ".join(f"{sum(q.seconds.values()):.1f}" for q in quality) + " |")
    for q in quality:
        lines += [f"\nTraining @ {q.defect_rate}: " + (" ".join(q.training_notes) or "every parameter estimated.")]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.identity", description=__doc__)
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--defect-rates", default="0.01,0.02", help="comma-separated; 0.01 is the simulator default")
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument(
        "--dataset",
        choices=["febrl1", "febrl2", "febrl3", "febrl4a"],
        help="measure on a public benchmark set delivered as a CRM export instead of the simulator",
    )
    parser.add_argument(
        "--rebuild-models",
        action="store_true",
        help="build the dbt models of an already loaded company again (after a staging change)",
    )
    args = parser.parse_args(argv)

    import logging

    from customer360.devtools.server import resolve_warehouse_url

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("splink").setLevel(logging.WARNING)
    server_url = resolve_warehouse_url()
    from bench.run import write_results

    if args.dataset:
        quality = [measure_dataset(args.dataset, server_url)]
        stem = f"identity-{args.dataset}"
    else:
        rates = [float(r) for r in args.defect_rates.split(",")]
        quality = [measure_quality(args.people, rate, args.days, server_url, args.rebuild_models) for rate in rates]
        stem = f"identity-{args.people}"
    write_results(stem, {"quality": [asdict(q) for q in quality]}, markdown(quality))
    return 0


if __name__ == "__main__":
    sys.exit(main())
