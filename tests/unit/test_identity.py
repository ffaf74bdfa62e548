"""Identity resolution: rules, over-merge guards, steward decisions, stable ids and incremental runs."""

import json
from datetime import datetime, timezone
from itertools import count

import pandas as pd
import pytest

from customer360.identity.ids import assign_customer_ids
from customer360.identity.resolve import MatchSettings, match_records, resolve_identities
from customer360.identity.store import INPUT_COLUMNS
from customer360.db.connection import connect

RULES_ONLY = MatchSettings(max_cluster_size=50)
AS_OF = datetime(2025, 1, 1, tzinfo=timezone.utc)


def records(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame([{c: r.get(c) for c in INPUT_COLUMNS} for r in rows], dtype="object")


def clusters(frame: pd.DataFrame, params: MatchSettings = RULES_ONLY, **kwargs):
    result = match_records(frame, params, probabilistic=False, **kwargs)
    return result, result.clustering.labels.tolist()


def fresh_ids():
    n = count(100)
    return lambda k: [f"C{next(n):09d}" for _ in range(k)]


NO_PREVIOUS = pd.DataFrame(columns=["source", "source_record_key", "customer_id"])

JOHN_CRM = dict(source="crm_accounts", source_record_key="A1", account_id="A1", loyalty_id="L1",
                email_normalised="john.smith@x.com", phone_normalised="+447700900123", postcode_normalised="YO11AA",
                first_name_normalised="john", first_name_canonical="john", last_name_normalised="smith",
                date_of_birth="1970-01-01")
JOHN_TILL = dict(source="pos_transactions", source_record_key="L1", loyalty_id="L1")
JOHN_WEB = dict(source="web_orders", source_record_key="W1", web_account_id="W1",
                email_normalised="john.smith@x.com", first_name_normalised="j", last_name_normalised="smith")
JOHN_CALL = dict(source="call_center_contacts", source_record_key="K1", phone_normalised="+447700900123",
                 first_name_normalised="john", last_name_normalised="smith")
OLD_CAMPAIGN = dict(source="email_campaign_events", source_record_key="js@old.com", email_normalised="js@old.com")
# Same household: same landline, same address, same last name - a different person.
SON_SAME_PHONE = dict(source="call_center_contacts", source_record_key="K2", phone_normalised="+447700900123",
                      postcode_normalised="YO11AA", first_name_normalised="mark", last_name_normalised="smith")
# Same common name, another person: another CRM account and date of birth.
OTHER_JOHN = dict(source="crm_accounts", source_record_key="A2", account_id="A2",
                  email_normalised="jsmith@y.com", first_name_normalised="john", last_name_normalised="smith",
                  date_of_birth="1985-05-05")


def test_records_sharing_strong_keys_form_one_cluster_and_name_the_rule():
    frame = records(dict(JOHN_CRM, previous_email_normalised="js@old.com"), JOHN_TILL, JOHN_WEB, JOHN_CALL,
                    OLD_CAMPAIGN)
    result, labels = clusters(frame)
    assert len(set(labels)) == 1
    assert result.clustering.matched_by == [
        "same_loyalty_card", "same_loyalty_card", "same_email", "same_phone_and_name", "same_email"]


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
    cards = records(dict(JOHN_CRM, date_of_birth=None), dict(OTHER_JOHN, loyalty_id="L2", date_of_birth=None,
                                                              email_normalised="john.smith@x.com"))
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
        person = dict(source="crm_accounts", first_name_normalised=first, first_name_canonical=first,
                      last_name_normalised=last, postcode_normalised=str(rng.randint(2000, 2999)),
                      date_of_birth=f"19{rng.randint(40, 99)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}")
        rows.append(dict(person, source_record_key=f"A{i}", account_id=f"A{i}"))
        if i % 2 == 0:
            typo = first[:-1] + ("x" if first[-1] != "x" else "y")
            rows.append(dict(person, source_record_key=f"D{i}", account_id=f"D{i}", first_name_normalised=typo,
                             first_name_canonical=typo))
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
        FALLBACK_M["postcode_normalised"])
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
    decisions = pd.DataFrame([
        ("crm_accounts", "A1", "call_center_contacts", "K2", "must_link"),
        ("crm_accounts", "A1", "web_orders", "W1", "cannot_link"),
    ], columns=["left_source", "left_source_record_key", "right_source", "right_source_record_key", "decision"])
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
    merged_frame = records(JOHN_CRM, JOHN_WEB, dict(OTHER_JOHN, account_id=None, date_of_birth=None,
                                                    web_account_id="W1"))
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


# --------------------------------------------------------------------------- in the warehouse


