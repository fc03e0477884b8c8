"""regproxy's own credentials towards a registry that demands them (distribution's htpasswd auth).

Clients authenticate to regproxy; regproxy authenticates to the registry with its service
credential. The registry's own challenge never reaches the client, and wrong service
credentials are a 503 for the client (the registry is unusable), never a pass-through 401.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest

from tests.conftest import MakeProxy
from tests.support import Proxy, Registry
from tests.support.distribution import manifest_headers, push_image
from tests.support.examples import ALICE, BOB, unique
from tests.support.http import request
from tests.support.oci import build_image

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def guarded_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    workdir = tmp_path_factory.mktemp("guarded-registry")
    htpasswd = workdir / "htpasswd"
    htpasswd.write_text("svc:" + bcrypt.hashpw(b"svc-secret", bcrypt.gensalt(rounds=4)).decode() + "\n")
    registry = Registry(workdir, htpasswd=htpasswd).start()
    yield registry
    registry.stop()


def proxy_with_service_password(make_proxy: MakeProxy, registry: Registry, tmp_path: Path, password: str) -> Proxy:
    """regproxy in front of ``registry``, logging in to it as `svc` with ``password``."""
    secret = tmp_path / "upstream-password"
    secret.write_text(password + "\n")
    upstream = {"url": registry.url, "auth": "basic", "username": "svc", "password_file": str(secret)}
    return make_proxy(upstream_url=registry.url, settings={"upstream": upstream})


def test_push_and_pull_through_a_registry_that_demands_credentials(
    guarded_registry: Registry, make_proxy: MakeProxy, tmp_path: Path
) -> None:
    proxy = proxy_with_service_password(make_proxy, guarded_registry, tmp_path, "svc-secret")
    repository = unique("team-a/guarded")
    image = build_image()
    push_image(proxy.url, repository, image, "latest", auth=ALICE)
    pulled = request(proxy.url, "GET", f"/v2/{repository}/manifests/latest", auth=BOB, headers=manifest_headers())
    assert pulled.status == 200 and pulled.body == image.manifest.data
    # the registry itself still refuses anyone without the service credential
    assert request(guarded_registry.url, "GET", f"/v2/{repository}/manifests/latest").status == 401


def test_wrong_service_credentials_are_unavailable_and_the_registry_challenge_stays_hidden(
    guarded_registry: Registry, make_proxy: MakeProxy, tmp_path: Path
) -> None:
    proxy = proxy_with_service_password(make_proxy, guarded_registry, tmp_path, "not-the-secret")
    response = request(proxy.url, "GET", "/v2/team-a/anything/tags/list", auth=BOB)
    assert response.status == 503
    assert b"UNAVAILABLE" in response.body
    assert "upstream-realm" not in response.headers.get("WWW-Authenticate", "")
