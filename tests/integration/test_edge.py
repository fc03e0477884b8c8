"""The edge under attack, against the real registry: bounded bodies, cut stalls and broken
framing, refused redirects, audited and throttled logins. Each test checks the exact answer and,
afterwards, regproxy's memory, its upstream connections and its audit file."""

from __future__ import annotations

import http.server
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.conftest import MakeProxy
from tests.support import Proxy, Registry, basic_auth, request, wait_until
from tests.support.edge import body_of, rss_kib, status_of, stream_request, upstream_connections
from tests.support.examples import ADMIN, ALICE, BOB, unique
from tests.support.tokens import write_ec_key

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def edge(make_proxy: MakeProxy, tmp_path: Path) -> Proxy:
    """regproxy with its token service and short timeouts, so a fault test ends in seconds."""
    key = write_ec_key(tmp_path / "signing.pem")
    return make_proxy(
        settings={
            "tokens": {"signing_key": str(key)},
            "limits": {
                "header_timeout": 2,
                "body_idle_timeout": 2,
                "login_free_failures": 5,
                "login_backoff": 60,
                "login_backoff_max": 120,
            },
        }
    )


def registry_port(registry: Registry) -> int:
    return int(registry.url.rsplit(":", 1)[1])


def events_for(proxy: Proxy, path_part: str, count: int) -> list[dict[str, Any]]:
    """The audit events whose path contains ``path_part``, once ``count`` of them are written."""

    def probe() -> list[dict[str, Any]] | None:
        found = [e for e in proxy.audit_events() if path_part in e["path"]]
        return found if len(found) >= count else None

    return wait_until(probe, timeout=10, what=f"{count} audit events for {path_part}")


def repeat(piece: bytes, total: int) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield piece
        sent += len(piece)


# -- bounded bodies ----------------------------------------------------------------------------
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_300_mib_anonymous_token_form_is_413_and_memory_stays_flat(edge: Proxy, framing: str) -> None:
    before = rss_kib(edge.pid)
    total = 300 * MIB
    piece = b"a" * 65536
    if framing == "content-length":
        head = f"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM}\r\nContent-Length: {total}\r\n\r\n"
        body = repeat(piece, total)
    else:
        head = f"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM}\r\nTransfer-Encoding: chunked\r\n\r\n"
        body = (b"%x\r\n%s\r\n" % (len(p), p) for p in repeat(piece, total))
    answer = stream_request(edge.port, head.encode(), body, timeout=60)
    assert status_of(answer) == 413, answer[:300]
    assert json.loads(body_of(answer))["error"] == "invalid_request"
    after = rss_kib(edge.pid)
    assert after - before < 32 * 1024, f"RSS grew from {before} KiB to {after} KiB"
    (event,) = events_for(edge, "/token", 1)
    assert (event["status"], event["decision"], event["source"]) == (413, "refused", "127.0.0.1")


def test_a_5_mib_manifest_is_413_and_never_forwarded(edge: Proxy, registry: Registry) -> None:
    marker = unique("big-manifest")
    body = b'{"schemaVersion": 2, "pad": "' + b"a" * (5 * MIB) + b'"}'
    response = request(
        edge.url,
        "PUT",
        f"/v2/team-a/{marker}/manifests/latest",
        auth=ADMIN,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        body=body,
    )
    assert response.status == 413
    assert response.error_codes() == ["SIZE_INVALID"]
    assert registry.saw(marker) == []
    (event,) = events_for(edge, marker, 1)
    assert (event["status"], event["decision"]) == (413, "refused")


def test_a_manifest_under_the_limit_still_goes_through(edge: Proxy, registry: Registry) -> None:
    marker = unique("small-manifest")
    response = request(
        edge.url,
        "PUT",
        f"/v2/team-a/{marker}/manifests/latest",
        auth=ADMIN,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        body=b'{"schemaVersion": 2}',
    )
    assert response.status == 400  # forwarded: the registry itself judges the manifest invalid
    assert registry.saw(marker)


# -- stalls and broken framing -----------------------------------------------------------------
def open_upload(proxy: Proxy, repository: str) -> str:
    started = request(proxy.url, "POST", f"/v2/{repository}/blobs/uploads/", auth=ALICE, body=b"")
    assert started.status == 202, started.body
    location = started.header("Location")
    assert location is not None
    return urllib.parse.urlsplit(location)._replace(scheme="", netloc="").geturl()