def load_input(settings, frame: pd.DataFrame) -> None:
    with connect(settings) as conn:
        conn.execute("drop table if exists intermediate.int_source_records")
        conn.execute("create table intermediate.int_source_records ("
                     + ", ".join(f"{c} text" for c in INPUT_COLUMNS) + ")")
        with conn.cursor().copy(f"copy intermediate.int_source_records ({', '.join(INPUT_COLUMNS)}) from stdin") as copy:
            for row in frame.itertuples(index=False):
                copy.write_row(row)
        conn.commit()


def xref(settings) -> dict[tuple[str, str], str]:
    with connect(settings) as conn:
        rows = conn.execute("select source, source_record_key, customer_id from identity.customer_source_xref")
        return {(s, k): c for s, k, c in rows.fetchall()}


def test_resolution_in_the_warehouse_is_rerunnable(warehouse_settings):
    load_input(warehouse_settings, records(JOHN_CRM, JOHN_TILL, JOHN_WEB, OTHER_JOHN))
    first = resolve_identities(warehouse_settings, "run-1", AS_OF)
    ids = xref(warehouse_settings)
    second = resolve_identities(warehouse_settings, "run-2", AS_OF)
    assert (first.mode, first.records, first.customers, first.new_customers) == ("full", 4, 2, 2)
    assert (second.mode, second.customers, second.new_customers, second.merged_ids) == ("incremental", 2, 0, 0)
    assert xref(warehouse_settings) == ids
    full = resolve_identities(warehouse_settings, "run-3", AS_OF, full=True)
    assert full.mode == "full" and xref(warehouse_settings) == ids


def test_an_incremental_day_joins_new_records_and_leaves_other_customers_alone(warehouse_settings):
    day_one = records(JOHN_CRM, JOHN_WEB, OTHER_JOHN, SON_SAME_PHONE)
    load_input(warehouse_settings, day_one)
    resolve_identities(warehouse_settings, "day-1", AS_OF)
    before = xref(warehouse_settings)
    new_card = dict(source="pos_transactions", source_record_key="L1", loyalty_id="L1")
    stranger = dict(source="surveys", source_record_key="R9", email_normalised="someone@z.com")
    load_input(warehouse_settings, records(JOHN_CRM, JOHN_WEB, OTHER_JOHN, SON_SAME_PHONE, new_card, stranger))
    day_two = resolve_identities(warehouse_settings, "day-2", AS_OF)
    after = xref(warehouse_settings)
    assert (day_two.mode, day_two.records_matched, day_two.new_customers) == ("incremental", 2, 1)
    assert {k: after[k] for k in before} == before  # nobody the day did not touch changed id
    assert after[("pos_transactions", "L1")] == before[("crm_accounts", "A1")]


def test_a_steward_decision_changes_the_next_run(warehouse_settings):
    load_input(warehouse_settings, records(JOHN_CRM, JOHN_TILL, JOHN_WEB, SON_SAME_PHONE))
    resolve_identities(warehouse_settings, "run-1", AS_OF)
    before = xref(warehouse_settings)
    assert before[("crm_accounts", "A1")] == before[("web_orders", "W1")]
    assert before[("call_center_contacts", "K2")] != before[("crm_accounts", "A1")]
    with connect(warehouse_settings) as conn:
        # The steward role can write decisions (and nothing else in identity).
        conn.execute("set role c360_steward")
        conn.execute(
            "insert into identity.steward_decisions (left_source, left_source_record_key, right_source, "
            "right_source_record_key, decision, note) values "
            "('crm_accounts', 'A1', 'web_orders', 'W1', 'cannot_link', 'web account belongs to his son'), "
            "('web_orders', 'W1', 'call_center_contacts', 'K2', 'must_link', 'same person, checked by phone')"
        )
        with pytest.raises(Exception, match="permission denied"):
            conn.execute("delete from identity.customer_source_xref")
        conn.rollback()
        conn.execute("set role c360_steward")
        conn.execute(
            "insert into identity.steward_decisions (left_source, left_source_record_key, right_source, "
            "right_source_record_key, decision) values "
            "('crm_accounts', 'A1', 'web_orders', 'W1', 'cannot_link'), "
            "('web_orders', 'W1', 'call_center_contacts', 'K2', 'must_link')"
        )
        conn.commit()
    run = resolve_identities(warehouse_settings, "run-2", AS_OF)
    after = xref(warehouse_settings)
    assert after[("crm_accounts", "A1")] == before[("crm_accounts", "A1")]  # the larger part keeps the id
    assert after[("web_orders", "W1")] != after[("crm_accounts", "A1")]
    assert after[("web_orders", "W1")] == after[("call_center_contacts", "K2")]
    assert run.split_ids + run.merged_ids >= 1
    with connect(warehouse_settings) as conn:
        history = conn.execute(
            "select old_customer_id, reason from identity.customer_id_history where run_id = 'run-2'"
        ).fetchall()
    assert (before[("crm_accounts", "A1")], "split") in history


