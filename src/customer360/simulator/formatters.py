"""Turn a chunk of an event table into the string columns of its landing contract.

Every formatter returns {column: object array} with exactly the contract's columns;
None marks a missing value (empty in csv, null in jsonl/parquet).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from customer360.simulator.messy import apply_typos, caller_names, email_variant, first_name_variant, obj, phone_format
from customer360.simulator.pools import CAMPAIGN_THEMES, CONTACT_REASONS, PAGE_PATHS, SURVEY_COMMENTS, Pools
from customer360.simulator.population import People, fmt_ids

Columns = dict[str, np.ndarray]


def ts(t: np.ndarray) -> np.ndarray:
    """Epoch seconds -> '2024-03-01T10:15:00Z'."""
    s = np.datetime_as_string(np.asarray(t, dtype=np.int64).astype("datetime64[s]"), unit="s")
    return obj(np.char.add(s, "Z"))


def dates(t: np.ndarray) -> np.ndarray:
    return obj(np.datetime_as_string(np.asarray(t, dtype=np.int64).astype("datetime64[s]").astype("datetime64[D]")))


def money(pence: np.ndarray) -> np.ndarray:
    p = np.asarray(pence, dtype=np.int64)
    pounds = (p // 100).astype(str)
    cents = np.char.zfill((p % 100).astype(str), 2)
    return obj(np.char.add(np.char.add(pounds, "."), cents))


def blank(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = np.asarray(values, dtype=object).copy()
    out[mask] = None
    return out


def none_if_empty(values: np.ndarray) -> np.ndarray:
    out = np.asarray(values, dtype=object).copy()
    out[out == ""] = None
    return out


def skus(idx: np.ndarray) -> np.ndarray:
    return fmt_ids("SKU", np.asarray(idx) + 1, 4)


def items(df: pd.DataFrame) -> np.ndarray:
    parts = []
    for j in range(3):
        q = df[f"qty{j}"].to_numpy()
        s = np.char.add(np.char.add(skus(df[f"sku{j}"].to_numpy()).astype(str), "*"), q.astype(str))
        parts.append(np.where(q > 0, s, ""))
    out = parts[0]
    for p in parts[1:]:
        out = np.where(p != "", np.char.add(np.char.add(out, "|"), p), out)
    return obj(out)


def campaign_names(send_t: np.ndarray) -> np.ndarray:
    """'<theme of the month> <year>' of each send time; one string per campaign, shared by its rows."""
    months, row_month = np.unique(
        np.asarray(send_t, dtype=np.int64).astype("datetime64[s]").astype("datetime64[M]").astype(np.int64),
        return_inverse=True,
    )
    names = obj([f"{CAMPAIGN_THEMES[m % 12]} {1970 + m // 12}" for m in months])  # months since 1970-01
    return names[row_month.reshape(-1)]


class Formatters:
    def __init__(self, people: People, pools: Pools, seed: int) -> None:
        self.p = people
        self.pools = pools
        self.seed = seed

    def rng(self, source: str, chunk: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, 7, sum(map(ord, source)), chunk])

    def get(self, source: str) -> Callable[[pd.DataFrame, np.random.Generator], Columns]:
        return getattr(self, source)

    # --- sources -----------------------------------------------------------------------------
    def crm_accounts(self, df: pd.DataFrame, rng: np.random.Generator) -> Columns:
        p, i, t = self.p, df["person"].to_numpy(), df["t"].to_numpy()
        n = len(i)
        street, city, pc = p.address_at(i, t)
        # the CRM keeps its phones in one format per account
        fmt_rng = np.random.default_rng([self.seed, 8])
        phone_kind = fmt_rng.random(p.n) < 0.9
        phone = np.where(phone_kind[i], obj([f"{d[:5]} {d[5:]}" for d in p.phone[i]]), p.phone[i])
        dob = obj(np.datetime_as_string(p.dob[i]))
        return {
            "account_id": p.account_id(i),
            "title": none_if_empty(p.title[i]),
            "first_name": p.crm_first[i],
            "last_name": p.crm_last[i],
            "email": p.email_at(i, t),
            "phone": blank(phone, (i % 19) == 3),  # some accounts never gave a phone
            "date_of_birth": blank(dob, (i % 7) == 2),
            "street_address": street,
            "city": city,
            "postcode": pc,
            "country": obj(np.full(n, "GB")),
            "loyalty_id": blank(p.loyalty_id(i), ~p.has_card[i]),
            "created_at": ts(df["created"].to_numpy()),
            "updated_at": ts(t),
        }

    def pos_transactions(self, df: pd.DataFrame, rng: np.random.Generator) -> Columns:
        p, i = self.p, df["person"].to_numpy()
        n = len(i)
        presents = p.has_card[i] & (rng.random(n) < 0.85)
        store = np.where(rng.random(n) < 0.85, p.home_store[i], rng.integers(1, 61, size=n))
        return {
            "transaction_id": fmt_ids("T", df["key"].to_numpy(), 9),
            "loyalty_id": blank(p.loyalty_id(i), ~presents),
            "store_id": fmt_ids("S", store, 3),
            "transaction_at": ts(df["t"].to_numpy()),
            "amount": money(df["amount"].to_numpy()),
            "currency": obj(np.full(n, "GBP")),
            "items": items(df),
        }

    def web_orders(self, df: pd.DataFrame, rng: np.random.Generator) -> Columns:
        p, i, t = self.p, df["person"].to_numpy(), df["t"].to_numpy()
        n = len(i)
        street, city, pc = p.address_at(i, t)
        gift = rng.random(n) < 0.05
        if gift.any():
            g = rng.integers(0, p.n, size=int(gift.sum()))
            street[gift], city[gift], pc[gift] = p.street[g, 0], p.city[g, 0], p.postcode[g, 0]
        first = first_name_variant(p.first[i], rng, p_nick=0.06, p_initial=0.08, p_typo=0.01, p_case=0.03)
        last = apply_typos(p.last[i], rng.random(n) < 0.01, rng)
        phone = phone_format(p.mobile[i], rng)
        return {
            "order_id": fmt_ids("O", df["key"].to_numpy(), 8),
            "web_account_id": p.web_id(i),
            "email": email_variant(p.email_at(i, t), rng, 0.15),
            "first_name": first,
            "last_name": last,
            "phone": blank(phone, rng.random(n) < 0.3),
            "shipping_street": street,
            "shipping_city": city,
            "shipping_postcode": pc,
            "country": obj(np.full(n, "GB")),
            "ordered_at": ts(t),
            "amount": money(df["amount"].to_numpy()),
            "currency": obj(np.full(n, "GBP")),
            "items": items(df),
        }

    def web_events(self, df: pd.DataFrame, rng: np.random.Generator) -> Columns:
        i = df["person"].to_numpy()
        etype = df["etype"].to_numpy()
        sku = skus(df["sku"].to_numpy())
        product = (etype == 1) | (etype == 2)
        url = np.where(
            product,
            np.char.add("/product/", sku.astype(str)),
            np.where(etype == 3, "/checkout", PAGE_PATHS[df["page"].to_numpy()]),
        )
        web = np.where(i >= 0, self.p.web_id(np.maximum(i, 0)), None)
        return {
            "event_id": fmt_ids("E", df["key"].to_numpy(), 10),
            "session_id": fmt_ids("WS", df["session"].to_numpy(), 9),
            "web_account_id": obj(web),
            "event_type": obj(np.array(["page_view", "product_view", "add_to_cart", "checkout"])[etype]),
            "page_url": obj(url),
            "product_sku": blank(sku, ~product),
            "occurred_at": ts(df["t"].to_numpy()),
        }

    def call_center_contacts(self, df: pd.DataFrame, rng: np.random.Generator) -> Columns:
        p, i, t = self.p, df["person"].to_numpy(), df["t"].to_numpy()
        n = len(i)
        number = np.where(rng.random(n) < 0.6, p.phone[i], p.mobile[i])
        _, _, pc = p.address_at(i, t)
        pc_u = rng.random(n)
        pc = np.where(
            pc_u < 0.15, obj([s.lower() for s in pc]), np.where(pc_u < 0.3, obj([s.replace(" ", "") for s in pc]), pc)
        )
        bools = np.array(["false", "true"], dtype=object)
        return {
            "contact_id": fmt_ids("CC", df["key"].to_numpy(), 8),
            "account_id": blank(p.account_id(i), ~(p.has_crm[i] & (rng.random(n) < 0.5))),
            "caller_name": caller_names(p.title[i], p.first[i], p.last[i], rng),
            "phone": blank(phone_format(number, rng, p_plain=0.2), rng.random(n) < 0.08),
            "postcode": blank(obj(pc), rng.random(n) < 0.45),
            "contact_reason": obj(CONTACT_REASONS[df["reason"].to_numpy()]),
            "is_complaint": bools[df["complaint"].to_numpy().astype(int)],
            "is_resolved_first_time": bools[df["resolved"].to_numpy().astype(int)],
            "handling_seconds": obj(df["handling"].to_numpy().astype(str)),
            "contacted_at": ts(t),
        }

    def email_campaign_events(self, df: pd.DataFrame, rng: np.random.Generator) -> Columns:
        p, i = self.p, df["person"].to_numpy()
        return {
            "event_id": fmt_ids("M", df["key"].to_numpy(), 10),
            "campaign_id": fmt_ids("C", df["campaign"].to_numpy(), 3),
            "campaign_name": campaign_names(df["email_t"].to_numpy()),
            "email": p.email_at(i, df["email_t"].to_numpy()),
            "event_type": obj(np.array(["sent", "open", "click", "unsubscribe", "bounce"])[df["etype"].to_numpy()]),
            "occurred_at": ts(df["t"].to_numpy()),
        }

    def surveys(self, df: pd.DataFrame, rng: np.random.Generator) -> Columns:
        p, i, t = self.p, df["person"].to_numpy(), df["t"].to_numpy()
        n = len(i)
        sat = np.clip(np.round(p.satisfaction[i] + rng.normal(0, 0.7, size=n)), 1, 5).astype(np.int64)
        rec = np.clip(np.round(sat * 2 - 1 + rng.normal(0, 1.3, size=n)), 0, 10).astype(np.int64)
        pick = rng.integers(0, 4, size=n)
        comment = obj([SURVEY_COMMENTS[s][k] for s, k in zip(sat, pick)])
        return {
            "response_id": fmt_ids("R", df["key"].to_numpy(), 8),
            "email": blank(email_variant(p.email_at(i, t), rng, 0.1), rng.random(n) < 0.1),
            "respondent_name": blank(caller_names(p.title[i], p.first[i], p.last[i], rng), rng.random(n) < 0.15),
            "satisfaction_score": obj(sat.astype(str)),
            "recommend_score": blank(obj(rec.astype(str)), rng.random(n) < 0.05),
            "comment": blank(comment, rng.random(n) < 0.4),
            "responded_at": ts(t),
        }

    def product_registrations(self, df: pd.DataFrame, rng: np.random.Generator) -> Columns:
        p, i, t = self.p, df["person"].to_numpy(), df["t"].to_numpy()
        n = len(i)
        _, _, pc = p.address_at(i, t)
        u = rng.random(n)
        no_email, no_phone = u < 0.25, (u >= 0.25) & (u < 0.65)
        serial = obj(["SN" + format(int(x), "010X") for x in rng.integers(0, 16**10, size=n)])
        return {
            "registration_id": fmt_ids("PR", df["key"].to_numpy(), 8),
            "product_sku": skus(df["sku"].to_numpy()),
            "serial_number": serial,
            "first_name": first_name_variant(p.first[i], rng, p_nick=0.1, p_initial=0.03, p_typo=0.02),
            "last_name": apply_typos(p.last[i], rng.random(n) < 0.02, rng),
            "email": blank(email_variant(p.email_at(i, t), rng, 0.1), no_email),
            "phone": blank(phone_format(p.mobile[i], rng), no_phone),
            "postcode": blank(pc, rng.random(n) < 0.1),
            "purchase_date": blank(dates(df["purchase_t"].to_numpy()), rng.random(n) < 0.05),
            "registered_at": ts(t),
        }
