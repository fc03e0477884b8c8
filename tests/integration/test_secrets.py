"""Secrets never leave: malformed and refused requests carrying known secrets go down every
error path (parser, head limits, credentials, token service, body limits, chunk framing), then
every output regproxy has is searched: its log, its audit file, /metrics and every answer."""

from __future__ import annotations

import base64
import contextlib
import socket
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MakeProxy
from tests.support import wait_until
from tests.support.edge import read_answer
from tests.support.tokens import write_ec_key

pytestmark = pytest.mark.integration

SECRET = f"S3cret-{uuid.uuid4().hex}"
BASIC = base64.b64encode(f"alice:{SECRET}".encode()).decode()
FORM = "application/x-www-form-urlencoded"


def form(**fields: str) -> bytes:
    return urllib.parse.urlencode(fields).encode()


def with_body(method: str, target: str, body: bytes, *headers: str) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: x", "Connection: close", *headers, f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def bare(method: str, target: str, *headers: str) -> bytes:
    return (
        "\r\n".join([f"{method} {target} HTTP/1.1", "Host: x", "Connection: close", *headers]) + "\r\n\r\n"
    ).encode()


AUTH = f"Authorization: Basic {BASIC}"  # alice with the secret as a (wrong) password
ALICE = f"Authorization: Basic {base64.b64encode(b'alice:alice-password').decode()}"
CHUNKED = "Transfer-Encoding: chunked"
PATHS: dict[str, bytes] = {
    # the HTTP parser and head limits
    "bad-header-line": bare("GET", "/v2/", AUTH, "Bad Header <x>"),
    "control-char-in-authorization": bare("GET", "/v2/", f"Authorization: Basic {BASIC}\x01"),
    "line-too-long": bare("GET", "/v2/", AUTH, f"X-Long: {'a' * 20000}"),
    "head-too-large": bare("GET", "/v2/", AUTH, *[f"X-F{i}: {'a' * 4000}" for i in range(30)]),
    "bad-target": bare("GET", f"/v2/?password={SECRET}%zz", AUTH),
    "obs-fold": bare("GET", "/v2/", "Authorization: Basic", f" {BASIC}"),
    "smuggling": with_body("POST", "/token", b"0\r\n\r\n", AUTH, CHUNKED),
    # credentials on the registry routes
    "wrong-password": bare("GET", "/v2/team-a/x/tags/list", AUTH),
    "malformed-basic": bare("GET", "/v2/team-a/x/tags/list", f"Authorization: Basic {SECRET}!!"),
    "garbage-bearer": bare("GET", "/v2/team-a/x/tags/list", f"Authorization: Bearer {SECRET}"),
    "jwt-shaped-bearer": bare("GET", "/v2/", f"Authorization: Bearer eyJhbGciOiJFUzI1NiJ9.eyJ{SECRET}.c2ln"),
    "cookie": bare("GET", "/v2/", f"Cookie: session={SECRET}", AUTH),
    "proxy-authorization": bare("GET", "/v2/", f"Proxy-Authorization: Basic {BASIC}"),
    # the token service and the credentials endpoint
    "token-get-wrong-password": bare("GET", "/token?service=regproxy&scope=repository:team-a/x:pull", AUTH),
    "token-form-wrong-password": with_body(
        "POST", "/token", form(grant_type="password", username="alice", password=SECRET), f"Content-Type: {FORM}"
    ),
    "token-form-unknown-user": with_body(
        "POST", "/token", form(grant_type="password", username="nobody", password=SECRET), f"Content-Type: {FORM}"
    ),
    "token-form-refresh": with_body(
        "POST", "/token", form(grant_type="refresh_token", refresh_token=SECRET), f"Content-Type: {FORM}"
    ),
    "token-form-bad-grant": with_body(
        "POST", "/token", form(grant_type=SECRET, password=SECRET), f"Content-Type: {FORM}"
    ),
    "token-form-too-large": with_body(
        "POST", "/token", form(grant_type="password", username="alice", password=SECRET * 400), f"Content-Type: {FORM}"
    ),
    "token-form-not-utf8": with_body(
        "POST", "/token", b"password=" + SECRET.encode() + b"\xff\xfe", f"Content-Type: {FORM}"
    ),
    "token-form-wrong-type": with_body("POST", "/token", form(password=SECRET), "Content-Type: text/plain"),
    "credentials-wrong-password": with_body("POST", "/credentials", b"{}", AUTH, "Content-Type: application/json"),
    "credentials-bad-json": with_body(
        "POST",
        "/credentials",
        f'{{"password": "{SECRET}"'.encode(),
        ALICE,
    ),
    # bodies: limits and chunk framing
    "manifest-too-large": with_body("PUT", "/v2/team-a/x/manifests/latest", SECRET.encode() * 200_000, AUTH),
    # a manifest PUT reads its body (an upload session's PATCH without regproxy's seal is refused
    # before its body is read, so it would never reach the chunk framing)
    "trailer-with-authorization": bare("PUT", "/v2/team-a/x/manifests/framing", ALICE, CHUNKED)
    + b"5\r\nhello\r\n0\r\nAuthorization: Basic "
    + BASIC.encode() * 2000
    + b"\r\n\r\n",
    "chunk-size-is-a-secret": bare("PUT", "/v2/team-a/x/manifests/framing", ALICE, CHUNKED) + SECRET.encode() + b"\r\n",
}


