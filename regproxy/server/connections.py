"""The connection layer regproxy owns, in front of aiohttp's request handler.

Each accepted connection gets a :class:`GuardedConnection`, an :class:`asyncio.Protocol` of
ours that builds aiohttp's handler with the public factory (``runner.server()``, the
:class:`aiohttp.web.Server` protocol factory), hands it the transport and delegates to it. Every
received byte goes through :class:`~regproxy.server.framing.RequestFraming` first, and only
checked bytes reach aiohttp. No private aiohttp attribute is read or written. What it enforces:

- **head time**: a request head must be complete within ``header_timeout`` of its first byte
  (slowloris); an idle keep-alive connection is left to aiohttp's keep-alive timeout;
- **head size and grammar**: ``max_head_size`` in total, ``max_line_size`` per line, a strict
  grammar (see framing); a refused head is answered here, in OCI error JSON, quoting nothing;
- **body framing**: chunk framing and trailers (``max_trailer_size``); a violation ends the
  request's body stream with :class:`BodyFramingError`, so the handler answers and the upstream
  request is abandoned (aiohttp's own parser error here never ends the stream);
- **connections**: at most ``max_connections`` open at once (more are closed on accept), and at
  most ``max_requests_per_connection`` requests on one;
- **graceful drain**: :meth:`GuardedSite.drain` stops accepting, closes idle connections, lets
  requests in flight finish (an upload keeps being received to its end) and closes each
  connection after its response, up to a timeout; then the runner's cleanup ends the rest.

The request side (which request a connection is serving) is learnt from
:func:`connection_middleware`, the first middleware of the application.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import orjson
from aiohttp import web

from regproxy.audit import AuditEvent, AuditLog
from regproxy.errors import BodyFramingError
from regproxy.metrics import Metrics
from regproxy.server.framing import FramingLimits, RequestFraming, Violation

log = logging.getLogger("regproxy.connections")

_REASONS = {
    400: "Bad Request",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    501: "Not Implemented",
}


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    header_timeout: float = 10.0
    max_connections: int = 1024
    max_head_size: int = 65536
    max_line_size: int = 16384
    max_trailer_size: int = 8192
    max_requests_per_connection: int = 10000


class ConnectionStats:
    """Process-wide counts, exported as ``regproxy_connections_closed_total{reason}``."""

    closed_slow = 0
    refused_over_limit = 0
    refused_head_too_large = 0
    refused_malformed = 0
    bodies_cut = 0

    @classmethod
    def by_reason(cls) -> dict[str, int]:
        return {
            "slow-head": cls.closed_slow,
            "over-limit": cls.refused_over_limit,
            "head-too-large": cls.refused_head_too_large,
            "malformed": cls.refused_malformed,
            "body-framing": cls.bodies_cut,
        }


# where the application's audit log is, for the heads refused here (they never reach a handler,
# and every request leaves one audit line)
REFUSAL_AUDIT = web.AppKey("refusal_audit", AuditLog)
REFUSAL_METRICS = web.AppKey("refusal_metrics", Metrics)  # counted as requests, like the audit lines

# transport -> its connection: how the middleware finds the connection of a request
_CONNECTIONS: dict[asyncio.BaseTransport, GuardedConnection] = {}


class GuardedConnection(asyncio.Protocol):
    def __init__(self, site: GuardedSite) -> None:
        self.site = site
        self.limits = site.limits
        self.framing = RequestFraming(
            FramingLimits(site.limits.max_head_size, site.limits.max_line_size, site.limits.max_trailer_size)
        )
        self.transport: asyncio.Transport | None = None
        self.inner: asyncio.Protocol | None = None
        self._head_timer: asyncio.TimerHandle | None = None
        self.pending = 0  # requests passed on whose response is not finished
        self.served = 0
        self.request: web.BaseRequest | None = None
        self.body_error: BodyFramingError | None = None
        self.refusal: Violation | None = None  # a head refused while a response was pending
        self.closing = False
        self.heads_seen = 0

    # -- asyncio.Protocol ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's transports are no subclass of it
        self.transport = transport
        site = self.site
        if len(site.connections) >= self.limits.max_connections or site.draining:
            ConnectionStats.refused_over_limit += 1
            transport.abort()
            return
        site.connections.add(self)
        _CONNECTIONS[transport] = self
        self.inner = site.protocol_factory()
        self.inner.connection_made(transport)
        # a new connection owes its first head within the timeout, like any head in progress
        self._head_timer = asyncio.get_running_loop().call_later(self.limits.header_timeout, self._head_too_slow)

    def data_received(self, data: bytes) -> None:
        if self.inner is None or self.closing:
            return
        scan = self.framing.feed(data)
        if scan.heads_completed:
            self.pending += scan.heads_completed
            self.heads_seen += scan.heads_completed
            self._cancel_head_timer()
        if self.framing.in_head and self._head_timer is None:
            self._head_timer = asyncio.get_running_loop().call_later(self.limits.header_timeout, self._head_too_slow)
        if scan.data:
            self.inner.data_received(scan.data)
        if scan.violation is not None:
            self._violation(scan.violation)

    def eof_received(self) -> bool | None:
        if self.inner is None:
            return None
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        self.site.connections.discard(self)
        if self.transport is not None:
            _CONNECTIONS.pop(self.transport, None)
        if self.inner is not None:
            self.inner.connection_lost(exc)
        self.site.connection_closed()

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()

    # -- the request side (from the middleware) ---------------------------------------------------
    @property
    def idle(self) -> bool:
        return self.pending == 0 and not self.framing.in_head

    def request_started(self, request: web.BaseRequest) -> None:
        self.request = request
        self.served += 1
        if self.body_error is not None:
            request.content.set_exception(self.body_error)

    def request_finished(self, response: web.StreamResponse | None) -> None:
        self.request = None
        self.pending = max(0, self.pending - 1)
        must_close = (
            self.site.draining
            or self.body_error is not None
            or self.refusal is not None
            or self.served >= self.limits.max_requests_per_connection
        )
        if must_close and response is not None:
            response.force_close()

    # -- limits --------------------------------------------------------------------------------
    def _violation(self, violation: Violation) -> None:
        if violation.in_body:
            ConnectionStats.bodies_cut += 1
            self.body_error = BodyFramingError(violation.reason, status=violation.status)
            if self.request is not None:
                self.request.content.set_exception(self.body_error)
            return
        if violation.status == 431:
            ConnectionStats.refused_head_too_large += 1
        else:
            ConnectionStats.refused_malformed += 1
        if self.pending:  # a response is still to come on this connection: refuse after it
            self.refusal = violation
            if self.transport is not None:
                self.site.audit_refusal(self.transport, violation)
            return
        self._refuse(violation)

    def _refuse(self, violation: Violation) -> None:
        """Answer a refused head ourselves (aiohttp never saw it) and close."""
        self.closing = True
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        body = orjson.dumps({"errors": [{"code": "UNSUPPORTED", "message": violation.reason}]})
        head = (
            f"HTTP/1.1 {violation.status} {_REASONS.get(violation.status, 'Bad Request')}\r\n"
            "Content-Type: application/json\r\nConnection: close\r\n"
            "Docker-Distribution-API-Version: registry/2.0\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        transport.write(head.encode() + body)
        transport.close()
        self.site.audit_refusal(transport, violation)

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if (self.framing.in_head or self.heads_seen == 0) and self.transport is not None:
            ConnectionStats.closed_slow += 1
            # debug only: under a slowloris attack this would flood the log; the count is a metric
            log.debug("closing a connection that sent no complete request head in %.0fs", self.limits.header_timeout)
            self.closing = True
            self.transport.close()

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def close_if_idle(self) -> None:
        if self.idle and self.transport is not None:
            self.closing = True
            self.transport.close()


class GuardedSite(web.BaseSite):
    """A listening socket whose connections are :class:`GuardedConnection` s."""

    def __init__(
        self,
        runner: web.BaseRunner,
        sock: Any,
        limits: ConnectionLimits,
        *,
        ssl_context: Any = None,
        backlog: int = 1024,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        server = runner.server
        assert server is not None
        self.protocol_factory: Callable[[], asyncio.Protocol] = server
        self.limits = limits
        self.sock = sock
        self.connections: set[GuardedConnection] = set()
        self.draining = False
        self._all_closed: asyncio.Event | None = None
        self._listener: asyncio.Server | None = None
        self.audit: AuditLog | None = None
        self.metrics: Metrics | None = None

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        host, port = self.sock.getsockname()[:2]
        return f"{scheme}://{host}:{port}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        self._listener = await loop.create_server(
            lambda: GuardedConnection(self), sock=self.sock, ssl=self._ssl_context, backlog=self._backlog
        )
        self._server = self._listener  # BaseSite.stop() closes it
        app = getattr(self._runner, "app", None)  # an AppRunner's application (public property)
        self.audit = app.get(REFUSAL_AUDIT) if isinstance(app, web.Application) else None
        self.metrics = app.get(REFUSAL_METRICS) if isinstance(app, web.Application) else None

    def audit_refusal(self, transport: asyncio.BaseTransport, violation: Violation) -> None:
        """One audit line for a head refused here: the source and the status, nothing the
        client sent (the head may be anything, a password included)."""
        if self.metrics is not None:
            labels = (("action", "none"), ("decision", "refused"), ("status", str(violation.status)))
            self.metrics.inc("regproxy_requests_total", labels)
        if self.audit is None:
            return
        peer = transport.get_extra_info("peername")
        self.audit.emit(
            AuditEvent(
                time=time.time(),
                request_id="",
                source=str(peer[0]) if isinstance(peer, tuple) and peer else "",
                method="",
                route="malformed",
                path="",
                decision="refused",
                status=violation.status,
            )
        )

    def close_idle(self) -> int:
        """Close every connection with no request in flight and no head arriving; how many."""
        idle = [c for c in self.connections if c.idle]
        for connection in idle:
            connection.close_if_idle()
        return len(idle)

    async def drain(self, grace: float) -> bool:
        """Stop accepting, close idle connections, let requests in flight finish (each
        connection closes after its response), for up to ``grace`` seconds. True if every
        connection closed in time; what is left is for the runner's cleanup to end."""
        self.draining = True
        if self._listener is not None:
            self._listener.close()
        deadline = time.monotonic() + grace
        while self.connections and time.monotonic() < deadline:
            self.close_idle()
            self._all_closed = asyncio.Event()
            try:
                async with asyncio.timeout(min(0.5, max(deadline - time.monotonic(), 0.01))):
                    await self._all_closed.wait()
            except TimeoutError:
                pass
        return not self.connections

    def connection_closed(self) -> None:
        if not self.connections and self._all_closed is not None:
            self._all_closed.set()


@web.middleware
async def connection_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Tell the request's connection when its handler starts and ends (first middleware)."""
    transport = request.transport
    connection = _CONNECTIONS.get(transport) if transport is not None else None
    if connection is None:  # not a guarded site (the admin listener, a test client)
        return await handler(request)
    connection.request_started(request)
    response: web.StreamResponse | None = None
    try:
        response = await handler(request)
        return response
    except web.HTTPException as exc:
        response = exc
        raise
    finally:
        connection.request_finished(response)


def connection_limits(limits: Any) -> ConnectionLimits:
    """The connection layer's settings from ``Config.limits``."""
    return ConnectionLimits(
        header_timeout=limits.header_timeout,
        max_connections=limits.max_connections,
        max_head_size=limits.max_header_size * 4,
        max_line_size=limits.max_header_size,
        max_trailer_size=min(limits.max_trailer_size, limits.max_header_size),
        max_requests_per_connection=limits.max_requests_per_connection,
    )
