"""Buy-till-you-die customer lifetime value: BG/NBD + Gamma-Gamma.

References (formulas re-derived and implemented here from the papers):

* P. S. Fader, B. G. S. Hardie, K. L. Lee (2005), "Counting Your Customers
  the Easy Way: An Alternative to the Pareto/NBD Model", Marketing Science
  24(2). Likelihood (eq. 6), conditional expectation (eq. 10), P(alive).
* P. S. Fader, B. G. S. Hardie (2013), "The Gamma-Gamma Model of Monetary
  Value" (note), and Fader, Hardie & Lee (2005) "RFM and CLV", JMR 42(4).

Time unit: days. A "purchase" for these models is a purchase *day* of a
customer (several orders on one UTC day count once, with their amounts
summed), as in the CDNOW analyses. Every order is a purchase here, whatever it
cost (``customer360.ml.history``): a day of free orders or refunds is a purchase
day whose spend is 0 or below. ``frequency`` x counts repeat purchase
days (all but the first), ``recency`` t_x is the time from the first to the
last purchase day, ``T`` is the time from the first purchase day to the cutoff.

Known property of BG/NBD: a customer with x = 0 has P(alive) = 1, because the
model lets customers drop out only right after a purchase.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special

from customer360.ml.history import history_before, to_utc_timestamp

DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True)
class BGNBDParams:
    r: float
    alpha: float
    a: float
    b: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class BGNBDFit:
    params: BGNBDParams
    log_likelihood: float
    n_customers: int
    converged: bool
    message: str


@dataclass(frozen=True)
class GammaGammaParams:
    p: float
    q: float
    gamma: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    @property
    def population_mean_spend(self) -> float:
        """E[spend per transaction] across customers; finite only for q > 1."""
        return self.p * self.gamma / (self.q - 1) if self.q > 1 else float("nan")


@dataclass(frozen=True)
class GammaGammaFit:
    params: GammaGammaParams
    log_likelihood: float
    n_customers: int
    converged: bool
    message: str


# --------------------------------------------------------------------------- RFM input


def rfm_summary(transactions: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """BTYD summary per customer from history before ``cutoff``.

    Columns: frequency (x), recency (t_x, days), T (days), monetary_value
    (mean spend of the repeat purchase days; 0 when x = 0) and net_spend (all
    the customer's amounts summed, refunds subtracted). Indexed by customer_id,
    sorted.
    """
    cut = to_utc_timestamp(cutoff)
    tx = history_before(transactions, cut)
    columns = ["frequency", "recency", "T", "monetary_value", "net_spend"]
    if tx.empty:
        out = pd.DataFrame(columns=columns, dtype="float64")
        out.index = pd.Index([], name="customer_id", dtype=str)
        return out
    day = tx["ordered_at"].dt.floor("D")
    daily = (
        pd.DataFrame({"customer_id": tx["customer_id"], "day": day, "amount": tx["amount"]})
        .groupby(["customer_id", "day"], sort=True)["amount"]
        .sum()
        .reset_index()
    )
    g = daily.groupby("customer_id", sort=True)
    first_day = g["day"].min()
    last_day = g["day"].max()
    n_days = g.size()
    total = g["amount"].sum()
    first_amount = g["amount"].first()  # rows are sorted by day within customer
    x = (n_days - 1).astype("float64")
    repeat_spend = (total - first_amount) / x.where(x > 0)
    out = pd.DataFrame(
        {
            "frequency": x,
            "recency": (last_day - first_day).dt.total_seconds() / 86_400.0,
            "T": (cut - first_day).dt.total_seconds() / 86_400.0,
            "monetary_value": repeat_spend.fillna(0.0),
            "net_spend": total,
        }
    )
    out.index.name = "customer_id"
    return out


# --------------------------------------------------------------------------- BG/NBD


def _as_arrays(*values: np.ndarray | pd.Series | float) -> tuple[np.ndarray, ...]:
    return tuple(np.asarray(v, dtype="float64") for v in values)


def bgnbd_log_likelihood(params: BGNBDParams, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Per-customer log-likelihood of (x, t_x, T) under BG/NBD (FHL 2005, eq. 6)."""
    x, t_x, age = _as_arrays(frequency, recency, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    common = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) - special.betaln(a, b)
    term_alive = special.betaln(a, b + x) - (r + x) * np.log(alpha + age)
    repeat = x > 0
    x_safe = np.where(repeat, x, 1.0)
    term_dropped = np.where(
        repeat,
        special.betaln(a + 1, b + x_safe - 1) - (r + x) * np.log(alpha + t_x),
        -np.inf,
    )
    return common + np.logaddexp(term_alive, term_dropped)


def _check_rfm(x: np.ndarray, t_x: np.ndarray, age: np.ndarray) -> None:
    if not (len(x) == len(t_x) == len(age)):
        raise ValueError("frequency, recency and T must have the same length")
    if np.any(x < 0) or np.any(t_x < 0) or np.any(t_x > age + 1e-9):
        raise ValueError("need frequency >= 0 and 0 <= recency <= T")


def fit_bgnbd(
    frequency: np.ndarray | pd.Series,
    recency: np.ndarray | pd.Series,
    T: np.ndarray | pd.Series,
    *,
    penalizer: float = 0.0,
) -> BGNBDFit:
    """Maximum-likelihood BG/NBD parameters (optimised on the log scale).

    ``penalizer`` adds an L2 penalty on the parameters, which keeps the fit
    finite on small or degenerate samples; 0 gives the plain MLE.
    """
    x, t_x, age = _as_arrays(frequency, recency, T)
    _check_rfm(x, t_x, age)
    n = len(x)
    if n == 0:
        raise ValueError("cannot fit BG/NBD on zero customers")
    # Collapse identical (x, t_x, T) triples: day-level data repeat a lot.
    triples, counts = np.unique(np.column_stack([x, t_x, age]), axis=0, return_counts=True)
    ux, ut, uT = triples[:, 0], triples[:, 1], triples[:, 2]
    weights = counts.astype("float64")

    def objective(log_params: np.ndarray) -> float:
        p = np.exp(log_params)
        ll = bgnbd_log_likelihood(BGNBDParams(*p), ux, ut, uT)
        value = -(weights @ ll) / n + penalizer * float(np.sum(p**2)) / n
        return value if np.isfinite(value) else 1e100

    mean_rate = max(float(x.mean()), 0.1) / max(float(age.mean()), 1.0)
    start = np.log([1.0, 1.0 / mean_rate, 1.0, 1.0])
    bounds = [(-12.0, 12.0)] * 4
    result = optimize.minimize(objective, start, method="L-BFGS-B", bounds=bounds)
    if not result.success:
        polished = optimize.minimize(
            objective, result.x, method="Nelder-Mead", options={"maxiter": 4000, "xatol": 1e-6, "fatol": 1e-10}
        )
        if polished.fun <= result.fun:
            result = polished
    params = BGNBDParams(*(float(v) for v in np.exp(result.x)))
    total_ll = float(weights @ bgnbd_log_likelihood(params, ux, ut, uT))
    return BGNBDFit(params, total_ll, n, bool(result.success), str(result.message))


def _log_dropout_odds(params: BGNBDParams, x: np.ndarray, t_x: np.ndarray, age: np.ndarray) -> np.ndarray:
    """log of a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x) for x > 0, -inf for x = 0."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    repeat = x > 0
    x_safe = np.where(repeat, x, 1.0)
    value = (
        np.log(a) - np.log(np.maximum(b + x_safe - 1, 1e-300)) + (r + x) * (np.log(alpha + age) - np.log(alpha + t_x))
    )
    return np.where(repeat, value, -np.inf)


def bgnbd_p_alive(params: BGNBDParams, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray) -> np.ndarray:
    """P(customer still active at T | x, t_x, T)."""
    x, t_x, age = _as_arrays(frequency, recency, T)
    return special.expit(-_log_dropout_odds(params, x, t_x, age))


def bgnbd_expected_purchases(
    params: BGNBDParams, t: float | np.ndarray, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """E[number of purchases in (T, T + t] | x, t_x, T] (FHL 2005, eq. 10)."""
    x, t_x, age = _as_arrays(frequency, recency, T)
    t = np.asarray(t, dtype="float64")
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    z = t / (alpha + age + t)
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    decay = np.exp((r + x) * (np.log(alpha + age) - np.log(alpha + age + t)))
    numerator = (a + b + x - 1) / (a - 1) * (1 - decay * hyp)
    p_alive = special.expit(-_log_dropout_odds(params, x, t_x, age))
    value = numerator * p_alive
    # hyp2f1 can lose accuracy for extreme arguments; fall back to a
    # rate-times-P(alive) approximation there.
    approx = p_alive * (r + x) / (alpha + age) * t
    value = np.where(np.isfinite(value) & (value >= 0), value, approx)
    return np.maximum(value, 0.0)


def bgnbd_probability_no_purchase(
    params: BGNBDParams, t: float, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """P(no purchase in (T, T + t] | x, t_x, T): dropped out, or alive with no purchase.

    Given alive, the purchase rate's posterior is Gamma(r + x, alpha + T), so
    P(no purchase in t | alive) = ((alpha + T) / (alpha + T + t))^(r + x).
    """
    x, t_x, age = _as_arrays(frequency, recency, T)
    quiet = np.exp((params.r + x) * (np.log(params.alpha + age) - np.log(params.alpha + age + t)))
    return 1.0 - bgnbd_p_alive(params, x, t_x, age) * (1.0 - quiet)


def bgnbd_unconditional_expected_purchases(params: BGNBDParams, t: float | np.ndarray) -> np.ndarray:
    """E[X(t)]: repeat purchases of a new customer in (0, t] (FHL 2005, eq. 9)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    t = np.asarray(t, dtype="float64")
    hyp = special.hyp2f1(r, b, a + b - 1, t / (alpha + t))
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp)


