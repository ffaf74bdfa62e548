"""Model artifacts on disk, guarded by a SHA-256 checksum.

Only load artifacts this project wrote: joblib files are pickles, and the
checksum (kept in ml.model_registry) is what stops a swapped or corrupted
file from being unpickled.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import joblib


class ArtifactChecksumError(RuntimeError):
    """The artifact on disk is not the one that was registered."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_artifact(obj: Any, path: Path) -> str:
    """Write ``obj`` atomically with joblib and return the file's SHA-256."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    joblib.dump(obj, tmp, compress=3)
    os.replace(tmp, path)
    return file_sha256(path)


def load_artifact(path: Path, expected_sha256: str) -> Any:
    """Load an artifact after checking its SHA-256; refuse on mismatch."""
    path = Path(path)
    actual = file_sha256(path)
    if actual != expected_sha256:
        raise ArtifactChecksumError(
            f"refusing to load {path.name}: sha256 {actual[:12]}... does not match the registered "
            f"{expected_sha256[:12]}..."
        )
    return joblib.load(path)
