"""podman and skopeo pull through regproxy from distribution on S3 with redirects.

Each client gets the registry's 307 for every blob from regproxy and follows it to the storage
server (moto on loopback); regproxy's ``regproxy_bytes_total{direction="down"}`` grows by
manifest bytes only, never by a blob's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import MakePodman
from tests.support import Image, Proxy, Skopeo, build_image, digest_of, write_layout
from tests.support.examples import ALICE, BOB, unique
from tests.support.operations import scrape
from tests.support.processes import wait_until
from tests.support.upstreams import UpstreamRegistry

pytestmark = pytest.mark.e2e

LAYERS = (300 * 1024, 200 * 1024)


@pytest.fixture
def image() -> Image:
    return build_image(LAYERS)


def creds(account: tuple[str, str]) -> str:
    return f"{account[0]}:{account[1]}"


def pushed_repository(skopeo: Skopeo, proxy: Proxy, image: Image, tmp_path: Path) -> str:
    repository = f"team-a/{unique('s3')}/app"
    layout = write_layout(tmp_path / "layout", image)
    run = skopeo.copy(f"oci:{layout}:latest", f"docker://{proxy.address}/{repository}:v1", dest_creds=creds(ALICE))
    assert run.ok, str(run)
    return repository


def down_bytes(proxy: Proxy) -> float:
    return scrape(proxy.admin_url).value("regproxy_bytes_total", direction="down")


def assert_only_manifests_moved(proxy: Proxy, before: float, image: Image) -> None:
    """The down counter grew by whole manifests only (a client may fetch it more than once)."""
    moved = wait_until(lambda: (down_bytes(proxy) - before) or None, timeout=10, what="the manifest bytes counted")
    assert moved % image.manifest.size == 0, (moved, image.manifest.size)
    assert moved < min(layer.size for layer in image.layers), moved


def test_skopeo_pulls_through_the_storage_redirect(
    skopeo: Skopeo, s3_proxy: Proxy, s3_registry: UpstreamRegistry, image: Image, tmp_path: Path
) -> None:
    repository = pushed_repository(skopeo, s3_proxy, image, tmp_path)
    before = down_bytes(s3_proxy)
    pulled = skopeo.copy(
        f"docker://{s3_proxy.address}/{repository}:v1", f"oci:{tmp_path / 'pulled'}:latest", src_creds=creds(BOB)
    )
    assert pulled.ok, str(pulled)
    index = (tmp_path / "pulled" / "index.json").read_text()
    assert image.digest in index
    for blob in image.blobs:
        stored = tmp_path / "pulled" / "blobs" / "sha256" / blob.digest.removeprefix("sha256:")
        assert digest_of(stored.read_bytes()) == blob.digest
    assert_only_manifests_moved(s3_proxy, before, image)
    redirected = [line for line in s3_registry.saw(f"/v2/{repository}/blobs/sha256:") if '" 307 ' in line]
    assert len(redirected) >= len(image.blobs)


def test_podman_pulls_through_the_storage_redirect(
    skopeo: Skopeo, podman_for: MakePodman, s3_proxy: Proxy, image: Image, tmp_path: Path
) -> None:
    repository = pushed_repository(skopeo, s3_proxy, image, tmp_path)
    bob = podman_for("bob")
    assert bob.login(s3_proxy.address, *BOB).ok
    before = down_bytes(s3_proxy)  # after the login, whose `GET /v2/` answers `{}`
    pulled = bob.pull(f"{s3_proxy.address}/{repository}:v1")
    assert pulled.ok, str(pulled)
    assert bob.image_digest(f"{s3_proxy.address}/{repository}:v1") == image.digest
    assert_only_manifests_moved(s3_proxy, before, image)
