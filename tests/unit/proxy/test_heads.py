"""The lean HEAD path: keep-alive reuse, strict reading of the registry's answer, timeouts, and
a stale kept-alive connection retried once. The registry here is a raw asyncio server scripted
per test (one seam); the real registry is exercised by tests/integration."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest

from regproxy.proxy.heads import BrokenAnswer, HeadPool, parse_head

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDocker-Content-Digest: sha256:ab\r\nContent-Length: 42\r\n\r\n"

Script = Callable[[bytes, int], bytes | None]  # (request head, n-th request on the connection) -> answer


class Scripted:
    """A TCP server answering each request head with ``script``; None closes the connection."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.heads: list[bytes] = []
        self.connections = 0
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        n = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.heads.append(head)
                answer = self.script(head, n)
                n += 1
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Script], asyncio.Future[Scripted]]]:
    servers: list[Scripted] = []

    async def start(script: Script) -> Scripted:
        scripted = Scripted(script)
        scripted.server = await asyncio.start_server(scripted.handle, "127.0.0.1", 0)
        servers.append(scripted)
        return scripted

    yield start  # type: ignore[misc]
    await stop([s.server for s in servers if s.server is not None], [w for s in servers for w in s.writers])


async def stop(servers: list[asyncio.Server], writers: list[asyncio.StreamWriter]) -> None:
    for server in servers:
        server.close()
    for writer in writers:
        writer.close()
    for writer in writers:
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    for server in servers:
        await server.wait_closed()


def pool(url: str, *, read_timeout: float = 5.0, size: int = 4) -> HeadPool:
    return HeadPool(url, connect_timeout=2.0, read_timeout=read_timeout, size=size)


async def test_answers_are_read_and_the_connection_is_kept_alive(serve: Callable[..., object]) -> None:
    registry: Scripted = await serve(lambda head, n: OK)  # type: ignore[misc]
    heads = pool(registry.url)
    for _ in range(3):
        response = await heads.head("/v2/r/manifests/latest", {"accept": "application/json", "authorization": "x"})
        assert response.status == 200
        assert response.headers.get("docker-content-digest") == "sha256:ab"
        assert response.headers.get("CONTENT-LENGTH") == "42"
        assert next(name for name, _ in response.headers.items()) == "Content-Type"
        response.release()
        response.release()  # idempotent
    assert registry.connections == 1
    first = registry.heads[0].decode()
    assert first.startswith("HEAD /v2/r/manifests/latest HTTP/1.1\r\nHost: 127.0.0.1:")
    assert "accept: application/json\r\n" in first and "authorization: x\r\n" in first
    heads.close()


async def test_accept_defaults_as_aiohttp_sends_it(serve: Callable[..., object]) -> None:
    registry: Scripted = await serve(lambda head, n: OK)  # type: ignore[misc]
    heads = pool(registry.url)
    (await heads.head("/v2/", {})).release()
    assert b"Accept: */*\r\n" in registry.heads[0]
    heads.close()


