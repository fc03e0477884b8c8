"""Anonymous pulls of public repositories through the token flow, as docker, podman and skopeo
do them: 401 on /v2/, an anonymous token from regproxy's token service, then the pull. The
same anonymous caller gets no push and nothing outside the public repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import MakeProxy
from tests.support import Registry
from tests.support.clients import Podman, Skopeo
from tests.support.distribution import push_image
from tests.support.examples import unique
from tests.support.http import request
from tests.support.oci import build_image, write_layout
from tests.support.tokens import write_ec_key

pytestmark = pytest.mark.e2e


def test_anonymous_pull_of_a_public_repository_follows_the_token_flow(
    registry: Registry, make_proxy: MakeProxy, tmp_path: Path
) -> None:
    key = write_ec_key(tmp_path / "signing.pem")
    proxy = make_proxy(public=("library/**",), settings={"tokens": {"signing_key": str(key)}})
    public, private = f"library/{unique('anon')}", f"team-a/{unique('anon')}"
    image = build_image()
    push_image(registry.url, public, image, "v1")
    push_image(registry.url, private, image, "v1")

    challenge = request(proxy.url, "GET", "/v2/")
    assert challenge.status == 401
    assert (challenge.header("WWW-Authenticate") or "").startswith('Bearer realm="')

    skopeo = Skopeo(tmp_path / "skopeo")
    pulled = skopeo.copy(f"docker://{proxy.address}/{public}:v1", f"oci:{tmp_path / 'out'}:v1")
    assert pulled.ok, str(pulled)

    podman = Podman(tmp_path / "podman")
    try:
        assert podman.run("pull", "--tls-verify=false", f"{proxy.address}/{public}:v1").ok
    finally:
        podman.close()

    refused = skopeo.copy(f"docker://{proxy.address}/{private}:v1", f"oci:{tmp_path / 'private'}:v1")
    assert not refused.ok
    layout = write_layout(tmp_path / "layout", image)
    pushed = skopeo.copy(f"oci:{layout}:latest", f"docker://{proxy.address}/{public}:v2")
    assert not pushed.ok
    assert not registry.saw(f"/v2/{public}/manifests/v2")
