"""`python -m bench.ml --sizes 10000,100000`: churn and CLV scores against the simulator's truth.

For each size a simulated company is run through the whole pipeline (the DAG,
as `make bench` does; a warehouse already built for the same simulation is
reused). The models are then fitted in-process on what the warehouse holds
before the cutoff = the end of the landing period, exactly as the DAG's
scoring task does, and compared with what the simulated people really did
in the H days after it (``truth/transactions.csv`` runs 365 days past the
landing end).

Customers are mapped to true people through ``identity.customer_source_xref``
and ``truth/source_records.csv``: each person is assigned to the customer
holding most of their source records; a customer's outcome is the sum over
its assigned people, and customers with none are left out (counted).

* **Churn.** Label: none of the customer's people buys in [T, T + H). The
  simulator's true probability of that, for each person, uses their true
  purchase rate lambda and dropout probability p (``people.csv``) and their
  own purchase history before T (all their purchases, seen or not): after
  each purchase they lapse with probability p, so with the last purchase at
  t, P(alive at T) = (1-p) e^(-lambda (T-t)) / ((1-p) e^(-lambda (T-t)) + p)
  and P(no purchase in H) = 1 - P(alive) (1 - e^(-lambda H)). This is the
  best any model of the purchase history can do: it knows each person's
  parameters. For several people, the product. Reported beside it, for
  information, the unattainable "latent state" AUC of a predictor that also
  knows whether the person has already lapsed (1 if so, else e^(-lambda H)),
  and the AUC of the true parameters applied to the history the warehouse
  sees (the last *identified* order instead of the last purchase), which
  separates what anonymous purchases hide from what the model misses.
* **Bayes from the data (the reachable ceiling).** The per-person oracle
  knows each person's own rate and dropout, which no history of a few
  purchases reveals. What data can reveal is the posterior: the probability
  of no purchase in H given the customer's observed history (x repeat
  purchase days, last at t_x, first T days before the cutoff), averaged over
  the simulator's *true* population distributions of rate and dropout. These
  are Gamma(1.3, scale 5/1.3 per year) and Beta(1, 5)
  (``customer360.simulator.population``), so the posterior is exactly BG/NBD with the
  true hyperparameters r = 1.3, alpha = 365.25 x 1.3 / 5 days, a = 1, b = 5
  (``customer360.ml.clv.bgnbd_probability_no_purchase``). Applied to each person's full
  purchase history (seen or not; product over a customer's people) it is the
  ceiling reachable from data: no predictor of that history does better on
  average, and the warehouse sees less (identified orders only), so it
  bounds the model from above too. Touch points add nothing: the simulator
  makes them independent of lapsing. Applied to the identified orders it is
  reported as well, but it is *not* a ceiling: anonymous till sales thin the
  observed purchases (about a third go unseen), so the true prior of all
  purchases misreads the identified history (it expects more purchases and
  calls a quiet customer dead too early); a BG/NBD fitted on the identified
  history learns the thinned rates and does better.
* **Purchases and revenue.** Actual purchase days and revenue in [T, T + H)
  of the customer's people. The warehouse only ever sees identified orders
  (a till sale without a loyalty card is anonymous), so the comparison that
  measures the model uses each person's *visible share*: the share of their
  truth revenue (and purchase days) in the landing period that reached
  ``marts.fct_orders`` with a customer id (matched by transaction/order id).
  Actual visible = future truth x visible share. The unadjusted totals are
  reported too. Compared: the chosen model's scores and a plain BG/NBD +
  Gamma-Gamma fit on the same history.
* **Time.** Fit-and-score seconds of ``compute_scores`` on the warehouse's
  history; scoring seconds of ``score_frame`` on 1,000,000 customers whose
  feature rows are resampled (with replacement) from the real customers of
  the largest size (synthetic rows, real fitted models).

Figures go to bench/results/ml-<sizes>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from bench.run import write_results
from customer360.config import PROJECT_ROOT, Settings, with_database
from customer360.ml import clv

BENCH_DIR = PROJECT_ROOT / ".local" / "bench-ml"
SCORING_ROWS = 1_000_000
AUC_TARGET_GAP = 0.03
TOTAL_TARGET = 0.05


# --------------------------------------------------------------------------- warehouse


def build_warehouse(people: int, days: int, server_url: str) -> tuple[Settings, Any]:
    """A warehouse filled by the DAG for a simulated company of ``people``; reused when already built."""
    from customer360.db.connection import connect, table_exists
    from customer360.devtools.run_dag import run_dag_subprocess
    from customer360.devtools.server import drop_database, ensure_database
    from customer360.simulator import simulate
    from customer360.simulator.config import SimulationConfig

    work = BENCH_DIR / f"{people}"
    url = with_database(server_url, f"c360_benchml_{people}")
    env = {"WAREHOUSE_URL": url, "C360_DATA_DIR": str(work / "data"), "C360_REPORTS_DIR": str(work / "reports")}
    settings = Settings.from_env({**os.environ, **env})
    config = SimulationConfig(people=people, days=days)
    marker = work / "built.json"
    wanted = {"config": config.as_dict()}
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        ensure_database(url)
        with connect(settings) as conn:
            if table_exists(conn, "marts", "fct_orders"):
                print(f"reusing the warehouse built for {people:,} people ({url.rsplit('/', 1)[-1]})")
                return settings, config
    drop_database(url)
    ensure_database(url)
    print(f"simulating {people:,} people and running the pipeline (log: {work / 'dag.log'})")
    simulate(config, settings.data_dir)
    airflow_home = work / "airflow"
    for f in airflow_home.glob("airflow.db*"):
        f.unlink()
    ok = run_dag_subprocess(
        config.start, config.start + timedelta(days=days), work / "dag.log", env=env, airflow_home=airflow_home
    )
    if not ok:
        raise SystemExit(f"the pipeline failed at {people} people; see {work / 'dag.log'}")
    marker.write_text(json.dumps(wanted))
    return settings, config


# --------------------------------------------------------------------------- truth


def person_of_customer(settings: Settings) -> pd.DataFrame:
    """person_id -> customer_id (the customer holding most of the person's source records)."""
    from customer360.db.connection import connect

    records = pd.read_csv(settings.truth_dir / "source_records.csv", dtype=str, keep_default_na=False)
    with connect(settings) as conn:
        xref = pd.DataFrame(
            conn.execute("select source, source_record_key, customer_id from identity.customer_source_xref").fetchall(),
            columns=["source", "source_record_key", "customer_id"],
        )
    joined = records.merge(xref, on=["source", "source_record_key"], how="inner")
    counts = joined.groupby(["person_id", "customer_id"]).size().rename("n").reset_index()
    counts = counts.sort_values(["person_id", "n", "customer_id"], ascending=[True, False, True])
    return counts.drop_duplicates("person_id").loc[:, ["person_id", "customer_id"]]


def visible_share(settings: Settings, truth_tx: pd.DataFrame) -> pd.DataFrame:
    """Per person: share of landing-period truth revenue and purchase days that reached fct_orders identified."""
    from customer360.db.connection import connect

    with connect(settings) as conn:
        seen = pd.DataFrame(
            conn.execute(
                "select source, source_order_id from marts.fct_orders where customer_id is not null"
            ).fetchall(),
            columns=["source", "source_key"],
        )
    landing = truth_tx.loc[truth_tx["in_landing"]].copy()
    landing["visible"] = pd.MultiIndex.from_frame(landing[["source", "source_key"]]).isin(
        pd.MultiIndex.from_frame(seen)
    )
    landing["day"] = landing["purchased_at"].dt.floor("D")
    g = landing.groupby("person_id")
    revenue_share = (
        landing["amount"].where(landing["visible"], 0.0).groupby(landing["person_id"]).sum() / g["amount"].sum()
    )
    visible_days = landing.loc[landing["visible"]].groupby("person_id")["day"].nunique()
    days_share = visible_days.reindex(g.size().index, fill_value=0) / g["day"].nunique()
    return pd.DataFrame({"revenue_share": revenue_share, "days_share": days_share})


def true_bgnbd_params() -> clv.BGNBDParams:
    """The simulator's population distributions as BG/NBD hyperparameters, time in days."""
    from customer360.simulator import population as pop

    # lambda per day = lambda per year / 365.25 ~ Gamma(shape, scale / 365.25): rate alpha = 365.25 / scale
    return clv.BGNBDParams(
        r=pop.RATE_GAMMA_SHAPE, alpha=365.25 / pop.RATE_GAMMA_SCALE_PER_YEAR, a=pop.DROPOUT_BETA_A, b=pop.DROPOUT_BETA_B
    )


def truth_outcomes(
    settings: Settings, cutoff: pd.Timestamp, horizon_days: int, visible_last: pd.Series
) -> pd.DataFrame:
    """Per customer (with at least one assigned person): truth label, oracle probabilities, actuals.

    ``visible_last``: each customer's last identified order before the cutoff (what the warehouse saw).
    """
    people = pd.read_csv(settings.truth_dir / "people.csv", dtype=str, keep_default_na=False)
    truth_tx = pd.read_csv(settings.truth_dir / "transactions.csv", dtype=str, keep_default_na=False)
    truth_tx["purchased_at"] = pd.to_datetime(truth_tx["purchased_at"], utc=True)
    truth_tx["amount"] = truth_tx["amount"].astype(float)
    truth_tx["in_landing"] = truth_tx["in_landing"] == "true"

    end = cutoff + pd.Timedelta(days=horizon_days)
    window = truth_tx.loc[(truth_tx["purchased_at"] >= cutoff) & (truth_tx["purchased_at"] < end)]
    window = window.assign(day=window["purchased_at"].dt.floor("D"))
    per_person = pd.DataFrame(
        {
            "purchases": window.groupby("person_id")["day"].nunique(),
            "revenue": window.groupby("person_id")["amount"].sum(),
        }
    )
    people = people.set_index("person_id")
    lam = people["purchase_rate_per_year"].astype(float) / 365.25  # per day
    drop = people["dropout_probability"].astype(float).clip(1e-6, 1.0)
    stay_quiet = np.exp(-lam * horizon_days)
    lapsed_at = pd.to_datetime(people["lapsed_at"].replace("", None), utc=True)
    dead = (people["has_lapsed"] == "true") & (lapsed_at < cutoff)
    latent = pd.Series(np.where(dead, 1.0, stay_quiet), index=people.index)
    before = truth_tx.loc[truth_tx["purchased_at"] < cutoff].groupby("person_id")["purchased_at"].max()
    silent_days = ((cutoff - before).dt.total_seconds() / 86_400.0).reindex(people.index)
    alive_weight = (1.0 - drop) * np.exp(-lam * silent_days)
    p_alive = (alive_weight / (alive_weight + drop)).fillna(0.0)  # no purchase before T: not a customer yet
    history_p = 1.0 - p_alive * (1.0 - stay_quiet)
    share = visible_share(settings, truth_tx)

    # Bayes posterior under the true prior, given the person's full purchase history
    full = truth_tx.loc[truth_tx["purchased_at"] < cutoff].assign(day=lambda t: t["purchased_at"].dt.floor("D"))
    g_full = full.groupby("person_id")["day"]
    first_day, last_day = g_full.min(), g_full.max()
    bayes_full = (
        pd.Series(
            clv.bgnbd_probability_no_purchase(
                true_bgnbd_params(),
                float(horizon_days),
                (g_full.nunique() - 1).astype(float),
                (last_day - first_day).dt.total_seconds() / 86_400.0,
                (cutoff - first_day).dt.total_seconds() / 86_400.0,
            ),
            index=first_day.index,
        )
        .reindex(people.index)
        .fillna(1.0)
    )  # no purchase before T: not a customer yet

    frame = person_of_customer(settings).set_index("person_id")
    frame = frame.join(per_person).fillna({"purchases": 0.0, "revenue": 0.0})
    frame["p_none"] = history_p.reindex(frame.index)
    frame["p_none_latent"] = latent.reindex(frame.index)
    frame["p_none_bayes_full"] = bayes_full.reindex(frame.index)
    seen_silent = ((cutoff - frame["customer_id"].map(visible_last)).dt.total_seconds() / 86_400.0).to_numpy()
    lam_f, drop_f = lam.reindex(frame.index).to_numpy(), drop.reindex(frame.index).to_numpy()
    seen_weight = (1.0 - drop_f) * np.exp(-lam_f * seen_silent)
    seen_alive = np.nan_to_num(seen_weight / (seen_weight + drop_f), nan=0.0)
    frame["p_none_visible"] = 1.0 - seen_alive * (1.0 - np.exp(-lam_f * horizon_days))
    frame = frame.join(share).fillna({"revenue_share": 0.0, "days_share": 0.0})
    frame["visible_purchases"] = frame["purchases"] * frame["days_share"]
    frame["visible_revenue"] = frame["revenue"] * frame["revenue_share"]
    g = frame.groupby("customer_id")
    out = pd.DataFrame(
        {
            "people": g.size(),
            "purchases": g["purchases"].sum(),
            "revenue": g["revenue"].sum(),
            "visible_purchases": g["visible_purchases"].sum(),
            "visible_revenue": g["visible_revenue"].sum(),
            "oracle_p_churn": g["p_none"].prod(),
            "latent_p_churn": g["p_none_latent"].prod(),
            "visible_p_churn": g["p_none_visible"].prod(),
            "bayes_full_p_churn": g["p_none_bayes_full"].prod(),
        }
    )
    out["churned"] = (out["purchases"] == 0).astype(int)
    return out


# --------------------------------------------------------------------------- measuring


def _regression(actual: pd.Series, predicted: pd.Series) -> dict[str, float | None]:
    from customer360.ml.purchases import regression_metrics

    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in regression_metrics(actual, predicted).items()}


