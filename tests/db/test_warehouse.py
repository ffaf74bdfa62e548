"""Finding a warehouse on a real server: a private cluster when nothing answers, and the URL the command prints."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid

import psycopg
import pytest

from customer360.config import PROJECT_ROOT
from customer360.devtools import server
from tests.support.clusters import free_port


@pytest.mark.skipif(server._postgres_bin_dir() is None, reason="no PostgreSQL server binaries on this machine")
def test_a_private_cluster_is_started_when_nothing_answers():
    # Under the project, as `make demo` does: when run as root, the cluster's owner must reach it.
    cluster_dir = PROJECT_ROOT / ".local" / f"test-postgres-{uuid.uuid4().hex[:8]}"
    port = free_port()
    messages: list[str] = []
    url = server.start_local_cluster(cluster_dir, port, say=messages.append)
    try:
        server.ensure_database(url)
        with psycopg.connect(url) as conn:
            assert conn.execute("select current_database()").fetchone()[0] == "customer360"
        assert any("creating a local PostgreSQL cluster" in m for m in messages)
        # A second call finds it running and starts nothing.
        again: list[str] = []
        assert server.start_local_cluster(cluster_dir, port, say=again.append) == url and again == []
    finally:
        server.stop_local_cluster(cluster_dir)
        shutil.rmtree(cluster_dir, ignore_errors=True)


def test_python_m_warehouse_url_prints_a_usable_url():
    out = subprocess.run(
        [sys.executable, "-m", "customer360.devtools.server", "url"], capture_output=True, text=True, check=True
    )
    with psycopg.connect(out.stdout.strip(), connect_timeout=5) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