def identity_state(settings) -> dict[str, list[tuple]]:
    """What a rerun must leave as it found it."""
    queries = {
        "xref": "select source, source_record_key, customer_id, matched_by from identity.customer_source_xref",
        "history": "select old_customer_id, new_customer_id, reason, run_id from identity.customer_id_history",
        "pairs": "select run_id, left_source, left_source_record_key, right_source, right_source_record_key, "
                 "round(match_probability::numeric, 9), evidence::text, outcome from identity.match_pairs",
        "review": "select * from identity.review_queue",
    }
    with connect(settings) as conn:
        return {name: sorted(conn.execute(sql).fetchall()) for name, sql in queries.items()}


def runs(settings) -> list[tuple]:
    with connect(settings) as conn:
        return conn.execute("select run_id, attempt, mode, records_matched from identity.resolution_runs "
                            "order by run_id, attempt").fetchall()


def test_rerunning_an_incremental_day_keeps_its_merge_and_logs_a_second_attempt(warehouse_settings):
    survey = dict(source="surveys", source_record_key="R1", email_normalised="jsmith@y.com")
    load_input(warehouse_settings, records(JOHN_CRM, JOHN_WEB, survey))
    resolve_identities(warehouse_settings, "day-1", AS_OF)
    # Day 2: a till record with John's loyalty card and the survey's e-mail joins the two customers.
    till = dict(source="pos_transactions", source_record_key="L1", loyalty_id="L1", email_normalised="jsmith@y.com")
    load_input(warehouse_settings, records(JOHN_CRM, JOHN_WEB, survey, till))
    day_two = resolve_identities(warehouse_settings, "day-2", AS_OF)
    assert day_two.merged_ids == 1
    after_day_two = identity_state(warehouse_settings)
    assert [row[2] for row in after_day_two["history"]] == ["merge"]

    rerun = resolve_identities(warehouse_settings, "day-2", AS_OF)
    assert (rerun.mode, rerun.records_matched, rerun.merged_ids) == ("incremental", 0, 0)
    assert identity_state(warehouse_settings) == after_day_two
    assert runs(warehouse_settings) == [("day-1", 1, "full", 3), ("day-2", 1, "incremental", 1),
                                        ("day-2", 2, "incremental", 0)]


def synthetic_people(n: int, seed: int = 7) -> list[dict]:
    """n people: a CRM record, a web order with the CRM e-mail, and a call-centre record only the model can join."""
    import random

    rng = random.Random(seed)
    syllables = ["ar", "bel", "cor", "dan", "el", "fen", "gar", "hol", "ist", "jor", "kel", "lin", "mor", "nev",
                 "ost", "pen", "quin", "ros", "sten", "tor", "ul", "ven", "wic", "yar"]
    firsts = [("robert", "bob"), ("william", "bill"), ("elizabeth", "liz"), ("margaret", "maggie"),
              ("james", "jim"), ("katherine", "kate"), ("richard", "dick"), ("susan", "sue")]
    people = []
    for i in range(n):
        last = "".join(rng.sample(syllables, 3))
        first, nick = rng.choice(firsts)
        postcode = f"YO{rng.randint(1, 99)}{rng.randint(1, 9)}AB"
        people.append(dict(source="crm_accounts", source_record_key=f"A{i}", account_id=f"A{i}",
                           email_normalised=f"{first}.{last}@x.com", phone_normalised=f"+4477009{i:05d}",
                           first_name_normalised=first, first_name_canonical=first, last_name_normalised=last,
                           postcode_normalised=postcode))
        people.append(dict(source="web_orders", source_record_key=f"W{i}", web_account_id=f"W{i}",
                           email_normalised=f"{first}.{last}@x.com", first_name_normalised=first[0],
                           first_name_canonical=first[0], last_name_normalised=last))
        # Every third caller gives the CRM phone but a misspelt last name: only the model joins those too.
        phone = dict(phone_normalised=f"+4477009{i:05d}", last_name_normalised=last[:-1] + "e") if i % 3 == 0 else {}
        people.append(dict(dict(source="call_center_contacts", source_record_key=f"K{i}", first_name_normalised=nick,
                                first_name_canonical=first, last_name_normalised=last, postcode_normalised=postcode),
                           **phone))
    return people


