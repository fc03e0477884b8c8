"""Capability probing at the upstream seam: the probes asked, a refusal or a fault never meaning
"unsupported", findings as metrics and log lines, the timer injected (what each answer means is
pinned in tests/unit/oci/test_capability.py). The registries
here are in-process fakes answering as distribution 2.8 and an OCI 1.1 registry do; the real
docker-registry is probed in tests/integration/test_upstream_capabilities.py."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from regproxy.config import UpstreamConfig
from regproxy.metrics import Metrics, render
from regproxy.oci.capability import INDEX_TYPE, Capabilities, Capability, Support
from regproxy.proxy.capabilities import PROBE_REPOSITORY, CapabilityProbe, probe_capabilities
from regproxy.proxy.upstream import UpstreamClient

Y, N, U = Support.YES, Support.NO, Support.UNKNOWN


@dataclass
class FakeUpstream:
    """Answers the probes as configured; records what it was asked."""

    api_version: str | None = "registry/2.0"
    base_status: int = 200
    delete_tag: int = 400
    delete_digest: int = 404
    referrers: tuple[int, str, bytes] = (404, "text/plain", b"404 page not found")
    seen: list[tuple[str, str]] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/v2/{tail:.*}", self.answer)
        return app

    async def answer(self, request: web.Request) -> web.Response:
        self.seen.append((request.method, request.path))
        headers = {"Docker-Distribution-API-Version": self.api_version} if self.api_version else {}
        if request.path == "/v2/":
            return web.json_response({}, status=self.base_status, headers=headers)
        if "/referrers/" in request.path:
            status, content_type, body = self.referrers
            return web.Response(status=status, body=body, headers={"Content-Type": content_type, **headers})
        if request.method == "DELETE":
            status = self.delete_digest if "/manifests/sha256:" in request.path else self.delete_tag
            return web.json_response({"errors": []}, status=status, headers=headers)
        return web.json_response({"errors": []}, status=404)


Started = Callable[[FakeUpstream], Awaitable[UpstreamClient]]


@pytest.fixture
async def start() -> AsyncIterator[Started]:
    servers: list[TestServer] = []
    clients: list[UpstreamClient] = []

    async def started(fake: FakeUpstream) -> UpstreamClient:
        server = TestServer(fake.app(), host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        client = UpstreamClient(UpstreamConfig(url=f"http://127.0.0.1:{server.port}", connect_timeout=1.0))
        await client.start()
        clients.append(client)
        return client

    yield started
    for client in clients:
        await client.close()
    for server in servers:
        await server.close()


async def test_distribution_2_8_has_no_tag_deletion_and_no_referrers(start: Started) -> None:
    fake = FakeUpstream()
    found = await probe_capabilities(await start(fake))
    assert found.reachable and found.api_version == "registry/2.0"
    assert dict(found.support) == {
        Capability.TAG_DELETION: N,
        Capability.MANIFEST_DELETION: Y,
        Capability.REFERRERS: N,
        Capability.MOUNT: U,  # never probed: learned from traffic only
    }
    probed = [path for _, path in fake.seen if path != "/v2/"]
    assert probed and all(path.startswith(f"/v2/{PROBE_REPOSITORY}/") for path in probed)
    tags = [p.rsplit("/", 1)[1] for m, p in fake.seen if m == "DELETE" and "sha256:" not in p]
    assert len(tags) == 1 and tags[0].startswith("regproxy-probe-") and len(tags[0]) > len("regproxy-probe-") + 8


async def test_an_oci_1_1_registry_has_both(start: Started) -> None:
    fake = FakeUpstream(
        api_version=None, delete_tag=404, referrers=(200, INDEX_TYPE, b'{"schemaVersion":2,"manifests":[]}')
    )
    found = await probe_capabilities(await start(fake))
    assert found.api_version == ""
    assert (found.supports(Capability.TAG_DELETION), found.supports(Capability.REFERRERS)) == (Y, Y)
    assert "(no API version header)" in found.detail()


async def test_deletes_disabled_upstream_is_no_deletion_at_all(start: Started) -> None:
    found = await probe_capabilities(await start(FakeUpstream(delete_tag=405, delete_digest=405)))
    assert (found.supports(Capability.TAG_DELETION), found.supports(Capability.MANIFEST_DELETION)) == (N, N)


async def test_refusals_are_unknown_never_unsupported(start: Started) -> None:
    """regproxy's service account may lack delete rights upstream: that says nothing of support."""
    fake = FakeUpstream(delete_tag=403, delete_digest=401, referrers=(401, "application/json", b"{}"))
    found = await probe_capabilities(await start(fake))
    assert found.reachable
    assert {found.supports(c) for c in Capability} == {U}


