"""buildah through regproxy with the token service: pull, push, and a push into a second
repository (a cross-repository mount) work as before; a reader's push is denied."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import MakeProxy
from tests.support import Proxy, Registry, request
from tests.support.clients import Buildah
from tests.support.distribution import push_image
from tests.support.examples import ALICE, BOB, unique
from tests.support.oci import build_image
from tests.support.tokens import write_ec_key


@pytest.fixture
def buildah(tmp_path: Path) -> Iterator[Buildah]:
    client = Buildah(tmp_path / "buildah")
    yield client
    client.close()


@pytest.fixture
def gate(make_proxy: MakeProxy, tmp_path: Path) -> Proxy:
    return make_proxy(settings={"tokens": {"signing_key": str(write_ec_key(tmp_path / "signing.pem"))}})


def creds(who: tuple[str, str]) -> str:
    return f"{who[0]}:{who[1]}"


def test_buildah_pulls_pushes_and_mounts_through_the_token_flow(
    buildah: Buildah, gate: Proxy, registry: Registry
) -> None:
    base = unique("buildah")
    source, copy = f"team-a/{base}/app", f"team-a/{base}/copy"
    push_image(registry.url, source, build_image((4096, 2048)), "v1")

    pulled = buildah.pull(f"docker://{gate.address}/{source}:v1", creds=creds(BOB))
    assert pulled.ok, str(pulled)
    image = pulled.stdout.strip().splitlines()[-1]

    pushed = buildah.push(image, f"docker://{gate.address}/{copy}:v2", creds=creds(ALICE))
    assert pushed.ok, str(pushed)
    assert request(registry.url, "GET", f"/v2/{copy}/tags/list").json()["tags"] == ["v2"]
    mounts = [line for line in registry.requests() if f"POST /v2/{copy}/blobs/uploads/?" in line and "mount=" in line]
    assert mounts, "buildah mounted the layers it pulled from the source (pull on the source granted)"

    refused = buildah.push(image, f"docker://{gate.address}/{copy}:v3", creds=creds(BOB))
    assert not refused.ok
    text = str(refused).lower()
    assert "denied" in text or "403" in text or "unauthorized" in text, text
    assert request(registry.url, "GET", f"/v2/{copy}/tags/list").json()["tags"] == ["v2"]
