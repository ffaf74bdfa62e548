"""Identity resolution: rules, over-merge guards, steward decisions and stable ids (no database;
the warehouse runs are in tests/db/test_identity.py)."""

import json
from itertools import count

import pandas as pd
import pytest

from customer360.identity.ids import assign_customer_ids
from customer360.identity.resolve import MatchSettings, match_records
from tests.support.identity_records import (
    JOHN_CRM,
    JOHN_TILL,
    JOHN_WEB,
    OTHER_JOHN,
    SON_SAME_PHONE,
    records,
    synthetic_people,
)

RULES_ONLY = MatchSettings(max_cluster_size=50)


def clusters(frame: pd.DataFrame, params: MatchSettings = RULES_ONLY, **kwargs):
    result = match_records(frame, params, probabilistic=False, **kwargs)
    return result, result.clustering.labels.tolist()


def fresh_ids():
    n = count(100)
    return lambda k: [f"C{next(n):09d}" for _ in range(k)]


NO_PREVIOUS = pd.DataFrame(columns=["source", "source_record_key", "customer_id"])
JOHN_CALL = dict(
    source="call_center_contacts",
    source_record_key="K1",
    phone_normalised="+447700900123",
    first_name_normalised="john",
    last_name_normalised="smith",
)
OLD_CAMPAIGN = dict(source="email_campaign_events", source_record_key="js@old.com", email_normalised="js@old.com")


def test_records_sharing_strong_keys_form_one_cluster_and_name_the_rule():
    frame = records(
        dict(JOHN_CRM, previous_email_normalised="js@old.com"), JOHN_TILL, JOHN_WEB, JOHN_CALL, OLD_CAMPAIGN
    )
    result, labels = clusters(frame)
    assert len(set(labels)) == 1
    assert result.clustering.matched_by == [
        "same_loyalty_card",
        "same_loyalty_card",
        "same_email",
        "same_phone_and_name",
        "same_email",
    ]


def test_a_shared_household_phone_and_address_or_a_shared_name_never_merge():
    _, labels = clusters(records(JOHN_CRM, SON_SAME_PHONE, OTHER_JOHN))
    assert len(set(labels)) == 3


def test_conflicting_guarded_keys_are_held_for_review_not_merged():
    # Another John, born another day, shares John's e-mail (a typo, a shared inbox).
    frame = records(JOHN_CRM, dict(OTHER_JOHN, email_normalised="john.smith@x.com"), JOHN_WEB)
    result, labels = clusters(frame)
    assert labels[0] != labels[1]
    held = result.review.iloc[0]
    assert (held.reason, held.rule) == ("conflicting_date_of_birth", "same_email")
    assert {held.left, held.right} in ({0, 1}, {1, 2})
    # The till declares one loyalty card per member: two cards on one e-mail are two people.
    cards = records(
        dict(JOHN_CRM, date_of_birth=None),
        dict(OTHER_JOHN, loyalty_id="L2", date_of_birth=None, email_normalised="john.smith@x.com"),
    )
    result, labels = clusters(cards)
    assert labels[0] != labels[1]
    assert result.review.iloc[0].reason == "conflicting_loyalty_id"


def test_duplicate_accounts_of_one_person_inside_one_source_merge():
    """A CRM does not promise one account per person: two accounts of John (one e-mail, no other
    conflict) are one customer, and so are two web shop accounts on one e-mail."""
    second_account = dict(JOHN_CRM, source_record_key="A7", account_id="A7", loyalty_id=None)
    second_web = dict(JOHN_WEB, source_record_key="W7", web_account_id="W7")
    result, labels = clusters(records(JOHN_CRM, second_account, JOHN_WEB, second_web))
    assert len(set(labels)) == 1
    assert result.review.empty


def test_only_keys_a_source_declares_unique_per_person_veto_a_merge():
    from dataclasses import replace

    from customer360.identity.graph import guarded_keys
    from customer360.ingestion.contracts import SOURCES

    assert guarded_keys(SOURCES) == ("loyalty_id", "date_of_birth")
    assert not SOURCES["crm_accounts"].identity_key_unique_per_person  # the default, said out loud
    strict_crm = {**SOURCES, "crm_accounts": replace(SOURCES["crm_accounts"], identity_key_unique_per_person=True)}
    assert guarded_keys(strict_crm) == ("account_id", "loyalty_id", "date_of_birth")
    unique_surveys = {**SOURCES, "surveys": replace(SOURCES["surveys"], identity_key_unique_per_person=True)}
    with pytest.raises(ValueError, match="response_id"):
        guarded_keys(unique_surveys)


