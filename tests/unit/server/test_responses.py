"""Error bodies: OCI error JSON, the API version header, and a HEAD answer without a body."""

from __future__ import annotations

import orjson

from regproxy.errors import Denied, Unauthenticated
from regproxy.server.responses import error_response


def test_an_error_is_oci_json_with_its_status_and_headers() -> None:
    response = error_response(
        Unauthenticated("authentication required", headers={"WWW-Authenticate": 'Basic realm="r"'})
    )
    assert response.status == 401
    assert response.content_type == "application/json"
    assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert response.headers["WWW-Authenticate"] == 'Basic realm="r"'
    assert isinstance(response.body, bytes)
    assert orjson.loads(response.body) == {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}


def test_a_head_answer_says_how_long_the_body_would_be_and_sends_none() -> None:
    full = error_response(Denied("requested access to the resource is denied"))
    head = error_response(Denied("requested access to the resource is denied"), head=True)
    assert head.status == 403 and head.body is None
    assert isinstance(full.body, bytes) and head.headers["Content-Length"] == str(len(full.body))
