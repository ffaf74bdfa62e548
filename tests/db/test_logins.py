"""Login roles for BI tools and stewards: real roles on the real server, real log-ins."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

import psycopg
import pytest

from customer360.config import parse_url
from customer360.db.connection import connect
from customer360.db.logins import Login, ensure_login, ensure_logins


@pytest.fixture
def login_name(warehouse_settings):
    """A unique login name; roles are cluster-wide, so it is dropped afterwards."""
    name = f"c360_test_bi_{uuid.uuid4().hex[:8]}"
    yield name
    with connect(warehouse_settings, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("drop role if exists {}").format(psycopg.sql.Identifier(name)))


def _login_url(settings, name: str, password: str) -> str:
    c = parse_url(settings.warehouse_url)
    return f"postgresql://{name}:{password}@{c.host}:{c.port}/{c.dbname}"


def _password_checked(settings) -> bool:
    """Trust auth (as on this machine) lets any password in; say so instead of asserting on it."""
    c = parse_url(settings.warehouse_url)
    try:
        with psycopg.connect(f"postgresql://{c.user}:wrong-{uuid.uuid4().hex}@{c.host}:{c.port}/{c.dbname}"):
            return False
    except psycopg.OperationalError:
        return True


def _verifier_matches(verifier: str, password: str) -> bool:
    """Whether a stored SCRAM-SHA-256 verifier was made from `password` (RFC 5803 layout).

    The server on this machine trusts local connections, so a wrong password would get in
    too; recomputing the stored key proves the password itself whatever pg_hba.conf says.
    """
    method, iterations_salt, keys = verifier.split("$")
    iterations, salt = iterations_salt.split(":")
    stored_key, server_key = (base64.b64decode(k) for k in keys.split(":"))
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return (
        method == "SCRAM-SHA-256"
        and hashlib.sha256(client_key).digest() == stored_key
        and hmac.new(salted, b"Server Key", hashlib.sha256).digest() == server_key
    )


def test_a_bi_login_reads_marts_and_is_refused_raw(warehouse_settings, login_name):
    with connect(warehouse_settings, autocommit=True) as conn:
        conn.execute("create table marts.customer_360 (customer_id text, total_revenue numeric)")
        conn.execute("insert into marts.customer_360 values ('c1', 12.5)")
        conn.execute("create table raw.crm_accounts (email text)")
        conn.execute("insert into raw.crm_accounts values ('john@example.com')")

    password = f"pw-{uuid.uuid4().hex}"
    done = ensure_logins(warehouse_settings, [Login(name=login_name, group="c360_bi_reader", password=password)])
    assert done == {login_name: "created"}

    with connect(warehouse_settings) as conn:
        can_login, is_super, verifier = conn.execute(
            "select rolcanlogin, rolsuper, rolpassword from pg_authid where rolname = %s", (login_name,)
        ).fetchone()
        groups = conn.execute(
            "select g.rolname from pg_auth_members m join pg_roles g on g.oid = m.roleid "
            "join pg_roles u on u.oid = m.member where u.rolname = %s",
            (login_name,),
        ).fetchall()
    assert (can_login, is_super) == (True, False)
    assert _verifier_matches(verifier, password)  # stored as a SCRAM verifier of exactly this password
    assert not _verifier_matches(verifier, "not-the-password")
    assert groups == [("c360_bi_reader",)]

    with psycopg.connect(_login_url(warehouse_settings, login_name, password)) as bi:
        assert bi.execute("select current_user").fetchone() == (login_name,)
        assert bi.execute("select customer_id, total_revenue from marts.customer_360").fetchall() == [("c1", 12.5)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
            bi.execute("select * from raw.crm_accounts")
    with psycopg.connect(_login_url(warehouse_settings, login_name, password), autocommit=True) as bi:
        # CONNECT and TEMP are no longer PUBLIC's: a BI login gets no temporary tables
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="temporary tables"):
            bi.execute("create temporary table scratch (x int)")
        database = warehouse_settings.connection.dbname
        assert bi.execute(
            "select has_database_privilege('public', %s, 'connect'), "
            "has_database_privilege('c360_bi_reader', %s, 'connect')",
            (database, database),
        ).fetchone() == (False, True)

    if _password_checked(warehouse_settings):
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(_login_url(warehouse_settings, login_name, "not-the-password")).close()


def test_running_again_updates_the_password_and_moves_the_login_to_one_group(warehouse_settings, login_name):
    ensure_logins(warehouse_settings, [Login(name=login_name, group="c360_steward", password="first")])
    with connect(warehouse_settings, autocommit=True) as conn:
        before = conn.execute("select rolpassword from pg_authid where rolname = %s", (login_name,)).fetchone()
        assert ensure_login(conn, Login(name=login_name, group="c360_bi_reader", password="second")) == "updated"
        after = conn.execute("select rolpassword from pg_authid where rolname = %s", (login_name,)).fetchone()
        groups = conn.execute(
            "select g.rolname from pg_auth_members m join pg_roles g on g.oid = m.roleid "
            "join pg_roles u on u.oid = m.member where u.rolname = %s",
            (login_name,),
        ).fetchall()
        assert conn.execute("select count(*) from pg_roles where rolname = %s", (login_name,)).fetchone() == (1,)
    assert _verifier_matches(before[0], "first") and _verifier_matches(after[0], "second")
    assert groups == [("c360_bi_reader",)]


def test_a_group_role_or_a_superuser_is_never_turned_into_a_login(warehouse_settings):
    with connect(warehouse_settings, autocommit=True) as conn:
        with pytest.raises(ValueError, match="is a group role"):
            ensure_login(conn, Login(name="c360_bi_reader", group="c360_bi_reader", password="x"))
        with pytest.raises(ValueError, match="not a warehouse group role"):
            ensure_login(conn, Login(name="someone", group="pg_read_all_data", password="x"))
        superuser = conn.execute("select current_user").fetchone()[0]
        with pytest.raises(ValueError, match="superuser"):
            ensure_login(conn, Login(name=superuser, group="c360_bi_reader", password="x"))


def test_the_bi_login_reads_the_marts_a_run_publishes_and_never_the_build(warehouse_settings, login_name):
    from customer360.orchestration.publish import publish_marts

    password = f"pw-{uuid.uuid4().hex}"
    ensure_logins(warehouse_settings, [Login(name=login_name, group="c360_bi_reader", password=password)])
    with connect(warehouse_settings, autocommit=True) as conn:
        conn.execute("create table marts_build.customer_360 (customer_id text)")
        conn.execute("insert into marts_build.customer_360 values ('published')")
    publish_marts(warehouse_settings, run_id="test")  # swaps marts_build into marts

    with psycopg.connect(_login_url(warehouse_settings, login_name, password)) as bi:
        assert bi.execute("select customer_id from marts.customer_360").fetchall() == [("published",)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
            bi.execute("select * from marts_build.customer_360")


# Which schemas each group may read and write; every other project schema must refuse it.
# (Writes: the tables of a schema belong to the role that maintains them; the admin-made
# probe in ops belongs to nobody in particular, so no pipeline role may write it.)
TRANSFORMED = {"staging", "intermediate", "identity", "steward", "marts", "marts_build", "history", "ml"}
READABLE = {
    "c360_bi_reader": {"marts"},
    "c360_steward": {"marts", "steward", "history", "quarantine", "identity"},
    "c360_loader": {"raw", "quarantine", "ops"},
    "c360_transformer": TRANSFORMED | {"raw", "quarantine", "ops"},
}
WRITABLE = {
    "c360_bi_reader": set(),
    "c360_steward": set(),
    "c360_loader": {"raw", "quarantine"},
    "c360_transformer": TRANSFORMED,
}


@pytest.mark.parametrize("group", sorted(READABLE))
def test_each_role_reads_and_writes_exactly_its_schemas(warehouse_settings, login_name, group):
    from customer360.db.connection import SCHEMAS

    with connect(warehouse_settings, autocommit=True) as conn:
        for schema in SCHEMAS:
            conn.execute(psycopg.sql.SQL("create table {}.probe (x int)").format(psycopg.sql.Identifier(schema)))
            conn.execute(psycopg.sql.SQL("insert into {}.probe values (1)").format(psycopg.sql.Identifier(schema)))
        # PUBLIC (every role on the server) gets nothing in a project schema
        public = conn.execute(
            "select nspname from pg_namespace where nspname = any(%s) "
            "and has_schema_privilege('public', nspname, 'usage')",
            (list(SCHEMAS),),
        ).fetchall()
    assert public == []

    password = f"pw-{uuid.uuid4().hex}"
    ensure_logins(warehouse_settings, [Login(name=login_name, group=group, password=password)])
    readable, writable = set(), set()
    with psycopg.connect(_login_url(warehouse_settings, login_name, password), autocommit=True) as user:
        for schema in SCHEMAS:
            table = psycopg.sql.SQL("{}.probe").format(psycopg.sql.Identifier(schema))
            try:
                user.execute(psycopg.sql.SQL("select x from {}").format(table)).fetchall()
                readable.add(schema)
            except psycopg.errors.InsufficientPrivilege:
                pass
            try:
                user.execute(psycopg.sql.SQL("insert into {} values (2)").format(table))
                writable.add(schema)
            except psycopg.errors.InsufficientPrivilege:
                pass
    assert readable == READABLE[group]
    assert writable == WRITABLE[group]
    with connect(warehouse_settings) as conn:
        assert conn.execute("select rolsuper from pg_roles where rolname = %s", (group,)).fetchone() == (False,)
