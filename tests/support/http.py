"""A raw HTTP/1.1 client: the request line is sent exactly as given, any method, any header.

``http.client`` is used on purpose: unlike higher-level clients it neither normalises the path
(percent-encoding, dot segments, trailing slashes survive) nor refuses unknown methods, which
is what the refusal tests need; and it never follows redirects or decompresses.
"""

from __future__ import annotations

import base64
import http.client
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

DEFAULT_TIMEOUT = 30.0


def basic_auth(username: str, password: str) -> str:
    """The value of an ``Authorization`` header for HTTP Basic."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str | None:
        """One header's value (case-insensitive), or None."""
        return self.headers.get(name)

    def header_names(self) -> frozenset[str]:
        return frozenset(name.lower() for name in self.headers)

    def json(self) -> Any:
        return json.loads(self.body)

    def error_codes(self) -> list[str]:
        """The ``code`` of each entry of an OCI error body."""
        return [e["code"] for e in self.json()["errors"]]


def request(
    base_url: str,
    method: str,
    target: str,
    *,
    auth: tuple[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Response:
    """Send one request to ``base_url`` (``http://host:port``) with the raw ``target``.

    A body (even ``b""``) is sent with its ``Content-Length``; ``auth`` is (user, password).
    """
    parts = urlsplit(base_url)
    assert parts.hostname is not None and parts.port is not None, base_url
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        all_headers = dict(headers or {})
        if auth is not None:
            all_headers["Authorization"] = basic_auth(*auth)
        if body is not None:
            all_headers.setdefault("Content-Length", str(len(body)))
        for name, value in all_headers.items():
            conn.putheader(name, value)
        conn.endheaders(body)
        response = conn.getresponse()
        return Response(response.status, response.headers, response.read())
    finally:
        conn.close()
