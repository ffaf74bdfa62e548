"""Login roles for people and services, each a member of one warehouse group role.

The group roles (src/customer360/db/bootstrap.py) cannot log in; a BI tool or a steward logs
in as a login role that inherits one group's grants. Which logins exist comes from
the environment: C360_BI_PASSWORD turns on the BI login (named by C360_BI_LOGIN,
default c360_bi), C360_STEWARD_PASSWORD the stewards' one (C360_STEWARD_LOGIN).
Running this again changes nothing but the password.

    C360_BI_PASSWORD=... python -m customer360.db.logins

Passwords are hashed on the client (SCRAM-SHA-256, as psql's \\password does), so
the plain text never reaches the server's statement log, and they are never logged.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

import psycopg
from psycopg import sql

from customer360.config import Settings
from customer360.db.bootstrap import ROLE_SCHEMAS, prepare_warehouse
from customer360.db.connection import connect

log = logging.getLogger(__name__)

ROLES_LOCK = 360360  # the advisory lock prepare_warehouse takes: roles are cluster-wide


@dataclass(frozen=True)
class LoginKind:
    group: str  # the group role the login joins
    name_env: str  # names the login ...
    default_name: str  # ... or this when unset
    password_env: str  # the login exists only when this is set


LOGIN_KINDS = (
    LoginKind("c360_bi_reader", "C360_BI_LOGIN", "c360_bi", "C360_BI_PASSWORD"),
    LoginKind("c360_steward", "C360_STEWARD_LOGIN", "c360_steward_login", "C360_STEWARD_PASSWORD"),
)


@dataclass(frozen=True)
class Login:
    name: str
    group: str
    password: str

    def __repr__(self) -> str:  # keep the password out of tracebacks and logs
        return f"Login(name={self.name!r}, group={self.group!r}, password='***')"


def logins_from_env(env: Mapping[str, str] | None = None) -> list[Login]:
    """The logins the environment asks for: one per group key whose password is set."""
    env = os.environ if env is None else env
    return [
        Login(name=env.get(kind.name_env, "") or kind.default_name, group=kind.group, password=env[kind.password_env])
        for kind in LOGIN_KINDS
        if env.get(kind.password_env)
    ]


def ensure_login(conn: psycopg.Connection, login: Login) -> str:
    """Create or update `login` as a member of its group (and of no other warehouse group).

    Returns "created" or "updated". `conn` must be in autocommit mode.
    """
    if login.group not in ROLE_SCHEMAS:
        raise ValueError(f"{login.group} is not a warehouse group role; choose one of {', '.join(ROLE_SCHEMAS)}")
    if login.name in ROLE_SCHEMAS:
        raise ValueError(f"login name {login.name} is a group role; pick another name (C360_*_LOGIN)")
    if not login.password:
        raise ValueError(f"login {login.name} has an empty password")
    name = sql.Identifier(login.name)
    conn.execute("select pg_advisory_lock(%s)", (ROLES_LOCK,))
    try:
        if conn.execute("select 1 from pg_roles where rolname = %s", (login.group,)).fetchone() is None:
            raise RuntimeError(f"group role {login.group} does not exist; run prepare_warehouse first")
        existing = conn.execute("select rolsuper from pg_roles where rolname = %s", (login.name,)).fetchone()
        if existing and existing[0]:
            raise ValueError(f"role {login.name} is a superuser; refusing to turn it into a BI or steward login")
        verifier = conn.pgconn.encrypt_password(login.password.encode(), login.name.encode(), b"scram-sha-256").decode()
        attributes = sql.SQL("login nosuperuser nocreatedb nocreaterole noreplication inherit password {}").format(
            sql.Literal(verifier)
        )
        verb = "updated" if existing else "created"
        conn.execute(
            sql.SQL("alter role {} with {}" if existing else "create role {} with {}").format(name, attributes)
        )
        conn.execute(sql.SQL("grant {} to {}").format(sql.Identifier(login.group), name))
        others = conn.execute(
            """
            select g.rolname from pg_auth_members m
            join pg_roles g on g.oid = m.roleid
            join pg_roles u on u.oid = m.member
            where u.rolname = %s and g.rolname = any(%s) and g.rolname <> %s
            """,
            (login.name, list(ROLE_SCHEMAS), login.group),
        ).fetchall()
        for (other,) in others:
            conn.execute(sql.SQL("revoke {} from {}").format(sql.Identifier(other), name))
    finally:
        conn.execute("select pg_advisory_unlock(%s)", (ROLES_LOCK,))
    return verb


def ensure_logins(settings: Settings, logins: list[Login]) -> dict[str, str]:
    """Create the schemas and group roles, then the logins; {login name: created|updated}."""
    prepare_warehouse(settings)
    done = {}
    with connect(settings, autocommit=True) as conn:
        for login in logins:
            done[login.name] = ensure_login(conn, login)
            log.info("login %s %s, member of %s", login.name, done[login.name], login.group)
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m customer360.db.logins",
        description="Create or update login roles: "
        + "; ".join(f"{k.password_env} and {k.name_env} for a member of {k.group}" for k in LOGIN_KINDS),
    )
    parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logins = logins_from_env()
    if not logins:
        print(f"no logins to create: set {' or '.join(k.password_env for k in LOGIN_KINDS)}", file=sys.stderr)
        return 1
    for name, verb in ensure_logins(Settings.from_env(), logins).items():
        print(f"login {name}: {verb}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