def measure(people: int, days: int, server_url: str) -> tuple[dict[str, Any], Any, pd.DataFrame, pd.DataFrame]:
    from customer360.db.connection import connect
    from customer360.ml.config import ScoringConfig
    from customer360.ml.features import build_features
    from customer360.ml.history import to_utc_timestamp
    from customer360.ml.purchases import btyd_predictions
    from customer360.ml.registry import RegisteredRun
    from customer360.ml.scoring import compute_scores, score_with_registered
    from customer360.ml.store import load_touchpoints, load_transactions

    settings, sim = build_warehouse(people, days, server_url)
    cutoff_date = sim.start + timedelta(days=days)
    cut = to_utc_timestamp(cutoff_date)
    config = ScoringConfig.from_settings(settings)
    h = config.horizon_days

    with connect(settings) as conn:
        tx = load_transactions(conn, cut)
        tp = load_touchpoints(conn, cut)
    started = time.perf_counter()
    run = compute_scores(tx, cutoff_date, config, tp)
    fit_seconds = time.perf_counter() - started
    # A run between refits (C360_MODEL_REFIT_DAYS): the same cut-off scored with the fitted models, no training.
    models = run.models
    assert models is not None
    registered = RegisteredRun(
        run.model_version,
        models.churn_version,
        models.churn,
        models.purchases_version,
        models.purchases,
        models.clusters,
    )
    started = time.perf_counter()
    score_with_registered(registered, tx, cutoff_date, config, tp, trained_at=cutoff_date)
    score_only_seconds = time.perf_counter() - started

    truth = truth_outcomes(settings, cut, h, tx.groupby("customer_id")["ordered_at"].max())
    scores = run.scores.join(truth, how="inner")
    unmapped = int(len(run.scores) - len(scores))
    bg, bg_model = btyd_predictions(tx, cut, h, scores.index)
    bg_rfm = clv.rfm_summary(tx, cut).reindex(scores.index)
    bg_p_none = clv.bgnbd_probability_no_purchase(
        bg_model.bgnbd.params, float(h), bg_rfm["frequency"], bg_rfm["recency"], bg_rfm["T"]
    )

    bayes_p_none = clv.bgnbd_probability_no_purchase(
        true_bgnbd_params(), float(h), bg_rfm["frequency"], bg_rfm["recency"], bg_rfm["T"]
    )

    # the learned model alone (as before BG/NBD and the blend competed with it), for comparison
    from dataclasses import replace

    from customer360.ml.churn import train_churn

    learned_only = train_churn(tx, cut, replace(config.churn, bgnbd_candidates=False), tp).model
    learned_p = learned_only.predict_proba(build_features(tx, cut, tp).reindex(scores.index))

    labels = scores["churned"].to_numpy()
    churn = {
        "customers": int(len(scores)),
        "churn_rate": round(float(labels.mean()), 4),
        "model_roc_auc": round(float(roc_auc_score(labels, scores["churn_probability"])), 4),
        "model_kind": run.metrics["churn"]["final"]["model_kind"],
        "learned_only_roc_auc": round(float(roc_auc_score(labels, learned_p)), 4),
        "learned_only_brier": round(float(np.mean((learned_p - labels) ** 2)), 4),
        "backtest_candidates": run.metrics["churn"]["backtest"].get("candidates"),
        "oracle_roc_auc": round(float(roc_auc_score(labels, scores["oracle_p_churn"])), 4),
        "bgnbd_roc_auc": round(float(roc_auc_score(labels, bg_p_none)), 4),
        "bayes_roc_auc": round(float(roc_auc_score(labels, bayes_p_none)), 4),
        "bayes_full_history_roc_auc": round(float(roc_auc_score(labels, scores["bayes_full_p_churn"])), 4),
        "bayes_full_history_brier": round(float(np.mean((scores["bayes_full_p_churn"] - labels) ** 2)), 4),
        "bgnbd_fitted_params": bg_model.bgnbd.params.as_dict() if bg_model.bgnbd else None,
        "true_params": true_bgnbd_params().as_dict(),
        "latent_state_roc_auc": round(float(roc_auc_score(labels, scores["latent_p_churn"])), 4),
        "true_parameters_visible_history_roc_auc": round(float(roc_auc_score(labels, scores["visible_p_churn"])), 4),
        "oracle_brier": round(float(np.mean((scores["oracle_p_churn"] - labels) ** 2)), 4),
        "model_brier": round(float(np.mean((scores["churn_probability"] - labels) ** 2)), 4),
        "model_mean_probability": round(float(scores["churn_probability"].mean()), 4),
        "backtest": run.metrics["churn"]["backtest"].get("model"),
        "recency_baseline_backtest": run.metrics["churn"]["backtest"].get("recency_baseline"),
    }
    churn["gap"] = round(churn["oracle_roc_auc"] - churn["model_roc_auc"], 4)
    churn["gap_to_bayes"] = round(churn["bayes_full_history_roc_auc"] - churn["model_roc_auc"], 4)
    churn["within_target"] = churn["gap"] <= AUC_TARGET_GAP

    purchases = {
        "scored_with": run.metrics["purchases"]["scored_with"],
        "model_vs_visible": {
            "purchases": _regression(scores["visible_purchases"], scores["expected_purchases"]),
            "revenue": _regression(scores["visible_revenue"], scores["expected_revenue"]),
        },
        "bgnbd_vs_visible": {
            "purchases": _regression(scores["visible_purchases"], bg["expected_purchases"]),
            "revenue": _regression(scores["visible_revenue"], bg["expected_revenue"]),
        },
        "model_vs_all_purchases": {
            "purchases": _regression(scores["purchases"], scores["expected_purchases"]),
            "revenue": _regression(scores["revenue"], scores["expected_revenue"]),
        },
        "backtest_selection": {k: run.metrics["purchases"].get(k) for k in ("chosen", "btyd", "hgb_poisson", "blend")},
        "champion": run.metrics["purchases"].get("champion"),
        "clv_scored_with": run.metrics["purchases"].get("clv_scored_with"),
    }
    mv, bv = purchases["model_vs_visible"], purchases["bgnbd_vs_visible"]
    purchases["total_within_target"] = abs(mv["revenue"]["total_error"] or 1.0) <= TOTAL_TARGET
    purchases["correlation_at_least_bgnbd"] = (mv["revenue"]["correlation"] or 0) >= (bv["revenue"]["correlation"] or 0)

    features = build_features(tx, cut, tp)
    rfm = clv.rfm_summary(tx, cut).reindex(features.index)
    result = {
        "people": people,
        "days": days,
        "cutoff": cutoff_date.isoformat(),
        "horizon_days": h,
        "orders_used": int(len(tx)),
        "touchpoints_used": 0 if tp is None else int(len(tp)),
        "customers_scored": int(len(run.scores)),
        "customers_without_a_true_person": unmapped,
        "seconds": {"fit_and_score": round(fit_seconds, 2), "score_only": round(score_only_seconds, 2)},
        "churn": churn,
        "purchases": purchases,
        "clusters": run.metrics["clusters"],
    }
    return result, run.models, features, rfm


