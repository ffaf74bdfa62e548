"""python -m customer360.privacy: erase a person, manage the pseudonymisation key.

    python -m customer360.privacy erase --email jo@example.com [--dry-run]
    python -m customer360.privacy erase --customer-id C000123
    python -m customer360.privacy erase --email-key 3f0c...        (the e-mail's key: the address need not be typed)
    python -m customer360.privacy email-key --email jo@example.com  (print the key, e.g. for the erase_person DAG)
    python -m customer360.privacy new-key                           (print a new random secret)
    python -m customer360.privacy rotate-key                        (recompute keys with the current secret;
                                                                     check suppressions)
    python -m customer360.privacy suppress --request-id R --email jo@example.com [--phone ...]
                                                        (hash again under the current secret, after a rotation)

Output is counts and ids only: nothing printed or logged names the person.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from customer360.cli import friendly


def main(argv: list[str] | None = None) -> int:
    return friendly(lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m customer360.privacy", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    erase_p = sub.add_parser("erase", help="remove a person from every schema and file; suppress them")
    who = erase_p.add_mutually_exclusive_group(required=True)
    who.add_argument("--email")
    who.add_argument("--customer-id")
    who.add_argument("--email-key")
    erase_p.add_argument("--dry-run", action="store_true", help="count what would go; change nothing")
    erase_p.add_argument("--request-id", help="your ticket id (default: generated)")
    key_p = sub.add_parser("email-key", help="print the pseudonymised key of an e-mail address")
    key_p.add_argument("--email", required=True)
    sub.add_parser("new-key", help="print a new random secret for C360_PSEUDONYM_KEY")
    sub.add_parser("rotate-key", help="recompute pseudonymised keys with the current secret")
    sup_p = sub.add_parser("suppress", help="add suppression hashes under the current secret")
    sup_p.add_argument("--request-id", required=True)
    sup_p.add_argument("--email", action="append", default=[])
    sup_p.add_argument("--phone", action="append", default=[])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    from customer360.privacy.keys import PseudonymKeyMissing, load_key, new_secret, normalise_email, normalise_phone

    if args.command == "new-key":
        print(new_secret())
        return 0
    try:
        if args.command == "email-key":
            from customer360.privacy.pseudonyms import email_key

            e = normalise_email(args.email)
            if not e:
                print("error: the e-mail is empty", file=sys.stderr)
                return 2
            print(email_key(load_key(), e))
            return 0

        from customer360.config import Settings

        settings = Settings.from_env()
        if args.command == "erase":
            from customer360.privacy.erase import PersonNotFound, erase

            try:
                result = erase(
                    settings,
                    email=args.email,
                    customer_id=args.customer_id,
                    email_key=args.email_key,
                    dry_run=args.dry_run,
                    request_id=args.request_id,
                )
            except PersonNotFound as e:
                print(f"not found: {e}", file=sys.stderr)
                return 1
            print(json.dumps(result.summary(), indent=2))
            return 0
        if args.command == "rotate-key":
            from customer360.privacy.rotation import rotate

            print(json.dumps(rotate(settings), indent=2))
            return 0
        if args.command == "suppress":
            from customer360.privacy.rotation import suppress_again

            items = [("email", normalise_email(e)) for e in args.email] + [
                ("phone", normalise_phone(p)) for p in args.phone
            ]
            print(json.dumps({"suppressions_added": suppress_again(settings, args.request_id, items)}))
            return 0
    except PseudonymKeyMissing as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
