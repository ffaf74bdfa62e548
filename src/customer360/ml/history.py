"""Transaction and touch-point histories: the frames every model in ``ml`` reads, and its time conventions.

A transaction history is a frame with at least the columns ``customer_id``,
``ordered_at`` and ``amount`` (``channel`` and ``item_count`` are optional).
Rows without a customer, a timestamp or an amount are ignored. Every other
row is an order of the customer, whatever its amount: a free item or a fully
discounted order (amount 0) and a refund (amount below 0) are visits like a
paid purchase, so a customer whose orders cost nothing keeps their history
(docs/ml.md, "Who is scored"). Amounts are summed as they are: refunds lower
the money a customer is worth. A touch-point history is a frame with ``customer_id``,
``occurred_at``, ``touchpoint_type`` and ``value`` (the satisfaction score of
a survey response; empty otherwise).

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
REQUIRED_COLUMNS = ("customer_id", "ordered_at", "amount")
TOUCHPOINT_COLUMNS = ("customer_id", "occurred_at", "touchpoint_type", "value")


def to_utc_timestamp(value: date | datetime | str | pd.Timestamp) -> pd.Timestamp:
    """A cutoff as a UTC timestamp; a plain date means its midnight UTC."""
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        return ts.tz_localize("UTC")
    return ts.tz_convert("UTC")


def prepare_transactions(transactions: pd.DataFrame) -> pd.DataFrame:
    """The usable rows of a history, with canonical dtypes.

    Returns a new frame with ``customer_id`` (str), ``ordered_at`` (UTC
    datetime), ``amount`` (float64), ``channel`` (object) and ``item_count``
    (float64); the last two are missing values when the input lacks them.
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
    if "item_count" in transactions.columns:
        items = pd.to_numeric(transactions["item_count"], errors="coerce").astype("float64")
    else:
        items = pd.Series(np.nan, index=transactions.index, dtype="float64")
    frame = pd.DataFrame(
        {
            "customer_id": transactions["customer_id"],
            "ordered_at": ordered_at,
            "amount": amount,
            "channel": channel,
            "item_count": items,
        }
    )
    keep = frame["customer_id"].notna() & frame["ordered_at"].notna() & np.isfinite(frame["amount"])
    frame = frame.loc[keep].copy()
    frame["customer_id"] = frame["customer_id"].astype(str)
    return frame.reset_index(drop=True)


def history_before(transactions: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Prepared rows strictly before the cutoff."""
    tx = prepare_transactions(transactions)
    return tx.loc[tx["ordered_at"] < to_utc_timestamp(cutoff)]


def prepare_touchpoints(touchpoints: pd.DataFrame | None) -> pd.DataFrame:
    """The usable touch-point rows with canonical dtypes (an empty frame for None)."""
    if touchpoints is None:
        return pd.DataFrame(
            {
                "customer_id": pd.Series([], dtype=str),
                "occurred_at": pd.Series([], dtype="datetime64[ns, UTC]"),
                "touchpoint_type": pd.Series([], dtype=str),
                "value": pd.Series([], dtype="float64"),
            }
        )
    missing = [c for c in TOUCHPOINT_COLUMNS[:3] if c not in touchpoints.columns]
    if missing:
        raise ValueError(f"touchpoints lack required columns: {missing}")
    occurred = (
        pd.to_datetime(touchpoints["occurred_at"], utc=True, format="ISO8601")
        if not (pd.api.types.is_datetime64_any_dtype(touchpoints["occurred_at"]))
        else pd.to_datetime(touchpoints["occurred_at"], utc=True)
    )
    value = (
        pd.to_numeric(touchpoints["value"], errors="coerce").astype("float64")
        if "value" in touchpoints.columns
        else pd.Series(np.nan, index=touchpoints.index, dtype="float64")
    )
    frame = pd.DataFrame(
        {
            "customer_id": touchpoints["customer_id"],
            "occurred_at": occurred,
            "touchpoint_type": touchpoints["touchpoint_type"].astype("object"),
            "value": value,
        }
    )
    frame = frame.loc[frame["customer_id"].notna() & frame["occurred_at"].notna()].copy()
    frame["customer_id"] = frame["customer_id"].astype(str)
    return frame.reset_index(drop=True)
