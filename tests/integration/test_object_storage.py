"""regproxy in front of distribution on object storage with redirects (S3 driver, ``redirect``).

The registry stores blobs in S3 (moto's server mode on loopback, a real S3 API) and answers a
blob GET with a 307 to a presigned storage URL. regproxy authorizes the GET, then hands the
registry's 307 to the client as it came: the storage URL is off the registry's origin, so it is
not rewritten, and the bytes flow from storage to the client, never through regproxy. A caller
the policy refuses never reaches the registry, so never sees a storage URL.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.support import Proxy
from tests.support.distribution import manifest_headers, push_image
from tests.support.examples import ALICE, BOB, unique
from tests.support.http import request
from tests.support.oci import Image, build_image, digest_of
from tests.support.operations import scrape
from tests.support.processes import wait_until
from tests.support.upstreams import S3Server, UpstreamRegistry

pytestmark = pytest.mark.integration

_SIGNING_PARAMS = {"X-Amz-Date", "X-Amz-Signature"}  # the only parts that change with the clock


@pytest.fixture(scope="module")
def pushed(s3_proxy: Proxy) -> tuple[str, Image]:
    """An image alice pushed through regproxy (uploads are never redirected: they pass through)."""
    repository = unique("team-a/objects")
    image = build_image((64 * 1024, 32 * 1024))
    push_image(s3_proxy.url, repository, image, "v1", auth=ALICE)
    return repository, image


def storage_url_shape(location: str) -> tuple[str, str, frozenset[tuple[str, str]]]:
    parts = urlsplit(location)
    query = frozenset((k, v) for k, v in parse_qsl(parts.query) if k not in _SIGNING_PARAMS)
    return f"{parts.scheme}://{parts.netloc}", parts.path, query


def test_a_blob_get_is_authorized_then_answered_with_the_registrys_redirect_untouched(
    s3_proxy: Proxy, s3_registry: UpstreamRegistry, s3: S3Server, pushed: tuple[str, Image]
) -> None:
    """bob's blob GET through regproxy is the registry's own 307: the same storage URL (origin,
    path, every presigned parameter but the clock's) that the registry gives when asked directly,
    and following it yields the blob from storage."""
    repository, image = pushed
    for blob in image.blobs:
        through = request(s3_proxy.url, "GET", f"/v2/{repository}/blobs/{blob.digest}", auth=BOB)
        direct = request(s3_registry.url, "GET", f"/v2/{repository}/blobs/{blob.digest}")
        assert through.status == direct.status == 307
        location = through.header("Location")
        assert location is not None and location.startswith(s3.url + "/"), location
        assert storage_url_shape(location) == storage_url_shape(direct.header("Location") or "")
        assert "X-Amz-Signature=" in location
        assert through.body == b""
        target = urlsplit(location)
        fetched = request(s3.url, "GET", f"{target.path}?{target.query}")
        assert fetched.status == 200 and digest_of(fetched.body) == blob.digest


def test_regproxy_moves_no_blob_bytes(s3_proxy: Proxy, pushed: tuple[str, Image]) -> None:
    """Pulling the manifest and every blob through regproxy adds exactly the manifest's bytes to
    ``regproxy_bytes_total{direction="down"}``: the blobs came from storage. The audit lines of
    the blob GETs say 307 with no byte out."""
    repository, image = pushed
    before = scrape(s3_proxy.admin_url).value("regproxy_bytes_total", direction="down")
    manifest = request(s3_proxy.url, "GET", f"/v2/{repository}/manifests/v1", auth=BOB, headers=manifest_headers())
    assert manifest.status == 200 and manifest.body == image.manifest.data
    for blob in image.blobs:
        assert request(s3_proxy.url, "GET", f"/v2/{repository}/blobs/{blob.digest}", auth=BOB).status == 307

    def counted() -> float | None:
        moved = scrape(s3_proxy.admin_url).value("regproxy_bytes_total", direction="down") - before
        return moved if moved >= image.manifest.size else None

    assert wait_until(counted, timeout=10, what="the manifest's bytes to be counted") == image.manifest.size

    def blob_lines() -> list[dict[str, object]] | None:
        lines = [
            e
            for e in s3_proxy.audit_events()
            if e.get("repository") == repository
            and "/blobs/" in str(e.get("path"))
            and e.get("principal") == "user:bob"
        ]
        return lines if len(lines) >= len(image.blobs) else None

    for line in wait_until(blob_lines, timeout=10, what="the blob GETs' audit lines"):
        assert line["status"] == 307 and line["upstream_status"] == 307 and line["bytes_out"] == 0, line


def test_a_denied_principal_never_receives_a_storage_url(
    s3_proxy: Proxy, s3_registry: UpstreamRegistry, s3: S3Server
) -> None:
    """bob may not pull in team-b and nobody anonymous may pull at all: their blob GETs are a 403
    and a 401 without a Location, and the registry never saw them (so never signed a URL)."""
    repository = unique("team-b/objects")
    image = build_image((16 * 1024,))
    push_image(s3_registry.url, repository, image, "v1")  # seeded straight into the registry
    blob = image.layers[0]
    denied = request(s3_proxy.url, "GET", f"/v2/{repository}/blobs/{blob.digest}", auth=BOB)
    anonymous = request(s3_proxy.url, "GET", f"/v2/{repository}/blobs/{blob.digest}")
    assert (denied.status, anonymous.status) == (403, 401)
    for response in (denied, anonymous):
        assert response.header("Location") is None
        assert s3.url.encode() not in response.body and b"X-Amz" not in response.body
    assert not [line for line in s3_registry.saw(blob.digest) if '"GET ' in line]
