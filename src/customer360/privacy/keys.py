"""The pseudonymisation secret and the keyed hashes made with it.

A keyed hash (HMAC-SHA256) with a secret from the environment, never a bare hash:
anyone can hash a list of e-mail addresses and look them up in a bare hash, but
not without the secret. The secret comes from, in order:

  C360_PSEUDONYM_KEY        the secret itself (at least 32 characters)
  C360_PSEUDONYM_KEY_FILE   a file holding it (a Docker/Kubernetes secret, or the
                            demo's generated .local/pseudonym.key)

and nowhere else: not the repository, not the database, not dbt's SQL. A feature
that needs it stops with `PseudonymKeyMissing` when neither is set. The demo and the
tests call `ensure_local_key()`, which generates a random key into
.local/pseudonym.key (mode 0600) if none is set and says so.

Every hash is made of a kind and a normalised value (`email`, `phone`, an identifier
column, or a source record key), so the same e-mail gives the same key in every
source and different kinds never collide.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from customer360.config import PROJECT_ROOT

KEY_ENV = "C360_PSEUDONYM_KEY"
KEY_FILE_ENV = "C360_PSEUDONYM_KEY_FILE"
# Retired keys still needed to match suppressions hashed with them (see docs/operations.md: rotate the key).
PREVIOUS_KEYS_ENV = "C360_PSEUDONYM_PREVIOUS_KEYS"
LOCAL_KEY_FILE = PROJECT_ROOT / ".local" / "pseudonym.key"
MIN_KEY_LENGTH = 32
DEFAULT_PHONE_COUNTRY_CODE = "44"  # dbt var default_phone_country_code


class PseudonymKeyMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class PseudonymKey:
    """A secret and its public id (the id names the key in tables; the secret never leaves memory)."""

    secret: bytes = field(repr=False)

    @property
    def key_id(self) -> str:
        return hmac.new(self.secret, b"c360 key id", hashlib.sha256).hexdigest()[:12]

    def hasher(self) -> KeyedHasher:
        return KeyedHasher(self)


class KeyedHasher:
    """HMAC-SHA256 of `kind` + value; the keyed inner/outer states are prepared once (cheap per value)."""

    def __init__(self, key: PseudonymKey):
        self.key_id = key.key_id
        self._base = hmac.new(key.secret, digestmod=hashlib.sha256)

    def __call__(self, kind: str, value: str) -> str:
        h = self._base.copy()
        h.update(kind.encode())
        h.update(b"\x1f")
        h.update(value.encode("utf-8", "surrogatepass"))
        return h.hexdigest()


def _check(secret: str, where: str) -> PseudonymKey:
    secret = secret.strip()
    if len(secret) < MIN_KEY_LENGTH:
        raise PseudonymKeyMissing(
            f"the pseudonymisation key from {where} is shorter than {MIN_KEY_LENGTH} characters; "
            "generate one with `python -m customer360.privacy new-key`"
        )
    return PseudonymKey(secret.encode())


def load_key(env: Mapping[str, str] | None = None) -> PseudonymKey:
    """The current key, from the environment (see the module docstring); raises PseudonymKeyMissing."""
    if env is None:
        env = os.environ
    if env.get(KEY_ENV):
        return _check(env[KEY_ENV], KEY_ENV)
    if env.get(KEY_FILE_ENV):
        path = Path(env[KEY_FILE_ENV])
        try:
            return _check(path.read_text(), f"{KEY_FILE_ENV}={path}")
        except OSError as e:
            raise PseudonymKeyMissing(f"{KEY_FILE_ENV}={path} cannot be read: {e.strerror or e}") from None
    raise PseudonymKeyMissing(
        f"{KEY_ENV} is not set (nor {KEY_FILE_ENV}). Pseudonymised keys and the erasure suppression list "
        f"need a secret: generate one with `python -m customer360.privacy new-key` and set {KEY_ENV} in the "
        "environment of the pipeline (never in the repository)."
    )


def previous_keys(env: Mapping[str, str] | None = None) -> list[PseudonymKey]:
    if env is None:
        env = os.environ
    return [_check(s, PREVIOUS_KEYS_ENV) for s in env.get(PREVIOUS_KEYS_ENV, "").split(",") if s.strip()]


def new_secret() -> str:
    return secrets.token_urlsafe(48)


def _publish_new_key(path: Path) -> bool:
    """Write a new key beside ``path`` and link it into place: a reader never sees a half-written
    file, and when another process (a second test worker) got there first, its key stays. True if ours won."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".key-")  # mode 0600
    try:
        with os.fdopen(fd, "w") as f:
            f.write(new_secret())
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)


def ensure_local_key(path: Path = LOCAL_KEY_FILE, say=print) -> Path | None:
    """For the demo and tests: without a key in the environment, use (or generate) a local key file.

    Sets C360_PSEUDONYM_KEY_FILE in os.environ so child processes (Airflow) use the same key.
    Returns the file used, or None when the environment already names a key.
    """
    if os.environ.get(KEY_ENV) or os.environ.get(KEY_FILE_ENV):
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() and _publish_new_key(path):
        say(
            f"{KEY_ENV} is not set: generated a demo pseudonymisation key in {path} (mode 0600). "
            f"Set {KEY_ENV} from a secret store in production."
        )
    os.environ[KEY_FILE_ENV] = str(path)
    return path


# ---------------------------------------------------------------------------
# Normalisation: the same rules as dbt_project/macros/normalise.sql, so a key made
# here from a raw value equals the key of the value dbt standardised.

_SPACE = re.compile(r"\s", re.UNICODE)
_NOT_DIGIT = re.compile(r"[^0-9]")


def normalise_email(value: str | None) -> str | None:
    """normalise_email: lower case, no white space anywhere; empty is None."""
    if value is None:
        return None
    out = _SPACE.sub("", value).lower()
    return out or None


def normalise_phone(value: str | None, country_code: str = DEFAULT_PHONE_COUNTRY_CODE) -> str | None:
    """normalise_phone: E.164-like '+<digits>' with the macro's rules for '+', '00', a trunk '0'."""
    if value is None:
        return None
    digits = _NOT_DIGIT.sub("", value)
    if not digits:
        return None
    if value.strip().startswith("+"):
        return "+" + _NOT_DIGIT.sub("", value.replace("(0)", ""))
    if digits.startswith("00"):
        return "+" + digits[2:]
    if digits.startswith("0"):
        return "+" + country_code + digits[1:]
    if digits.startswith(country_code):
        return "+" + digits
    return "+" + country_code + digits
