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
from tests.support import Registry
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


def test_push_and_pull_through_a_registry_that_demands_credentials(
    guarded_registry: Registry, make_proxy: MakeProxy, tmp_path: Path
) -> None:
    password = tmp_path / "upstream-password"
    password.write_text("svc-secret\n")
    proxy = make_proxy(
        upstream_url=guarded_registry.url,
        settings={
            "upstream": {
                "url": guarded_registry.url,
                "auth": "basic",
                "username": "svc",
                "password_file": str(password),
            }
        },
    )
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
    password = tmp_path / "upstream-password"
    password.write_text("not-the-secret\n")
    proxy = make_proxy(
        upstream_url=guarded_registry.url,
        settings={
            "upstream": {
                "url": guarded_registry.url,
                "auth": "basic",
                "username": "svc",
                "password_file": str(password),
            }
        },
    )
    response = request(proxy.url, "GET", "/v2/team-a/anything/tags/list", auth=BOB)
    assert response.status == 503
    assert b"UNAVAILABLE" in response.body
    assert "upstream-realm" not in response.headers.get("WWW-Authenticate", "")
