"""External tools the suites need: present, or a skip (locally) / a failure (CI)."""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(name: str) -> str:
    """The absolute path of ``name``; without it, fail on CI and skip elsewhere.

    This is the only place a test may skip: a CI machine got every tool from
    scripts/install-deps.sh, so a missing one there is a broken build, not a skipped test.
    """
    path = shutil.which(name)
    if path is not None:
        return path
    reason = f"`{name}` is not installed (scripts/install-deps.sh installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)
