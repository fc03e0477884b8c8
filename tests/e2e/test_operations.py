"""Operating regproxy: the audit log, metrics and health, several workers, graceful shutdown,
and the connection and request limits — each proved against the real registry (and, where a
client is the point, real skopeo and podman).

Every regproxy here is the test's own (``make_proxy``): its audit file, its metrics and its
process are what the test looks at. Nothing is timed: a test asserts what happened (status,
audit line, counter, exit status), and whatever happens asynchronously (the audit writer, the
metrics snapshots of workers, a reload) is polled for with a bounded deadline.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import re
import selectors
import signal
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MakeProxy
from tests.support import Podman, Proxy, Registry, Response, Skopeo, basic_auth, build_image, request, wait_until
from tests.support.distribution import push_image, session_target, start_upload, with_param
from tests.support.examples import ALICE, BOB, unique
from tests.support.oci import MANIFEST_TYPE, random_blob, write_layout
from tests.support.operations import (
    connection_refused,
    read_audit,
    scrape,
    wait_for_events,
    wait_for_metric,
)
from tests.support.tokens import write_ec_key

SHA256 = re.compile(r"sha256:[0-9a-f]{64}")
WAIT = 15.0  # the deadline of any poll here: reloads and snapshots take about a second


def rid() -> str:
    """A request id of the test's own (``X-Request-Id``), to find the request's audit line."""
    return f"t-{uuid.uuid4().hex}"


def get_manifest(proxy: Proxy, repo: str, ref: str, *, request_id: str, authorization: str) -> Response:
    return request(
        proxy.url,
        "GET",
        f"/v2/{repo}/manifests/{ref}",
        headers={"Authorization": authorization, "Accept": MANIFEST_TYPE, "X-Request-Id": request_id},
    )


def write_policy(directory: Path, name: str, text: str) -> None:
    """Replace ``directory/name`` atomically (write a hidden file, rename it over)."""
    tmp = directory / f".{name}.tmp"
    tmp.write_text(text)
    os.replace(tmp, directory / name)


def deny_alice_pull(statement_id: str, repo: str) -> str:
    return (
        "version: 1\nstatements:\n"
        f"  - id: {statement_id}\n    effect: deny\n    principals: [user:alice]\n"
        f'    actions: [pull]\n    resources: ["{repo}"]\n'
    )


# -- audit -------------------------------------------------------------------------------------
@pytest.mark.integration
def test_audit_lines_name_the_decision_and_carry_no_secret(
    make_proxy: MakeProxy, registry: Registry, tmp_path: Path
) -> None:
    """One JSON line per decided request: an allowed pull (by a bearer token) and a denied tag
    overwrite each name the principal, action, repository, reference, decision, the statements
    that decided, the policy generation and hash, both statuses and the bytes; and no password,
    Basic header value or token — access or refresh — appears anywhere in the audit file."""
    key = write_ec_key(tmp_path / "signing.pem")
    proxy = make_proxy(settings={"tokens": {"signing_key": str(key)}})
    repo = f"team-a/{unique('audit')}"
    image = build_image((8 * 1024,))
    push_image(proxy.url, repo, image, "v1", auth=ALICE)

    issued = request(
        proxy.url, "GET", f"/token?service=regproxy&scope=repository:{repo}:pull&offline_token=true", auth=ALICE
    )
    assert issued.status == 200, issued.body
    token, refresh = issued.json()["token"], issued.json()["refresh_token"]

    allowed_id, denied_id, blob_id, bob_id = rid(), rid(), rid(), rid()
    allowed = get_manifest(proxy, repo, "v1", request_id=allowed_id, authorization=f"Bearer {token}")
    assert allowed.status == 200 and allowed.body == image.manifest.data
    denied = request(  # release tags are immutable: alice may not overwrite v1
        proxy.url,
        "PUT",
        f"/v2/{repo}/manifests/v1",
        auth=ALICE,
        headers={"Content-Type": MANIFEST_TYPE, "X-Request-Id": denied_id},
        body=image.manifest.data,
    )
    assert denied.status == 403, denied.body
    blob = random_blob(3000)
    started = start_upload(proxy.url, repo, auth=ALICE)
    target = with_param(session_target(started.header("Location") or ""), "digest", blob.digest)
    put = request(proxy.url, "PUT", target, auth=ALICE, body=blob.data, headers={"X-Request-Id": blob_id})
    assert put.status == 201, put.body
    bob = request(proxy.url, "POST", f"/v2/{repo}/blobs/uploads/", auth=BOB, body=b"", headers={"X-Request-Id": bob_id})
    assert bob.status == 403

    events = wait_for_events(
        proxy.audit_path, {allowed_id, denied_id, blob_id, bob_id}, what="the audit lines of the four requests"
    )
    ok, no, up, default = events[allowed_id], events[denied_id], events[blob_id], events[bob_id]
    assert ok["principal"] == "user:alice"
    assert (ok["action"], ok["repository"], ok["reference"]) == ("pull", repo, "v1")
    assert ok["decision"] == "allowed" and "team-a.yaml#devs-read-write" in ok["statements"]
    assert (ok["status"], ok["upstream_status"]) == (200, 200)
    assert ok["bytes_out"] == len(image.manifest.data) and ok["bytes_in"] == 0

    assert no["principal"] == "user:alice"
    assert (no["action"], no["repository"], no["reference"]) == ("push", repo, "v1")
    assert no["decision"] == "explicit-deny" and no["statements"] == ["team-a.yaml#release-tags-are-immutable"]
    assert (no["status"], no["upstream_status"]) == (403, 0)  # never forwarded
    assert no["bytes_in"] == 0 and no["bytes_out"] == 0

    assert up["decision"] == "allowed" and up["status"] == 201 and up["upstream_status"] == 201
    assert up["bytes_in"] == blob.size

    assert default["principal"] == "user:bob" and default["decision"] == "default-deny"
    assert default["statements"] == [] and default["status"] == 403

    for event in (ok, no, up, default):
        assert SHA256.fullmatch(event["policy_hash"]), event["policy_hash"]
        assert event["generation"] == 1
    assert len({e["policy_hash"] for e in (ok, no, up, default)}) == 1

    secrets = {
        "alice's password": ALICE[1],
        "bob's password": BOB[1],
        "alice's Basic value": basic_auth(*ALICE).split(" ", 1)[1],
        "bob's Basic value": basic_auth(*BOB).split(" ", 1)[1],
        "the access token": token,
        "the refresh token": refresh,
        "the access token's signature": token.rsplit(".", 1)[1],
    }
    audit = proxy.audit_path.read_text()
    log = proxy.log_text()
    for what, secret in secrets.items():
        assert secret not in audit, f"{what} is in the audit file"
        assert secret not in log, f"{what} is in regproxy's log"


@pytest.mark.integration
def test_a_blocked_audit_sink_drops_and_counts_but_never_holds_requests(
    make_proxy: MakeProxy, registry: Registry, tmp_path: Path
) -> None:
    """The audit path is a FIFO nobody reads (opening it for writing would block until a reader
    comes) and the queue holds 10: 200 requests all get their answers, the drops are counted
    on /metrics, a reader that opens later gets the next lines, and SIGTERM still ends the
    process with status 0 (a writer stuck on the FIFO would hold it forever)."""
    fifo = tmp_path / "audit.fifo"
    os.mkfifo(fifo)
    proxy = make_proxy(settings={"audit": {"path": str(fifo), "queue_size": 10}})
    repo = f"team-a/{unique('fifo')}"
    push_image(registry.url, repo, build_image((1024,)), "v1")

    statuses = Counter(request(proxy.url, "GET", f"/v2/{repo}/tags/list", auth=ALICE).status for _ in range(200))
    assert statuses == Counter({200: 200})
    dropped = wait_for_metric(
        proxy.admin_url, "regproxy_audit_dropped_total", lambda v: v > 0, what="counted audit drops"
    )
    assert dropped <= 200 + 10  # no more than were emitted (the readiness probes included)

    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader arrives
    try:
        marker = rid()
        received = bytearray()

        def line_arrives() -> bool:
            # each poll sends one request, so a batch that went to the FIFO before the reader
            # opened cannot hide the marker: some request after the open carries it
            request(proxy.url, "GET", f"/v2/{repo}/tags/list", auth=ALICE, headers={"X-Request-Id": marker})
            with contextlib.suppress(BlockingIOError):
                received.extend(os.read(reader, 1 << 20))
            return marker.encode() in received

        wait_until(line_arrives, timeout=WAIT, what="an audit line through the FIFO once a reader opened it")
        event = next(json.loads(line) for line in bytes(received).splitlines() if marker.encode() in line)
        assert event["decision"] == "allowed" and event["status"] == 200
    finally:
        os.close(reader)

    proxy.signal(signal.SIGTERM)
    assert proxy.wait_exit(timeout=WAIT) == 0


@pytest.mark.integration
def test_sigusr1_reopens_the_audit_file_at_its_path(make_proxy: MakeProxy, tmp_path: Path) -> None:
    """Log rotation: after the file is renamed, lines still go to the renamed file (the open
    descriptor) until SIGUSR1; then the next line is written to a new file at the original
    path, and the rotated file keeps every earlier line."""
    proxy = make_proxy()
    path = proxy.audit_path
    rotated = tmp_path / "audit.log.1"

    def call(request_id: str) -> None:
        request(proxy.url, "GET", "/v2/", auth=ALICE, headers={"X-Request-Id": request_id})

    before, between, after = rid(), rid(), rid()
    call(before)
    wait_for_events(path, {before}, what="the first line")
    os.rename(path, rotated)
    call(between)
    wait_for_events(rotated, {between}, what="a line in the renamed file")
    assert not path.exists()

    proxy.signal(signal.SIGUSR1)
    wait_until(lambda: "audit log reopen requested" in proxy.log_text(), timeout=WAIT, what="the SIGUSR1 handler")
    call(after)
    wait_for_events(path, {after}, what="a line in the new file")
    assert [e["request_id"] for e in read_audit(path)] == [after]
    assert {before, between} <= {e["request_id"] for e in read_audit(rotated)}
    assert after not in {e["request_id"] for e in read_audit(rotated)}


# -- metrics and health ------------------------------------------------------------------------
@pytest.mark.integration
def test_metrics_parse_and_move_with_traffic(make_proxy: MakeProxy, tmp_path: Path) -> None:
    """/metrics is valid Prometheus text (the reference parser reads every family), and each
    counter moves by exactly the traffic sent: requests by action/decision/status, bytes up and
    down, the decision histogram, decision-cache hits and misses, tokens issued, and a policy
    reload (counter and generation gauge, and the audit's generation and hash follow)."""
    key = write_ec_key(tmp_path / "signing.pem")
    proxy = make_proxy(settings={"tokens": {"signing_key": str(key)}})
    base = scrape(proxy.admin_url)
    for name, kind in (
        ("regproxy_requests", "counter"),
        ("regproxy_bytes", "counter"),
        ("regproxy_decision_seconds", "histogram"),
        ("regproxy_policy_reloads", "counter"),
        ("regproxy_policy_generation", "gauge"),
        ("regproxy_decision_cache_hits", "counter"),
        ("regproxy_decision_cache_misses", "counter"),
        ("regproxy_tokens_issued", "counter"),
        ("regproxy_audit_dropped", "counter"),
        ("regproxy_uploads_in_flight", "gauge"),
    ):
        assert base.families.get(name) == kind, (name, base.families.get(name))
    assert base.value("regproxy_policy_generation") == 1

    repo = f"team-a/{unique('metrics')}"
    image = build_image((1_234_567, 10 * 1024))  # over a million bytes: every digit must survive
    push_image(proxy.url, repo, image, "v1", auth=ALICE)
    pulled = 0
    for reference, kind in [(image.manifest.digest, "manifests"), *((b.digest, "blobs") for b in image.blobs)]:
        got = request(proxy.url, "GET", f"/v2/{repo}/{kind}/{reference}", auth=BOB, headers={"Accept": MANIFEST_TYPE})
        assert got.status == 200
        pulled += len(got.body)
    again = request(
        proxy.url, "GET", f"/v2/{repo}/manifests/{image.manifest.digest}", auth=BOB, headers={"Accept": MANIFEST_TYPE}
    )
    assert again.status == 200  # the same decision again: a cache hit
    pulled += len(again.body)
    denied = request(proxy.url, "POST", f"/v2/{repo}/blobs/uploads/", auth=BOB, body=b"")
    assert denied.status == 403
    token = request(proxy.url, "GET", f"/token?service=regproxy&scope=repository:{repo}:pull", auth=BOB)
    assert token.status == 200

    blobs = len(image.blobs)
    pushed = sum(b.size for b in image.blobs) + image.manifest.size
    expected = {  # (action, decision, status) -> how many more
        ("push", "allowed", "202"): blobs,  # POST …/uploads/
        ("push", "allowed", "201"): blobs + 1,  # PUT ?digest= per blob, PUT the manifest
        ("pull", "allowed", "200"): blobs + 2,
        ("push", "default-deny", "403"): 1,
    }

    def moved() -> Any:
        now = scrape(proxy.admin_url)
        deltas = {
            k: now.value("regproxy_requests_total", action=k[0], decision=k[1], status=k[2])
            - base.value("regproxy_requests_total", action=k[0], decision=k[1], status=k[2])
            for k in expected
        }
        return now if deltas == expected else None

    now = wait_until(moved, timeout=WAIT, what="regproxy_requests_total to count the traffic")
    assert (
        now.value("regproxy_bytes_total", direction="up") - base.value("regproxy_bytes_total", direction="up") == pushed
    )
    assert (
        now.value("regproxy_bytes_total", direction="down") - base.value("regproxy_bytes_total", direction="down")
        == pulled
    )
    decided = sum(expected.values()) - 1  # every allowed request observed its decision time
    count = now.value("regproxy_decision_seconds_count") - base.value("regproxy_decision_seconds_count")
    assert count >= decided
    inf = [s for s in now.series("regproxy_decision_seconds_bucket") if s.labels["le"] == "+Inf"]
    assert inf and inf[0].value == now.value("regproxy_decision_seconds_count")
    assert (
        now.value("regproxy_tokens_issued_total", kind="access")
        - base.value("regproxy_tokens_issued_total", kind="access")
        == 1
    )
    assert now.value("regproxy_uploads_in_flight") == 0
    wait_for_metric(
        proxy.admin_url,
        "regproxy_decision_cache_hits_total",
        lambda v: v > base.value("regproxy_decision_cache_hits_total"),
        what="a decision-cache hit",
    )
    wait_for_metric(
        proxy.admin_url,
        "regproxy_decision_cache_misses_total",
        lambda v: v > base.value("regproxy_decision_cache_misses_total"),
        what="decision-cache misses",
    )

    # a policy change: the reload counter and the generation gauge move, and the audit follows
    first = rid()
    request(proxy.url, "GET", f"/v2/{repo}/tags/list", auth=BOB, headers={"X-Request-Id": first})
    write_policy(proxy.policies_dir, "extra.yaml", deny_alice_pull("metrics-extra", f"{repo}-other"))
    wait_for_metric(
        proxy.admin_url, "regproxy_policy_reloads_total", lambda v: v >= 1, what="a counted reload", result="succeeded"
    )
    assert wait_for_metric(proxy.admin_url, "regproxy_policy_generation", lambda v: v >= 2, what="generation 2") == 2
    assert scrape(proxy.admin_url).value("regproxy_policy_reloads_total", result="failed") == 0
    second = rid()
    request(proxy.url, "GET", f"/v2/{repo}/tags/list", auth=BOB, headers={"X-Request-Id": second})
    events = wait_for_events(proxy.audit_path, {first, second}, what="the audit lines around the reload")
    assert (events[first]["generation"], events[second]["generation"]) == (1, 2)
    assert events[first]["policy_hash"] != events[second]["policy_hash"]


@pytest.mark.integration
def test_admin_endpoints_answer_on_the_admin_port_only(make_proxy: MakeProxy) -> None:
    """/healthz and /readyz answer 200 on admin.listen; on the public port /metrics, /healthz
    and /readyz are not found and never show a metric."""
    proxy = make_proxy()
    health = request(proxy.admin_url, "GET", "/healthz")
    ready = request(proxy.admin_url, "GET", "/readyz")
    assert (health.status, ready.status) == (200, 200), (health.body, ready.body)
    for path in ("/metrics", "/healthz", "/readyz", "/v2/../metrics"):
        public = request(proxy.url, "GET", path, auth=ALICE)
        assert public.status in (400, 404), (path, public.status)
        assert b"regproxy_" not in public.body and b"# TYPE" not in public.body, (path, public.body[:200])


@pytest.mark.integration
def test_readyz_follows_the_upstream(make_proxy: MakeProxy, tmp_path: Path) -> None:
    """/readyz is 200 while the registry answers, 503 (naming the upstream) while it is down,
    and 200 again once it is back; /healthz (liveness) stays 200 throughout."""
    upstream = Registry(tmp_path / "upstream").start()
    try:
        proxy = make_proxy(upstream_url=upstream.url)
        assert request(proxy.admin_url, "GET", "/readyz").status == 200
        upstream.stop()

        def not_ready() -> Response | None:
            response = request(proxy.admin_url, "GET", "/readyz")
            return response if response.status == 503 else None

        down = wait_until(not_ready, timeout=WAIT, what="/readyz to report the registry down")
        assert b"upstream" in down.body
        assert request(proxy.admin_url, "GET", "/healthz").status == 200
        upstream.start()
        wait_until(
            lambda: request(proxy.admin_url, "GET", "/readyz").status == 200, timeout=WAIT, what="/readyz to recover"
        )
    finally:
        upstream.stop()


# -- several workers ---------------------------------------------------------------------------
def fresh_requests(proxy: Proxy, target: str, count: int, **headers: str) -> list[tuple[str, int]]:
    """``count`` requests, each on a new connection (so the kernel may hand it to any worker)."""
    out = []
    for _ in range(count):
        request_id = rid()
        response = request(proxy.url, "GET", target, auth=ALICE, headers={"X-Request-Id": request_id, **headers})
        out.append((request_id, response.status))
    return out


def answered_by_every_worker(
    proxy: Proxy, target: str, workers: int, **headers: str
) -> tuple[set[int], list[dict[str, Any]]]:
    """Send rounds of fresh-connection requests until the audit shows ``workers`` PIDs
    answering (bounded); every event of every round is returned."""
    events: list[dict[str, Any]] = []
    for _ in range(10):
        ids = {request_id for request_id, _ in fresh_requests(proxy, target, 20, **headers)}
        found = wait_for_events(proxy.audit_path, ids, what="the audit lines of a round")
        events.extend(found.values())
        pids = {e["pid"] for e in events}
        if len(pids) >= workers:
            return pids, events
    return {e["pid"] for e in events}, events


@pytest.fixture
def podman_pair(tmp_path: Path) -> Iterator[tuple[Podman, Podman]]:
    pusher, puller = Podman(tmp_path / "podman-alice"), Podman(tmp_path / "podman-bob")
    yield pusher, puller
    pusher.close()
    puller.close()


@pytest.mark.e2e
def test_two_workers_serve_podman_reload_together_and_sum_their_metrics(
    make_proxy: MakeProxy, registry: Registry, tmp_path: Path, podman_pair: tuple[Podman, Podman]
) -> None:
    """``workers: 2``: podman pushes and pulls through it; fresh connections reach both
    workers (two PIDs in the audit, neither the supervisor's); a deny added to the policies is
    in force in every worker (the generation gauge, merged as a minimum, reaches 2; then every
    request, whichever worker answers, is denied by the new statement); and the parent's
    /metrics is the sum of both workers (requests counted = audit lines written)."""
    proxy = make_proxy(settings={"workers": 2})
    pusher, puller = podman_pair
    image = build_image((64 * 1024, 16 * 1024))
    layout = write_layout(tmp_path / "layout", image)
    repo = f"team-a/{unique('workers')}/app"
    loaded = pusher.pull(f"oci:{layout}:latest")
    assert loaded.ok, str(loaded)
    assert pusher.login(proxy.address, *ALICE).ok
    digestfile = tmp_path / "pushed.digest"
    pushed = pusher.push(loaded.stdout.strip().splitlines()[-1], f"{proxy.address}/{repo}:v1", digestfile=digestfile)
    assert pushed.ok, str(pushed)
    assert puller.login(proxy.address, *BOB).ok
    pulled = puller.pull(f"{proxy.address}/{repo}:v1")
    assert pulled.ok, str(pulled)
    assert puller.image_digest(f"{proxy.address}/{repo}:v1") == digestfile.read_text().strip()

    target = f"/v2/{repo}/manifests/v1"
    pids, before = answered_by_every_worker(proxy, target, 2, Accept=MANIFEST_TYPE)
    assert len(pids) == 2 and proxy.pid not in pids, pids
    assert {e["status"] for e in before} == {200}

    write_policy(proxy.policies_dir, "deny.yaml", deny_alice_pull("workers-deny", repo))
    proxy.signal(signal.SIGHUP)  # the supervisor forwards it; the workers' watchers would also see it
    wait_for_metric(
        proxy.admin_url,
        "regproxy_policy_generation",
        lambda v: v >= 2,
        what="every worker at generation 2 (the gauge is the workers' minimum)",
    )
    pids, after = answered_by_every_worker(proxy, target, 2, Accept=MANIFEST_TYPE)
    assert len(pids) == 2, pids
    assert {(e["status"], e["decision"]) for e in after} == {(403, "explicit-deny")}
    assert all(e["statements"] == ["deny.yaml#workers-deny"] and e["generation"] >= 2 for e in after)
    assert scrape(proxy.admin_url).value("regproxy_policy_reloads_total", result="succeeded") >= 2

    def summed() -> tuple[int, float] | None:
        lines = len(read_audit(proxy.audit_path))
        counted = scrape(proxy.admin_url).value("regproxy_requests_total")
        return (lines, counted) if counted == lines else None

    lines, _ = wait_until(summed, timeout=WAIT, what="the parent's request count to equal the audit lines")
    per_worker = Counter(e["pid"] for e in read_audit(proxy.audit_path))
    assert len(per_worker) == 2 and all(n > 0 for n in per_worker.values()) and sum(per_worker.values()) == lines


@pytest.mark.integration
def test_sigterm_lets_an_upload_in_flight_finish_and_refuses_new_connections(
    make_proxy: MakeProxy, registry: Registry
) -> None:
    """``workers: 2``, a 200 MiB blob in one monolithic PUT through regproxy: SIGTERM to the
    supervisor when half of it is sent; from then new connections are refused, yet the rest
    of the body is still received and forwarded, the upload ends 201, the registry holds the
    blob (asked directly) and the process exits with status 0."""
    proxy = make_proxy(settings={"workers": 2, "limits": {"shutdown_timeout": 30}})
    repo = f"team-a/{unique('shutdown')}"
    chunk, chunks = os.urandom(1 << 20), 200
    digest = hashlib.sha256()
    for _ in range(chunks):
        digest.update(chunk)
    blob_digest = f"sha256:{digest.hexdigest()}"
    started = start_upload(proxy.url, repo, auth=ALICE)
    target = with_param(session_target(started.header("Location") or ""), "digest", blob_digest)

    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=60)
    try:
        conn.putrequest("PUT", target, skip_accept_encoding=True)
        conn.putheader("Authorization", basic_auth(*ALICE))
        conn.putheader("Content-Type", "application/octet-stream")
        conn.putheader("Content-Length", str(chunks * len(chunk)))
        conn.endheaders()
        for _ in range(chunks // 2):
            conn.send(chunk)  # blocks while regproxy is not reading: half is really in flight

        proxy.signal(signal.SIGTERM)
        wait_until(lambda: connection_refused(proxy.port), timeout=WAIT, what="new connections to be refused")
        for _ in range(chunks - chunks // 2):
            conn.send(chunk)
        response = conn.getresponse()
        body = response.read()
        assert response.status == 201, (response.status, body[:300])
        assert response.getheader("Docker-Content-Digest") == blob_digest
    finally:
        conn.close()

    direct = request(registry.url, "HEAD", f"/v2/{repo}/blobs/{blob_digest}")
    assert direct.status == 200 and direct.header("Content-Length") == str(chunks * len(chunk))
    assert proxy.wait_exit(timeout=WAIT) == 0
    assert connection_refused(proxy.port)


# -- limits ------------------------------------------------------------------------------------
SLOW_HEAD = b"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 4096  # never ends
SLOW_PACE = 0.2  # seconds between two bytes on each slow connection: the behaviour under test


class Slowloris:
    """Holds ``count`` connections open, each sending a request head one byte at a time and
    never finishing it; while :attr:`holding` is set, every connection the server closes is
    replaced by a new one, so the pressure lasts as long as the test needs it. Records how
    each connection ended. Runs in a thread of its own; every loop is bounded by ``deadline``."""

    def __init__(self, port: int, count: int, deadline: float) -> None:
        self.port = port
        self.count = count
        self.deadline = deadline
        self.sockets: list[socket.socket] = []
        self.sent: list[int] = []
        self.closed: dict[int, str] = {}  # index -> how the server ended it
        self.holding = threading.Event()
        self.holding.set()
        self.trickling = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="slowloris", daemon=True)

    def start(self) -> Slowloris:
        self.thread.start()
        return self

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        try:
            self._trickle(selector)
        except BaseException as exc:  # reported by join(), never lost in the thread
            self.error = exc
        finally:
            selector.close()

    def _open(self, selector: selectors.BaseSelector) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, len(self.sockets))
        self.sockets.append(sock)
        self.sent.append(0)

    def _trickle(self, selector: selectors.BaseSelector) -> None:
        while time.monotonic() < self.deadline:
            alive = [n for n in range(len(self.sockets)) if n not in self.closed]
            if self.holding.is_set():
                for _ in range(self.count - len(alive)):
                    self._open(selector)
            elif not alive:
                return
            for n in range(len(self.sockets)):
                if n in self.closed:
                    continue
                try:
                    self.sockets[n].send(SLOW_HEAD[self.sent[n] : self.sent[n] + 1])
                    self.sent[n] += 1
                except OSError as exc:  # EPIPE / ECONNRESET: the server closed it
                    self._close(selector, n, type(exc).__name__)
            self.trickling.set()
            for key, _ in selector.select(timeout=SLOW_PACE):  # the pace, and the server's closes
                n = key.data
                try:
                    data = self.sockets[n].recv(4096)
                except BlockingIOError:
                    continue
                except OSError as exc:
                    self._close(selector, n, type(exc).__name__)
                    continue
                if not data:
                    self._close(selector, n, "EOF")

    def _close(self, selector: selectors.BaseSelector, n: int, how: str) -> None:
        self.closed[n] = how
        selector.unregister(self.sockets[n])
        self.sockets[n].close()

    def join(self, timeout: float) -> None:
        self.holding.clear()
        self.thread.join(timeout)
        for sock in self.sockets:
            sock.close()
        assert not self.thread.is_alive(), "the slow client did not finish"
        if self.error is not None:
            raise self.error


