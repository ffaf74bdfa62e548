"""Synthetic buy-till-you-die histories for tests and benchmarks.

Customers follow the BG/NBD story: while alive, a customer buys as a Poisson
process with rate lambda ~ Gamma(r, alpha); after each repeat purchase they
drop out with probability p ~ Beta(a, b). Spend per purchase follows the
Gamma-Gamma story: z ~ Gamma(shape=p_spend, rate=nu), nu ~ Gamma(q, gamma).
Nothing here is used by scoring.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from customer360.ml.clv import BGNBDParams, GammaGammaParams


def simulate_repeat_purchases(
    params: BGNBDParams, T: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Repeat purchase times in (0, T_i] for each customer i (time unit = 1/alpha's unit).

    Returns (customer index, time since first purchase), sorted by customer then time.
    """
    T = np.asarray(T, dtype="float64")
    n = len(T)
    lam = rng.gamma(params.r, 1.0 / params.alpha, size=n)
    drop = rng.beta(params.a, params.b, size=n)
    clock = np.zeros(n)
    active = np.arange(n)
    owners: list[np.ndarray] = []
    times: list[np.ndarray] = []
    while active.size:
        clock[active] += rng.exponential(1.0, size=active.size) / np.maximum(lam[active], 1e-12)
        bought = clock[active] <= T[active]
        active = active[bought]
        owners.append(active)
        times.append(clock[active].copy())
        survives = rng.random(active.size) >= drop[active]
        active = active[survives]
    owner = np.concatenate(owners) if owners else np.empty(0, dtype=int)
    time = np.concatenate(times) if times else np.empty(0)
    order = np.lexsort((time, owner))
    return owner[order], time[order]


def simulate_bgnbd_rfm(params: BGNBDParams, T: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """(frequency, recency, T) per customer drawn from the BG/NBD process."""
    T = np.asarray(T, dtype="float64")
    owner, time = simulate_repeat_purchases(params, T, rng)
    frequency = np.bincount(owner, minlength=len(T)).astype("float64")
    recency = np.zeros(len(T))
    np.maximum.at(recency, owner, time)
    return pd.DataFrame({"frequency": frequency, "recency": recency, "T": T})


def simulate_transactions(
    n_customers: int,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    *,
    seed: int = 0,
    purchase: BGNBDParams = BGNBDParams(r=0.8, alpha=40.0, a=0.9, b=4.0),
    spend: GammaGammaParams = GammaGammaParams(p=4.0, q=5.0, gamma=60.0),
    anonymous_share: float = 0.0,
) -> pd.DataFrame:
    """A transaction history (customer_id, ordered_at, amount, channel) in [start, end).

    First purchases are spread uniformly over the first 80% of the period;
    purchase rates are per day. Amounts are rounded to cents. A share of
    anonymous rows (customer_id missing) can be added to exercise cleaning.
    """
    rng = np.random.default_rng(seed)
    t0, t1 = pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC")
    span_days = (t1 - t0).total_seconds() / 86_400.0
    birth = rng.uniform(0.0, 0.8 * span_days, size=n_customers)
    owner, time = simulate_repeat_purchases(purchase, span_days - birth - 1e-6, rng)
    all_owner = np.concatenate([np.arange(n_customers), owner])
    all_time = np.concatenate([birth, birth[owner] + time])
    nu = rng.gamma(spend.q, 1.0 / spend.gamma, size=n_customers)
    amount = rng.gamma(spend.p, 1.0 / nu[all_owner])
    web_propensity = rng.beta(2.0, 2.0, size=n_customers)
    web = rng.random(all_owner.size) < web_propensity[all_owner]
    width = len(str(n_customers))
    frame = pd.DataFrame(
        {
            "customer_id": pd.Series(all_owner).map(lambda i: f"C{i:0{width}d}").to_numpy(),
            "ordered_at": t0 + pd.to_timedelta(np.round(all_time * 86_400.0).astype("int64"), unit="s"),
            "amount": np.maximum(np.round(amount, 2), 0.01),
            "channel": np.where(web, "web", "store"),
        }
    )
    if anonymous_share > 0:
        n_anon = int(round(anonymous_share * len(frame)))
        anon = pd.DataFrame(
            {
                "customer_id": [None] * n_anon,
                "ordered_at": t0
                + pd.to_timedelta(np.round(rng.uniform(0, span_days, n_anon) * 86_400.0).astype("int64"), unit="s"),
                "amount": np.round(rng.gamma(2.0, 20.0, n_anon), 2),
                "channel": "store",
            }
        )
        frame = pd.concat([frame, anon], ignore_index=True)
    return frame.sort_values("ordered_at", kind="stable").reset_index(drop=True)
