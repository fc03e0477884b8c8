"""oras-py through regproxy with the token service: the Docker token flow, end to end.

oras-py asks the token endpoint for exactly the scope of the challenge it meets, and keeps that
token: on a 401 it retries once with the token it holds, and fetches a new one only after a 403
that carries a challenge (oras/provider.py ``do_request``, oras/auth/token.py, 0.2.43). A pull
works in token mode. A push starts with a HEAD of a blob (challenged for ``pull``), so its
upload then meets 401 ``insufficient_scope`` naming ``pull,push``, as distribution's registry
answers it; oras-py retries with its pull-only token, and regproxy answers that same token for
the same scopes with 403 carrying the same challenge (regproxy/server/rechallenge.py), on which
oras-py fetches a token for the challenged scopes and the push goes through.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MakeProxy
from tests.support.examples import ALICE, BOB, unique
from tests.support.http import request
from tests.support.proxy import Proxy
from tests.support.registry import Registry
from tests.support.tokens import write_ec_key
from tests.support.tools import missing


@pytest.fixture(autouse=True)
def _oras_installed() -> None:
    """oras-py comes with the lock; without it, the one place that decides skip or fail does."""
    if importlib.util.find_spec("oras") is None:
        missing("oras-py is not installed (make deps-test installs it from the lock)")


@pytest.fixture
def gate(make_proxy: MakeProxy, tmp_path: Path) -> Proxy:
    key = write_ec_key(tmp_path / "signing.pem")
    return make_proxy(settings={"tokens": {"signing_key": str(key)}})


def oras_client(proxy: Proxy, who: tuple[str, str], backend: str) -> Any:
    import oras.client  # type: ignore[import-untyped]  # noqa: PLC0415 - optional, imported when the test runs

    client = oras.client.OrasClient(hostname=proxy.address, insecure=True, auth_backend=backend)
    # in memory only: oras-py's login() would write a docker config file into $HOME
    client.auth.set_basic_auth(*who)
    return client


@pytest.fixture
def artifact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # oras-py pushes files from the working directory only
    path = tmp_path / "artifact.txt"
    path.write_text("hello through regproxy\n")
    return path


def pull_text(proxy: Proxy, reference: str, out: Path) -> list[str]:
    files = oras_client(proxy, BOB, "token").pull(target=reference, outdir=str(out))
    return [Path(f).read_text() for f in files]


def test_oras_pulls_in_token_mode_what_it_pushed(
    gate: Proxy, registry: Registry, artifact: Path, tmp_path: Path
) -> None:
    """alice pushes (oras-py sends Basic on every request), bob pulls in token mode."""
    repo = f"team-a/{unique('oras')}/artifact"
    pushed = oras_client(gate, ALICE, "basic").push(target=f"{gate.address}/{repo}:v1", files=[artifact.name])
    assert pushed.status_code in (200, 201), pushed.text
    assert request(registry.url, "GET", f"/v2/{repo}/tags/list").json()["tags"] == ["v1"]
    assert pull_text(gate, f"{gate.address}/{repo}:v1", tmp_path / "pulled") == ["hello through regproxy\n"]


def test_oras_pushes_in_token_mode(gate: Proxy, registry: Registry, artifact: Path, tmp_path: Path) -> None:
    """The upload's 401 insufficient_scope, then (same token again) the 403 with the challenge:
    oras-py fetches a push token and the push goes through."""
    repo = f"team-a/{unique('oras-token')}/artifact"
    pushed = oras_client(gate, ALICE, "token").push(target=f"{gate.address}/{repo}:v1", files=[artifact.name])
    assert pushed.status_code in (200, 201), pushed.text
    assert request(registry.url, "GET", f"/v2/{repo}/tags/list").json()["tags"] == ["v1"]
    assert pull_text(gate, f"{gate.address}/{repo}:v1", tmp_path / "pulled") == ["hello through regproxy\n"]
