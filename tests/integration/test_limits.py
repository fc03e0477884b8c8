"""Protocol-level refusals: answered in OCI error JSON, never forwarded, never echoing input."""

from __future__ import annotations

import json
import socket

import pytest

from tests.conftest import MakeProxy
from tests.support import Registry

pytestmark = pytest.mark.integration


def exchange(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def test_a_request_head_over_the_total_limit_is_431_in_oci_json(registry: Registry, make_proxy: MakeProxy) -> None:
    proxy = make_proxy(settings={"limits": {"max_header_size": 2048}})  # lines <= 2 KiB, head <= 8 KiB
    marker = "head-limit-probe"
    headers = "".join(f"X-Filler-{i}: {'a' * 1000}\r\n" for i in range(20))  # 20 lines of 1 KB, each allowed
    answer = exchange(
        proxy.port, f"GET /v2/{marker}/tags/list HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n".encode()
    )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431")
    assert json.loads(body)["errors"][0]["code"] == "UNSUPPORTED"
    assert not registry.saw(marker)


def test_a_malformed_request_line_is_refused_without_echoing_it(registry: Registry, make_proxy: MakeProxy) -> None:
    proxy = make_proxy()
    answer = exchange(proxy.port, b"GET /v2/a HTTP/1.1\r\nHost: x\r\nBad Header <script>\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ", 2)[1] == b"400"  # aiohttp answers an unparsable request as HTTP/1.0
    assert b"<script>" not in answer
    assert json.loads(body)["errors"][0]["code"] == "UNSUPPORTED"
