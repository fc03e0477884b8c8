"""Half-done requests: a registry that dies mid-pull, a client that hangs up mid-pull, and
requests in flight when SIGTERM arrives. Each leaves exactly one audit line that says how far
it got, and no client is left waiting on a connection that will never finish.
"""

from __future__ import annotations

import json
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import MakeProxy
from tests.support import Registry, basic_auth, free_port, request
from tests.support.distribution import push_blob, session_target, start_upload
from tests.support.examples import ALICE, unique
from tests.support.oci import random_blob
from tests.support.operations import read_audit, wait_for_events, wait_for_metric

pytestmark = pytest.mark.integration

BIG = 200 * 1024 * 1024
WAIT = 30.0
IN_FLIGHT = 200


def open_get(port: int, target: str, request_id: str) -> tuple[socket.socket, bytes]:
    """Send alice's GET of ``target``; return the socket and the response head."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    head = (
        f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: {basic_auth(*ALICE)}\r\n"
        f"X-Request-Id: {request_id}\r\n\r\n"
    )
    sock.sendall(head.encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    response_head, _, rest = data.partition(b"\r\n\r\n")
    return sock, response_head + b"\r\n\r\n" + rest


@pytest.fixture
def own_registry(tmp_path: Path) -> Iterator[Registry]:
    """A registry of this test's own: it is killed."""
    upstream = Registry(tmp_path / "own-registry").start()
    yield upstream
    upstream.stop()


def test_a_registry_killed_mid_pull_closes_the_clients_connection_at_once(
    make_proxy: MakeProxy, own_registry: Registry
) -> None:
    """A 200 MiB blob pulled slowly through regproxy; the registry is SIGKILLed halfway: the
    client's connection closes within 1 s (a short read, never a hang until keep-alive), and the
    audit line has status 200, the bytes actually sent, and ``failure: upstream-broken``."""
    repo = f"team-a/{unique('broken')}"
    blob = random_blob(BIG)
    push_blob(own_registry.url, repo, blob)
    proxy = make_proxy(upstream_url=own_registry.url)
    request_id = f"broken-{uuid.uuid4().hex[:8]}"
    sock, first = open_get(proxy.port, f"/v2/{repo}/blobs/{blob.digest}", request_id)
    assert first.startswith(b"HTTP/1.1 200"), first[:200]
    received = len(first.partition(b"\r\n\r\n")[2])
    sock.settimeout(WAIT)
    with sock:
        while received < 16 * 1024 * 1024:  # a slow reader: the registry is far from done
            received += len(sock.recv(65536))
        own_registry.kill()
        killed_at = time.monotonic()
        while chunk := sock.recv(1 << 20):
            received += len(chunk)
        closed_after = time.monotonic() - killed_at
    assert received < BIG
    assert closed_after < 1.0, f"the connection stayed open {closed_after:.2f}s after the registry died"

    (event,) = wait_for_events(proxy.audit_path, {request_id}, what="the broken pull's audit line").values()
    assert event["status"] == 200 and event["upstream_status"] == 200, event
    assert event["failure"] == "upstream-broken", event
    assert 0 < event["bytes_out"] < BIG and event["bytes_out"] >= received - len(first), (event, received)
    assert [e for e in read_audit(proxy.audit_path) if e["request_id"] == request_id] == [event]
    print(
        f"registry killed mid-pull: client closed {closed_after * 1000:.0f} ms later, {received} bytes received, "
        f"audit bytes_out {event['bytes_out']}"
    )


def test_a_client_that_hangs_up_mid_pull_leaves_an_aborted_line(make_proxy: MakeProxy, registry: Registry) -> None:
    """The client reads 1 MiB of a 32 MiB blob and closes: one audit line, status 200, the
    bytes that moved, ``failure: aborted``."""
    repo = f"team-a/{unique('hangup')}"
    blob = random_blob(32 * 1024 * 1024)
    push_blob(registry.url, repo, blob)
    proxy = make_proxy()
    request_id = f"hangup-{uuid.uuid4().hex[:8]}"
    sock, first = open_get(proxy.port, f"/v2/{repo}/blobs/{blob.digest}", request_id)
    with sock:
        received = len(first)
        while received < 1024 * 1024:
            received += len(sock.recv(65536))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST
    (event,) = wait_for_events(proxy.audit_path, {request_id}, what="the hang-up's audit line").values()
    assert event["status"] == 200 and event["failure"] == "aborted", event
    assert 0 < event["bytes_out"] < len(blob.data), event
    assert [e for e in read_audit(proxy.audit_path) if e["request_id"] == request_id] == [event]