def names_only_people(n: int, seed: int = 11) -> list[dict]:
    """n people of a legacy CRM: names, postcodes and dates of birth, no e-mail or phone; every
    second person has a duplicate account with a typo in the first name."""
    import random

    rng = random.Random(seed)
    syllables = ["ar", "bel", "cor", "dan", "el", "fen", "gar", "hol", "ist", "jor", "kel", "lin", "mor", "nev"]
    rows = []
    for i in range(n):
        first, last = "".join(rng.sample(syllables, 2)), "".join(rng.sample(syllables, 3))
        person = dict(
            source="crm_accounts",
            first_name_normalised=first,
            first_name_canonical=first,
            last_name_normalised=last,
            postcode_normalised=str(rng.randint(2000, 2999)),
            date_of_birth=f"19{rng.randint(40, 99)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
        )
        rows.append(dict(person, source_record_key=f"A{i}", account_id=f"A{i}"))
        if i % 2 == 0:
            typo = first[:-1] + ("x" if first[-1] != "x" else "y")
            rows.append(
                dict(
                    person,
                    source_record_key=f"D{i}",
                    account_id=f"D{i}",
                    first_name_normalised=typo,
                    first_name_canonical=typo,
                )
            )
    return rows


def test_a_names_only_crm_trains_without_e_mail_or_phone_and_says_what_it_fixed():
    """No e-mail and no phone: no rule can estimate the prior, and no pass can train the names. The
    model falls back to the documented fixed values (it used to crash in Splink's EM with a prior of 0)
    and says so; the duplicate accounts still merge."""
    from customer360.identity.probabilistic import FALLBACK_M, fallback_prior

    frame = records(*names_only_people(400))
    result = match_records(frame, MatchSettings(max_cluster_size=50))
    training = result.training
    assert training.prior_source.startswith("fixed: no two records share")
    assert training.prior == pytest.approx(fallback_prior(len(frame)))
    assert training.passes["phone"].startswith("no two records share")
    assert training.passes["phone (instead: postcode_normalised)"] == "trained"  # the names learn there
    # No two records share a full name either (the duplicates have typos): nothing trains the postcode.
    assert training.fixed_m == ["postcode_normalised"]  # not the e-mail and phone, which have no values
    assert any("match prior was fixed" in note for note in training.notes())
    model = json.loads(result.model_json)
    postcode = next(c for c in model["comparisons"] if c["output_column_name"] == "postcode_normalised")
    assert [lv["m_probability"] for lv in postcode["comparison_levels"] if not lv.get("is_null_level")] == list(
        FALLBACK_M["postcode_normalised"]
    )
    without_postcodes = match_records(frame.assign(postcode_normalised=None), MatchSettings(max_cluster_size=50))
    assert without_postcodes.training.fixed_m == ["first_name", "last_name"]
    labels = result.clustering.labels
    key = {k: i for i, k in enumerate(frame["source_record_key"])}
    merged = [labels[key[f"A{i}"]] == labels[key[f"D{i}"]] for i in range(0, 400, 2)]
    assert sum(merged) >= 0.9 * len(merged)
    assert len(set(labels)) >= 400 * 0.95  # and different people stay apart


def test_a_cluster_may_not_grow_past_the_configured_size():
    shared = [dict(source="surveys", source_record_key=f"R{i}", email_normalised="shared@x.com") for i in range(5)]
    result, labels = clusters(records(*shared), MatchSettings(max_cluster_size=3))
    assert pd.Series(labels).value_counts().max() == 3
    assert set(result.review["reason"]) == {"cluster_too_large"}


def test_steward_must_link_and_cannot_link_win_over_the_rules():
    decisions = pd.DataFrame(
        [
            ("crm_accounts", "A1", "call_center_contacts", "K2", "must_link"),
            ("crm_accounts", "A1", "web_orders", "W1", "cannot_link"),
        ],
        columns=["left_source", "left_source_record_key", "right_source", "right_source_record_key", "decision"],
    )
    frame = records(JOHN_CRM, JOHN_TILL, JOHN_WEB, SON_SAME_PHONE)
    _, labels = clusters(frame, decisions=decisions)
    assert labels[0] == labels[1] == labels[3]  # the steward's must-link joins the son
    assert labels[2] != labels[0]  # the e-mail edge is cut by the cannot-link