EXPECTED = {
    "bad-header-line": 400,
    "control-char-in-authorization": 400,
    "line-too-long": 431,
    "head-too-large": 431,
    "bad-target": 400,
    "obs-fold": 400,
    "smuggling": 400,
    "wrong-password": 401,
    "malformed-basic": 401,
    "garbage-bearer": 401,
    "jwt-shaped-bearer": 401,
    "cookie": 401,
    "proxy-authorization": 401,
    "token-get-wrong-password": 401,
    "token-form-wrong-password": 401,
    "token-form-unknown-user": 401,
    "token-form-refresh": 401,
    "token-form-bad-grant": 400,
    "token-form-too-large": 413,
    "token-form-not-utf8": 400,
    "token-form-wrong-type": 400,
    "credentials-wrong-password": 401,
    "credentials-bad-json": 400,
    "manifest-too-large": 413,
    "trailer-with-authorization": 431,
    "chunk-size-is-a-secret": 400,
}


def exchange(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(raw)
        return read_answer(sock, deadline=time.monotonic() + 10)


def test_no_secret_leaves_by_any_error_path(make_proxy: MakeProxy, tmp_path: Path) -> None:
    key = write_ec_key(tmp_path / "signing.pem")
    proxy = make_proxy(
        settings={
            "tokens": {"signing_key": str(key)},
            # many failed logins below: no back-off, so that every path behind them is reached
            "limits": {
                "max_header_size": 8192,
                "body_idle_timeout": 2,
                "login_free_failures": 1000,
                "login_free_failures_per_source": 1000,
            },
        }
    )
    answers = {case: exchange(proxy.port, raw) for case, raw in PATHS.items()}
    statuses = {case: int(answer[9:12]) if answer.startswith(b"HTTP/1.1 ") else 0 for case, answer in answers.items()}
    assert statuses == EXPECTED
    needles = (SECRET.encode(), BASIC.encode())
    leaks = [case for case, answer in answers.items() if any(n in answer for n in needles)]
    assert leaks == []
    metrics = exchange(proxy.admin_port, bare("GET", "/metrics"))
    assert metrics.startswith(b"HTTP/1.1 200")
    outputs = {
        "log": proxy.log_text().encode(),
        "audit": proxy.audit_path.read_bytes() if proxy.audit_path.exists() else b"",
        "metrics": metrics,
    }
    assert outputs["audit"], "the audit file is empty"
    # heads refused by the connection layer never reach a handler, and still leave one line each
    refused_heads = list(EXPECTED)[:7]  # bad-header-line .. smuggling

    def malformed_lines() -> list[dict[str, Any]] | None:
        found = [e for e in proxy.audit_events() if e["route"] == "malformed"]
        return found if len(found) >= len(refused_heads) else None

    malformed = wait_until(malformed_lines, timeout=5, what="an audit line per refused head")
    assert sorted(e["status"] for e in malformed) == sorted(EXPECTED[c] for c in refused_heads)
    assert {e["decision"] for e in malformed} == {"refused"}
    assert {name: [n for n in needles if n in text] for name, text in outputs.items()} == {
        "log": [],
        "audit": [],
        "metrics": [],
    }
