"""A lean upstream path for HEAD: keep-alive HTTP/1.1 connections of regproxy's own.

A HEAD answer is a status line and headers, never a body (RFC 9110 §9.3.2), so its framing is
the blank line that ends the head: no parser library is needed to read it, and none of aiohttp
ClientSession's per-request machinery (request and response objects, tracing, cookie and
redirect handling, a payload stream) either. Measured on authorized HEAD manifest, that
machinery is the largest single share of regproxy's CPU per request (bench/results/).

Same rules as :class:`regproxy.proxy.upstream.UpstreamClient`: ``connect_timeout`` to connect,
``read_timeout`` for the answer, no redirect followed (a 3xx goes back as it came), the same
allowlisted headers (the caller filters them), ``pool_size`` connections at most. Plain HTTP
upstreams only: an https:// registry keeps aiohttp's client (its TLS error reporting).

A strict reader: a status line that is not ``HTTP/1.x NNN``, a 1xx, a header line without a
colon or folded, a head past 64 KiB, or bytes after the head (a body a HEAD must not have) all
close the connection and fail the request as a broken upstream. A connection is reused only
after a clean HTTP/1.1 answer without ``Connection: close``; one the registry closed while idle
is noticed and dropped, and a request that finds its reused connection dead before any answer
is sent once more on a fresh one (HEAD is idempotent).
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Iterator
from types import TracebackType
from typing import cast
from urllib.parse import urlsplit

MAX_HEAD = 64 * 1024
_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([2-5][0-9][0-9])(?: [^\r\n]*)?")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class BrokenAnswer(ConnectionError):
    """The registry's answer to a HEAD was not a well-formed HTTP/1.x head."""


class HeadHeaders:
    """The answer's headers in order; ``get`` is case-insensitive (what callers need of them)."""

    __slots__ = ("_items",)

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._items = items

    def items(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def get(self, name: str, default: str = "") -> str:
        lower = name.lower()
        for key, value in self._items:
            if key.lower() == lower:
                return value
        return default


class HeadResponse:
    """A HEAD's answer; :meth:`release` hands its connection back (idempotent)."""

    __slots__ = ("_connection", "_pool", "headers", "status")

    def __init__(self, status: int, headers: HeadHeaders, pool: HeadPool, connection: _Connection) -> None:
        self.status = status
        self.headers = headers
        self._pool = pool
        self._connection: _Connection | None = connection

    def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            self._pool.put_back(connection)

    async def __aenter__(self) -> HeadResponse:
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.release()


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[bytes] | None = None
        self.open = True
        self.reusable = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no asyncio.Transport subclass

    def data_received(self, data: bytes) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():  # bytes nobody asked for: never trust this connection again
            self.close()
            return
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end == -1:
            if len(self.buffer) > MAX_HEAD:
                waiter.set_exception(BrokenAnswer("the registry's answer head is too large"))
                self.close()
            return
        if end + 4 != len(self.buffer):  # a body after a HEAD's head: answer it, then drop the connection
            self.reusable = False
        head = bytes(self.buffer[:end])
        self.buffer.clear()
        waiter.set_result(head)

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc or ConnectionResetError("the registry closed the connection"))

    def close(self) -> None:
        self.open = False
        if self.transport is not None:
            self.transport.close()


class HeadPool:
    """Keep-alive connections to one plain-HTTP registry, for HEAD requests only."""

    def __init__(self, url: str, *, connect_timeout: float, read_timeout: float, size: int) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError("the lean HEAD path serves plain http:// upstreams only")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.host_header = parts.netloc
        self.base_path = parts.path.rstrip("/")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._slots = asyncio.Semaphore(size)
        self._idle: deque[_Connection] = deque()

    async def head(self, target: str, headers: dict[str, str]) -> HeadResponse:
        """Send ``HEAD target`` with ``headers``; raises :class:`ConnectionError`,
        :class:`TimeoutError` or :class:`OSError` when the registry cannot answer."""
        lines = [f"HEAD {self.base_path}{target} HTTP/1.1\r\nHost: {self.host_header}\r\n"]
        if "accept" not in headers:
            lines.append("Accept: */*\r\n")  # what aiohttp's client sends by default
        for name, value in headers.items():
            if "\r" in value or "\n" in value or _TOKEN.fullmatch(name) is None:
                raise BrokenAnswer("a header that cannot be sent")  # the edge refuses these before
            lines.append(f"{name}: {value}\r\n")
        lines.append("\r\n")
        data = "".join(lines).encode("latin-1")
        await self._slots.acquire()
        try:
            connection = self._take()
            if connection is not None:
                try:
                    return self._answer(await self._exchange(connection, data), connection)
                except (BrokenAnswer, TimeoutError):
                    raise
                except OSError:
                    pass  # a kept-alive connection the registry had closed: once more, on a fresh one
            connection = await self._connect()
            return self._answer(await self._exchange(connection, data), connection)
        except BaseException:
            self._slots.release()
            raise

    def put_back(self, connection: _Connection) -> None:
        connection.waiter = None
        if connection.open and connection.reusable:
            self._idle.append(connection)
        else:
            connection.close()
        self._slots.release()

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()

    def _take(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if connection.open:
                return connection
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.connect_timeout):
            transport, connection = await loop.create_connection(_Connection, self.host, self.port)
        connection.transport = transport  # uvloop may call connection_made only on the next turn
        return connection

    async def _exchange(self, connection: _Connection, data: bytes) -> bytes:
        assert connection.transport is not None
        waiter: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        connection.waiter = waiter
        connection.transport.write(data)
        try:
            async with asyncio.timeout(self.read_timeout):
                return await waiter
        except BaseException:
            connection.close()
            raise

    def _answer(self, head: bytes, connection: _Connection) -> HeadResponse:
        try:
            status, keep, items = parse_head(head)
        except BrokenAnswer:
            connection.close()
            raise
        if not keep:
            connection.reusable = False
        return HeadResponse(status, HeadHeaders(items), self, connection)


def parse_head(head: bytes) -> tuple[int, bool, list[tuple[str, str]]]:
    """(status, reusable, headers) of an answer head without its final blank line."""
    lines = head.split(b"\r\n")
    match = _STATUS_LINE.fullmatch(lines[0])
    if match is None:
        raise BrokenAnswer("the registry's status line is malformed (or a 1xx)")
    keep = match.group(1) == b"1"
    items: list[tuple[str, str]] = []
    for raw in lines[1:]:
        name, colon, value = raw.partition(b":")
        if not colon or b"\n" in raw or b"\r" in raw or raw[:1] in (b" ", b"\t"):
            raise BrokenAnswer("a header line of the registry's answer is malformed")
        text = name.decode("latin-1")
        if _TOKEN.fullmatch(text) is None:
            raise BrokenAnswer("a header name of the registry's answer is malformed")
        decoded = value.strip(b" \t").decode("latin-1")
        if text.lower() == "connection" and "close" in decoded.lower():
            keep = False
        items.append((text, decoded))
    return int(match.group(2)), keep, items


__all__ = ["BrokenAnswer", "HeadHeaders", "HeadPool", "HeadResponse", "parse_head"]
