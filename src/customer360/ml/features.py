"""Customer features and churn labels from any transaction history (customer360.ml.history).

Transaction features come from the orders before the cutoff; the optional
touch points add service, survey, campaign and product-registration
features. The types read are the constants ``SERVICE_TYPES``,
``COMPLAINT_TYPE``, ``SURVEY_TYPE``, ``EMAIL_SENT_TYPE``,
``EMAIL_ENGAGED_TYPES``, ``REGISTRATION_TYPE`` and the ``WEB_PREFIX``
family; other types are ignored. Without touch points those features are 0
(counts) or NaN (rates, means).

All functions are pure: they never modify their input.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from customer360.ml.clv import btyd_features
from customer360.ml.history import (
    SECONDS_PER_DAY,
    history_before,
    prepare_touchpoints,
    prepare_transactions,
    to_utc_timestamp,
)

RECENT_WINDOW_DAYS = 90
YEAR_WINDOW_DAYS = 365

TRANSACTION_FEATURES: tuple[str, ...] = (
    "recency_days",
    "frequency",
    "purchase_days",
    "monetary_total",
    "monetary_mean",
    "monetary_max",
    "tenure_days",
    "mean_interpurchase_days",
    "recency_ratio",
    "web_share",
    "orders_last_90d",
    "revenue_last_90d",
    "orders_last_365d",
    "revenue_last_365d",
    "items_per_order",
    "bgnbd_p_alive",
    "bgnbd_expected_purchases_90d",
)
TOUCHPOINT_FEATURES: tuple[str, ...] = (
    "service_contacts",
    "complaints",
    "satisfaction_mean",
    "campaign_emails",
    "campaign_engagement_rate",
    "web_events_last_90d",
    "product_registrations",
)
FEATURE_COLUMNS: tuple[str, ...] = TRANSACTION_FEATURES + TOUCHPOINT_FEATURES

SERVICE_TYPES = ("service_call", "complaint")
COMPLAINT_TYPE = "complaint"
SURVEY_TYPE = "survey_response"
EMAIL_SENT_TYPE = "email_sent"
EMAIL_ENGAGED_TYPES = ("email_open", "email_click")
REGISTRATION_TYPE = "product_registration"
WEB_PREFIX = "web_"


def _days_between(later: pd.Timestamp | pd.Series, earlier: pd.Series) -> pd.Series:
    return (later - earlier).dt.total_seconds() / SECONDS_PER_DAY


def touchpoint_features(touchpoints: pd.DataFrame | None, cutoff: pd.Timestamp, customers: pd.Index) -> pd.DataFrame:
    """TOUCHPOINT_FEATURES for ``customers`` from touch points strictly before ``cutoff``."""
    cut = to_utc_timestamp(cutoff)
    tp = prepare_touchpoints(touchpoints)
    tp = tp.loc[(tp["occurred_at"] < cut) & tp["customer_id"].isin(customers)]
    kind = tp["touchpoint_type"].astype(str)

    def count(mask: pd.Series) -> pd.Series:
        return tp.loc[mask].groupby("customer_id").size().reindex(customers, fill_value=0).astype("float64")

    surveys = tp.loc[(kind == SURVEY_TYPE) & tp["value"].notna()]
    sent = count(kind == EMAIL_SENT_TYPE)
    engaged = count(kind.isin(EMAIL_ENGAGED_TYPES))
    recent = tp["occurred_at"] >= cut - pd.Timedelta(days=RECENT_WINDOW_DAYS)
    out = pd.DataFrame(
        {
            "service_contacts": count(kind.isin(SERVICE_TYPES)),
            "complaints": count(kind == COMPLAINT_TYPE),
            "satisfaction_mean": surveys.groupby("customer_id")["value"].mean().reindex(customers),
            "campaign_emails": sent,
            "campaign_engagement_rate": (engaged / sent.where(sent > 0)).clip(upper=1.0),
            "web_events_last_90d": count(kind.str.startswith(WEB_PREFIX) & recent),
            "product_registrations": count(kind == REGISTRATION_TYPE),
        },
        index=customers,
    )
    return out.astype("float64")


def build_features(
    transactions: pd.DataFrame, cutoff: pd.Timestamp, touchpoints: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per customer with an order before ``cutoff``, whatever it cost; columns FEATURE_COLUMNS.

    Monetary columns sum the amounts as they are: free orders add 0 and refunds subtract.

    Only rows with ``ordered_at < cutoff`` (and touch points with
    ``occurred_at < cutoff``) are read, so appending later rows never
    changes the result. ``mean_interpurchase_days`` and ``recency_ratio``
    are NaN for one-order customers; ``web_share`` is NaN when the history
    has no channel information, ``items_per_order`` when it has no item
    counts.
    """
    cut = to_utc_timestamp(cutoff)
    tx = history_before(transactions, cut)
    if tx.empty:
        empty = pd.DataFrame(columns=list(FEATURE_COLUMNS), dtype="float64")
        empty.index = pd.Index([], name="customer_id", dtype=str)
        return empty

    by_customer = tx.groupby("customer_id", sort=True)
    first = by_customer["ordered_at"].min()
    last = by_customer["ordered_at"].max()
    frequency = by_customer.size().astype("float64")
    total = by_customer["amount"].sum()

    tenure = _days_between(cut, first)
    recency = _days_between(cut, last)
    span = _days_between(last, first)
    interpurchase = (span / (frequency - 1)).where(frequency > 1)
    # a repeat customer whose orders share one instant has no measurable gap
    recency_ratio = (recency / interpurchase.where(interpurchase > 0)).where(frequency > 1)

    days = tx["ordered_at"].dt.floor("D")
    purchase_days = days.groupby(tx["customer_id"]).nunique().astype("float64")

    channel = tx["channel"]
    if channel.notna().any():
        is_web = (channel.astype(str).str.lower() == "web").where(channel.notna())
        web_share = is_web.astype("float64").groupby(tx["customer_id"]).mean()
    else:
        web_share = pd.Series(np.nan, index=frequency.index)

    def window(days_back: int) -> tuple[pd.Series, pd.Series]:
        recent = tx.loc[tx["ordered_at"] >= cut - pd.Timedelta(days=days_back)]
        g = recent.groupby("customer_id")["amount"]
        count = g.size().reindex(frequency.index, fill_value=0).astype("float64")
        revenue = g.sum().reindex(frequency.index, fill_value=0.0)
        return count, revenue

    orders_90, revenue_90 = window(RECENT_WINDOW_DAYS)
    orders_365, revenue_365 = window(YEAR_WINDOW_DAYS)

    features = pd.DataFrame(
        {
            "recency_days": recency,
            "frequency": frequency,
            "purchase_days": purchase_days,
            "monetary_total": total,
            "monetary_mean": total / frequency,
            "monetary_max": by_customer["amount"].max(),
            "tenure_days": tenure,
            "mean_interpurchase_days": interpurchase,
            "recency_ratio": recency_ratio,
            "web_share": web_share,
            "orders_last_90d": orders_90,
            "revenue_last_90d": revenue_90,
            "orders_last_365d": orders_365,
            "revenue_last_365d": revenue_365,
            "items_per_order": by_customer["item_count"].mean(),
        },
        index=frequency.index,
    )
    features = features.join(btyd_features(tx, cut, float(RECENT_WINDOW_DAYS)))
    features = features.join(touchpoint_features(touchpoints, cut, frequency.index))
    features.index.name = "customer_id"
    return features.loc[:, list(FEATURE_COLUMNS)].astype("float64")


