"""Bodies streamed between client and registry: a complete relay is counted; a registry stream
that breaks after the headers aborts the client's connection (a short read, never a hang) and
the audit event says so."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from regproxy.audit import AuditEvent
from regproxy.metrics import Metrics
from regproxy.server.relay import (
    UPSTREAM_BROKEN,
    UPSTREAM_TIMEOUT,
    UPSTREAM_UNAVAILABLE,
    stream_down,
    stream_up,
    upstream_failure,
)

BODY = b"x" * 100_000


async def whole(request: web.Request) -> web.StreamResponse:
    return web.Response(body=BODY)


async def broken(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Length": str(len(BODY))})
    await response.prepare(request)
    await response.write(BODY[:1000])
    assert request.transport is not None
    request.transport.close()  # the registry dies mid-body
    return response


def event() -> AuditEvent:
    return AuditEvent(0.0, "r1", "127.0.0.1", "GET", "blob", "/v2/a/blobs/x")


@pytest.fixture
async def relay(aiohttp_server: Any, aiohttp_client: Any) -> AsyncIterator[tuple[Any, list[AuditEvent], Metrics]]:
    upstream = await aiohttp_server(_upstream_app())
    events: list[AuditEvent] = []
    metrics = Metrics()
    session = aiohttp.ClientSession()

    async def handler(request: web.Request) -> web.StreamResponse:
        e = event()
        events.append(e)
        upstream_response = await session.get(f"http://127.0.0.1:{upstream.port}/{request.match_info['what']}")
        return await stream_down(request, upstream_response, [("Content-Length", str(len(BODY)))], e, metrics, 5.0)

    async def upload(request: web.Request) -> web.StreamResponse:
        e = event()
        events.append(e)
        received = b"".join([chunk async for chunk in stream_up(request.content.iter_any(), e, metrics)])
        return web.Response(text=str(len(received)))

    app = web.Application()
    app.router.add_get("/{what}", handler)
    app.router.add_put("/upload", upload)
    client = await aiohttp_client(app)
    yield client, events, metrics
    await session.close()


def _upstream_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/whole", whole)
    app.router.add_get("/broken", broken)
    return app


async def test_a_whole_body_is_relayed_and_counted(relay: tuple[Any, list[AuditEvent], Metrics]) -> None:
    client, events, metrics = relay
    response = await client.get("/whole")
    assert await response.read() == BODY
    (e,) = events
    assert (e.status, e.bytes_out, e.failure) == (200, len(BODY), "")
    assert metrics.counters["regproxy_bytes_total"][(("direction", "down"),)] == len(BODY)


async def test_a_broken_upstream_cuts_the_client_short(relay: tuple[Any, list[AuditEvent], Metrics]) -> None:
    client, events, _ = relay
    response = await client.get("/broken")
    assert response.status == 200  # the status line had gone out already
    with pytest.raises(aiohttp.ClientPayloadError):
        await asyncio.wait_for(response.read(), 10)
    (e,) = events
    assert e.failure == UPSTREAM_BROKEN and e.bytes_out < len(BODY)


async def test_an_upload_is_counted_as_it_arrives(relay: tuple[Any, list[AuditEvent], Metrics]) -> None:
    client, events, metrics = relay
    response = await client.put("/upload", data=b"y" * 5000)
    assert await response.text() == "5000"
    assert events[0].bytes_in == 5000
    assert metrics.counters["regproxy_bytes_total"][(("direction", "up"),)] == 5000


def test_an_unusable_registry_is_a_timeout_only_when_it_timed_out() -> None:
    timed_out = RuntimeError("upstream")
    timed_out.__cause__ = TimeoutError()
    assert upstream_failure(timed_out) == UPSTREAM_TIMEOUT
    assert upstream_failure(RuntimeError("refused")) == UPSTREAM_UNAVAILABLE
