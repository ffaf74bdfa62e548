"""The simulated people: true attributes, accounts and buy-till-you-die parameters (vectorised)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from customer360.simulator.config import SimulationConfig
from customer360.simulator.messy import apply_typos, obj
from customer360.simulator.pools import EMAIL_DOMAIN_WEIGHTS, EMAIL_DOMAINS, Pools

DAY = 86_400
YEAR = 365.25 * DAY
NEVER = np.iinfo(np.int64).max // 4
# Buy-till-you-die population (``customer360.simulator.events.purchases``): purchases per year
# while alive ~ Gamma(shape, scale), dropout probability after each purchase ~ Beta(a, b).
# Named so the ML benchmark can compute the Bayes posterior under the true prior.
RATE_GAMMA_SHAPE, RATE_GAMMA_SCALE_PER_YEAR = 1.3, 5.0 / 1.3
DROPOUT_BETA_A, DROPOUT_BETA_B = 1.0, 5.0


def epoch(d) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp())


def fmt_ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    s = np.char.zfill(np.asarray(numbers, dtype=np.int64).astype(str), width)
    return obj(np.char.add(prefix, s))


def _digits(rng: np.random.Generator, prefix: str, n: int) -> np.ndarray:
    return obj(np.char.add(prefix, np.char.zfill(rng.integers(0, 10**9, size=n).astype(str), 9)))


@dataclass
class People:
    n: int
    start_s: int
    end_s: int  # exclusive end of the landing period
    horizon_s: int  # end of the truth purchases
    female: np.ndarray
    title: np.ndarray
    first: np.ndarray
    last: np.ndarray
    dob: np.ndarray  # datetime64[D]
    email1: np.ndarray
    email2: np.ndarray  # '' when the e-mail never changes
    email_change_t: np.ndarray  # NEVER when it never changes
    mobile: np.ndarray
    landline: np.ndarray  # '' when none
    phone: np.ndarray  # primary phone (digits)
    street: np.ndarray  # shape (n, 2): address before / after a move
    city: np.ndarray
    postcode: np.ndarray
    move_t: np.ndarray
    household: np.ndarray  # household number
    t0: np.ndarray  # acquisition time (first purchase / account creation)
    has_crm: np.ndarray
    account_no: np.ndarray  # 0 when no account
    has_card: np.ndarray
    loyalty_no: np.ndarray
    has_web: np.ndarray
    web_no: np.ndarray
    crm_first: np.ndarray  # first name as keyed into the CRM (rare typos)
    crm_last: np.ndarray
    rate: np.ndarray  # purchases per year while alive
    dropout_p: np.ndarray  # probability of lapsing after each purchase
    spend: np.ndarray  # mean basket in pounds
    web_share: np.ndarray
    home_store: np.ndarray
    open_p: np.ndarray  # e-mail engagement
    satisfaction: np.ndarray  # base satisfaction 1..5 (float)
    # filled by the purchase process
    n_purchases: np.ndarray | None = None
    last_purchase_t: np.ndarray | None = None
    has_lapsed: np.ndarray | None = None

    def email_at(self, idx: np.ndarray, t: np.ndarray) -> np.ndarray:
        changed = t >= self.email_change_t[idx]
        return np.where(changed, self.email2[idx], self.email1[idx])

    def address_at(self, idx: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k = (t >= self.move_t[idx]).astype(np.int64)
        return self.street[idx, k], self.city[idx, k], self.postcode[idx, k]

    def account_id(self, idx: np.ndarray) -> np.ndarray:
        return fmt_ids("A", self.account_no[idx], 7)

    def loyalty_id(self, idx: np.ndarray) -> np.ndarray:
        return fmt_ids("L", self.loyalty_no[idx], 6)

    def web_id(self, idx: np.ndarray) -> np.ndarray:
        return fmt_ids("W", self.web_no[idx], 6)


# How a person builds the local part of an e-mail address from (first, last, 2-digit number, year).
_LOCAL_PART_PATTERNS: tuple[Callable[[pd.Series, pd.Series, pd.Series, pd.Series], pd.Series], ...] = (
    lambda f, l_, n2, yr: f + "." + l_,
    lambda f, l_, n2, yr: f + l_,
    lambda f, l_, n2, yr: f.str[0] + "." + l_,
    lambda f, l_, n2, yr: f + "_" + l_,
    lambda f, l_, n2, yr: f + "." + l_ + n2,
    lambda f, l_, n2, yr: f + yr,
    lambda f, l_, n2, yr: f.str[0] + l_ + n2,
)


def _local_part(first: np.ndarray, last: np.ndarray, pattern: np.ndarray, num: np.ndarray) -> np.ndarray:
    f = pd.Series(first, dtype=object).str.lower().str.replace(r"[^a-z]", "", regex=True)
    l_ = pd.Series(last, dtype=object).str.lower().str.replace(r"[^a-z]", "", regex=True)
    n2 = pd.Series(num % 100, dtype="int64").astype(str).str.zfill(2)
    yr = pd.Series(1950 + num % 55, dtype="int64").astype(str)
    # each person's pattern only: all seven for everyone made 7 strings a person, most thrown away
    out = np.empty(len(first), dtype=object)
    for k, build in enumerate(_LOCAL_PART_PATTERNS):
        rows = np.flatnonzero(pattern == k)
        out[rows] = build(f.iloc[rows], l_.iloc[rows], n2.iloc[rows], yr.iloc[rows]).to_numpy(dtype=object)
    return out


def _emails(rng: np.random.Generator, first: np.ndarray, last: np.ndarray, taken: set[str] | None = None) -> np.ndarray:
    n = len(first)
    pattern = rng.choice(7, size=n, p=[0.3, 0.12, 0.12, 0.06, 0.2, 0.1, 0.1])
    local = _local_part(first, last, pattern, rng.integers(0, 10_000, size=n))
    domain = rng.choice(EMAIL_DOMAINS, size=n, p=EMAIL_DOMAIN_WEIGHTS).astype(object)
    email = pd.Series(local + "@" + domain, dtype=object)
    # e-mail addresses are unique per person: disambiguate clashes with a number
    dup = email.duplicated(keep="first").to_numpy().copy()
    if taken:
        dup |= email.isin(taken).to_numpy()
    if dup.any():
        idx = np.flatnonzero(dup)
        extra = rng.integers(100, 1000, size=idx.size).astype(str)
        loc = local[idx] + obj(extra) + obj(np.char.zfill(idx.astype(str), 1))
        email.iloc[idx] = loc + "@" + domain[idx]
    return email.to_numpy(dtype=object)


def build_people(config: SimulationConfig, pools: Pools) -> People:
    rng = np.random.default_rng([config.seed, 2])
    n = config.people
    start_s = epoch(config.start)
    end_s = epoch(config.end)
    horizon_s = end_s + config.future_days * DAY
    period = end_s - start_s

    female = rng.random(n) < 0.52
    first = np.where(
        female,
        rng.choice(pools.female_first, size=n, p=pools.female_first_w),
        rng.choice(pools.male_first, size=n, p=pools.male_first_w),
    ).astype(object)
    last = rng.choice(pools.last, size=n, p=pools.last_w).astype(object)
    age_days = rng.integers(18 * 365, 86 * 365, size=n)
    dob = (np.datetime64(config.start, "D") - age_days.astype("timedelta64[D]")).astype("datetime64[D]")

    n_streets, n_pc, n_city = len(pools.streets), len(pools.postcodes), len(pools.cities)
    pc_idx = rng.integers(0, n_pc, size=(n, 2))
    street = pools.streets[rng.integers(0, n_streets, size=(n, 2))]
    postcode = pools.postcodes[pc_idx]
    city = pools.cities[pc_idx % n_city]  # a postcode always lies in the same town
    move_t = np.full(n, NEVER, dtype=np.int64)

    mobile = _digits(rng, "07", n)
    landline = np.where(rng.random(n) < 0.3, _digits(rng, "01", n), "").astype(object)
    household = np.arange(n, dtype=np.int64)

    # ~15% of people live with another person: same address and landline, often the same last name.
    m = int(round(n * 0.075))
    pair = rng.permutation(n)[: 2 * m]
    heads, members = pair[:m], pair[m:]
    same_last = rng.random(m) < 0.8
    last[members[same_last]] = last[heads[same_last]]
    street[members, 0] = street[heads, 0]
    city[members, 0] = city[heads, 0]
    postcode[members, 0] = postcode[heads, 0]
    hh_line = _digits(rng, "01", m)
    landline[heads] = hh_line
    landline[members] = hh_line
    household[members] = heads
    in_household = np.zeros(n, dtype=bool)
    in_household[pair] = True

    # Some different people share the same first and last name.
    singles = np.flatnonzero(~in_household)
    k = min(max(int(round(n * 0.01)), 2 if n >= 50 else 0), singles.size // 2)
    if k:
        chosen = rng.choice(singles, size=2 * k, replace=False)
        dst, src = chosen[:k], chosen[k:]
        first[dst] = first[src]
        last[dst] = last[src]
        female[dst] = female[src]

    title_u = rng.random(n)
    title = np.where(
        female,
        np.select([title_u < 0.4, title_u < 0.65, title_u < 0.85, title_u < 0.88], ["Mrs", "Ms", "Miss", "Dr"], ""),
        np.select([title_u < 0.88, title_u < 0.92], ["Mr", "Dr"], ""),
    ).astype(object)

    phone = np.where(in_household & (rng.random(n) < 0.6), landline, mobile).astype(object)

    # acquisition: a third of the base is already active in the first two months
    early = rng.random(n) < 0.33
    t0 = np.where(
        early,
        start_s + rng.integers(0, min(60 * DAY, period), size=n),
        start_s + rng.integers(0, period, size=n),
    ).astype(np.int64)

    email1 = _emails(rng, first, last)
    changes = rng.random(n) < 0.12
    email2 = np.full(n, "", dtype=object)
    email_change_t = np.full(n, NEVER, dtype=np.int64)
    if changes.any():
        ci = np.flatnonzero(changes)
        email2[ci] = _emails(rng, first[ci], last[ci], taken=set(email1))
        email_change_t[ci] = t0[ci] + (rng.random(ci.size) * (horizon_s - t0[ci])).astype(np.int64)

    movers = (rng.random(n) < 0.08) & ~in_household
    mi = np.flatnonzero(movers)
    move_t[mi] = t0[mi] + (rng.random(mi.size) * (horizon_s - t0[mi])).astype(np.int64)

    has_crm = rng.random(n) < 0.85
    has_card = has_crm & (rng.random(n) < 0.6)
    has_web = rng.random(n) < 0.4
    order = np.argsort(t0, kind="stable")

    def numbering(mask: np.ndarray) -> np.ndarray:
        out = np.zeros(n, dtype=np.int64)
        who = order[mask[order]]
        out[who] = np.arange(1, who.size + 1)
        return out

    crm_first = apply_typos(first, rng.random(n) < 0.015, rng)
    crm_last = apply_typos(last, rng.random(n) < 0.01, rng)

    return People(
        n=n,
        start_s=start_s,
        end_s=end_s,
        horizon_s=horizon_s,
        female=female,
        title=title,
        first=first,
        last=last,
        dob=dob,
        email1=email1,
        email2=email2,
        email_change_t=email_change_t,
        mobile=mobile,
        landline=landline,
        phone=phone,
        street=street,
        city=city,
        postcode=postcode,
        move_t=move_t,
        household=household,
        t0=t0,
        has_crm=has_crm,
        account_no=numbering(has_crm),
        has_card=has_card,
        loyalty_no=numbering(has_card),
        has_web=has_web,
        web_no=numbering(has_web),
        crm_first=crm_first,
        crm_last=crm_last,
        rate=rng.gamma(RATE_GAMMA_SHAPE, RATE_GAMMA_SCALE_PER_YEAR, size=n),
        dropout_p=rng.beta(DROPOUT_BETA_A, DROPOUT_BETA_B, size=n),
        spend=rng.gamma(3.0, 15.0, size=n),
        web_share=np.where(has_web, rng.beta(2.0, 2.0, size=n), 0.0),
        home_store=rng.integers(1, 61, size=n),
        open_p=rng.beta(2.0, 6.0, size=n),
        satisfaction=np.clip(rng.normal(3.9, 0.8, size=n), 1.0, 5.0),
    )
