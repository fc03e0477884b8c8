"""Errors name where they happened; registry clients get OCI error JSON with the right status."""

from __future__ import annotations

import pytest

from regproxy.errors import (
    ConfigError,
    Denied,
    ErrorCode,
    OciError,
    PolicyError,
    PolicyErrors,
    RouteRefused,
    SourceLocation,
    TooManyRequests,
    Unauthenticated,
    UpstreamUnavailable,
)


def test_a_config_error_names_its_key() -> None:
    error = ConfigError("upstream.url", "must be an http:// or https:// URL")
    assert (error.key, str(error)) == ("upstream.url", "config `upstream.url`: must be an http:// or https:// URL")


def test_a_location_prints_as_file_and_line_when_it_has_one() -> None:
    assert str(SourceLocation("team.yaml", 4)) == "team.yaml:4"
    assert str(SourceLocation("team.yaml")) == "team.yaml"
    assert str(PolicyError(SourceLocation("team.yaml", 4), "bad")) == "team.yaml:4: bad"


def test_every_error_of_a_document_travels_together_first_one_leading() -> None:
    first, second = PolicyError(SourceLocation("a", 1), "one"), PolicyError(SourceLocation("a", 2), "two")
    both = PolicyErrors([first, second])
    assert (both.location, both.message, both.errors) == (first.location, "one", [first, second])


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (RouteRefused("x"), 400, "UNSUPPORTED"),
        (Unauthenticated("x"), 401, "UNAUTHORIZED"),
        (Denied("x"), 403, "DENIED"),
        (TooManyRequests("x"), 429, "TOOMANYREQUESTS"),
        (UpstreamUnavailable("x"), 503, "UNAVAILABLE"),
    ],
)
def test_each_refusal_has_its_status_and_spec_code(error: OciError, status: int, code: str) -> None:
    assert (error.status, error.body()) == (status, {"errors": [{"code": code, "message": "x"}]})


def test_an_oci_error_may_carry_a_code_status_detail_and_headers() -> None:
    error = RouteRefused("bad digest", code=ErrorCode.DIGEST_INVALID, detail={"digest": "md5:x"}, headers={"A": "b"})
    assert error.status == 400 and error.headers == {"A": "b"}
    assert error.body() == {
        "errors": [{"code": "DIGEST_INVALID", "message": "bad digest", "detail": {"digest": "md5:x"}}]
    }
    assert RouteRefused("x").code is ErrorCode.UNSUPPORTED  # the class default is not changed
