"""bench/loadtest.py without matplotlib: the text reports are written, the plot is skipped (and
it says so), and the exit status is the run's own (0: no request failed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import Proxy
from tests.support.examples import ALICE, unique
from tests.support.proxy import ROOT

pytestmark = pytest.mark.integration


def test_without_matplotlib_the_reports_are_written_and_the_status_is_the_runs(proxy: Proxy, tmp_path: Path) -> None:
    blocker = tmp_path / "no-matplotlib" / "matplotlib"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text('raise ImportError("matplotlib is blocked for this test")\n')
    out = tmp_path / "report"
    env = {**os.environ, "PYTHONPATH": str(blocker.parent), "LOADTEST_PASSWORD": ALICE[1]}
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "loadtest.py"),
            "--url",
            proxy.url,
            "--user",
            ALICE[0],
            "--repository",
            f"team-a/{unique('loadtest')}",
            "--concurrency",
            "2",
            "--duration",
            "2",
            "--layers",
            "1",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "plot skipped: matplotlib is not installed" in result.stderr, result.stderr[-2000:]
    assert out.with_suffix(".md").read_text().startswith("# Load test")
    assert out.with_suffix(".json").exists() and not out.with_suffix(".png").exists()