# --------------------------------------------------------------------------- Gamma-Gamma


def gamma_gamma_log_likelihood(
    params: GammaGammaParams, frequency: np.ndarray, monetary_value: np.ndarray
) -> np.ndarray:
    """Per-customer log density of the mean spend m_x over x > 0 transactions."""
    x, m = _as_arrays(frequency, monetary_value)
    p, q, g = params.p, params.q, params.gamma
    px = p * x
    return (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(g)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(g + m * x)
    )


def fit_gamma_gamma(
    frequency: np.ndarray | pd.Series, monetary_value: np.ndarray | pd.Series, *, penalizer: float = 0.0
) -> GammaGammaFit:
    """MLE of (p, q, gamma) from repeat customers (x > 0, m_x > 0 rows only are used)."""
    x, m = _as_arrays(frequency, monetary_value)
    use = (x > 0) & (m > 0) & np.isfinite(m)
    x, m = x[use], m[use]
    n = len(x)
    if n < 2:
        raise ValueError("Gamma-Gamma needs at least two repeat customers")

    def objective(log_params: np.ndarray) -> float:
        p = np.exp(log_params)
        ll = gamma_gamma_log_likelihood(GammaGammaParams(*p), x, m)
        value = -float(ll.sum()) / n + penalizer * float(np.sum(p**2)) / n
        return value if np.isfinite(value) else 1e100

    start = np.log([2.0, 3.0, max(float(np.mean(m)), 1e-6)])
    result = optimize.minimize(objective, start, method="L-BFGS-B", bounds=[(-12.0, 15.0)] * 3)
    if not result.success:
        polished = optimize.minimize(objective, result.x, method="Nelder-Mead", options={"maxiter": 4000})
        if polished.fun <= result.fun:
            result = polished
    params = GammaGammaParams(*(float(v) for v in np.exp(result.x)))
    ll = float(gamma_gamma_log_likelihood(params, x, m).sum())
    return GammaGammaFit(params, ll, n, bool(result.success), str(result.message))


