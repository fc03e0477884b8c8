"""The layering holds: the pure core does no I/O and never reaches up into the edge.

pure core   regproxy.oci, regproxy.policy, regproxy.identity (but its adapters), errors,
            authorization, sources  — stdlib, orjson, pyjwt, cachetools, yaml; no sockets, no files
adapters    identity.jwks, identity.basic, proxy.upstream, reload, audit, metrics
edge        regproxy.server         — aiohttp.web
entry       regproxy.cli, regproxy.server.run — the only uvloop import
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "regproxy"
CORE_PACKAGES = ("oci", "policy", "identity", "authorization", "sources")
# The two adapters inside identity/: the JWKS fetcher (aiohttp client) and the Basic verifier
# (bcrypt off the event loop through asyncio). No core module may import them, even indirectly.
ADAPTERS = {"identity/jwks.py", "identity/basic.py"}
CORE = sorted(
    p
    for p in ROOT.rglob("*.py")
    if p.relative_to(ROOT).parts[0] in CORE_PACKAGES or p.name == "errors.py"
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


@functools.cache
def imports_of(path: Path) -> frozenset[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return frozenset(names)


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


def module_name(path: Path) -> str:
    parts = ("regproxy", *path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The regproxy module ``name`` (or ``name``'s package, for ``from pkg import symbol``)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


MODULES = {module_name(p): p for p in ROOT.rglob("*.py")}
# Every import, at module level or inside a function (a deferred import is still a dependency).
GRAPH = {
    name: {r for n in imports_of(path) if n.startswith("regproxy") and (r := resolve(n, MODULES)) and r != name}
    for name, path in MODULES.items()
}


def reachable(start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in GRAPH[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


CORE_NAMES = {module_name(p) for p in CORE}
ADAPTER_NAMES = {module_name(ROOT / a) for a in ADAPTERS}


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(ROOT)))
def test_core_module_reaches_only_core_modules_even_indirectly(path: Path) -> None:
    name = module_name(path)
    outside = {m for m in reachable(name) if m not in CORE_NAMES and m != "regproxy"}
    assert not outside, f"{name} reaches {sorted(outside)}"
    third_party = {
        n
        for m in reachable(name) | {name}
        for n in imports_of(MODULES[m])
        for f in FORBIDDEN_IN_CORE
        if n == f or n.startswith(f + ".")
    }
    assert not third_party, f"{name} reaches {sorted(third_party)} through its imports"


def test_identity_and_policy_do_not_import_each_other() -> None:
    """policy builds on identity (principals, globs); identity does not build on policy. A
    session policy (an Alibaba document on a short-lived credential) is compiled by the policy
    layer through a compiler it installs in identity.session_policy."""
    users = {
        m for m in MODULES if m.startswith("regproxy.identity") for d in GRAPH[m] if d.startswith("regproxy.policy")
    }
    assert not users, users


# Calls that reach the file system, the network or another process. The core takes text and
# returns values; the edge (cli, server, reload) reads files and sockets.
IO_NAMES = {"open", "input", "print", "exec", "eval", "compile", "__import__"}
IO_ATTRIBUTES = {
    "read_text",
    "read_bytes",
    "write_text",
    "write_bytes",
    "open",
    "iterdir",
    "glob",
    "rglob",
    "exists",
    "is_file",
    "is_dir",
    "stat",
    "listdir",
    "scandir",
    "walk",
    "unlink",
    "mkdir",
    "rename",
    "replace_file",
    "getaddrinfo",
    "create_connection",
    "open_connection",
    "urlopen",
    "system",
    "popen",
    "getenv",
}
IO_MODULES = ("os", "io", "pathlib", "shutil", "tempfile", "glob", "urllib.request", "http", "ssl", "select")
# Justified exceptions, by module and name:
IO_EXCEPTIONS = {
    # `re.compile` and the built-in `compile` share a name; the core compiles regexes, never code.
    ("*", "compile"),
    # A password hash's salt comes from `os.urandom`, the kernel's CSPRNG; no file, no socket.
    ("identity/passwords.py", "os"),
    # Settings hold paths as `Path` values (joined to the file's directory, never opened: the
    # calls that would touch the file system are checked by name above).
    ("config.py", "pathlib"),
    ("settings/parse.py", "pathlib"),
    ("settings/values.py", "pathlib"),
}


def io_uses(path: Path, source: str | None = None) -> set[str]:
    found: set[str] = set()
    tree = ast.parse(path.read_text() if source is None else source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in IO_NAMES:
                found.add(func.id)
            elif isinstance(func, ast.Attribute) and func.attr in IO_ATTRIBUTES:
                found.add(func.attr)
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names} | {
        n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
    }
    found |= {n for n in imported for m in IO_MODULES if n == m or n.startswith(m + ".")}
    return {f for f in found if ("*", f) not in IO_EXCEPTIONS and (str(path.relative_to(ROOT)), f) not in IO_EXCEPTIONS}


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(ROOT)))
def test_core_module_reads_no_files_and_opens_no_sockets(path: Path) -> None:
    assert not io_uses(path), f"{path.relative_to(ROOT)} does I/O: {sorted(io_uses(path))}"


def test_the_io_check_sees_io() -> None:
    source = "from pathlib import Path\nimport os\nopen('x')\nPath('y').read_text()\nos.listdir('.')\n"
    assert io_uses(ROOT / "oci" / "x.py", source) == {"open", "read_text", "listdir", "pathlib", "os"}
    assert io_uses(ROOT / "oci" / "x.py", "import re\nre.compile('a')\n") == set()


def test_the_import_graph_follows_imports_through_modules() -> None:
    assert "regproxy.identity.jwks" in reachable("regproxy.server.wiring")
    assert "regproxy.sources.yamlsource" in reachable("regproxy.server.wiring")


# The settings are parsed without I/O too: only settings/files.py (the edge) reads files.
PURE_SETTINGS = ["config.py", "settings/declare.py", "settings/parse.py", "settings/values.py"]


@pytest.mark.parametrize("name", PURE_SETTINGS)
def test_settings_are_parsed_without_reading_files(name: str) -> None:
    assert not io_uses(ROOT / name), f"{name} does I/O: {sorted(io_uses(ROOT / name))}"
    assert "regproxy.settings.files" not in reachable(module_name(ROOT / name))


def test_config_imports_of_the_policy_layer_only_the_dialect_sections() -> None:
    policy = {m for m in GRAPH["regproxy.config"] if m.startswith("regproxy.policy")}
    assert policy <= {"regproxy.policy.dialects"}, policy
