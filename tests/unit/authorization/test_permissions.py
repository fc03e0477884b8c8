"""Permissions a request needs and the challenge scope."""

from __future__ import annotations

import pytest

from regproxy.authorization.permissions import creates_content, pushed_tags
from regproxy.authorization.scopes import challenge_scope
from regproxy.oci.routes import parse_request

D = "sha256:" + "a" * 64


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