def horizon_outcomes(transactions: pd.DataFrame, cutoff: pd.Timestamp, horizon_days: int) -> pd.DataFrame:
    """What each customer with an order before ``cutoff`` did in [cutoff, cutoff + H).

    Columns: ``purchases`` (purchase days, the unit of the BG/NBD model),
    ``orders`` and ``revenue`` (net of refunds, floored at 0: the learned
    model's Poisson loss needs outcomes of 0 or more, and a customer cannot be
    expected to pay less than nothing). Indexed by customer_id (sorted).
    """
    if horizon_days <= 0:
        raise ValueError("horizon_days must be positive")
    cut = to_utc_timestamp(cutoff)
    tx = prepare_transactions(transactions)
    customers = pd.Index(
        np.sort(tx.loc[tx["ordered_at"] < cut, "customer_id"].unique().astype(str)), name="customer_id", dtype=str
    )
    end = cut + pd.Timedelta(days=horizon_days)
    window = tx.loc[(tx["ordered_at"] >= cut) & (tx["ordered_at"] < end) & tx["customer_id"].isin(customers)]
    g = window.assign(day=window["ordered_at"].dt.floor("D")).groupby("customer_id")
    return pd.DataFrame(
        {
            "purchases": g["day"].nunique().reindex(customers, fill_value=0).astype("float64"),
            "orders": g.size().reindex(customers, fill_value=0).astype("float64"),
            "revenue": g["amount"].sum().reindex(customers, fill_value=0.0).clip(lower=0.0).astype("float64"),
        },
        index=customers,
    )


