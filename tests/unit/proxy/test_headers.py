"""Header hygiene towards the upstream and the client, and Location/Link rewriting."""

from __future__ import annotations

import pytest

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