def gamma_gamma_expected_spend(
    params: GammaGammaParams,
    frequency: np.ndarray | pd.Series,
    monetary_value: np.ndarray | pd.Series,
    *,
    fallback_mean: float | None = None,
) -> np.ndarray:
    """E[spend per transaction | x, m_x]: a weighted mean of the population mean and m_x.

    Customers with x = 0 get the population mean p*gamma/(q-1); when q <= 1
    that mean does not exist and ``fallback_mean`` (required then) is used.
    A mean spend at or below 0 (free orders, refunds) is taken as 0: the
    estimate then shrinks from the population mean towards nothing.
    """
    x, m = _as_arrays(frequency, monetary_value)
    m = np.maximum(m, 0.0)
    p, q, g = params.p, params.q, params.gamma
    population = params.population_mean_spend
    if not np.isfinite(population):
        if fallback_mean is None:
            raise ValueError("q <= 1: population mean spend undefined; pass fallback_mean")
        population = float(fallback_mean)
    with np.errstate(divide="ignore", invalid="ignore"):
        conditional = (g + m * x) * p / (p * x + q - 1)
    return np.where((x > 0) & np.isfinite(conditional) & (conditional > 0), conditional, population)


# --------------------------------------------------------------------------- CLV


def monthly_discount_rate(annual_rate: float) -> float:
    """The monthly rate equivalent to ``annual_rate`` compounded monthly."""
    return (1.0 + annual_rate) ** (1.0 / 12.0) - 1.0


