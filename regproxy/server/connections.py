"""Connection limits aiohttp does not have: a header-read timeout (slowloris) and a cap on
open connections. Maximum header size, idle keep-alive timeout and handler cancellation on
client disconnect are aiohttp settings, passed by :mod:`regproxy.server.run`.

A connection must complete a request head within ``header_timeout`` of opening, and of each
time it starts sending a new one; a connection that trickles header bytes is closed. An idle
keep-alive connection (no partial request) is left to the keep-alive timeout. aiohttp limits
each header line; the whole request head is limited here too (``max_head_size``), and errors
the HTTP parser raises are answered in OCI error JSON without echoing the input.

During a graceful shutdown the body of a request in flight keeps being received (aiohttp
itself would stop reading the socket), so an upload that started before SIGTERM completes.
"""

from __future__ import annotations

import asyncio
import logging

import orjson
from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from regproxy.errors import ErrorCode, OciError
from regproxy.server.responses import error_response

log = logging.getLogger("regproxy.limits")


_HEAD_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"Content-Type: application/json\r\nConnection: close\r\n"
    b"Docker-Distribution-API-Version: registry/2.0\r\n"
)


class GuardedRequestHandler(RequestHandler):
    header_timeout: float = 10.0
    max_connections: int = 1024
    max_head_size: int = 65536
    # process-wide counts, exported as regproxy_connections_closed_total{reason}
    closed_slow = 0
    refused_over_limit = 0
    refused_head_too_large = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._guard: asyncio.TimerHandle | None = None
        self._seen_requests = 0
        self._partial = False
        self._head_bytes = 0
        manager = self._manager
        if manager is not None and len(manager.connections) > self.max_connections:
            GuardedRequestHandler.refused_over_limit += 1
            self.force_close()
            transport.close()
            return
        self._guard = self._loop.call_later(self.header_timeout, self._check_header_progress)

    def data_received(self, data: bytes) -> None:
        if (self._force_close or self._close) and self._request_in_progress and self.transport is not None:
            self._receive_while_closing(data)
            return
        before = self._request_count
        super().data_received(data)
        self._partial = self._request_count == before and not self._request_in_progress and not self._messages
        # Bytes before the first request head is complete can only be head bytes; later on a
        # keep-alive connection body bytes are indistinguishable here, so later heads are
        # measured whole by the handler (and trickled ones are cut by the header timeout).
        first_head = self._request_count == 0 and self._partial
        self._head_bytes = self._head_bytes + len(data) if first_head else 0
        if self._head_bytes > self.max_head_size and self.transport is not None:
            GuardedRequestHandler.refused_head_too_large += 1
            body = orjson.dumps(
                {"errors": [{"code": "UNSUPPORTED", "message": f"request head exceeds {self.max_head_size} bytes"}]}
            )
            self.transport.write(_HEAD_TOO_LARGE + b"Content-Length: %d\r\n\r\n" % len(body) + body)
            self.force_close()

    def handle_error(
        self, request: BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        """Protocol-level errors (a malformed or oversized head) in OCI error JSON.

        aiohttp's own answer is an HTML page that quotes part of the input; this one names the
        status only, and the details go to the log."""
        if exc is not None:
            log.info("refused a malformed request: %s", exc)
        code = ErrorCode.UNKNOWN if status >= 500 else ErrorCode.UNSUPPORTED
        reason = "internal error" if status >= 500 else "malformed request"
        return error_response(OciError(reason, code=code, status=status))

    def _receive_while_closing(self, data: bytes) -> None:
        """Keep feeding the request in flight during a graceful shutdown.

        aiohttp drops every byte that arrives once shutdown has begun (``pre_shutdown`` calls
        ``close()``, ``shutdown()`` sets ``_force_close``: aio-libs/aiohttp#2298), so the rest of
        an upload's body would never reach the handler, which would wait for it until
        ``shutdown_timeout`` and then fail (a 503): no in-flight upload could ever finish. The
        flags are lifted only while this chunk is parsed; a pipelined next request parsed with
        it is never served, because the connection's loop stops at ``_force_close``.
        """
        flags = self._force_close, self._close
        self._force_close = self._close = False
        try:
            super().data_received(data)
        finally:
            self._force_close, self._close = flags

    def _check_header_progress(self) -> None:
        self._guard = None
        if self._force_close or self._close or self.transport is None:
            return
        progressed = self._request_count != self._seen_requests
        self._seen_requests = self._request_count
        if not progressed and not self._request_in_progress and (self._partial or self._request_count == 0):
            GuardedRequestHandler.closed_slow += 1
            # debug only: under a slowloris attack this would flood the log; the count is a metric
            log.debug("closing a connection that sent no complete request head in %.0fs", self.header_timeout)
            self.force_close()  # closes the transport (and sets it to None)
            return
        self._guard = self._loop.call_later(self.header_timeout, self._check_header_progress)

    def connection_lost(self, exc: BaseException | None) -> None:
        guard = getattr(self, "_guard", None)
        if guard is not None:
            guard.cancel()
            self._guard = None
        super().connection_lost(exc)


def guarded_server(
    runner: web.AppRunner, *, header_timeout: float, max_connections: int, max_head_size: int = 65536
) -> None:
    """Make ``runner``'s server hand out guarded protocol instances (call after setup).

    aiohttp's sites use the server object itself as the protocol factory, so the server's
    class is narrowed to one whose ``__call__`` builds :class:`GuardedRequestHandler`.
    """
    server = runner.server
    assert server is not None
    handler_class = type(
        "ConfiguredGuardedRequestHandler",
        (GuardedRequestHandler,),
        {"header_timeout": header_timeout, "max_connections": max_connections, "max_head_size": max_head_size},
    )

    class GuardedServer(type(server)):  # type: ignore[misc]
        def __call__(self) -> RequestHandler:
            return handler_class(self, loop=self._loop, **self._kwargs)  # type: ignore[no-any-return]

    server.__class__ = GuardedServer
