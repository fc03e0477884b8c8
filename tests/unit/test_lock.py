"""The lock (requirements/*.txt) and pyproject.toml say the same thing.

pyproject.toml holds ranges; the lock, which every install path uses (Makefile, .ci/run, the
Containerfile), holds one version of every package with its hashes. They drift apart when one
is edited and `make lock` is not run: a dependency in pyproject.toml that the lock lacks would
be missing from every install, and a pin that nothing asks for any more would still ship.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PROJECT = canonicalize_name("regproxy")
FIX = "regenerate the lock with `make lock`"


@dataclass
class Pin:
    """One `name==version [; marker]` of the lock (a universal lock may pin a package twice,
    for different Pythons), with its hashes and what asks for it (`# via`)."""

    version: Version
    marker: Marker | None
    hashes: int = 0
    via: set[str] = field(default_factory=set)

    @property
    def direct(self) -> bool:
        """Asked for by pyproject.toml itself: `# via regproxy (pyproject.toml)`, or for the
        build backend, `# via -r requirements/build.in` (build-system.requires)."""
        return any(v == f"{PROJECT} (pyproject.toml)" or v.startswith("-r ") for v in self.via)


@dataclass
class Lock:
    name: str
    pins: dict[NormalizedName, list[Pin]]
    other_lines: list[str]


def read_lock(path: Path) -> Lock:
    """uv's (and pip-compile's) output: `name==version [; marker] \\`, its `--hash=` lines, its
    `# via` comments (one line, or `# via` then one `#   name` line each)."""
    pins: dict[NormalizedName, list[Pin]] = {}
    other: list[str] = []
    current: Pin | None = None
    in_via = False
    for line in path.read_text().splitlines():
        text = line.strip()
        if not text:
            continue
        if not line[0].isspace():
            current, in_via = None, False
            if text.startswith("#"):
                continue
            if text.startswith("-"):
                other.append(text)  # an option: an index, find-links, an editable...
                continue
            requirement = Requirement(text.removesuffix("\\").strip())
            specs = list(requirement.specifier)
            if requirement.url or len(specs) != 1 or specs[0].operator != "==":
                other.append(text)
                continue
            current = Pin(Version(specs[0].version), requirement.marker)
            pins.setdefault(canonicalize_name(requirement.name), []).append(current)
        elif current is None:
            continue
        elif text.startswith("--hash="):
            current.hashes += 1
        elif text.startswith("# via"):
            rest = text.removeprefix("# via").strip()
            in_via = not rest
            if rest:
                current.via.add(rest)
        elif in_via and text.startswith("#"):
            current.via.add(text.lstrip("#").strip())
    return Lock(path.name, pins, other)


PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def expand(requirements: Iterable[str], seen: frozenset[str] = frozenset()) -> list[Requirement]:
    """pyproject.toml's requirements, with `regproxy[extra]` replaced by that extra's own."""
    out: list[Requirement] = []
    extras: dict[str, list[str]] = PYPROJECT["project"]["optional-dependencies"]
    for text in requirements:
        requirement = Requirement(text)
        if canonicalize_name(requirement.name) != PROJECT:
            out.append(requirement)
            continue
        for extra in sorted(requirement.extras - seen):
            out += expand(extras[extra], seen | {extra})
    return out


RUNTIME = expand(PYPROJECT["project"]["dependencies"])
# Each lock file and what of pyproject.toml it pins.
EXPECTED: dict[str, list[Requirement]] = {
    "build.txt": expand(PYPROJECT["build-system"]["requires"]),
    "runtime.txt": RUNTIME,
    "test.txt": RUNTIME + expand(["regproxy[test]"]),
    "dev.txt": RUNTIME + expand(["regproxy[dev]"]),
}


def problems(lock: Lock, expected: list[Requirement]) -> list[str]:
    """Every way ``lock`` disagrees with the requirements ``expected`` of it (empty: agreed)."""
    out: list[str] = []
    where = f"requirements/{lock.name}"
    direct = {canonicalize_name(r.name) for r in expected}
    for requirement in expected:
        pins = lock.pins.get(canonicalize_name(requirement.name), [])
        if not pins:
            out.append(f"{requirement} is in pyproject.toml but not pinned in {where}")
        for pin in pins:
            if not requirement.specifier.contains(pin.version, prereleases=True):
                out.append(f"{where} pins {requirement.name}=={pin.version}, outside pyproject.toml's {requirement}")
    for name, pins in sorted(lock.pins.items()):
        for pin in pins:
            if pin.direct and name not in direct:
                out.append(f"{where} pins {name} for pyproject.toml, which does not ask for it")
            elif name not in direct and not pin.via & set(lock.pins):
                out.append(f"{where} pins {name}, which neither pyproject.toml nor another pin asks for")
            if pin.hashes == 0:
                out.append(f"{where} pins {name} without a hash")
    if PROJECT in lock.pins:
        out.append(f"{where} pins the project itself (it is installed from the checkout)")
    out += [f"{where} has a line pip cannot check by hash: {line}" for line in lock.other_lines]
    return out


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_lock_file_agrees_with_pyproject(name: str) -> None:
    path = ROOT / "requirements" / name
    assert path.is_file(), f"requirements/{name} is missing: {FIX}"
    found = problems(read_lock(path), EXPECTED[name])
    assert found == [], f"{FIX}:\n" + "\n".join(found)


def test_every_lock_file_is_expected() -> None:
    assert {p.name for p in (ROOT / "requirements").glob("*.txt")} == set(EXPECTED)


def test_a_package_has_one_version_in_every_lock_file() -> None:
    versions: dict[tuple[NormalizedName, str], dict[str, Version]] = {}
    for name in EXPECTED:
        for package, pins in read_lock(ROOT / "requirements" / name).pins.items():
            for pin in pins:
                versions.setdefault((package, str(pin.marker)), {})[name] = pin.version
    split = {package: by_file for package, by_file in versions.items() if len(set(by_file.values())) > 1}
    assert split == {}, f"one package, several versions: {FIX}"


def test_a_dependency_in_one_and_not_the_other_is_found(tmp_path: Path) -> None:
    path = tmp_path / "runtime.txt"
    path.write_text(
        "# This file was autogenerated by uv via the following command:\n"
        "#    make lock\n"
        "aiohttp==3.15.0 \\\n"
        "    --hash=sha256:00\n"
        "    # via regproxy (pyproject.toml)\n"
        "async-timeout==5.0.1 ; python_full_version < '3.11.3' \\\n"
        "    --hash=sha256:01\n"
        "    # via\n"
        "    #   -c requirements/dev.txt\n"
        "    #   redis\n"
        "redis==8.1.0 \\\n"
        "    --hash=sha256:02\n"
        "    # via regproxy (pyproject.toml)\n"
        "left-behind==1.0 \\\n"
        "    --hash=sha256:03\n"
        "    # via regproxy (pyproject.toml)\n"
        "by-hand==2.0\n"
        "regproxy @ file:///somewhere\n"
    )
    lock = read_lock(path)
    assert set(lock.pins) == {"aiohttp", "async-timeout", "redis", "left-behind", "by-hand"}
    (timeout,) = lock.pins[canonicalize_name("async-timeout")]
    assert timeout.via == {"-c requirements/dev.txt", "redis"} and not timeout.direct
    assert str(timeout.marker) == 'python_full_version < "3.11.3"'
    expected = [Requirement("aiohttp>=3.9,<3.15"), Requirement("uvloop>=0.19"), Requirement("redis>=5")]
    assert problems(lock, expected) == [
        "requirements/runtime.txt pins aiohttp==3.15.0, outside pyproject.toml's aiohttp<3.15,>=3.9",
        "uvloop>=0.19 is in pyproject.toml but not pinned in requirements/runtime.txt",
        "requirements/runtime.txt pins by-hand, which neither pyproject.toml nor another pin asks for",
        "requirements/runtime.txt pins by-hand without a hash",
        "requirements/runtime.txt pins left-behind for pyproject.toml, which does not ask for it",
        "requirements/runtime.txt has a line pip cannot check by hash: regproxy @ file:///somewhere",
    ]
