"""The route table: every endpoint of the OCI distribution spec, and every refusal class."""

from __future__ import annotations

import pytest

from regproxy.errors import RouteRefused
from regproxy.oci.actions import Action
from regproxy.oci.routes import Mount, RouteKind, parse_request

D = "sha256:" + "a" * 64
D2 = "sha256:" + "b" * 64
D512 = "sha512:" + "c" * 128

ACCEPTED = [
    # id, method, path, query, headers, route, action, repository, tag, digest
    ("base-get", "GET", "/v2/", "", {}, RouteKind.BASE, None, "", None, None),
    ("base-head", "HEAD", "/v2/", "", {}, RouteKind.BASE, None, "", None, None),
    ("catalog", "GET", "/v2/_catalog", "", {}, RouteKind.CATALOG, Action.CATALOG, "", None, None),
    ("catalog-paged", "GET", "/v2/_catalog", "n=10&last=a/b", {}, RouteKind.CATALOG, Action.CATALOG, "", None, None),
    ("tags", "GET", "/v2/a/b/tags/list", "", {}, RouteKind.TAGS, Action.LIST, "a/b", None, None),
    ("tags-paged", "GET", "/v2/a/tags/list", "n=2&last=v1", {}, RouteKind.TAGS, Action.LIST, "a", None, None),
    (
        "manifest-get-tag",
        "GET",
        "/v2/a/b/manifests/latest",
        "",
        {},
        RouteKind.MANIFEST,
        Action.PULL,
        "a/b",
        "latest",
        None,
    ),
    ("manifest-head-digest", "HEAD", f"/v2/a/manifests/{D}", "", {}, RouteKind.MANIFEST, Action.PULL, "a", None, D),
    ("manifest-sha512", "GET", f"/v2/a/manifests/{D512}", "", {}, RouteKind.MANIFEST, Action.PULL, "a", None, D512),
    ("manifest-put-tag", "PUT", "/v2/a/manifests/v1.0", "", {}, RouteKind.MANIFEST, Action.PUSH, "a", "v1.0", None),
    (
        "manifest-put-digest-tags",
        "PUT",
        f"/v2/a/manifests/{D}",
        "tag=x&tag=y",
        {},
        RouteKind.MANIFEST,
        Action.PUSH,
        "a",
        None,
        D,
    ),
    (
        "manifest-delete-tag",
        "DELETE",
        "/v2/a/manifests/old",
        "",
        {},
        RouteKind.MANIFEST,
        Action.DELETE_TAG,
        "a",
        "old",
        None,
    ),
    (
        "manifest-delete-digest",
        "DELETE",
        f"/v2/a/manifests/{D}",
        "",
        {},
        RouteKind.MANIFEST,
        Action.DELETE_MANIFEST,
        "a",
        None,
        D,
    ),
    (
        "greedy-name",
        "GET",
        "/v2/a/manifests/x/manifests/latest",
        "",
        {},
        RouteKind.MANIFEST,
        Action.PULL,
        "a/manifests/x",
        "latest",
        None,
    ),
    (
        "greedy-tags-name",
        "GET",
        "/v2/a/tags/list/tags/list",
        "",
        {},
        RouteKind.TAGS,
        Action.LIST,
        "a/tags/list",
        None,
        None,
    ),
    ("blob-get", "GET", f"/v2/a/blobs/{D}", "", {}, RouteKind.BLOB, Action.PULL, "a", None, D),
    ("blob-head", "HEAD", f"/v2/a/b/c/blobs/{D}", "", {}, RouteKind.BLOB, Action.PULL, "a/b/c", None, D),
    ("blob-delete", "DELETE", f"/v2/a/blobs/{D}", "", {}, RouteKind.BLOB, Action.DELETE_BLOB, "a", None, D),
    ("upload-start", "POST", "/v2/a/blobs/uploads/", "", {}, RouteKind.UPLOAD_START, Action.PUSH, "a", None, None),
    (
        "upload-monolithic",
        "POST",
        "/v2/a/blobs/uploads/",
        f"digest={D}",
        {"content-type": "application/octet-stream"},
        RouteKind.UPLOAD_START,
        Action.PUSH,
        "a",
        None,
        None,
    ),
    (
        "upload-status",
        "GET",
        "/v2/a/blobs/uploads/0f9d-ab_c=",
        "_state=abc",
        {},
        RouteKind.UPLOAD_SESSION,
        Action.PUSH,
        "a",
        None,
        None,
    ),
    (
        "upload-patch",
        "PATCH",
        "/v2/a/blobs/uploads/u1",
        "_state=x%2By%3D",
        {},
        RouteKind.UPLOAD_SESSION,
        Action.PUSH,
        "a",
        None,
        None,
    ),
    (
        "upload-put",
        "PUT",
        "/v2/a/blobs/uploads/u1",
        f"_state=s&digest={D}",
        {},
        RouteKind.UPLOAD_SESSION,
        Action.PUSH,
        "a",
        None,
        None,
    ),
    (
        "upload-cancel",
        "DELETE",
        "/v2/a/blobs/uploads/u1",
        "",
        {},
        RouteKind.UPLOAD_SESSION,
        Action.PUSH,
        "a",
        None,
        None,
    ),
    ("referrers", "GET", f"/v2/a/referrers/{D}", "", {}, RouteKind.REFERRERS, Action.PULL, "a", None, D),
    (
        "referrers-filtered",
        "GET",
        f"/v2/a/referrers/{D}",
        "artifactType=application/vnd.example%2Bjson",
        {},
        RouteKind.REFERRERS,
        Action.PULL,
        "a",
        None,
        D,
    ),
    (
        "separators",
        "GET",
        "/v2/a.b_c__d--e/f-g/manifests/T_1",
        "",
        {},
        RouteKind.MANIFEST,
        Action.PULL,
        "a.b_c__d--e/f-g",
        "T_1",
        None,
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "route", "action", "repository", "tag", "digest"),
    [pytest.param(*row[1:], id=row[0]) for row in ACCEPTED],
)
def test_every_endpoint_parses_to_its_route_and_action(
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
    route: RouteKind,
    action: Action | None,
    repository: str,
    tag: str | None,
    digest: str | None,
) -> None:
    parsed = parse_request(method, path, query, headers)
    assert (parsed.route, parsed.action, parsed.repository, parsed.tag, parsed.digest) == (
        route,
        action,
        repository,
        tag,
        digest,
    )