def discounted_clv(
    params: BGNBDParams,
    frequency: np.ndarray,
    recency: np.ndarray,
    T: np.ndarray,
    expected_spend: np.ndarray,
    *,
    months: int,
    annual_discount_rate: float,
) -> np.ndarray:
    """Sum over months m = 1..M of E[purchases in month m] * spend / (1 + d)^m.

    Revenue CLV (no margin applied). Month m covers days
    ((m-1)*30.44, m*30.44] after the cutoff; d is the monthly equivalent of
    the annual discount rate.
    """
    if months <= 0:
        return np.zeros(len(np.asarray(frequency)), dtype="float64")
    x, t_x, age, spend = _as_arrays(frequency, recency, T, expected_spend)
    d = monthly_discount_rate(annual_discount_rate)
    total = np.zeros_like(x)
    previous = np.zeros_like(x)
    for m in range(1, months + 1):
        cumulative = bgnbd_expected_purchases(params, m * DAYS_PER_MONTH, x, t_x, age)
        total += np.maximum(cumulative - previous, 0.0) / (1.0 + d) ** m
        previous = cumulative
    return total * spend


# --------------------------------------------------------------------------- fitted BTYD model

MIN_BGNBD_CUSTOMERS = 20
MIN_REPEAT_CUSTOMERS = 10


