"""Customer features and churn labels from any transaction history.

A transaction history is a frame with at least the columns
``customer_id``, ``ordered_at`` and ``amount`` (``channel`` is optional).
Rows without a customer, with a missing timestamp or with a non-positive
amount are ignored.

Time conventions (used by every module in ``ml``):

* timestamps are compared in UTC; naive timestamps are taken to be UTC;
* a *cutoff* is an instant. History "as of" the cutoff is every row with
  ``ordered_at < cutoff``; the label window of horizon H is the half-open
  interval ``[cutoff, cutoff + H)``;
* a cutoff *date* D means the instant D 00:00 UTC, so orders placed on D
  itself are not yet history.

All functions are pure: they never modify their input.
"""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd

SECONDS_PER_DAY = 86_400.0
RECENT_WINDOW_DAYS = 90
YEAR_WINDOW_DAYS = 365

FEATURE_COLUMNS: tuple[str, ...] = (
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
)

REQUIRED_COLUMNS = ("customer_id", "ordered_at", "amount")


def to_utc_timestamp(value: date | datetime | str | pd.Timestamp) -> pd.Timestamp:
    """A cutoff as a UTC timestamp; a plain date means its midnight UTC."""
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        return ts.tz_localize("UTC")
    return ts.tz_convert("UTC")


def prepare_transactions(transactions: pd.DataFrame) -> pd.DataFrame:
    """The usable rows of a history, with canonical dtypes.

    Returns a new frame with ``customer_id`` (str), ``ordered_at`` (UTC
    datetime), ``amount`` (float64) and ``channel`` (object; missing values
    when the input has no channel column).
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in transactions.columns]
    if missing:
        raise ValueError(f"transactions lack required columns: {missing}")
    raw_time = transactions["ordered_at"]
    if pd.api.types.is_datetime64_any_dtype(raw_time):
        ordered_at = pd.to_datetime(raw_time, utc=True)
    else:
        ordered_at = pd.to_datetime(raw_time, utc=True, format="ISO8601")
    amount = pd.to_numeric(transactions["amount"], errors="coerce").astype("float64")
    if "channel" in transactions.columns:
        channel = transactions["channel"].astype("object")
    else:
        channel = pd.Series(None, index=transactions.index, dtype="object")
    frame = pd.DataFrame(
        {
            "customer_id": transactions["customer_id"],
            "ordered_at": ordered_at,
            "amount": amount,
            "channel": channel,
        }
    )
    keep = frame["customer_id"].notna() & frame["ordered_at"].notna() & (frame["amount"] > 0)
    frame = frame.loc[keep].copy()
    frame["customer_id"] = frame["customer_id"].astype(str)
    return frame.reset_index(drop=True)


def history_before(transactions: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Prepared rows strictly before the cutoff."""
    tx = prepare_transactions(transactions)
    return tx.loc[tx["ordered_at"] < to_utc_timestamp(cutoff)]


def _days_between(later: pd.Timestamp | pd.Series, earlier: pd.Series) -> pd.Series:
    return (later - earlier).dt.total_seconds() / SECONDS_PER_DAY


def build_features(transactions: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """One row per customer with a purchase before ``cutoff``; columns FEATURE_COLUMNS.

    Only rows with ``ordered_at < cutoff`` are read, so appending later
    purchases never changes the result. ``mean_interpurchase_days`` and
    ``recency_ratio`` are NaN for one-order customers; ``web_share`` is NaN
    when the history has no channel information.
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
        },
        index=frequency.index,
    )
    features.index.name = "customer_id"
    return features.loc[:, list(FEATURE_COLUMNS)].astype("float64")


def churn_labels(transactions: pd.DataFrame, cutoff: pd.Timestamp, horizon_days: int) -> pd.Series:
    """1 if a customer with a purchase before ``cutoff`` buys nothing in [cutoff, cutoff + H), else 0.

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