def patch_head(target: str, framing: str) -> bytes:
    return (
        f"PATCH {target} HTTP/1.1\r\nHost: x\r\nAuthorization: {basic_auth(*ALICE)}\r\n"
        f"Content-Type: application/octet-stream\r\n{framing}\r\n\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("case", "framing", "body", "status"),
    [
        (
            "oversized-trailer",
            "Transfer-Encoding: chunked",
            b"5\r\nhello\r\n0\r\nX-Pad: " + b"a" * MIB + b"\r\n\r\n",
            431,
        ),
        ("bad-chunk", "Transfer-Encoding: chunked", b"5\r\nhello\r\nzz\r\n", 400),
        ("stall-chunked", "Transfer-Encoding: chunked", b"5\r\nhello\r\n", 408),
        ("stall-length", f"Content-Length: {MIB}", b"a" * 65536, 408),
    ],
)
def test_a_broken_or_stalled_upload_is_answered_within_the_timeout_and_releases_the_upstream(
    edge: Proxy, registry: Registry, case: str, framing: str, body: bytes, status: int
) -> None:
    port = registry_port(registry)
    repository = f"team-a/{unique(case)}"
    baseline = None
    for attempt in range(3):
        target = open_upload(edge, repository)
        if baseline is None:
            baseline = upstream_connections(edge.pid, port)
        started = time.monotonic()
        answer = stream_request(edge.port, patch_head(target, framing), [body], timeout=20)
        elapsed = time.monotonic() - started
        assert status_of(answer) == status, (attempt, answer[:300])
        assert elapsed < 15, elapsed  # body_idle_timeout is 2 s; aiohttp's linger is 10 s at most
    # Each attempt would pin a connection of the pool if the upstream request were left open.
    assert baseline is not None
    assert upstream_connections(edge.pid, port) <= baseline + 1
    events = [e for e in events_for(edge, repository, 6) if e["method"] == "PATCH"]
    assert [e["status"] for e in events] == [status] * 3


# -- redirects ---------------------------------------------------------------------------------
class _Redirecting(http.server.BaseHTTPRequestHandler):
    """A registry seam that answers every blob GET with the redirect named by its digest."""

    locations: ClassVar[dict[str, str]] = {}

    def do_GET(self) -> None:
        key = self.path.rsplit("sha256:", 1)[-1]
        location = self.locations.get(key)
        if location is None:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(307)
        address = self.server.server_address
        assert isinstance(address, tuple)
        port = address[1]
        self.send_header("Location", location.format(port=port))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def redirecting_upstream() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Redirecting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("location", "status", "relayed"),
    [
        (
            "http://127.0.0.1:{port}/v2/team-a/x/blobs/sha256:" + "1" * 64,
            307,
            "{external}/v2/team-a/x/blobs/sha256:" + "1" * 64,
        ),
        ("//127.0.0.1:{port}/v2/team-a/other/manifests/latest", 307, "{external}/v2/team-a/other/manifests/latest"),
        ("http://registry-alias.invalid/v2/team-a/x/blobs/sha256:" + "1" * 64, 502, None),
        ("http://user:pw@127.0.0.1:{port}/v2/", 502, None),
        ("https://storage.invalid/bucket/docker/registry/v2/blobs/sha256/11/data?sig=s", 307, "same"),
    ],
    ids=["own-origin", "own-origin-scheme-relative", "v2-elsewhere", "user-info", "object-storage"],
)
def test_a_registry_redirect_never_sends_the_client_around_regproxy(
    make_proxy: MakeProxy, redirecting_upstream: str, location: str, status: int, relayed: str | None
) -> None:
    key = unique("r").split("-")[1].ljust(64, "0")[:64]
    _Redirecting.locations[key] = location
    proxy = make_proxy(upstream_url=redirecting_upstream)
    response = request(proxy.url, "GET", f"/v2/team-a/x/blobs/sha256:{key}", auth=ADMIN)
    assert response.status == status, response.body
    if relayed == "same":
        assert response.header("Location") == location
    elif relayed is not None:
        assert response.header("Location") == relayed.format(external=proxy.url)
    else:
        assert response.error_codes() == ["UNKNOWN"]
        assert response.header("Location") is None


# -- logins ------------------------------------------------------------------------------------
def password_login(proxy: Proxy, username: str, password: str) -> Any:
    form = urllib.parse.urlencode(
        {
            "grant_type": "password",
            "username": username,
            "password": password,
            "service": "regproxy",
            "scope": "repository:team-a/app:pull",
        }
    ).encode()
    return request(proxy.url, "POST", "/token", headers={"Content-Type": FORM}, body=form)