async def test_connection_close_and_http10_are_not_reused(serve: Callable[..., object]) -> None:
    answers = [b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", b"HTTP/1.0 200 OK\r\n\r\n", OK]
    registry: Scripted = await serve(lambda head, n: answers[len(registry.heads) - 1])  # type: ignore[misc]
    heads = pool(registry.url)
    for _ in range(3):
        (await heads.head("/v2/", {})).release()
    assert registry.connections == 3
    heads.close()


async def test_a_redirect_goes_back_as_it_came(serve: Callable[..., object]) -> None:
    answer = b"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://elsewhere/x\r\n\r\n"
    registry: Scripted = await serve(lambda head, n: answer)  # type: ignore[misc]
    heads = pool(registry.url)
    response = await heads.head("/v2/r/blobs/sha256:ab", {})
    assert (response.status, response.headers.get("location")) == (307, "http://elsewhere/x")
    response.release()
    assert len(registry.heads) == 1
    heads.close()


async def test_a_connection_the_registry_closed_while_idle_is_retried_on_a_fresh_one(
    serve: Callable[..., object],
) -> None:
    # the registry answers the first request, then closes the second's connection unanswered
    registry: Scripted = await serve(lambda head, n: OK if n == 0 else None)  # type: ignore[misc]
    heads = pool(registry.url)
    (await heads.head("/v2/", {})).release()
    response = await heads.head("/v2/", {})
    assert response.status == 200
    response.release()
    assert registry.connections == 2
    heads.close()


async def test_a_fresh_connection_closed_unanswered_fails(serve: Callable[..., object]) -> None:
    registry: Scripted = await serve(lambda head, n: None)  # type: ignore[misc]
    heads = pool(registry.url)
    with pytest.raises(ConnectionError):
        await heads.head("/v2/", {})
    heads.close()


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/2 200\r\n\r\n",
        b"garbage\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nBad Name: 1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-A: a\nb\r\n\r\n",
    ],
)
async def test_a_malformed_answer_fails_and_drops_the_connection(serve: Callable[..., object], answer: bytes) -> None:
    registry: Scripted = await serve(lambda head, n: answer if len(registry.heads) == 1 else OK)  # type: ignore[misc]
    heads = pool(registry.url)
    with pytest.raises(BrokenAnswer):
        await heads.head("/v2/", {})
    (await heads.head("/v2/", {})).release()  # the slot came back; a new connection
    assert registry.connections == 2
    heads.close()


async def test_a_body_after_a_head_is_not_trusted_again(serve: Callable[..., object]) -> None:
    registry: Scripted = await serve(lambda head, n: OK + b'{"a":1}')  # type: ignore[misc]
    heads = pool(registry.url)
    for _ in range(2):
        response = await heads.head("/v2/", {})
        assert response.status == 200
        response.release()
    assert registry.connections == 2
    heads.close()


async def test_a_head_too_large_fails(serve: Callable[..., object]) -> None:
    registry: Scripted = await serve(lambda head, n: b"HTTP/1.1 200 OK\r\n" + b"X-A: " + b"a" * 70000)  # type: ignore[misc]
    heads = pool(registry.url)
    with pytest.raises(BrokenAnswer):
        await heads.head("/v2/", {})
    heads.close()


async def test_a_silent_registry_times_out(serve: Callable[..., object]) -> None:
    registry: Scripted = await serve(lambda head, n: b"")  # type: ignore[misc]
    heads = pool(registry.url, read_timeout=0.2)
    with pytest.raises(TimeoutError):
        await heads.head("/v2/", {})
    heads.close()


async def test_at_most_size_requests_at_once() -> None:
    answered = asyncio.Event()
    waiting: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                waiting.append(writer)
                await answered.wait()
                writer.write(OK)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    heads = pool(f"http://127.0.0.1:{port}", size=2)

    async def one() -> None:
        response = await heads.head("/v2/", {})
        response.release()

    async def check() -> None:
        for _ in range(30):
            await asyncio.sleep(0.01)
        assert len(waiting) == 2  # the third waits for a slot, not for the registry
        answered.set()

    async with asyncio.TaskGroup() as group:
        for _ in range(3):
            group.create_task(one())
        group.create_task(check())
    assert len(waiting) == 3
    heads.close()
    await stop([server], waiting)


async def test_unreachable_is_an_os_error() -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    heads = pool(f"http://127.0.0.1:{port}")
    with pytest.raises(OSError):
        await heads.head("/v2/", {})


def test_only_plain_http_upstreams() -> None:
    with pytest.raises(ValueError, match="plain http"):
        HeadPool("https://registry.example", connect_timeout=1, read_timeout=1, size=1)


def test_parse_head_reads_status_headers_and_keep_alive() -> None:
    status, keep, items = parse_head(b"HTTP/1.1 404 Not Found\r\nX-A:  1 \r\nConnection: keep-alive")
    assert (status, keep, items) == (404, True, [("X-A", "1"), ("Connection", "keep-alive")])
    assert parse_head(b"HTTP/1.1 200 OK\r\nConnection: Close")[1] is False


def test_a_header_that_cannot_be_sent_is_refused() -> None:
    heads = HeadPool("http://127.0.0.1:9", connect_timeout=1, read_timeout=1, size=1)
    with pytest.raises(BrokenAnswer):
        asyncio.run(heads.head("/v2/", {"x-a": "1\r\nInjected: yes"}))
