"""The Airflow admin login of the Docker Compose stack, from the environment.

Airflow 3's default auth manager (SimpleAuthManager) reads user passwords from a
JSON file and invents a random one, printed to the log, for any user missing
from it. airflow-init writes the file first, so the admin's password is the one
in `.env`:

    AIRFLOW_ADMIN_PASSWORD=... python -m customer360.orchestration.airflow_auth

The file is the one Airflow reads (AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE)
and the user is AIRFLOW_ADMIN_USER (default admin). Other users' entries are kept.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

PASSWORDS_FILE_ENV = "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"


def write_password(path: Path, user: str, password: str) -> None:
    """Set `user`'s password in the SimpleAuthManager passwords file, readable by its owner only."""
    if not user or not password:
        raise ValueError("the Airflow admin user and password must both be non-empty")
    passwords: dict[str, str] = {}
    if path.exists() and path.read_text().strip():
        try:
            passwords = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not the JSON object Airflow writes ({exc}); delete it and rerun") from None
    passwords[user] = password
    path.parent.mkdir(parents=True, exist_ok=True)
    # write a private file beside it, then swap it in: never a moment readable by others
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as file:
            file.write(json.dumps(passwords) + "\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    path = env.get(PASSWORDS_FILE_ENV, "")
    password = env.get("AIRFLOW_ADMIN_PASSWORD", "")
    user = env.get("AIRFLOW_ADMIN_USER", "") or "admin"
    if not path or not password:
        print(f"set {PASSWORDS_FILE_ENV} and AIRFLOW_ADMIN_PASSWORD", file=sys.stderr)
        return 1
    write_password(Path(path), user, password)
    print(f"Airflow login {user}: password set from AIRFLOW_ADMIN_PASSWORD")
    return 0


if __name__ == "__main__":
    sys.exit(main())
