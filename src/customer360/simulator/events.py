"""Event tables (one pandas DataFrame per source, sorted by time) built with numpy.

Each table holds raw numbers (`t` in epoch seconds, `person`, counters) only;
the string values of the landing files are produced per chunk by `formatters`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from customer360.simulator.pools import CONTACT_COMPLAINT_P, CONTACT_REASON_WEIGHTS, Pools
from customer360.simulator.population import DAY, YEAR, People

MAX_LINES = 3


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(["t", "person"], kind="stable").reset_index(drop=True)


def _frame_by_time(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """Like `_sorted`, for a large table: sorted column by column, each original freed once taken.

    The order is the same: pandas sorts by several integer columns with a stable np.lexsort.
    `columns` is emptied; the caller must hold no other reference to its arrays.
    """
    order = np.lexsort((columns["person"], columns["t"]))
    df = pd.DataFrame(index=pd.RangeIndex(order.size))
    for name in list(columns):
        df[name] = columns.pop(name)[order]
    return df


def _time_of_day(rng: np.random.Generator, size: int) -> np.ndarray:
    """Shopping hours: mostly 08:00-21:00, peaking around lunch and early evening."""
    hour = np.clip(rng.normal(np.where(rng.random(size) < 0.5, 12.5, 17.5), 2.2), 7.0, 22.9)
    return (hour * 3600).astype(np.int64)


def purchases(people: People, pools: Pools, rng: np.random.Generator) -> pd.DataFrame:
    """Buy-till-you-die (BG/NBD style): Poisson purchases, lapse with prob p after each purchase."""
    n = people.n
    person, t = _purchase_times(people, rng)
    people.t0 = t[:n].copy()  # acquisition = first purchase

    m = person.size
    web = rng.random(m) < people.web_share[person]
    sku, qty = _baskets(people.spend[person], pools, rng)
    amount = (pools.sku_prices[sku] * qty).sum(axis=1).astype(np.int64)

    counts = np.bincount(person, minlength=n)
    last_t = np.full(n, 0, dtype=np.int64)
    np.maximum.at(last_t, person, t)
    people.n_purchases = counts
    people.last_purchase_t = last_t

    # small integer types: catalogue index and quantity are written as the same digits
    columns = {"t": t, "person": person, "web": web, "amount": amount}
    columns |= {f"sku{j}": sku[:, j].astype(np.int16) for j in range(MAX_LINES)}
    columns |= {f"qty{j}": qty[:, j].astype(np.int8) for j in range(MAX_LINES)}
    del t, person, web, amount, sku, qty
    df = _frame_by_time(columns)
    # keys in time order, over the whole horizon (future purchases get keys too)
    is_web = df["web"].to_numpy()
    key = np.zeros(len(df), dtype=np.int64)
    key[~is_web] = np.arange(1, int((~is_web).sum()) + 1)
    key[is_web] = np.arange(1, int(is_web.sum()) + 1)
    df["key"] = key
    return df


def _purchase_times(people: People, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(person, time) of every purchase: each person's first purchase, then the repeats, person by person."""
    n = people.n
    span = (people.horizon_s - people.t0).astype(np.float64)
    repeat_pool = rng.poisson(people.rate * span / YEAR)  # repeat purchases had they never lapsed
    alive_for = rng.geometric(people.dropout_p)  # purchases made before lapsing (>= 1)
    total = np.minimum(alive_for, 1 + repeat_pool)
    people.has_lapsed = alive_for <= repeat_pool  # lapsed before the horizon
    del alive_for
    # repeat times: sorted uniform order statistics over [t0, horizon], keep the first total-1
    person_pool = np.repeat(np.arange(n), repeat_pool)
    u = rng.random(person_pool.size)
    o = np.argsort(person_pool + u, kind="stable")  # sorts by person, then by time
    person_pool, u = person_pool[o], u[o]
    del o  # the pool arrays are the largest of the run (a repeat per year of horizon): drop each when done
    rank = np.arange(person_pool.size) - np.repeat(np.cumsum(repeat_pool) - repeat_pool, repeat_pool)
    keep = rank < (total - 1)[person_pool]
    del rank
    rp = person_pool[keep]
    del person_pool
    rt = people.t0[rp] + (u[keep] * span[rp]).astype(np.int64)
    del u, keep
    person = np.concatenate([np.arange(n), rp])
    t = np.concatenate([people.t0, rt])
    del rp, rt
    t = (t // DAY) * DAY + _time_of_day(rng, t.size)
    return person, t


def _baskets(spend: np.ndarray, pools: Pools, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(catalogue index, quantity) of up to MAX_LINES lines per purchase, priced around `spend` (pounds)."""
    m = spend.size
    target = rng.gamma(4.0, spend / 4.0) * 100  # pence
    n_lines = 1 + rng.binomial(MAX_LINES - 1, 0.35, size=m)
    qty = 1 + (rng.random((m, MAX_LINES)) < 0.2).astype(np.int64)
    qty[np.arange(MAX_LINES)[None, :] >= n_lines[:, None]] = 0
    del n_lines
    units = qty.sum(axis=1)
    unit_target = (target / units)[:, None] * np.exp(rng.normal(0, 0.35, size=(m, MAX_LINES)))
    del target, units
    sku = np.clip(np.searchsorted(pools.sku_prices, unit_target), 0, len(pools.sku_prices) - 1)
    return sku, qty


def crm_rows(people: People) -> pd.DataFrame:
    """Initial account rows plus a re-sent row for each e-mail change and house move."""
    who = np.flatnonzero(people.has_crm)
    created = people.t0[who] - 600  # account opened a few minutes before the first purchase
    parts = [pd.DataFrame({"t": created, "person": who, "created": created})]
    for change in (people.email_change_t, people.move_t):
        c = who[(change[who] > created) & (change[who] < people.end_s)]
        parts.append(pd.DataFrame({"t": change[c], "person": c, "created": people.t0[c] - 600}))
    df = pd.concat(parts, ignore_index=True)
    df = df[(df["t"] >= people.start_s) & (df["t"] < people.end_s)]
    return _sorted(df)


def web_events(people: People, orders: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Sessions: one before each web order, browsing sessions of account holders, anonymous sessions."""
    # kind: 0 = purchase session (logged in), 1 = browse (maybe logged in), 2 = anonymous
    o = orders[orders["web"]]
    s_person = [o["person"].to_numpy()]
    s_end = [o["t"].to_numpy() - rng.integers(5, 120, size=len(o))]
    s_kind = [np.zeros(len(o), dtype=np.int64)]
    s_sku = [o["sku0"].to_numpy()]

    web = np.flatnonzero(people.has_web)
    stop = np.minimum(people.last_purchase_t[web] + 120 * DAY, people.end_s)
    dur = np.maximum(stop - people.t0[web], 0)
    nb = rng.poisson(1.5 * dur / YEAR)
    bp = np.repeat(web, nb)
    bt = np.repeat(people.t0[web], nb) + (rng.random(bp.size) * np.repeat(dur, nb)).astype(np.int64)
    s_person.append(bp)
    s_end.append(bt)
    s_kind.append(np.ones(bp.size, dtype=np.int64))
    s_sku.append(rng.integers(0, 400, size=bp.size))

    days = (people.end_s - people.start_s) / DAY
    na = int(rng.poisson(0.4 * people.n * days / 365.0))
    s_person.append(np.full(na, -1, dtype=np.int64))
    s_end.append(people.start_s + rng.integers(0, people.end_s - people.start_s, size=na))
    s_kind.append(np.full(na, 2, dtype=np.int64))
    s_sku.append(rng.integers(0, 400, size=na))

    person = np.concatenate(s_person)
    end = np.concatenate(s_end)
    kind = np.concatenate(s_kind)
    sku = np.concatenate(s_sku)
    del s_person, s_end, s_kind, s_sku
    logged_in = (kind == 0) | ((kind == 1) & (rng.random(kind.size) < 0.7))
    n_ev = np.where(kind == 0, 3 + rng.integers(0, 3, size=kind.size), 1 + rng.integers(0, 4, size=kind.size))
    return _session_events(people, person, end, kind, sku, logged_in, n_ev, rng)


def _session_events(
    people: People,
    person: np.ndarray,
    end: np.ndarray,
    kind: np.ndarray,
    sku: np.ndarray,
    logged_in: np.ndarray,
    n_ev: np.ndarray,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """The n_ev events of each session, ending at `end`; temporaries (one value per event) freed as soon as done."""
    sess = np.repeat(np.arange(kind.size), n_ev)
    pos = np.arange(sess.size) - np.repeat(np.cumsum(n_ev) - n_ev, n_ev)
    from_end = np.repeat(n_ev, n_ev) - 1 - pos
    gaps = rng.exponential(45.0, size=sess.size).astype(np.int64) + 3
    # times counted back from the end of the session: the sum of the gaps after each event in its session
    csum = np.cumsum(gaps[::-1])[::-1]  # suffix sums
    tail = np.append(csum, 0)[np.repeat(np.cumsum(n_ev), n_ev)]
    t = end[sess] - (csum - tail - gaps)
    del csum, tail, gaps

    u = rng.random(sess.size)
    etype = np.where(u < 0.35, 0, np.where(u < 0.9, 1, 2)).astype(np.int8)  # page_view, product_view, add_to_cart
    del u
    etype[pos == 0] = 0
    del pos
    k0 = kind[sess] == 0
    etype[k0 & (from_end == 0)] = 3  # checkout
    etype[k0 & (from_end == 1)] = 2
    del k0, from_end
    ev_sku = np.where(etype == 1, rng.integers(0, 400, size=sess.size), sku[sess]).astype(np.int16)
    page = rng.integers(0, 10, size=sess.size).astype(np.int8)
    ev_person = np.where(logged_in[sess], person[sess], -1)

    kept = (t >= people.start_s) & (t < people.end_s)
    columns = {"t": t, "person": ev_person, "session": sess, "etype": etype, "sku": ev_sku, "page": page}
    del t, ev_person, sess, etype, ev_sku, page
    for name in columns:
        columns[name] = columns[name][kept]
    df = _frame_by_time(columns)
    # session numbers in order of first appearance
    first_seen = pd.unique(df["session"].to_numpy())
    renum = np.empty(kind.size, dtype=np.int64)
    renum[first_seen] = np.arange(1, first_seen.size + 1)
    df["session"] = renum[df["session"].to_numpy()]
    df["key"] = np.arange(1, len(df) + 1)
    return df


def calls(people: People, rng: np.random.Generator) -> pd.DataFrame:
    stop = np.minimum(people.last_purchase_t + 180 * DAY, people.end_s)
    dur = np.maximum(stop - people.t0, 0)
    nc = rng.poisson(0.35 * dur / YEAR)
    person = np.repeat(np.arange(people.n), nc)
    day0 = np.repeat(people.t0, nc) + (rng.random(person.size) * np.repeat(dur, nc)).astype(np.int64)
    t = (day0 // DAY) * DAY + rng.integers(8 * 3600, 20 * 3600, size=person.size)
    reason = rng.choice(len(CONTACT_REASON_WEIGHTS), size=person.size, p=CONTACT_REASON_WEIGHTS)
    complaint = rng.random(person.size) < CONTACT_COMPLAINT_P[reason]
    resolved = rng.random(person.size) < np.where(complaint, 0.45, 0.8)
    handling = np.round(np.exp(rng.normal(np.log(320), 0.6, size=person.size)) + np.where(complaint, 240, 0))
    df = pd.DataFrame(
        {
            "t": t,
            "person": person,
            "reason": reason,
            "complaint": complaint,
            "resolved": resolved,
            "handling": handling.astype(np.int64),
        }
    )
    df = _sorted(df[(df["t"] >= people.start_s) & (df["t"] < people.end_s)])
    df["key"] = np.arange(1, len(df) + 1)
    return df


CAMPAIGN_COLUMNS = ("t", "person", "etype", "campaign", "email_t")


def campaign_events(people: People, rng: np.random.Generator) -> pd.DataFrame:
    """Monthly campaigns (5th of the month, 09:00) to a segment of CRM e-mail addresses.

    `email_t` is the send time: the address used is the one the person had then, and the
    campaign's month (its name) is the month of that time.
    """
    start = pd.Timestamp(people.start_s, unit="s")
    months = pd.date_range(start.normalize().replace(day=1), pd.Timestamp(people.end_s, unit="s"), freq="MS")
    unsubscribed = np.zeros(people.n, dtype=bool)
    crm = people.has_crm
    # one list of arrays per column; the largest table of the run, so no per-part DataFrames
    parts: dict[str, list[np.ndarray]] = {c: [] for c in CAMPAIGN_COLUMNS}
    cid = 0
    for month in months:
        send = int((month + pd.Timedelta(days=4, hours=9)).timestamp())
        if send < people.start_s or send >= people.end_s:
            continue
        cid += 1
        lapsed = people.last_purchase_t + 365 * DAY < send
        eligible = crm & (people.t0 - 600 < send) & ~unsubscribed
        target = np.flatnonzero(eligible & (rng.random(people.n) < np.where(lapsed, 0.3, 0.55)))
        k = target.size
        sent_t = send + rng.integers(0, 3600, size=k)
        bounce = rng.random(k) < 0.015
        op = people.open_p[target] * np.where(lapsed[target], 0.4, 1.0)
        opened = ~bounce & (rng.random(k) < op)
        open_t = sent_t + rng.exponential(6 * 3600, size=k).astype(np.int64) + 30
        clicked = opened & (rng.random(k) < 0.2)
        click_t = open_t + rng.exponential(300, size=k).astype(np.int64) + 5
        unsub = ~bounce & (rng.random(k) < 0.006)
        unsub_t = np.where(opened, open_t, sent_t) + rng.integers(20, 600, size=k)
        unsubscribed[target[unsub]] = True
        for etype, mask, tt in (
            (0, np.ones(k, bool), sent_t),
            (1, opened, open_t),
            (2, clicked, click_t),
            (3, unsub, unsub_t),
            (4, bounce, sent_t + 45),
        ):
            rows = int(mask.sum())
            parts["t"].append(tt[mask])
            parts["person"].append(target[mask])
            parts["etype"].append(np.full(rows, etype, dtype=np.int8))
            parts["campaign"].append(np.full(rows, cid, dtype=np.int16))
            parts["email_t"].append(np.full(rows, send, dtype=np.int64))
    columns = {c: _concatenate(parts.pop(c), np.int64) for c in CAMPAIGN_COLUMNS}
    kept = columns["t"] < people.end_s
    for name in columns:
        columns[name] = columns[name][kept]
    df = _frame_by_time(columns)
    df["key"] = np.arange(1, len(df) + 1)
    return df


def _concatenate(arrays: list[np.ndarray], empty_dtype: type) -> np.ndarray:
    return np.concatenate(arrays) if arrays else np.zeros(0, dtype=empty_dtype)


def after_purchases(
    people: People,
    orders: pd.DataFrame,
    rng: np.random.Generator,
    p: float,
    mean_delay_days: float,
    min_price: int = 0,
    pools: Pools | None = None,
) -> pd.DataFrame:
    """Follow-ups (surveys, registrations) of a fraction of the purchases in the landing period."""
    o = orders[orders["t"] < people.end_s]
    sel = rng.random(len(o)) < p
    if min_price and pools is not None:
        sel &= pools.sku_prices[o["sku0"].to_numpy()] >= min_price
    o = o[sel]
    delay = (rng.exponential(mean_delay_days * DAY, size=len(o)) + 3600).astype(np.int64)
    df = pd.DataFrame(
        {
            "t": o["t"].to_numpy() + delay,
            "person": o["person"].to_numpy(),
            "purchase_t": o["t"].to_numpy(),
            "sku": o["sku0"].to_numpy(),
        }
    )
    df = _sorted(df[df["t"] < people.end_s])
    df["key"] = np.arange(1, len(df) + 1)
    return df
