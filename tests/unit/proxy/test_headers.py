"""Header hygiene towards the upstream and the client, and Location/Link rewriting."""

from __future__ import annotations

import pytest

from regproxy.errors import RedirectRefused
from regproxy.proxy.headers import request_headers, response_headers, rewrite_link, rewrite_location

UP = "http://127.0.0.1:5001"
EXT = "https://registry.example.com"


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "Connection",
        "Keep-Alive",
        "Transfer-Encoding",
        "Upgrade",
        "TE",
        "Proxy-Authorization",
        "X-Forwarded-For",
        "X-Forwarded-Host",
        "X-Forwarded-Proto",
        "Forwarded",
        "Cookie",
        "X-HTTP-Method-Override",
        "Host",
        "Expect",
    ],
)
def test_never_passed_upstream(name: str) -> None:
    assert name.lower() not in request_headers([(name, "x")])


@pytest.mark.parametrize(
    "name",
    ["Accept", "Content-Type", "Content-Length", "Content-Range", "Range", "User-Agent", "If-None-Match"],
)
def test_allowlisted_headers_pass(name: str) -> None:
    assert request_headers([(name, "v")])[name.lower()] == "v"


def test_repeated_accept_headers_are_joined() -> None:
    out = request_headers([("Accept", "a/b"), ("Accept", "c/d")])
    assert out["accept"] == "a/b, c/d"


def test_own_forwarding_headers_only_when_configured() -> None:
    out = request_headers([("X-Forwarded-For", "6.6.6.6")], forwarded={"x-forwarded-for": "10.0.0.1"})
    assert out["x-forwarded-for"] == "10.0.0.1"


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        pytest.param(
            f"{UP}/v2/a/blobs/uploads/u?_state=x", f"{EXT}/v2/a/blobs/uploads/u?_state=x", id="upstream-absolute"
        ),
        pytest.param("/v2/a/blobs/uploads/u?_state=x", "/v2/a/blobs/uploads/u?_state=x", id="relative-kept"),
        pytest.param(
            "https://bucket.s3.example.com/blob?sig=1",
            "https://bucket.s3.example.com/blob?sig=1",
            id="object-storage-untouched",
        ),
        pytest.param("http://127.0.0.1:5002/v2/x", "http://127.0.0.1:5002/v2/x", id="other-port-untouched"),
    ],
)
def test_location_rewriting(location: str, expected: str) -> None:
    assert rewrite_location(location, UP, EXT) == expected


def test_link_rewriting_keeps_parameters() -> None:
    value = f'<{UP}/v2/_catalog?last=b&n=2>; rel="next"'
    assert rewrite_link(value, UP, EXT) == f'<{EXT}/v2/_catalog?last=b&n=2>; rel="next"'


def test_response_drops_hop_by_hop_and_upstream_challenge() -> None:
    out = dict(
        response_headers(
            [
                ("WWW-Authenticate", 'Bearer realm="x"'),
                ("Connection", "close"),
                ("Transfer-Encoding", "chunked"),
                ("Docker-Content-Digest", "sha256:x"),
                ("Location", f"{UP}/v2/a/blobs/uploads/u"),
                ("Docker-Upload-UUID", "u"),
                ("Range", "0-9"),
                ("OCI-Subject", "sha256:y"),
            ],
            "http://127.0.0.1:5001",
            EXT,
        )
    )
    assert "WWW-Authenticate" not in out and "Connection" not in out and "Transfer-Encoding" not in out
    assert out["Docker-Content-Digest"] == "sha256:x"
    assert out["Location"] == f"{EXT}/v2/a/blobs/uploads/u"
    assert out["Docker-Upload-UUID"] == "u" and out["Range"] == "0-9" and out["OCI-Subject"] == "sha256:y"


UPSTREAM = "http://registry.internal:5001"
EXTERNAL = "https://regproxy.example"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize(
    ("location", "relayed"),
    [
        ("http://registry.internal:5001/v2/a/blobs/sha256:1", f"{EXTERNAL}/v2/a/blobs/sha256:1"),
        ("HTTP://Registry.Internal:5001/v2/a/blobs/sha256:1", f"{EXTERNAL}/v2/a/blobs/sha256:1"),
        ("//registry.internal:5001/v2/a/manifests/x", f"{EXTERNAL}/v2/a/manifests/x"),
        ("http://registry.internal.:5001/v2/", f"{EXTERNAL}/v2/"),
        ("/v2/a/blobs/sha256:1", "/v2/a/blobs/sha256:1"),
        ("https://bucket.s3.example/docker/registry/v2/blobs/sha256/ab?X-Amz-Signature=s", None),
    ],
    ids=["same-origin", "same-origin-spelt-otherwise", "scheme-relative", "trailing-dot", "relative", "storage"],
)
def test_a_redirect_into_the_registry_is_rewritten_to_regproxy_and_storage_passes(
    status: int, location: str, relayed: str | None
) -> None:
    out = dict(response_headers([("Location", location)], UPSTREAM, EXTERNAL, status))
    assert out["Location"] == (relayed if relayed is not None else location)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize(
    "location",
    [
        "http://registry-alias.internal/v2/a/blobs/sha256:1",
        "https://10.0.0.5:5001/v2",
        "http://user:pw@registry.internal:5001/v2/a",
        "http://user@storage.example/blob",
        "ftp://storage.example/blob",
        "javascript://registry.internal/v2/",
    ],
    ids=["v2-elsewhere", "v2-root-elsewhere", "userinfo-same-origin", "userinfo-elsewhere", "ftp", "javascript"],
)
def test_a_redirect_regproxy_cannot_vouch_for_is_refused(status: int, location: str) -> None:
    with pytest.raises(RedirectRefused) as refused:
        response_headers([("Location", location)], UPSTREAM, EXTERNAL, status)
    assert refused.value.status == 502


def test_an_upload_location_elsewhere_is_not_a_redirect_and_passes() -> None:
    out = dict(response_headers([("Location", "/v2/a/blobs/uploads/u")], UPSTREAM, EXTERNAL, 202))
    assert out["Location"] == "/v2/a/blobs/uploads/u"