def test_ids_are_stable_and_merges_keep_the_oldest_id():
    frame = records(JOHN_CRM, JOHN_WEB, OTHER_JOHN)
    _, labels = clusters(frame)
    first, history = assign_customer_ids(frame, labels, NO_PREVIOUS, fresh_ids())
    assert history == []
    previous = frame[["source", "source_record_key"]].assign(customer_id=first.to_numpy())
    again, history = assign_customer_ids(frame, labels, previous, fresh_ids())
    assert again.tolist() == first.tolist() and history == []
    # The other John turns out to use John's web account: the two customers merge.
    merged_frame = records(
        JOHN_CRM, JOHN_WEB, dict(OTHER_JOHN, account_id=None, date_of_birth=None, web_account_id="W1")
    )
    _, labels = clusters(merged_frame)
    merged, history = assign_customer_ids(merged_frame, labels, previous, fresh_ids())
    oldest = min(first)
    assert set(merged) == {oldest}
    assert history == [(max(first), oldest, "merge")]


def test_a_split_keeps_the_id_on_the_larger_part_and_gives_the_rest_a_new_id():
    frame = records(JOHN_CRM, JOHN_WEB, JOHN_CALL)
    previous = frame[["source", "source_record_key"]].assign(customer_id="C000000001")
    split_frame = records(JOHN_CRM, JOHN_WEB, dict(JOHN_CALL, last_name_normalised="smythe"))
    _, labels = clusters(split_frame)
    ids, history = assign_customer_ids(split_frame, labels, previous, fresh_ids())
    assert ids.tolist() == ["C000000001", "C000000001", "C000000100"]
    assert history == [("C000000001", "C000000100", "split")]


def test_the_model_reads_short_forms_as_the_same_first_name_and_sends_one_edit_names_to_a_steward():
    """A caller giving "sam" for Samantha with the account's phone joins the account; "jya" for Jay is
    scored as one edit apart and held for a steward, as is a household member with another first name.
    """
    people = synthetic_people(150)
    variants = [
        ("samantha", "sam"),
        ("jonathan", "jon"),
        ("christopher", "chris"),
        ("alexander", "alex"),
        ("jay", "jya"),
        ("amy", "ay"),
        ("zoe", "zeo"),
        ("eve", "eev"),
        ("ivy", "iyv"),
    ]
    for i, (first, said) in enumerate(variants):
        crm = next(p for p in people if p["source_record_key"] == f"A{i}")
        crm.update(first_name_normalised=first, first_name_canonical=first)
        people.append(
            dict(
                source="call_center_contacts",
                source_record_key=f"K-variant-{i}",
                phone_normalised=crm["phone_normalised"],
                last_name_normalised=crm["last_name_normalised"],
                first_name_normalised=said,
                first_name_canonical=said,
            )
        )
    a0 = people[0]
    people.append(
        dict(
            source="call_center_contacts",
            source_record_key="K-household",
            phone_normalised=a0["phone_normalised"],
            last_name_normalised=a0["last_name_normalised"],
            first_name_normalised="george",
            first_name_canonical="george",
        )
    )
    frame = records(*people)
    result = match_records(frame, MatchSettings(max_cluster_size=50))
    labels = result.clustering.labels
    key = {k: i for i, k in enumerate(frame["source_record_key"])}
    short_forms, typos = range(4), range(4, len(variants))
    assert all(labels[key[f"K-variant-{i}"]] == labels[key[f"A{i}"]] for i in short_forms)
    assert labels[key["K-household"]] != labels[key["A0"]]
    # One edit apart is a typo or another member of the household (Dan and Jan on one landline):
    # such a pair is never merged on the model's word, a steward decides.
    scored = result.scored.set_index(["left", "right"])
    for i in typos:
        pair = scored.loc[(key[f"A{i}"], key[f"K-variant-{i}"])]
        assert json.loads(pair["evidence"])["first_name"]["level"] == "one edit"
        assert pair["outcome"] in ("review", "household_guard")
        assert labels[key[f"K-variant-{i}"]] != labels[key[f"A{i}"]]
    assert {json.loads(e)["first_name"]["level"] for e in result.scored["evidence"]} >= {"short form", "one edit"}