def time_scoring(models: Any, features: pd.DataFrame, rfm: pd.DataFrame, rows: int) -> dict[str, Any]:
    """Seconds to score ``rows`` customers whose feature rows are resampled from real ones."""
    from customer360.ml.scoring import score_frame

    rng = np.random.default_rng(0)
    pick = rng.integers(0, len(features), size=rows)
    index = pd.Index([f"S{i:07d}" for i in range(rows)], name="customer_id")
    big_features = features.iloc[pick].set_axis(index)
    big_rfm = rfm.iloc[pick].set_axis(index)
    started = time.perf_counter()
    scores = score_frame(models, big_features, big_rfm)
    seconds = time.perf_counter() - started
    return {
        "customers": int(len(scores)),
        "seconds": round(seconds, 2),
        "under_two_minutes": seconds < 120,
        "features": "real feature rows of the largest size, resampled with replacement",
    }


def markdown(result: dict[str, Any]) -> str:
    runs = result["runs"]
    head = "| measure | " + " | ".join(f"{r['people']:,} people" for r in runs) + " |"
    lines = [head, "|---|" + "---:|" * len(runs)]

    def row(label: str, get) -> None:
        lines.append(f"| {label} | " + " | ".join(str(get(r)) for r in runs) + " |")

    row("customers scored (with a true person)", lambda r: f"{r['customers_scored']:,} ({r['churn']['customers']:,})")
    row("churn rate in the horizon (truth)", lambda r: f"{r['churn']['churn_rate']:.3f}")
    row("churn model chosen by the backtest", lambda r: r["churn"]["model_kind"])
    row("churn ROC AUC: model", lambda r: f"{r['churn']['model_roc_auc']:.3f}")
    row("churn ROC AUC: gradient boosting alone", lambda r: f"{r['churn']['learned_only_roc_auc']:.3f}")
    row("churn ROC AUC: true probabilities given the history", lambda r: f"{r['churn']['oracle_roc_auc']:.3f}")
    row("AUC gap (target <= 0.03)", lambda r: f"{r['churn']['gap']:.3f}")
    row(
        "churn ROC AUC: Bayes from the full purchase history, true prior (reachable ceiling)",
        lambda r: f"{r['churn']['bayes_full_history_roc_auc']:.3f}",
    )
    row("AUC gap to the Bayes ceiling", lambda r: f"{r['churn']['gap_to_bayes']:.3f}")
    row(
        "churn ROC AUC: true prior applied to the identified orders only",
        lambda r: f"{r['churn']['bayes_roc_auc']:.3f}",
    )
    row("churn ROC AUC: BG/NBD P(no purchase in H)", lambda r: f"{r['churn']['bgnbd_roc_auc']:.3f}")
    row(
        "churn ROC AUC: true parameters, identified orders only",
        lambda r: f"{r['churn']['true_parameters_visible_history_roc_auc']:.3f}",
    )
    row("churn ROC AUC: knowing the latent lapse (unattainable)", lambda r: f"{r['churn']['latent_state_roc_auc']:.3f}")
    row(
        "churn Brier: model / true probabilities / Bayes from the data",
        lambda r: (
            f"{r['churn']['model_brier']:.3f} / {r['churn']['oracle_brier']:.3f} / "
            f"{r['churn']['bayes_full_history_brier']:.3f}"
        ),
    )
    row("purchases/revenue scored with", lambda r: r["purchases"]["scored_with"])
    for what in ("purchases", "revenue"):
        row(
            f"{what}: correlation model / BG/NBD",
            lambda r, w=what: (
                f"{r['purchases']['model_vs_visible'][w]['correlation']:.3f} / "
                f"{r['purchases']['bgnbd_vs_visible'][w]['correlation']:.3f}"
            ),
        )
        row(
            f"{what}: MAE model / BG/NBD",
            lambda r, w=what: (
                f"{r['purchases']['model_vs_visible'][w]['mae']:.3f} / "
                f"{r['purchases']['bgnbd_vs_visible'][w]['mae']:.3f}"
            ),
        )
        row(
            f"{what}: total error model / BG/NBD",
            lambda r, w=what: (
                f"{100 * r['purchases']['model_vs_visible'][w]['total_error']:+.1f}% / "
                f"{100 * r['purchases']['bgnbd_vs_visible'][w]['total_error']:+.1f}%"
            ),
        )
    row(
        "revenue total error vs all purchases (unadjusted)",
        lambda r: f"{100 * r['purchases']['model_vs_all_purchases']['revenue']['total_error']:+.1f}%",
    )
    row("fit and score (s)", lambda r: f"{r['seconds']['fit_and_score']:.1f}")
    row("score only, a run between refits (s)", lambda r: f"{r['seconds'].get('score_only', float('nan')):.1f}")
    s = result["scoring"]
    lines.append("")
    lines.append(f"Scoring {s['customers']:,} customers ({s['features']}): {s['seconds']:.1f} s.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ml", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated numbers of people")
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--scoring-rows", type=int, default=SCORING_ROWS)
    args = parser.parse_args(argv)

    from customer360.devtools.server import resolve_warehouse_url

    server_url = resolve_warehouse_url()
    sizes = [int(s) for s in args.sizes.split(",")]
    runs, largest = [], None
    for people in sizes:
        print(f"\n== {people:,} people ==")
        result, models, features, rfm = measure(people, args.days, server_url)
        runs.append(result)
        print(json.dumps({k: result[k] for k in ("churn", "seconds")}, indent=1))
        largest = (models, features, rfm)
    scoring = time_scoring(*largest, rows=args.scoring_rows)
    print(f"scoring {scoring['customers']:,} customers: {scoring['seconds']} s")
    result = {
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "method": __doc__,
        "runs": runs,
        "scoring": scoring,
    }
    write_results(f"ml-{'-'.join(map(str, sizes))}", result, markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
