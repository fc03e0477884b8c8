"""Connection guards in process: a head that trickles is cut at the header timeout, a head too
large is answered 431, and connections past the cap are closed at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from regproxy.server.connections import GuardedRequestHandler, guarded_server


async def ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


@pytest.fixture
async def port() -> AsyncIterator[int]:
    app = web.Application()
    app.router.add_get("/", ok)
    runner = web.AppRunner(app)
    await runner.setup()
    guarded_server(runner, header_timeout=0.2, max_connections=2, max_head_size=4096)
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    (address,) = runner.addresses
    yield address[1]
    await runner.cleanup()


async def read_all(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.read(), 5)


async def test_a_complete_request_is_served(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert (await read_all(reader)).startswith(b"HTTP/1.1 200")
    writer.close()


async def test_a_trickling_head_is_closed_at_the_header_timeout(port: int) -> None:
    before = GuardedRequestHandler.closed_slow
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finished
    assert await read_all(reader) == b""
    assert GuardedRequestHandler.closed_slow == before + 1
    writer.close()


async def test_a_head_too_large_is_431(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"GET / HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-%d: %s\r\n" % (i, b"a" * 100) for i in range(60))  # its end never comes
    )
    answer = await read_all(reader)
    assert answer.startswith(b"HTTP/1.1 431")
    assert b"registry/2.0" in answer
    writer.close()


async def test_connections_past_the_cap_are_closed(port: int) -> None:
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
    await asyncio.sleep(0.05)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert await read_all(reader) == b""
    writer.close()
    for _, w in held:
        w.close()
