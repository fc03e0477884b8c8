"""Fixtures the end-to-end suites share: real clients, each with state of its own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.clients import Podman, Skopeo

MakePodman = Callable[[str], Podman]


@pytest.fixture
def skopeo(tmp_path: Path) -> Skopeo:
    return Skopeo(tmp_path / "skopeo")


@pytest.fixture
def podman_for(tmp_path: Path) -> Iterator[MakePodman]:
    """``podman_for(name)``: a podman with storage of its own, what one user's machine has."""
    made: list[Podman] = []

    def make(name: str) -> Podman:
        made.append(Podman(tmp_path / f"podman-{name}"))
        return made[-1]

    yield make
    for client in made:
        client.close()
