"""What every stage command shares: a mistake a user can make - a missing setting, a warehouse
that does not answer - ends in one line that says what to do and exit status 2, not a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable

EXIT_USAGE = 2


def first_line(error: BaseException) -> str:
    """An error's first line (its type's name when it has no text): messages stay one line."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def friendly(main: Callable[[], int]) -> int:
    """Run a command's `main`; its exit status, or EXIT_USAGE with the message on stderr."""
    import psycopg

    from customer360.config import SettingsError, redact

    try:
        return main()
    except SettingsError as e:
        print(f"error: {e}", file=sys.stderr)
    except psycopg.OperationalError as e:
        import os

        where = redact(os.environ.get("WAREHOUSE_URL", "")) or "the warehouse"
        print(
            f"error: cannot use the warehouse at {where}: {first_line(e)}; set WAREHOUSE_URL to a PostgreSQL "
            "server that answers (python -m customer360.devtools.server url prints the one the project would "
            "use, and make demo starts one)",
            file=sys.stderr,
        )
    except psycopg.errors.InsufficientPrivilege as e:
        print(
            f"error: the warehouse login may not do this ({first_line(e)}): run as the database owner, or grant "
            "the login the role the stage acts as (see docs/architecture.md, The warehouse)",
            file=sys.stderr,
        )
    return EXIT_USAGE
