"""Identity resolution: rules, guards and stable ids, on small hand-made records."""

from datetime import datetime, timezone
from itertools import count

import pandas as pd
import pytest

from identity.resolve import assign_customer_ids, cluster_records, resolve_identities

COLUMNS = [
    "source", "source_record_key", "account_id", "loyalty_id", "web_account_id",
    "email_normalised", "phone_normalised", "first_name_normalised", "last_name_normalised",
]


def records(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame([{c: r.get(c) for c in COLUMNS} for r in rows], dtype="object")


def fresh_ids():
    n = count(100)
    return lambda k: [f"C{next(n):09d}" for _ in range(k)]


JOHN_CRM = dict(source="crm_accounts", source_record_key="A1", account_id="A1", loyalty_id="L1",
                email_normalised="john.smith@x.com", phone_normalised="+447700900123",
                first_name_normalised="john", last_name_normalised="smith")
JOHN_TILL = dict(source="pos_transactions", source_record_key="L1", loyalty_id="L1")
JOHN_WEB = dict(source="web_orders", source_record_key="W1", web_account_id="W1",
                email_normalised="john.smith@x.com", first_name_normalised="j", last_name_normalised="smith")
JOHN_CALL = dict(source="call_center_contacts", source_record_key="K1", phone_normalised="+447700900123",
                 first_name_normalised="j", last_name_normalised="smith")
MOTHER_SAME_PHONE = dict(source="call_center_contacts", source_record_key="K2", phone_normalised="+447700900123",
                         first_name_normalised="mary", last_name_normalised="smith")
OTHER_JOHN = dict(source="crm_accounts", source_record_key="A2", account_id="A2",
                  email_normalised="jsmith@y.com", first_name_normalised="john", last_name_normalised="smith")


def test_records_sharing_strong_keys_form_one_cluster_and_name_the_rule():
    frame = records(JOHN_CRM, JOHN_TILL, JOHN_WEB, JOHN_CALL)
    labels, matched_by, links = cluster_records(frame)
    assert len(set(labels)) == 1
    assert matched_by.tolist() == ["same_loyalty_card", "same_loyalty_card", "same_email", "same_phone_and_name"]
    assert links["same_email"] == 1


def test_shared_phone_alone_and_shared_name_alone_do_not_merge():
    frame = records(JOHN_CRM, MOTHER_SAME_PHONE, OTHER_JOHN)
    labels, matched_by, _ = cluster_records(frame)
    assert len(set(labels)) == 3
    assert set(matched_by) == {"singleton"}


def test_ids_are_stable_and_merges_keep_the_oldest_id():
    frame = records(JOHN_CRM, JOHN_WEB, OTHER_JOHN)
    labels, _, _ = cluster_records(frame)
    first, history = assign_customer_ids(frame, labels, pd.DataFrame(columns=["source", "source_record_key", "customer_id"]), fresh_ids())
    assert history == []
    previous = frame[["source", "source_record_key"]].assign(customer_id=first.to_numpy())
    again, history = assign_customer_ids(frame, labels, previous, fresh_ids())
    assert again.tolist() == first.tolist() and history == []

    # The till card arrives and a steward-free rule now joins both Johns' ids? No: only John's records.
    # Simulate a merge: the other John's record gets John's loyalty card.
    merged_frame = records(JOHN_CRM, JOHN_WEB, dict(OTHER_JOHN, loyalty_id="L1"))
    labels, _, _ = cluster_records(merged_frame)
    merged, history = assign_customer_ids(merged_frame, labels, previous, fresh_ids())
    oldest = min(first)
    assert set(merged) == {oldest}
    assert history == [(max(first), oldest, "merge")]


def test_a_split_keeps_the_id_on_the_larger_part_and_gives_the_rest_a_new_id():
    frame = records(JOHN_CRM, JOHN_WEB, JOHN_CALL)
    previous = frame[["source", "source_record_key"]].assign(customer_id="C000000001")
    split_frame = records(JOHN_CRM, JOHN_WEB, dict(JOHN_CALL, last_name_normalised="smythe"))
    labels, _, _ = cluster_records(split_frame)
    ids, history = assign_customer_ids(split_frame, labels, previous, fresh_ids())
    assert ids.tolist()[:2] == ["C000000001", "C000000001"]
    assert ids.tolist()[2] == "C000000100"
    assert history == [("C000000001", "C000000100", "split")]


def test_resolution_in_the_warehouse_is_rerunnable(warehouse_settings):
    from warehouse.db import connect

    frame = records(JOHN_CRM, JOHN_TILL, JOHN_WEB, OTHER_JOHN)
    with connect(warehouse_settings) as conn:
        conn.execute(
            "create table intermediate.int_source_records (" + ", ".join(f"{c} text" for c in COLUMNS) + ")"
        )
        with conn.cursor().copy(f"copy intermediate.int_source_records ({', '.join(COLUMNS)}) from stdin") as copy:
            for row in frame.itertuples(index=False):
                copy.write_row(row)
        conn.commit()
    as_of = datetime(2025, 1, 1, tzinfo=timezone.utc)
    first = resolve_identities(warehouse_settings, "run-1", as_of)
    second = resolve_identities(warehouse_settings, "run-2", as_of)
    assert (first.records, first.customers, first.new_customers) == (4, 2, 2)
    assert (second.customers, second.new_customers, second.merged_ids) == (2, 0, 0)
    with connect(warehouse_settings) as conn:
        rows = conn.execute(
            "select customer_id, count(*) from identity.customer_source_xref group by 1 order by 1"
        ).fetchall()
    assert [n for _, n in rows] == [3, 1]
