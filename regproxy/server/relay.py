"""Bodies streamed between the client and the registry, and what happens when either side fails.

Down (registry → client): once the status line and headers have gone out nothing else can be
said to the client but bytes, so any failure after that point — the registry's stream breaks or
stalls past ``upstream.read_timeout``, the client goes away — aborts the client's connection at
once: the client sees a short read (a body shorter than its ``Content-Length``, or a chunked
body without its last chunk), never a hang until the keep-alive timeout and never a second
status line. The audit event keeps the status that was sent, the bytes that moved and the
failure (:data:`UPSTREAM_BROKEN`, :data:`UPSTREAM_TIMEOUT`, :data:`ABORTED`).

Up (client → registry): chunks are passed on as they arrive and counted in the event, so an
upload the client abandons is audited with the bytes it did send.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from regproxy.audit import AuditEvent
from regproxy.metrics import Metrics

log = logging.getLogger("regproxy.access")

#: the values of :attr:`AuditEvent.failure`
ABORTED = "aborted"  # the client went away (or the request was cut at shutdown)
UPSTREAM_BROKEN = "upstream-broken"  # the registry's stream ended early
UPSTREAM_TIMEOUT = "upstream-timeout"  # the registry stalled past its connect or read timeout
UPSTREAM_UNAVAILABLE = "upstream-unavailable"  # allowed, but the registry could not be used (a 503)


async def stream_down(
    request: web.Request,
    upstream_response: aiohttp.ClientResponse,
    headers: list[tuple[str, str]],
    event: AuditEvent,
    metrics: Metrics,
    idle_timeout: float,
) -> web.StreamResponse:
    """Send the registry's status, ``headers`` and body; abort the connection on any failure
    once the headers are out, a registry silent for ``idle_timeout`` included. Returns the
    response (prepared; aborted or complete)."""
    response = web.StreamResponse(status=upstream_response.status)
    for name, value in headers:
        response.headers.add(name, value)
    await response.prepare(request)
    event.status = response.status
    sent = 0
    failure = ""
    try:
        while True:
            try:
                async with asyncio.timeout(idle_timeout):
                    chunk = await upstream_response.content.readany()
            except TimeoutError:  # silent past idle_timeout, or aiohttp's read timeout
                failure = UPSTREAM_TIMEOUT
                break
            except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError):
                failure = UPSTREAM_BROKEN
                break
            if not chunk:
                break
            try:
                await response.write(chunk)
            except ConnectionError:  # aiohttp's ClientConnectionResetError: the client is gone
                failure = ABORTED
                break
            sent += len(chunk)
        if not failure:
            try:
                await response.write_eof()
            except ConnectionError:
                failure = ABORTED
    finally:
        event.bytes_out = sent  # also when the handler is cancelled (the client went away)
        metrics.inc("regproxy_bytes_total", (("direction", "down"),), sent)
    if failure:
        event.failure = failure
        log.warning(
            "%s %s: %s after %d bytes of a %d response; connection aborted",
            request.method,
            event.path,
            failure,
            sent,
            response.status,
        )
        upstream_response.close()
        abort(request)
    return response


async def stream_up(body: AsyncIterator[bytes], event: AuditEvent, metrics: Metrics) -> AsyncIterator[bytes]:
    """The client's ``body`` as it arrives (bounded and idle-guarded by
    :func:`regproxy.server.bodies.stream_body`), counted into ``event.bytes_in``."""
    try:
        async for chunk in body:
            event.bytes_in += len(chunk)
            yield chunk
    except (ConnectionError, aiohttp.ClientError, asyncio.CancelledError):
        # the client's side ended before its body did (a hang-up, or the connection closed at
        # the end of a graceful shutdown): whatever is answered now, the request was cut
        event.failure = event.failure or ABORTED
        raise
    finally:
        metrics.inc("regproxy_bytes_total", (("direction", "up"),), event.bytes_in)


def upstream_failure(error: BaseException) -> str:
    """The failure of an allowed request answered 503 because the registry could not be used."""
    cause = error.__cause__
    return UPSTREAM_TIMEOUT if isinstance(cause, TimeoutError) else UPSTREAM_UNAVAILABLE


def abort(request: web.Request) -> None:
    """Close the client's connection now, without a further byte (aiohttp then skips the rest
    of the response: its final write fails as on any closed connection)."""
    transport = request.transport
    if transport is not None:
        transport.abort()


__all__ = [
    "ABORTED",
    "UPSTREAM_BROKEN",
    "UPSTREAM_TIMEOUT",
    "UPSTREAM_UNAVAILABLE",
    "abort",
    "stream_down",
    "stream_up",
    "upstream_failure",
]