async def test_an_unusable_upstream_is_not_reachable_and_says_why(start: Started) -> None:
    found = await probe_capabilities(await start(FakeUpstream(base_status=503)))
    assert not found.reachable and found.problem == "the registry answered /v2/ with 503"
    client = UpstreamClient(UpstreamConfig(url="http://127.0.0.1:9", connect_timeout=1.0))
    await client.start()
    try:
        found = await probe_capabilities(client)
    finally:
        await client.close()
    assert not found.reachable and found.problem.startswith("the registry cannot be reached")
    assert found.detail().startswith("upstream not usable: the registry cannot be reached")


class Ticks:
    """The injected timer: each wait lets the test run one more probe, then stops the loop."""

    def __init__(self, rounds: int) -> None:
        self.rounds = rounds
        self.waited: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waited.append(seconds)
        if len(self.waited) >= self.rounds:
            raise asyncio.CancelledError


async def test_the_probe_runs_at_start_and_on_the_timer_and_publishes_metrics(
    start: Started, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeUpstream()
    metrics = Metrics()
    ticks = Ticks(rounds=2)
    probe = CapabilityProbe(await start(fake), metrics, 300.0, wait=ticks)
    assert metrics.gauges["regproxy_upstream_up"][()] == 0.0  # before the first probe: nothing known
    with caplog.at_level(logging.INFO, "regproxy.upstream"), pytest.raises(asyncio.CancelledError):
        await probe.run()
    assert ticks.waited == [300.0, 300.0]
    assert fake.seen.count(("GET", "/v2/")) == 2
    text = render(metrics)
    assert "regproxy_upstream_up 1" in text
    assert 'regproxy_upstream_info{api_version="registry/2.0"} 1' in text
    assert 'regproxy_upstream_capability{capability="tag-deletion",state="no"} 1' in text
    assert 'regproxy_upstream_capability{capability="tag-deletion",state="yes"} 0' in text
    assert 'regproxy_upstream_capability{capability="manifest-deletion",state="yes"} 1' in text
    assert 'regproxy_upstream_capability{capability="mount",state="unknown"} 1' in text
    assert 'regproxy_upstream_probes_total{result="ok"} 2' in text
    logged = [r.getMessage() for r in caplog.records if r.name == "regproxy.upstream"]
    assert logged == ["upstream registry/2.0; tag-deletion no, manifest-deletion yes, referrers no, mount unknown"]


async def test_an_unusable_upstream_at_start_up_is_an_error_in_the_log(
    start: Started, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = Metrics()
    probe = CapabilityProbe(await start(FakeUpstream(base_status=502)), metrics, 60.0, wait=Ticks(rounds=1))
    with caplog.at_level(logging.INFO, "regproxy.upstream"), pytest.raises(asyncio.CancelledError):
        await probe.run()
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == ["upstream not usable: the registry answered /v2/ with 502 (at start-up)"]
    assert metrics.gauges["regproxy_upstream_up"][()] == 0.0
    assert not [line for line in render(metrics).splitlines() if line.startswith("regproxy_upstream_info")]


async def test_probing_off_sends_nothing(start: Started) -> None:
    fake = FakeUpstream()
    probe = CapabilityProbe(await start(fake), Metrics(), 0.0, wait=Ticks(rounds=1))
    await probe.run()
    assert fake.seen == [] and probe.current == Capabilities()


async def test_a_mount_seen_in_traffic_proves_mounts_and_survives_the_next_probe(start: Started) -> None:
    metrics = Metrics()
    probe = CapabilityProbe(await start(FakeUpstream()), metrics, 60.0)
    probe.observe_mount(202)  # a plain upload: says nothing
    assert probe.current.supports(Capability.MOUNT) is U
    probe.observe_mount(201)
    assert probe.current.supports(Capability.MOUNT) is Y
    await probe.probe_once()
    assert probe.current.supports(Capability.MOUNT) is Y
    assert 'regproxy_upstream_capability{capability="mount",state="yes"} 1' in render(metrics)
