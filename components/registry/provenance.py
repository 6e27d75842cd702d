"""What a push record says about where a model came from: the code and the data."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
from typing import Any

PACKAGE = "tfx-image-classifier"
# Set in the pipeline image (deploy/Dockerfile), where the source has no .git folder.
CODE_VERSION_ENV = "CODE_VERSION"
_SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _git(*args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", _SOURCE_ROOT, *args], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def code_version() -> str:
    """`<package version>+<git commit>[.dirty]` from a checkout; in the pipeline image, which
    holds no checkout and no installed project, the same string `make image` computed here."""
    commit = _git("rev-parse", "--short=12", "HEAD")
    if not commit:
        return os.environ.get(CODE_VERSION_ENV) or _package_version()
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return f"{_package_version()}+{commit}{'.dirty' if dirty else ''}"


def _package_version() -> str:
    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def data_provenance(examples_uri: str, custom_properties: dict[str, Any]) -> dict[str, Any]:
    """The examples a model was trained on: ExampleGen's fingerprint of its input files and
    span (TFX's own change detection), and the artifact that holds the examples."""
    return {
        "examples_uri": examples_uri,
        "input_fingerprint": custom_properties.get("input_fingerprint"),
        "span": custom_properties.get("span"),
    }