@pytest.mark.e2e
def test_slowloris_connections_are_closed_while_a_pull_succeeds(
    make_proxy: MakeProxy, registry: Registry, tmp_path: Path
) -> None:
    """``limits.header_timeout: 2``: 200 connections at all times trickle a request head a
    byte at a time (each one the server closes is replaced) while skopeo pulls an image
    through regproxy: the pull succeeds. Once the pressure stops, regproxy has closed every
    slow connection (the server ended each one, none ever completed its head), counting
    each in regproxy_connections_closed_total{reason="slow-head"} and logging no error."""
    proxy = make_proxy(settings={"limits": {"header_timeout": 2}})
    repo = f"team-a/{unique('slowloris')}"
    image = build_image((64 * 1024,))
    push_image(registry.url, repo, image, "v1")
    skopeo = Skopeo(tmp_path / "skopeo")

    slow = Slowloris(proxy.port, 200, deadline=time.monotonic() + 30).start()
    try:
        assert slow.trickling.wait(timeout=WAIT), "the slow client never started"
        pulled = skopeo.copy(
            f"docker://{proxy.address}/{repo}:v1", f"oci:{tmp_path / 'pulled'}:v1", src_creds=f"{ALICE[0]}:{ALICE[1]}"
        )
        assert pulled.ok, str(pulled)
    finally:
        slow.join(timeout=WAIT + 5)
    opened = len(slow.sockets)
    assert opened >= 200
    assert len(slow.closed) == opened, f"{opened - len(slow.closed)} slow connections never closed"
    assert all(sent < len(SLOW_HEAD) for sent in slow.sent)
    assert set(slow.closed.values()) <= {"EOF", "ConnectionResetError", "BrokenPipeError"}, Counter(
        slow.closed.values()
    )
    closed_by_proxy = wait_for_metric(
        proxy.admin_url,
        "regproxy_connections_closed_total",
        lambda v: v >= opened,
        what="the count of slow connections closed",
        reason="slow-head",
    )
    assert closed_by_proxy == opened
    assert "Traceback" not in proxy.log_text() and " ERROR " not in proxy.log_text()
    index = json.loads((tmp_path / "pulled" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == image.digest


@pytest.mark.integration
def test_an_oversized_header_is_refused_before_the_registry(proxy: Proxy, registry: Registry) -> None:
    """A header line or a request line longer than ``limits.max_header_size`` (16 KiB by
    default) is answered 431 or 400 and never reaches the registry; one under it is served."""
    repo = f"team-a/{unique('header')}"
    big = request(proxy.url, "GET", f"/v2/{repo}/tags/list", auth=ALICE, headers={"X-Big": "a" * 20000})
    assert big.status in (400, 431), big.status
    long_line = request(proxy.url, "GET", f"/v2/{repo}/tags/list?x={'b' * 20000}", auth=ALICE)
    assert long_line.status in (400, 414, 431), long_line.status
    assert registry.saw(repo) == []
    fine = request(proxy.url, "GET", f"/v2/{repo}/tags/list", auth=ALICE, headers={"X-Big": "a" * 8000})
    assert fine.status == 404 and fine.error_codes() == ["NAME_UNKNOWN"]
    assert registry.saw(repo)


@pytest.mark.integration
def test_a_burst_from_one_principal_is_rate_limited_and_another_is_not(
    make_proxy: MakeProxy, registry: Registry
) -> None:
    """``requests_per_second: 0.5, burst: 5``: 30 back-to-back requests from alice get some 429
    answers in OCI error JSON (TOOMANYREQUESTS), never forwarded; bob's 5 requests meanwhile
    are all served, and the refusals are counted on /metrics."""
    proxy = make_proxy(settings={"limits": {"requests_per_second": 0.5, "burst": 5}})
    repo = f"team-a/{unique('ratelimit')}"
    push_image(registry.url, repo, build_image((1024,)), "v1")
    target = f"/v2/{repo}/tags/list"

    alice = [request(proxy.url, "GET", target, auth=ALICE) for _ in range(30)]
    bob = [request(proxy.url, "GET", target, auth=BOB) for _ in range(5)]
    limited = [r for r in alice if r.status == 429]
    assert limited, Counter(r.status for r in alice)
    assert {r.status for r in alice} <= {200, 429}
    for response in limited:
        assert response.error_codes() == ["TOOMANYREQUESTS"]
        assert (response.header("Content-Type") or "").startswith("application/json")
    assert [r.status for r in bob] == [200] * 5
    served = sum(1 for line in registry.saw(target) if "GET" in line)
    assert served == len(alice) - len(limited) + len(bob)
    wait_for_metric(
        proxy.admin_url, "regproxy_rate_limited_total", lambda v: v == len(limited), what="the refusals counted"
    )