@dataclass(frozen=True)
class BTYDModel:
    """BG/NBD + Gamma-Gamma fitted on one history, with fallbacks on tiny data.

    ``bgnbd`` is None when there were too few customers or no repeat buyer:
    predictions then use each customer's historical rate of purchase days,
    (x + 1) / T. ``gamma_gamma`` is None with too few repeat customers:
    spend is then the customer's observed mean spend per purchase day.
    """

    bgnbd: BGNBDFit | None
    gamma_gamma: GammaGammaFit | None
    repeat_spend_mean: float
    notes: tuple[str, ...] = ()

    def expected_spend(self, rfm: pd.DataFrame, observed_spend: np.ndarray) -> np.ndarray:
        """Spend per purchase day; 0 for a customer who has paid nothing, net of refunds.

        Gamma-Gamma knows positive spend only: without this, a customer whose orders were all
        free would be expected to spend like the average customer.
        """
        x, m = rfm["frequency"].to_numpy(dtype="float64"), rfm["monetary_value"].to_numpy(dtype="float64")
        if self.gamma_gamma is None:
            spend = np.maximum(np.asarray(observed_spend, dtype="float64"), 0.0)
        else:
            spend = gamma_gamma_expected_spend(self.gamma_gamma.params, x, m, fallback_mean=self.repeat_spend_mean)
        if "net_spend" in rfm.columns:
            paid = rfm["net_spend"].to_numpy(dtype="float64") > 0
            spend = np.where(paid, spend, 0.0)
        return spend

    def expected_purchases(self, rfm: pd.DataFrame, days: float) -> np.ndarray:
        x, t_x, age = (rfm[c].to_numpy(dtype="float64") for c in ("frequency", "recency", "T"))
        if self.bgnbd is None:
            return (x + 1.0) / np.maximum(age, 1.0) * days
        return bgnbd_expected_purchases(self.bgnbd.params, days, x, t_x, age)

    def p_alive(self, rfm: pd.DataFrame) -> np.ndarray:
        x, t_x, age = (rfm[c].to_numpy(dtype="float64") for c in ("frequency", "recency", "T"))
        if self.bgnbd is None:
            return np.ones(len(x))
        return bgnbd_p_alive(self.bgnbd.params, x, t_x, age)

    def clv(self, rfm: pd.DataFrame, spend: np.ndarray, *, months: int, annual_discount_rate: float) -> np.ndarray:
        x, t_x, age = (rfm[c].to_numpy(dtype="float64") for c in ("frequency", "recency", "T"))
        if self.bgnbd is None:
            d = monthly_discount_rate(annual_discount_rate)
            factor = float(np.sum((1.0 + d) ** -np.arange(1, months + 1))) if months > 0 else 0.0
            return (x + 1.0) / np.maximum(age, 1.0) * DAYS_PER_MONTH * spend * factor
        return discounted_clv(
            self.bgnbd.params, x, t_x, age, spend, months=months, annual_discount_rate=annual_discount_rate
        )


def fit_btyd(rfm: pd.DataFrame, *, bgnbd_penalizer: float = 0.0, gamma_gamma_penalizer: float = 0.0) -> BTYDModel:
    """Fit BG/NBD and Gamma-Gamma on an ``rfm_summary`` frame (fallbacks on tiny data)."""
    x, t_x, age, m = (rfm[c].to_numpy(dtype="float64") for c in ("frequency", "recency", "T", "monetary_value"))
    repeat = (x > 0) & (m > 0)
    repeaters = int(repeat.sum())
    notes: list[str] = []
    repeat_mean = float(np.mean(m[repeat])) if repeaters else float("nan")
    gg = None
    if repeaters >= MIN_REPEAT_CUSTOMERS:
        gg = fit_gamma_gamma(x, m, penalizer=gamma_gamma_penalizer)
    else:
        notes.append(f"fallback: {repeaters} repeat customers (< {MIN_REPEAT_CUSTOMERS}); observed mean spend used")
    bg = None
    if len(rfm) >= MIN_BGNBD_CUSTOMERS and repeaters >= 1:
        bg = fit_bgnbd(x, t_x, age, penalizer=bgnbd_penalizer)
    else:
        notes.append("fallback: too few customers for BG/NBD; historical purchase-day rate used")
    return BTYDModel(bg, gg, repeat_mean, tuple(notes))


def btyd_features(transactions: pd.DataFrame, cutoff: pd.Timestamp, days: float) -> pd.DataFrame:
    """BG/NBD P(alive) and expected purchase days in the next ``days``, from a fit on history before ``cutoff``.

    Used as features by the learned models (``customer360.ml.features``); NaN when BG/NBD
    cannot be fitted (too few customers or no repeat purchase).
    """
    rfm = rfm_summary(transactions, cutoff)
    out = pd.DataFrame({"bgnbd_p_alive": np.nan, "bgnbd_expected_purchases_90d": np.nan}, index=rfm.index)
    x, t_x, age = (rfm[c].to_numpy(dtype="float64") for c in ("frequency", "recency", "T"))
    if len(rfm) < MIN_BGNBD_CUSTOMERS or not (x > 0).any():
        return out
    params = fit_bgnbd(x, t_x, age).params
    out["bgnbd_p_alive"] = bgnbd_p_alive(params, x, t_x, age)
    out["bgnbd_expected_purchases_90d"] = bgnbd_expected_purchases(params, days, x, t_x, age)
    return out