def test_rerunning_an_interval_keeps_its_scored_pairs(warehouse_settings):
    """The bug this guards: a rerun with the interval's run id used to delete the pairs its first run scored."""
    people = synthetic_people(150)
    load_input(warehouse_settings, records(*people))
    first = resolve_identities(warehouse_settings, "day-1", AS_OF)
    assert first.mode == "full" and first.scored_pairs > 0
    state = identity_state(warehouse_settings)
    assert len(state["pairs"]) == first.scored_pairs
    assert sum(1 for row in state["pairs"] if row[-1] == "link") > 100

    rerun = resolve_identities(warehouse_settings, "day-1", AS_OF)
    assert (rerun.mode, rerun.records_matched, rerun.scored_pairs) == ("incremental", 0, 0)
    assert identity_state(warehouse_settings) == state
    assert [r[:3] for r in runs(warehouse_settings)] == [("day-1", 1, "full"), ("day-1", 2, "incremental")]

    # The next day scores the pairs of its new record only; the first day's pairs stay as they were.
    newcomer = dict(people[5], source_record_key="K-new")  # caller K1 again: no strong key
    load_input(warehouse_settings, records(*people, newcomer))
    day_two = resolve_identities(warehouse_settings, "day-2", AS_OF)
    pairs = identity_state(warehouse_settings)["pairs"]
    assert day_two.scored_pairs > 0
    assert {row for row in pairs if row[0] == "day-1"} == set(state["pairs"])
    assert all("K-new" in (row[2], row[4]) for row in pairs if row[0] == "day-2")


def test_a_run_log_from_before_attempts_is_migrated(warehouse_settings):
    """Warehouses built by the first identity step keyed resolution_runs by run id alone."""
    from customer360.identity.store import ensure_identity_tables

    with connect(warehouse_settings) as conn:
        conn.execute("create table identity.resolution_runs (run_id text primary key, resolved_at timestamptz not null, "
                     "records integer not null, customers integer not null, new_customers integer not null, "
                     "merged_ids integer not null, split_ids integer not null, links_by_rule jsonb not null)")
        conn.execute("insert into identity.resolution_runs values ('old', now(), 1, 1, 1, 0, 0, '{}')")
        ensure_identity_tables(conn)
        ensure_identity_tables(conn)  # idempotent
        conn.commit()
    load_input(warehouse_settings, records(JOHN_CRM))
    resolve_identities(warehouse_settings, "old", AS_OF)
    assert [r[:2] for r in runs(warehouse_settings)] == [("old", 1), ("old", 2)]


def test_the_model_reads_short_forms_as_the_same_first_name_and_sends_one_edit_names_to_a_steward():
    """A caller giving "sam" for Samantha with the account's phone joins the account; "jya" for Jay is
    scored as one edit apart and held for a steward, as is a household member with another first name.
    """
    people = synthetic_people(150)
    variants = [("samantha", "sam"), ("jonathan", "jon"), ("christopher", "chris"), ("alexander", "alex"),
                ("jay", "jya"), ("amy", "ay"), ("zoe", "zeo"), ("eve", "eev"), ("ivy", "iyv")]
    for i, (first, said) in enumerate(variants):
        crm = next(p for p in people if p["source_record_key"] == f"A{i}")
        crm.update(first_name_normalised=first, first_name_canonical=first)
        people.append(dict(source="call_center_contacts", source_record_key=f"K-variant-{i}",
                           phone_normalised=crm["phone_normalised"], last_name_normalised=crm["last_name_normalised"],
                           first_name_normalised=said, first_name_canonical=said))
    a0 = people[0]
    people.append(dict(source="call_center_contacts", source_record_key="K-household",
                       phone_normalised=a0["phone_normalised"], last_name_normalised=a0["last_name_normalised"],
                       first_name_normalised="george", first_name_canonical="george"))
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


def test_a_public_benchmark_crm_export_with_only_names_and_addresses_resolves(warehouse_settings, tmp_path):
    """FEBRL 3 (5,000 Australian accounts of 2,000 people, no e-mail or phone, duplicates inside the
    CRM) delivered as a CRM file, loaded and built by dbt: the run resolves without a crash, the
    duplicate accounts merge without wrong links, and the run report says which parameters were fixed."""
    from bench.identity import deliver_dataset, pairwise_quality
    from customer360.reporting.run_report import write_run_report
    from customer360.db.connection import fetch_all

    truth = deliver_dataset(warehouse_settings, "febrl3", tmp_path / "target")
    summary = resolve_identities(warehouse_settings, "febrl", AS_OF)
    assert summary.records == 5000
    assert summary.training["prior_source"].startswith("fixed")
    found = pd.DataFrame(fetch_all(warehouse_settings, "select source, source_record_key, customer_id "
                                                       "from identity.customer_source_xref"),
                         columns=["source", "source_record_key", "customer_id"])
    precision, recall, *_ = pairwise_quality(found, truth)
    assert precision >= 0.995
    assert recall >= 0.4  # bench/results/identity-febrl3.md has the figures
    assert summary.customers < 3500
    report = write_run_report(warehouse_settings, "febrl", tmp_path / "reports").read_text()
    identity = report[report.index('id="identity"'):report.index('id="identity-review"')]
    assert "The match prior was fixed" in identity and "5,000" in identity
