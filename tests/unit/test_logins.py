"""Login roles: the logins the environment asks for (no database; the roles are made in tests/db/test_logins.py)."""

from __future__ import annotations

from customer360.db.logins import Login, logins_from_env


def test_the_environment_chooses_the_logins():
    env = {"C360_BI_PASSWORD": "s3cret", "C360_BI_LOGIN": "metabase_bi", "C360_STEWARD_PASSWORD": ""}
    assert logins_from_env(env) == [Login(name="metabase_bi", group="c360_bi_reader", password="s3cret")]
    assert logins_from_env({"C360_BI_PASSWORD": "x"})[0].name == "c360_bi"
    assert logins_from_env({}) == []
    assert "s3cret" not in repr(logins_from_env(env))