def churn_labels(transactions: pd.DataFrame, cutoff: pd.Timestamp, horizon_days: int) -> pd.Series:
    """1 if a customer with an order before ``cutoff`` places none in [cutoff, cutoff + H), else 0.

    Indexed by customer_id (sorted), named ``churned``; customers whose first
    purchase falls inside the window are not labelled.
    """
    if horizon_days <= 0:
        raise ValueError("horizon_days must be positive")
    cut = to_utc_timestamp(cutoff)
    tx = prepare_transactions(transactions)
    before = tx.loc[tx["ordered_at"] < cut, "customer_id"].unique()
    end = cut + pd.Timedelta(days=horizon_days)
    active = tx.loc[(tx["ordered_at"] >= cut) & (tx["ordered_at"] < end), "customer_id"].unique()
    customers = pd.Index(np.sort(before.astype(str)), name="customer_id", dtype=str)
    churned = (~customers.isin(active)).astype("int64")
    return pd.Series(churned, index=customers, name="churned")


def labelled_snapshots(
    transactions: pd.DataFrame,
    cutoffs: list[pd.Timestamp],
    horizon_days: int,
    touchpoints: pd.DataFrame | None = None,
    cache: dict | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stacked (features, outcomes) for each snapshot cutoff; empty snapshots are skipped.

    Outcomes have ``churned`` (int) plus the columns of ``horizon_outcomes``.
    Rows are indexed by (snapshot cutoff, customer_id). Each snapshot reads
    only rows before its own cutoff for features, and the H days after it
    for outcomes. ``cache`` (a dict the caller keeps for one history) lets
    several models share snapshots instead of rebuilding them.
    """
    tx = prepare_transactions(transactions)
    tp = prepare_touchpoints(touchpoints)
    frames, outcomes = [], []
    for c in cutoffs:
        key_ = (to_utc_timestamp(c), horizon_days)
        if cache is not None and key_ in cache:
            feats, y = cache[key_]
        else:
            feats = build_features(tx, c, tp)
            y = horizon_outcomes(tx, c, horizon_days).reindex(feats.index)
            y.insert(0, "churned", (y["purchases"] == 0).astype("int64"))
            if cache is not None:
                cache[key_] = (feats, y)
        if feats.empty:
            continue
        key = pd.MultiIndex.from_arrays([[c] * len(feats), feats.index], names=["snapshot", "customer_id"])
        frames.append(feats.set_axis(key))
        outcomes.append(y.set_axis(key))
    if not frames:
        empty = pd.DataFrame(columns=list(FEATURE_COLUMNS), dtype="float64")
        no_outcomes = {"churned": pd.Series([], dtype="int64"), "purchases": [], "orders": [], "revenue": []}
        return empty, pd.DataFrame(no_outcomes)
    return pd.concat(frames), pd.concat(outcomes)


def informative_columns(features: pd.DataFrame) -> tuple[str, ...]:
    """FEATURE_COLUMNS that are not entirely missing or constant (e.g. no touch points at all)."""
    keep = []
    for column in FEATURE_COLUMNS:
        values = features[column]
        if values.notna().any() and values.nunique(dropna=False) > 1:
            keep.append(column)
    return tuple(keep)
