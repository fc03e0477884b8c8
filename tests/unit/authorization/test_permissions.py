"""Permissions a request needs, the challenge scope, and the client address behind proxies."""

from __future__ import annotations

import ipaddress

import pytest

from regproxy.authorization import client_address
from regproxy.authorization.permissions import creates_content, pushed_tags
from regproxy.authorization.scopes import challenge_scope
from regproxy.oci.routes import parse_request

D = "sha256:" + "a" * 64
TRUSTED = (ipaddress.ip_network("10.0.0.0/8"),)


@pytest.mark.parametrize(
    ("method", "path", "query", "scope"),
    [
        pytest.param("GET", "/v2/a/manifests/x", "", "repository:a:pull", id="pull"),
        pytest.param("GET", "/v2/a/tags/list", "", "repository:a:pull", id="list"),
        pytest.param("POST", "/v2/a/blobs/uploads/", "", "repository:a:pull,push", id="push"),
        pytest.param("DELETE", f"/v2/a/manifests/{D}", "", "repository:a:delete", id="delete"),
        pytest.param("GET", "/v2/_catalog", "", "registry:catalog:*", id="catalog"),
        pytest.param("GET", "/v2/", "", "", id="base"),
        pytest.param(
            "POST",
            "/v2/a/blobs/uploads/",
            f"mount={D}&from=b/c",
            "repository:a:pull,push repository:b/c:pull",
            id="mount-names-the-source",
        ),
        pytest.param("PUT", "/v2/a/manifests/v1", "", "repository:a:pull,push", id="manifest-put"),
        pytest.param("PATCH", "/v2/a/blobs/uploads/u", "", "repository:a:pull,push", id="upload-patch"),
    ],
)
def test_challenge_names_the_scope_the_request_needed(method: str, path: str, query: str, scope: str) -> None:
    assert challenge_scope(parse_request(method, path, query, {})) == scope


def test_tags_pushed_by_reference_and_by_tag_parameter() -> None:
    assert pushed_tags(parse_request("PUT", "/v2/a/manifests/v1", "", {})) == ("v1",)
    assert pushed_tags(parse_request("PUT", f"/v2/a/manifests/{D}", "tag=x&tag=y", {})) == ("x", "y")
    assert pushed_tags(parse_request("PUT", f"/v2/a/manifests/{D}", "", {})) == ()


def test_only_uploads_and_manifest_puts_can_create_a_repository() -> None:
    assert creates_content(parse_request("POST", "/v2/a/blobs/uploads/", "", {}))
    assert creates_content(parse_request("PUT", "/v2/a/manifests/v1", "", {}))
    assert not creates_content(parse_request("PATCH", "/v2/a/blobs/uploads/u", "", {}))


@pytest.mark.parametrize(
    ("peer", "xff", "expected"),
    [
        pytest.param("192.0.2.1", "10.9.9.9", "192.0.2.1", id="untrusted-peer-ignores-xff"),
        pytest.param("10.0.0.1", "198.51.100.7", "198.51.100.7", id="trusted-peer-honours-xff"),
        pytest.param("10.0.0.1", "6.6.6.6, 198.51.100.7, 10.0.0.2", "198.51.100.7", id="rightmost-untrusted-hop"),
        pytest.param("10.0.0.1", "not-an-ip", "10.0.0.1", id="malformed-chain"),
        pytest.param("10.0.0.1", None, "10.0.0.1", id="no-header"),
    ],
)
def test_client_address(peer: str, xff: str | None, expected: str) -> None:
    assert str(client_address(peer, xff, TRUSTED)) == expected