REFUSED = [
    # id, method, path, query, headers
    ("percent-encoded-path", "GET", "/v2/a%2Fb/manifests/latest", "", {}),
    ("percent-encoded-tag", "GET", "/v2/a/manifests/l%61test", "", {}),
    ("dot-segment", "GET", "/v2/a/../b/manifests/latest", "", {}),
    ("single-dot-segment", "GET", "/v2/a/./manifests/latest", "", {}),
    ("trailing-dot", "GET", "/v2/a/manifests/.", "", {}),
    ("empty-segment", "GET", "/v2/a//b/manifests/latest", "", {}),
    ("trailing-slash-manifest", "GET", "/v2/a/manifests/latest/", "", {}),
    ("trailing-slash-tags", "GET", "/v2/a/tags/list/", "", {}),
    ("catalog-trailing-slash", "GET", "/v2/_catalog/", "", {}),
    ("no-trailing-slash-base", "GET", "/v2", "", {}),
    ("non-ascii", "GET", "/v2/caf\u00e9/manifests/latest", "", {}),
    ("upper-case-name", "GET", "/v2/Team/app/manifests/latest", "", {}),
    ("backslash", "GET", "/v2/a\\b/manifests/latest", "", {}),
    ("unknown-method", "OPTIONS", "/v2/a/manifests/latest", "", {}),
    ("trace-method", "TRACE", "/v2/", "", {}),
    ("method-override", "POST", "/v2/a/blobs/uploads/", "", {"x-http-method-override": "DELETE"}),
    ("method-override-alt", "GET", "/v2/a/manifests/x", "", {"x-method-override": "DELETE"}),
    ("unknown-route", "GET", "/v2/a/unknown/x", "", {}),
    ("not-v2", "GET", "/v1/a/manifests/latest", "", {}),
    ("unknown-query-param", "GET", "/v2/a/manifests/latest", "foo=bar", {}),
    ("mount-on-get", "GET", "/v2/a/tags/list", "mount=x", {}),
    ("repeated-param", "GET", "/v2/a/tags/list", "n=1&n=2", {}),
    ("bad-n", "GET", "/v2/a/tags/list", "n=ten", {}),
    ("malformed-query", "GET", "/v2/a/tags/list", "n", {}),
    ("form-encoded-upload", "POST", "/v2/a/blobs/uploads/", "", {"content-type": "application/x-www-form-urlencoded"}),
    ("multipart-upload", "POST", "/v2/a/blobs/uploads/", "", {"content-type": "multipart/form-data; boundary=x"}),
    ("bad-digest-algorithm", "GET", "/v2/a/blobs/md5:abc", "", {}),
    ("short-digest", "GET", "/v2/a/manifests/sha256:abc", "", {}),
    ("upper-hex-digest", "GET", f"/v2/a/blobs/sha256:{'A' * 64}", "", {}),
    ("tag-too-long", "GET", f"/v2/a/manifests/{'t' * 129}", "", {}),
    ("tag-leading-dot", "GET", "/v2/a/manifests/.hidden", "", {}),
    ("mount-bad-digest", "POST", "/v2/a/blobs/uploads/", "mount=x&from=b", {}),
    ("mount-bad-from", "POST", "/v2/a/blobs/uploads/", f"mount={D}&from=B", {}),
    ("tag-param-on-tag-put", "PUT", "/v2/a/manifests/latest", "tag=x", {}),
    ("put-on-catalog", "PUT", "/v2/_catalog", "", {}),
    ("post-on-manifest", "POST", "/v2/a/manifests/latest", "", {}),
    ("patch-on-blob", "PATCH", f"/v2/a/blobs/{D}", "", {}),
    ("name-too-long", "GET", "/v2/" + "a/" * 130 + "x/manifests/latest", "", {}),
    ("digest-param-bad", "PUT", "/v2/a/blobs/uploads/u1", "digest=sha256:xyz", {}),
]


