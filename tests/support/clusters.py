"""Private PostgreSQL clusters for tests that must stop or restart a server without disturbing the
one every other test (and the other pytest-xdist worker) uses."""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from customer360.devtools.server import start_local_cluster, stop_local_cluster


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def private_cluster() -> Iterator[tuple[str, Path]]:
    """A new cluster on a free port: its URL and folder; stopped and removed afterwards."""
    cluster_dir = Path(tempfile.mkdtemp(prefix="c360-test-pg-"))  # outside pytest's 0700 folders: postgres reads it
    try:
        yield start_local_cluster(cluster_dir, free_port(), say=lambda _: None), cluster_dir
    finally:
        stop_local_cluster(cluster_dir)
        shutil.rmtree(cluster_dir, ignore_errors=True)