@pytest.mark.parametrize("finish", [True, False], ids=["uploads-finish", "uploads-cut-at-timeout"])
def test_every_request_in_flight_at_sigterm_leaves_its_audit_line(
    make_proxy: MakeProxy, registry: Registry, finish: bool
) -> None:
    """200 uploads (PATCH, 64 KiB bodies) each half sent when SIGTERM arrives. Either the
    clients send the rest (the drain lets them finish: 202 each) or they never do (shutdown
    cuts them after ``limits.shutdown_timeout``): either way the audit file holds exactly 200
    lines for them once regproxy has exited."""
    repo = f"team-a/{unique('drain')}"
    proxy = make_proxy(settings={"limits": {"shutdown_timeout": 5, "max_connections": 1024}})
    size = 64 * 1024
    sessions = [
        session_target(start_upload(proxy.url, repo, auth=ALICE).header("Location") or "") for _ in range(IN_FLIGHT)
    ]
    prefix = f"drain-{uuid.uuid4().hex[:8]}-"
    socks = []
    try:
        for n, target in enumerate(sessions):
            sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=WAIT)
            socks.append(sock)
            sock.sendall(
                (
                    f"PATCH {target} HTTP/1.1\r\nHost: {proxy.address}\r\nAuthorization: {basic_auth(*ALICE)}\r\n"
                    f"X-Request-Id: {prefix}{n}\r\nContent-Type: application/octet-stream\r\n"
                    f"Content-Length: {size}\r\n\r\n"
                ).encode()
                + b"x" * (size // 2)
            )
        wait_for_metric(
            proxy.admin_url, "regproxy_uploads_in_flight", lambda v: v == IN_FLIGHT, what="200 uploads in flight"
        )
        proxy.signal(15)
        statuses = []
        if finish:
            for sock in socks:
                sock.sendall(b"y" * (size - size // 2))
            for sock in socks:
                statuses.append(sock.recv(65536).split(b" ", 2)[1])
        assert proxy.wait_exit(WAIT) == 0
    finally:
        for sock in socks:
            sock.close()
    if finish:
        assert statuses == [b"202"] * IN_FLIGHT, statuses[:5]
    events = [e for e in read_audit(proxy.audit_path) if str(e["request_id"]).startswith(prefix)]
    assert len(events) == IN_FLIGHT, len(events)
    assert len({e["request_id"] for e in events}) == IN_FLIGHT
    if finish:
        assert all(e["status"] == 202 and e["bytes_in"] == size and not e["failure"] for e in events), events[0]
    else:
        assert all(e["failure"] == "aborted" and e["bytes_in"] == size // 2 for e in events), json.dumps(events[0])
    print(f"SIGTERM with {IN_FLIGHT} uploads in flight ({'finished' if finish else 'cut'}): {len(events)} audit lines")


def test_an_allowed_request_to_an_unreachable_registry_is_audited_as_such(make_proxy: MakeProxy) -> None:
    """Nothing listens at the upstream address: the client gets a 503 in OCI error JSON, and
    the audit line says allowed, 503, ``failure: upstream-unavailable``."""
    proxy = make_proxy(upstream_url=f"http://127.0.0.1:{free_port()}")
    request_id = f"unreachable-{uuid.uuid4().hex[:8]}"
    response = request(
        proxy.url, "GET", f"/v2/team-a/{unique('gone')}/tags/list", auth=ALICE, headers={"X-Request-Id": request_id}
    )
    assert response.status == 503 and response.error_codes() == ["UNAVAILABLE"]
    (event,) = wait_for_events(proxy.audit_path, {request_id}, what="the audit line").values()
    assert (event["decision"], event["status"], event["failure"]) == ("allowed", 503, "upstream-unavailable"), event


def test_a_registry_that_stalls_mid_pull_is_cut_after_the_read_timeout(
    make_proxy: MakeProxy, own_registry: Registry
) -> None:
    """The registry is frozen (SIGSTOP) halfway through a 200 MiB pull: after
    ``upstream.read_timeout`` (2 s) regproxy aborts the client's connection — within a second
    of the timeout — and audits status 200, the bytes sent, ``failure: upstream-timeout``."""
    repo = f"team-a/{unique('stall')}"
    blob = random_blob(BIG)
    push_blob(own_registry.url, repo, blob)
    proxy = make_proxy(upstream_url=own_registry.url, settings={"upstream": {"read_timeout": 2}})
    request_id = f"stall-{uuid.uuid4().hex[:8]}"
    sock, first = open_get(proxy.port, f"/v2/{repo}/blobs/{blob.digest}", request_id)
    received = len(first.partition(b"\r\n\r\n")[2])
    try:
        with sock:
            while received < 16 * 1024 * 1024:
                received += len(sock.recv(65536))
            own_registry.signal(signal.SIGSTOP)
            stalled_at = time.monotonic()
            while chunk := sock.recv(1 << 20):
                received += len(chunk)
            closed_after = time.monotonic() - stalled_at
    finally:
        own_registry.signal(signal.SIGCONT)
    assert received < BIG
    assert closed_after < 2.0 + 1.0 + 1.0, f"closed {closed_after:.2f}s after the registry froze"  # timeout, 1 s, slack
    (event,) = wait_for_events(proxy.audit_path, {request_id}, what="the stalled pull's audit line").values()
    assert (event["status"], event["failure"]) == (200, "upstream-timeout"), event
    assert 0 < event["bytes_out"] < BIG, event
    print(f"registry frozen mid-pull: client closed {closed_after:.2f}s later (read_timeout 2s), {received} bytes")
