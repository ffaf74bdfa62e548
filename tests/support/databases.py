"""Throw-away databases on the test server: named c360_test_*, created here and dropped by their user."""

from __future__ import annotations

import uuid

from customer360.config import with_database
from customer360.devtools.server import ensure_database


def make_test_database(server_url: str, label: str) -> str:
    url = with_database(server_url, f"c360_test_{label}_{uuid.uuid4().hex[:8]}")
    ensure_database(url)
    return url
