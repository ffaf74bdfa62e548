"""Find a PostgreSQL warehouse, or start a local one in the project folder.

Order: WAREHOUSE_URL if set; else Postgres on localhost:5432 if it answers;
else a private cluster under .local/postgres started from the system's
PostgreSQL binaries. If none of that works, stop with what to install.
"""

from __future__ import annotations

import glob
import logging
import os
import pwd
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from psycopg import sql

from customer360.config import PROJECT_ROOT, parse_url, redact, with_database

log = logging.getLogger(__name__)

DEFAULT_DATABASE = "customer360"
LOCALHOST_URL = f"postgresql://postgres@127.0.0.1:5432/{DEFAULT_DATABASE}"
LOCAL_CLUSTER_DIR = PROJECT_ROOT / ".local" / "postgres"
LOCAL_CLUSTER_PORT = 55432


class WarehouseUnavailable(RuntimeError):
    pass


def answers(url: str, timeout: int = 3) -> bool:
    """True when the server behind `url` accepts a connection (to its maintenance database)."""
    try:
        with psycopg.connect(with_database(url, "postgres"), connect_timeout=timeout):
            return True
    except psycopg.OperationalError:
        return False


def ensure_database(url: str) -> None:
    """Create the URL's database if the server does not have it yet."""
    dbname = parse_url(url).dbname
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        if conn.execute("select 1 from pg_database where datname = %s", (dbname,)).fetchone() is None:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(dbname)))
            log.info("created database %s", dbname)


def drop_database(url: str) -> None:
    dbname = parse_url(url).dbname
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dbname)))


def resolve_warehouse_url(env: dict[str, str] | None = None, *, say=print) -> str:
    """The URL of a running warehouse whose database exists; starts one if needed."""
    env = dict(os.environ if env is None else env)
    url = env.get("WAREHOUSE_URL")
    if url:
        if not answers(url):
            raise WarehouseUnavailable(
                f"WAREHOUSE_URL={redact(url)} does not answer. Start that server, fix the URL, "
                "or unset WAREHOUSE_URL to let the project find or start a local PostgreSQL."
            )
    elif answers(LOCALHOST_URL):
        url = LOCALHOST_URL
        say(f"warehouse: using PostgreSQL on 127.0.0.1:5432 ({redact(url)})")
    else:
        url = start_local_cluster(say=say)
    ensure_database(url)
    return url


def _postgres_bin_dir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


def _as_cluster_owner(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root; run its tools as the `postgres` user then."""
    if os.geteuid() != 0:
        return cmd
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise WarehouseUnavailable(
            "running as root and there is no `postgres` user to own a local cluster; "
            "set WAREHOUSE_URL to a PostgreSQL server instead"
        ) from None
    return ["runuser", "-u", "postgres", "--", *cmd]


def start_local_cluster(cluster_dir: Path = LOCAL_CLUSTER_DIR, port: int = LOCAL_CLUSTER_PORT, *, say=print) -> str:
    """Start (creating if needed) a private PostgreSQL cluster; return its URL."""
    url = f"postgresql://postgres@127.0.0.1:{port}/{DEFAULT_DATABASE}"
    if answers(url):
        return url
    bin_dir = _postgres_bin_dir()
    if bin_dir is None:
        raise WarehouseUnavailable(
            "no PostgreSQL found: WAREHOUSE_URL is not set, nothing answers on 127.0.0.1:5432, and no "
            "PostgreSQL server binaries (pg_ctl, initdb) are installed. Install them "
            "(Debian/Ubuntu: `apt-get install postgresql`; macOS: `brew install postgresql`) "
            "or set WAREHOUSE_URL=postgresql://user:password@host:5432/customer360."
        )
    data_dir = cluster_dir / "data"
    cluster_dir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(cluster_dir, "postgres", "postgres")
    if not (data_dir / "PG_VERSION").exists():
        say(f"warehouse: creating a local PostgreSQL cluster in {data_dir}")
        subprocess.run(
            _as_cluster_owner(
                [str(bin_dir / "initdb"), "-D", str(data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    say(f"warehouse: starting the local PostgreSQL cluster on 127.0.0.1:{port}")
    _pg_ctl(bin_dir, cluster_dir, "-o", f"-p {port} -k {cluster_dir} -c listen_addresses=127.0.0.1", "-w", "start")
    for _ in range(30):
        if answers(url):
            return url
        time.sleep(1)
    raise WarehouseUnavailable(f"the local PostgreSQL did not start; see {cluster_dir / 'server.log'}")


def main(argv: list[str] | None = None) -> int:
    """`python -m customer360.devtools.server url` prints a usable WAREHOUSE_URL (messages go to stderr)."""
    args = sys.argv[1:] if argv is None else argv
    if args != ["url"]:
        print("usage: python -m customer360.devtools.server url", file=sys.stderr)
        return 2
    try:
        url = resolve_warehouse_url(say=lambda m: print(m, file=sys.stderr))
    except WarehouseUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(url)
    return 0


def restart_local_cluster(cluster_dir: Path = LOCAL_CLUSTER_DIR) -> None:
    """Restart a private cluster the way an operator would (fast: sessions are cut, work in flight
    rolls back) and wait until it accepts connections again."""
    bin_dir = _postgres_bin_dir()
    if bin_dir is None:
        raise WarehouseUnavailable("no PostgreSQL server binaries (pg_ctl) are installed")
    _pg_ctl(bin_dir, cluster_dir, "-m", "fast", "-w", "restart")


def stop_local_cluster(cluster_dir: Path = LOCAL_CLUSTER_DIR) -> None:
    bin_dir = _postgres_bin_dir()
    if bin_dir and (cluster_dir / "data" / "postmaster.pid").exists():
        _pg_ctl(bin_dir, cluster_dir, "-m", "fast", "-w", "stop", check=False)


def _pg_ctl(bin_dir: Path, cluster_dir: Path, *args: str, check: bool = True) -> None:
    """pg_ctl on the cluster in ``cluster_dir`` (its data in data/, its log in server.log), as its owner."""
    command = [str(bin_dir / "pg_ctl"), "-D", str(cluster_dir / "data"), "-l", str(cluster_dir / "server.log"), *args]
    subprocess.run(_as_cluster_owner(command), check=check, stdout=subprocess.DEVNULL)


if __name__ == "__main__":
    sys.exit(main())
