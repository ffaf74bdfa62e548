"""Hand-made identity-resolution input records shared by the unit and database identity tests."""

import pandas as pd

from customer360.identity.store import INPUT_COLUMNS


def records(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame([{c: r.get(c) for c in INPUT_COLUMNS} for r in rows], dtype="object")


JOHN_CRM = dict(
    source="crm_accounts",
    source_record_key="A1",
    account_id="A1",
    loyalty_id="L1",
    email_normalised="john.smith@x.com",
    phone_normalised="+447700900123",
    postcode_normalised="YO11AA",
    first_name_normalised="john",
    first_name_canonical="john",
    last_name_normalised="smith",
    date_of_birth="1970-01-01",
)
JOHN_TILL = dict(source="pos_transactions", source_record_key="L1", loyalty_id="L1")
JOHN_WEB = dict(
    source="web_orders",
    source_record_key="W1",
    web_account_id="W1",
    email_normalised="john.smith@x.com",
    first_name_normalised="j",
    last_name_normalised="smith",
)
# Same household: same landline, same address, same last name - a different person.
SON_SAME_PHONE = dict(
    source="call_center_contacts",
    source_record_key="K2",
    phone_normalised="+447700900123",
    postcode_normalised="YO11AA",
    first_name_normalised="mark",
    last_name_normalised="smith",
)
# Same common name, another person: another CRM account and date of birth.
OTHER_JOHN = dict(
    source="crm_accounts",
    source_record_key="A2",
    account_id="A2",
    email_normalised="jsmith@y.com",
    first_name_normalised="john",
    last_name_normalised="smith",
    date_of_birth="1985-05-05",
)


def synthetic_people(n: int, seed: int = 7) -> list[dict]:
    """n people: a CRM record, a web order with the CRM e-mail, and a call-centre record only the model can join."""
    import random

    rng = random.Random(seed)
    syllables = [
        "ar",
        "bel",
        "cor",
        "dan",
        "el",
        "fen",
        "gar",
        "hol",
        "ist",
        "jor",
        "kel",
        "lin",
        "mor",
        "nev",
        "ost",
        "pen",
        "quin",
        "ros",
        "sten",
        "tor",
        "ul",
        "ven",
        "wic",
        "yar",
    ]
    firsts = [
        ("robert", "bob"),
        ("william", "bill"),
        ("elizabeth", "liz"),
        ("margaret", "maggie"),
        ("james", "jim"),
        ("katherine", "kate"),
        ("richard", "dick"),
        ("susan", "sue"),
    ]
    people = []
    for i in range(n):
        last = "".join(rng.sample(syllables, 3))
        first, nick = rng.choice(firsts)
        postcode = f"YO{rng.randint(1, 99)}{rng.randint(1, 9)}AB"
        people.append(
            dict(
                source="crm_accounts",
                source_record_key=f"A{i}",
                account_id=f"A{i}",
                email_normalised=f"{first}.{last}@x.com",
                phone_normalised=f"+4477009{i:05d}",
                first_name_normalised=first,
                first_name_canonical=first,
                last_name_normalised=last,
                postcode_normalised=postcode,
            )
        )
        people.append(
            dict(
                source="web_orders",
                source_record_key=f"W{i}",
                web_account_id=f"W{i}",
                email_normalised=f"{first}.{last}@x.com",
                first_name_normalised=first[0],
                first_name_canonical=first[0],
                last_name_normalised=last,
            )
        )
        # Every third caller gives the CRM phone but a misspelt last name: only the model joins those too.
        phone = dict(phone_normalised=f"+4477009{i:05d}", last_name_normalised=last[:-1] + "e") if i % 3 == 0 else {}
        people.append(
            dict(
                dict(
                    source="call_center_contacts",
                    source_record_key=f"K{i}",
                    first_name_normalised=nick,
                    first_name_canonical=first,
                    last_name_normalised=last,
                    postcode_normalised=postcode,
                ),
                **phone,
            )
        )
    return people
