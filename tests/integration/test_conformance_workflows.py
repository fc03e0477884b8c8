"""The OCI distribution-spec conformance suite's cross-mount and error-code workflows, in Python.

The suite itself is Go (opencontainers/distribution-spec, conformance/02_push_test.go and
07_error_codes_test.go) and no Go toolchain is available here, so these are the same checks
written against the real registry directly and through regproxy (as admin, who may do
anything): regproxy must behave at least as well as the registry. Where the registry answers a
bad reference with an unlisted code or status, regproxy answers 400 with the spec's code before
forwarding anything.
"""

from __future__ import annotations

import pytest

from tests.support import Proxy, Registry, request
from tests.support.distribution import push_blob
from tests.support.examples import ADMIN, unique
from tests.support.oci import random_blob
from tests.support.operations import wait_for_metric

pytestmark = pytest.mark.integration

# conformance/errors.go: the codes a registry may answer with (the spec's table)
OCI_CODES = {
    "BLOB_UNKNOWN",
    "BLOB_UPLOAD_INVALID",
    "BLOB_UPLOAD_UNKNOWN",
    "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN",
    "MANIFEST_INVALID",
    "MANIFEST_UNKNOWN",
    "NAME_INVALID",
    "NAME_UNKNOWN",
    "SIZE_INVALID",
    "UNAUTHORIZED",
    "DENIED",
    "UNSUPPORTED",
    "TOOMANYREQUESTS",
}


def both(proxy: Proxy, registry: Registry, method: str, path: str, body: bytes | None = None) -> tuple[int, int]:
    direct = request(registry.url, method, path.format(side="direct"), body=body)
    proxied = request(proxy.url, method, path.format(side="proxied"), auth=ADMIN, body=body)
    return direct.status, proxied.status


def test_cross_repository_mounts(proxy: Proxy, registry: Registry) -> None:
    base = unique("conformance")
    blob = random_blob(2048)
    push_blob(registry.url, f"team-a/{base}/source", blob)
    absent = random_blob(2048)
    # 201: a blob in the source, mounted
    assert both(
        proxy,
        registry,
        "POST",
        f"/v2/team-a/{base}/{{side}}/blobs/uploads/?mount={blob.digest}&from=team-a/{base}/source",
        b"",
    ) == (201, 201)
    # 202: a mount of a blob the source does not hold is an upload session
    assert both(
        proxy,
        registry,
        "POST",
        f"/v2/team-a/{base}/{{side}}2/blobs/uploads/?mount={absent.digest}&from=team-a/{base}/source",
        b"",
    ) == (202, 202)
    # 202: a mount without `from` (automatic content discovery is optional): an upload session
    assert both(proxy, registry, "POST", f"/v2/team-a/{base}/{{side}}3/blobs/uploads/?mount={blob.digest}", b"") == (
        202,
        202,
    )
    mounted = request(proxy.url, "HEAD", f"/v2/team-a/{base}/proxied/blobs/{blob.digest}", auth=ADMIN)
    assert mounted.status == 200


@pytest.mark.parametrize("reference", ["sha256:totallywrong", ":bad"])
def test_a_400_carries_an_oci_error_code(proxy: Proxy, registry: Registry, reference: str) -> None:
    path = f"/v2/team-a/{unique('bad-ref')}/manifests/{reference}"
    response = request(proxy.url, "PUT", path, auth=ADMIN, body=b"{}", headers={"Content-Type": "application/json"})
    assert response.status == 400, response.body
    assert response.error_codes()[0] in OCI_CODES
    assert [line for line in registry.requests() if path.split("/manifests/", maxsplit=1)[0] in line] == []


def test_delete_of_a_manifest_by_tag_answers_an_oci_code(proxy: Proxy, registry: Registry) -> None:
    """distribution 2.8 has no tag deletion (400 DIGEST_INVALID); regproxy, knowing it from its
    probe, says so in the spec's words (405 UNSUPPORTED) without asking the registry."""
    wait_for_metric(
        proxy.admin_url, "regproxy_upstream_probes_total", lambda v: v >= 1, what="the first capability probe"
    )
    repo = f"team-a/{unique('delete-tag')}"
    direct = request(registry.url, "DELETE", f"/v2/{repo}/manifests/latest")
    proxied = request(proxy.url, "DELETE", f"/v2/{repo}/manifests/latest", auth=ADMIN)
    assert direct.status == 400
    assert (proxied.status, proxied.error_codes()) == (405, ["UNSUPPORTED"])
    assert proxied.error_codes()[0] in OCI_CODES
    assert len(registry.saw(f'"DELETE /v2/{repo}/')) == 1  # the direct one only: never forwarded