@pytest.mark.parametrize(
    ("method", "path", "query", "headers"),
    [pytest.param(*row[1:], id=row[0]) for row in REFUSED],
)
def test_anything_outside_the_grammar_is_refused_before_authorization(
    method: str, path: str, query: str, headers: dict[str, str]
) -> None:
    with pytest.raises(RouteRefused) as info:
        parse_request(method, path, query, headers)
    assert info.value.status in (400, 404, 405)
    assert info.value.body()["errors"][0]["code"]


def test_mount_reads_source_from_the_query_string_only() -> None:
    parsed = parse_request("POST", "/v2/a/blobs/uploads/", f"mount={D}&from=b/c", {})
    assert parsed.mount == Mount(D, "b/c")
    assert parsed.target(drop_mount=True) == "/v2/a/blobs/uploads/"


def test_mount_without_from_becomes_a_plain_upload() -> None:
    """Without `from` the registry may mount from any repository: nothing to authorize, so no mount."""
    parsed = parse_request("POST", "/v2/a/blobs/uploads/", f"mount={D}", {})
    assert parsed.mount is None
    assert parsed.target() == "/v2/a/blobs/uploads/"


@pytest.mark.parametrize(
    ("method", "path", "query", "target"),
    [
        pytest.param("GET", "/v2/a/tags/list", "last=x&n=5", "/v2/a/tags/list?last=x&n=5", id="pagination"),
        pytest.param(
            "PATCH",
            "/v2/a/blobs/uploads/u",
            "_state=a%2Bb%3D",
            "/v2/a/blobs/uploads/u?_state=a%2Bb%3D",
            id="state-reencoded",
        ),
        pytest.param(
            "POST", "/v2/a/blobs/uploads/", f"mount={D2}&from=b", f"/v2/a/blobs/uploads/?mount={D2}&from=b", id="mount"
        ),
        pytest.param(
            "PUT", f"/v2/a/manifests/{D}", "tag=x&tag=y", f"/v2/a/manifests/{D}?tag=x&tag=y", id="digest-put-tags"
        ),
    ],
)
def test_upstream_target_is_rebuilt_from_validated_parts(method: str, path: str, query: str, target: str) -> None:
    assert parse_request(method, path, query, {}).target() == target


def test_namespace_is_the_first_path_component() -> None:
    assert parse_request("GET", "/v2/team-a/sub/app/tags/list", "", {}).namespace == "team-a"


def test_delete_never_maps_to_push() -> None:
    deletes = [
        parse_request("DELETE", "/v2/a/manifests/t", "", {}),
        parse_request("DELETE", f"/v2/a/manifests/{D}", "", {}),
        parse_request("DELETE", f"/v2/a/blobs/{D}", "", {}),
    ]
    assert all(d.action is not Action.PUSH for d in deletes)


@pytest.mark.parametrize(
    ("path", "code"),
    [
        pytest.param("/v2/a/manifests/sha256:totallywrong", "DIGEST_INVALID", id="bad-digest"),
        pytest.param("/v2/a/manifests/:bad", "DIGEST_INVALID", id="colon-tag"),
        pytest.param("/v2/a/manifests/md5:abc", "DIGEST_INVALID", id="unsupported-algorithm"),
        pytest.param(f"/v2/a/manifests/{'t' * 129}", "TAG_INVALID", id="tag-too-long"),
        pytest.param("/v2/a/manifests/-dash", "TAG_INVALID", id="tag-leading-dash"),
        pytest.param("/v2/a/blobs/sha256:abc", "DIGEST_INVALID", id="blob-short-digest"),
        pytest.param("/v2/a/referrers/latest", "DIGEST_INVALID", id="referrers-by-tag"),
        pytest.param("/v2/" + "a/" * 130 + "x/manifests/latest", "NAME_INVALID", id="name-too-long"),
    ],
)
def test_a_bad_reference_or_an_over_long_name_is_400_in_the_spec_words(path: str, code: str) -> None:
    with pytest.raises(RouteRefused) as info:
        parse_request("GET", path, "", {})
    assert (info.value.status, info.value.body()["errors"][0]["code"]) == (400, code)


def test_an_upload_seal_is_taken_out_of_what_is_forwarded() -> None:
    parsed = parse_request("PATCH", "/v2/a/blobs/uploads/u1", "_state=abc&_regproxy=seal", {})
    assert parsed.upload_seal == "seal"
    assert parsed.target() == "/v2/a/blobs/uploads/u1?_state=abc"


def test_only_the_last_seal_is_ours_an_earlier_one_is_forwarded() -> None:
    """In front of another regproxy its seal comes first and travels on to it."""
    parsed = parse_request("PATCH", "/v2/a/blobs/uploads/u1", "_state=abc&_regproxy=inner&_regproxy=ours", {})
    assert parsed.upload_seal == "ours"
    assert parsed.target() == "/v2/a/blobs/uploads/u1?_state=abc&_regproxy=inner"
