"""The layering holds: the pure core does no I/O and never reaches up into the edge.

pure core   regproxy.oci, regproxy.policy, regproxy.identity (but its adapters), errors,
            authorization           — stdlib, orjson, pyjwt, cachetools, yaml; no sockets
adapters    identity.jwks, identity.basic, proxy.upstream, reload, audit, metrics
edge        regproxy.server         — aiohttp.web
entry       regproxy.cli, regproxy.server.run — the only uvloop import
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "regproxy"
ADAPTERS = {"identity/jwks.py", "identity/basic.py"}
CORE = sorted(
    p
    for p in ROOT.rglob("*.py")
    if p.relative_to(ROOT).parts[0] in ("oci", "policy", "identity", "authorization") or p.name == "errors.py"
    if str(p.relative_to(ROOT)) not in ADAPTERS
)
FORBIDDEN_IN_CORE = (
    "aiohttp",
    "uvloop",
    "socket",
    "asyncio",
    "subprocess",
    "regproxy.server",
    "regproxy.proxy",
    "regproxy.reload",
    "regproxy.cli",
    "regproxy.audit",
    "regproxy.metrics",
)


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(ROOT)))
def test_core_module_does_no_io_and_imports_no_edge(path: Path) -> None:
    bad = {n for n in imports_of(path) for f in FORBIDDEN_IN_CORE if n == f or n.startswith(f + ".")}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_core_is_not_empty() -> None:
    assert len(CORE) > 20


def test_only_the_entry_point_imports_uvloop() -> None:
    users = {str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py") if any(n.startswith("uvloop") for n in imports_of(p))}
    assert users == {"server/run.py"}


def test_only_the_edge_imports_aiohttp_web() -> None:
    users = {
        str(p.relative_to(ROOT))
        for p in ROOT.rglob("*.py")
        if any(n == "aiohttp.web" or n.startswith("aiohttp.web_") for n in imports_of(p))
        or "from aiohttp import web" in p.read_text()
    }
    assert users and all(u.startswith("server/") for u in users), users
