"""Tests mirror the package: ``regproxy/x/y.py`` has ``tests/unit/x/test_y.py`` (or an
integration or end-to-end test module of that name), like mitmproxy's filename matching.

Top-level modules (``regproxy/y.py``) are tested in ``tests/unit/core/``. A package's
``__init__.py`` needs its own test module only when it holds more than re-exports; the few
modules without one are listed below with the reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROOT = REPO / "regproxy"
TESTS = REPO / "tests"

EXEMPT = {
    "__init__.py": "the package's docstring and __version__ only",
    "__main__.py": "`python -m regproxy`: two lines handing over to cli.main (tested in core/test_cli.py)",
    "server/worker.py": "a worker process's entry point: started by the supervisor in tests/integration",
}


def expected_test_name(path: Path) -> tuple[str, str]:
    """(test directory under tests/unit, test module name) for a module of the package."""
    rel = path.relative_to(ROOT)
    folder = "/".join(rel.parts[:-1]) or "core"
    stem = rel.stem if rel.stem != "__init__" else (rel.parts[-2] if len(rel.parts) > 1 else "regproxy")
    return folder, f"test_{stem}.py"


def only_reexports(path: Path) -> bool:
    """A module of imports, ``__all__`` and a docstring only."""
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        if isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            continue
        return False
    return True


MODULES = sorted(p for p in ROOT.rglob("*.py") if "__pycache__" not in p.parts)


def has_test(path: Path) -> bool:
    folder, name = expected_test_name(path)
    return (TESTS / "unit" / folder / name).is_file() or any(
        (TESTS / kind / name).is_file() for kind in ("integration", "e2e")
    )


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_module_has_a_test_module_of_its_name(path: Path) -> None:
    rel = str(path.relative_to(ROOT))
    if rel in EXEMPT or (path.name == "__init__.py" and only_reexports(path)):
        return
    folder, name = expected_test_name(path)
    assert has_test(path), f"regproxy/{rel} has no tests/unit/{folder}/{name}"


def test_the_exemptions_name_modules_that_exist_and_lack_tests() -> None:
    for rel in EXEMPT:
        assert (ROOT / rel).is_file(), rel
        assert not has_test(ROOT / rel), f"{rel} has a test module now: drop its exemption"


def test_the_name_rule() -> None:
    assert expected_test_name(ROOT / "identity" / "tokens.py") == ("identity", "test_tokens.py")
    assert expected_test_name(ROOT / "audit.py") == ("core", "test_audit.py")
    assert expected_test_name(ROOT / "policy" / "dialects" / "__init__.py") == ("policy/dialects", "test_dialects.py")
