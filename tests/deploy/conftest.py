"""Fixtures for the deployment tests: where deploy/ is, and the external checkers they run.

A checker these tests need (systemd-analyze, kubernetes-validate) is part of the project's
install, so in CI (``CI=true``) its absence fails the run; on a developer's machine the tests
that need it are skipped, with the reason and the command that installs it.
"""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.tools import missing

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


@pytest.fixture(scope="session")
def systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        missing("systemd-analyze not found: apt-get install systemd")
    return path


@pytest.fixture(scope="session")
def kubernetes_validate() -> ModuleType:
    try:
        return importlib.import_module("kubernetes_validate")
    except ImportError:
        missing("kubernetes-validate not installed: pip install '.[test]'")
