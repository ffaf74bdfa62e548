"""No secrets in the repository: every connection and key comes from the environment."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# What a committed secret looks like. Placeholders (${VAR}, change-me) are not secrets.
PATTERNS = {
    # user:secret@ where the secret is not a ${VAR}, a {format field}, *** or the word "password"
    "password in a connection URL": re.compile(r"\b[a-z+]+://[^\s:/@'\"{]+:(?!\$\{|\{|\*\*\*|password@)[^\s@/'\"]+@"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "password or secret assigned a literal": re.compile(
        # a quoted literal of 8+ characters that is not "$VAR", "${VAR}", an ENV_VAR_NAME, change-me
        # or the name of a variable holding one (psql's :'airflow_password')
        r"(?i)\b\w*(password|passwd|secret|api_key|token)\w*\s*[:=]\s*['\"](?!\$)(?!change-me)(?!\w*password['\"])"
        r"(?-i:(?![A-Z0-9_]+['\"]))[^'\"\s]{8,}['\"]"
    ),
}
# Tests build throwaway credentials on purpose (fakes, or random per run); everything
# else that is tracked must hold none.
ALLOWED_DIRS = ("tests/",)


def tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [ROOT / name for name in out.decode().split("\0") if name]


def test_no_secret_is_committed():
    found = []
    for path in tracked_files():
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(ALLOWED_DIRS) or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary
        for kind, pattern in PATTERNS.items():
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{rel}:{line}: {kind}")
    assert found == [], "move these to the environment (or .env, which is git-ignored):\n" + "\n".join(found)


def test_the_patterns_catch_what_they_are_for():
    assert PATTERNS["password in a connection URL"].search("postgresql://c360:hunter22@db:5432/x")
    assert not PATTERNS["password in a connection URL"].search("postgresql://c360:${WAREHOUSE_PASSWORD}@db/x")
    assert not PATTERNS["password in a connection URL"].search("postgresql://postgres@127.0.0.1:5432/customer360")
    assert PATTERNS["password or secret assigned a literal"].search('jwt_secret = "9f8e7d6c5b4a"')
    assert not PATTERNS["password or secret assigned a literal"].search('password: "${AIRFLOW_ADMIN_PASSWORD}"')
    assert not PATTERNS["password or secret assigned a literal"].search('PASSWORD_ENV = "C360_BI_PASSWORD"')


def test_env_files_with_real_values_are_ignored():
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT).returncode == 0
    assert ignored, ".env must be git-ignored"
    assert (ROOT / ".env.example").exists()