def test_a_failed_token_login_is_audited_with_user_and_source(edge: Proxy) -> None:
    refused = password_login(edge, "alice", "not-alices-password")
    assert refused.status == 401
    assert refused.json()["error"] == "invalid_grant"
    issued = password_login(edge, *ALICE)
    assert issued.status == 200
    failed, granted = events_for(edge, "/token", 2)
    assert {k: failed[k] for k in ("route", "principal", "source", "decision", "status")} == {
        "route": "token",
        "principal": "alice",
        "source": "127.0.0.1",
        "decision": "unauthenticated",
        "status": 401,
    }
    assert (granted["principal"], granted["decision"], granted["status"]) == ("user:alice", "issued", 200)
    assert granted["scopes"] == ["repository:team-a/app:pull"]
    assert "not-alices-password" not in edge.audit_path.read_text()
    metrics = request(edge.admin_url, "GET", "/metrics").body.decode()
    assert 'regproxy_authentication_failures_total{method="password"} 1' in metrics


def test_twenty_failed_logins_in_a_row_are_throttled(edge: Proxy) -> None:
    statuses, retry_after = [], []
    for n in range(20):
        response = password_login(edge, "bob", f"guess-{n}")
        statuses.append(response.status)
        retry_after.append(response.header("Retry-After"))
    # five failures are free; the sixth starts the back-off (60 s here), refused before any check
    assert statuses == [401] * 6 + [429] * 14
    assert all(r is not None and 1 <= int(r) <= 60 for r in retry_after[6:])
    # the user name is blocked whatever the password; the address, with its higher allowance
    # (20 here), not yet: another name may still try
    assert password_login(edge, *BOB).status == 429
    assert password_login(edge, "carol", "x").status == 401
    events = events_for(edge, "/token", 22)
    assert [e["decision"] for e in events[:20]] == ["unauthenticated"] * 6 + ["throttled"] * 14
    assert {e["principal"] for e in events[:20]} == {"bob"}
    metrics = request(edge.admin_url, "GET", "/metrics").body.decode()
    assert 'regproxy_authentication_failures_total{method="password"} 7' in metrics  # carol's too
    assert "regproxy_logins_throttled_total 15" in metrics


def test_an_address_that_fails_for_many_user_names_is_throttled(edge: Proxy) -> None:
    statuses = [password_login(edge, f"user-{n}", "guess").status for n in range(22)]
    assert statuses == [401] * 21 + [429]  # the per-source allowance is 20 failures
    assert password_login(edge, *ALICE).status == 429  # from this address, even the right password


def test_an_anonymous_ping_is_audited_as_a_challenge(edge: Proxy) -> None:
    marker = unique("ping")
    response = request(edge.url, "GET", "/v2/", headers={"X-Request-Id": marker})
    assert response.status == 401
    (event,) = [e for e in events_for(edge, "/v2/", 1) if e["request_id"] == marker]
    assert event["decision"] == "challenge"


def test_password_guessing_with_basic_on_registry_requests_is_throttled_too(edge: Proxy) -> None:
    target = "/v2/team-a/app/tags/list"
    statuses = [request(edge.url, "GET", target, auth=("bob", f"guess-{n}")).status for n in range(8)]
    assert statuses == [401] * 6 + [429] * 2
    refused = request(edge.url, "GET", target, auth=BOB)
    assert refused.status == 429
    assert refused.error_codes() == ["TOOMANYREQUESTS"]
    assert refused.header("Retry-After") is not None


def test_a_chunked_manifest_over_the_limit_is_413_and_never_stored(edge: Proxy, registry: Registry) -> None:
    """Without a Content-Length the body is counted as it streams: refused past 4 MiB, the
    upstream request abandoned, nothing stored."""
    marker = unique("big-chunked-manifest")
    target = f"/v2/team-a/{marker}/manifests/latest"
    head = (
        f"PUT {target} HTTP/1.1\r\nHost: x\r\nAuthorization: {basic_auth(*ADMIN)}\r\n"
        "Content-Type: application/vnd.oci.image.manifest.v1+json\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    piece = b"a" * 65536
    body = (b"%x\r\n%s\r\n" % (len(p), p) for p in repeat(piece, 5 * MIB))
    answer = stream_request(edge.port, head, body, timeout=30)
    assert status_of(answer) == 413, answer[:300]
    assert json.loads(body_of(answer))["errors"][0]["code"] == "SIZE_INVALID"
    assert request(registry.url, "GET", target).status == 404
