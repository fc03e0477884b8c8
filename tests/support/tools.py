"""External tools the suites need: present, or a skip (locally) / a failure (CI)."""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def missing(reason: str) -> NoReturn:
    """A needed tool is absent: fail on CI, skip elsewhere.

    This is the only place a test may skip: a CI machine got every tool from
    scripts/install-deps.sh, so a missing one there is a broken build, not a skipped test.
    """
    if in_ci():
        pytest.fail(f"{reason} (CI=true: a missing tool fails the run)", pytrace=False)
    pytest.skip(reason)


def require_tool(name: str) -> str:
    """The absolute path of ``name``; without it, :func:`missing`."""
    path = shutil.which(name)
    if path is not None:
        return path
    missing(f"`{name}` is not installed (scripts/install-deps.sh installs it)")
