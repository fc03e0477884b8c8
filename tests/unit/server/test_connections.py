"""The connection layer, driven in-process: a real aiohttp runner behind a GuardedSite on a
loopback socket, raw bytes from asyncio streams."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from regproxy.server.connections import ConnectionLimits, GuardedSite, connection_middleware

SECRET = "c2VjcmV0LXBhc3N3b3Jk"
LIMITS = ConnectionLimits(
    header_timeout=0.5, max_connections=4, max_head_size=4096, max_line_size=1024, max_trailer_size=256
)


@dataclass
class Server:
    site: GuardedSite
    port: int
    seen: list[str] = field(default_factory=list)
    bodies: list[object] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port)


async def start(limits: ConnectionLimits = LIMITS) -> tuple[Server, web.AppRunner]:
    app = web.Application(middlewares=[connection_middleware])
    holder: list[Server] = []

    async def body(request: web.Request) -> web.Response:
        holder[0].seen.append(request.path)
        try:
            data = await request.content.read()
        except Exception as exc:
            holder[0].bodies.append(exc)
            return web.json_response({"error": type(exc).__name__}, status=400)
        holder[0].bodies.append(len(data))
        return web.json_response({"length": len(data)})

    async def hello(request: web.Request) -> web.Response:
        holder[0].seen.append(request.path)
        return web.Response(text="hello")

    app.router.add_route("*", "/body", body)
    app.router.add_route("*", "/hello", hello)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    site = GuardedSite(runner, sock, limits)
    await site.start()
    server = Server(site, sock.getsockname()[1])
    holder.append(server)
    return server, runner


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv, runner = await start()
    yield srv
    await runner.cleanup()


async def read_all(reader: asyncio.StreamReader, wait: float = 5.0) -> bytes:
    """Everything until the server closes (a reset, when our unread bytes were dropped, counts)."""
    async with asyncio.timeout(wait):
        try:
            return await reader.read()
        except ConnectionResetError:
            return b""


async def read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    async with asyncio.timeout(5):
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
        )
        return head, await reader.readexactly(length)


async def test_requests_pass_and_keep_alive_works(server: Server) -> None:
    reader, writer = await server.connect()
    writer.write(
        b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\nPOST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
    )
    head, body = await read_response(reader)
    assert head.startswith(b"HTTP/1.1 200") and body == b"hello"
    head, body = await read_response(reader)
    assert json.loads(body) == {"length": 3}
    writer.close()


async def test_a_trickled_head_is_cut_at_the_header_timeout(server: Server) -> None:
    reader, writer = await server.connect()
    writer.write(b"GET /hello HTTP/1.1\r\n")
    for _ in range(3):
        await asyncio.sleep(0.2)
        writer.write(b"X: y\r\n")
    assert await read_all(reader) == b""  # closed, unanswered
    assert server.seen == []
    writer.close()


async def test_a_connection_that_sends_nothing_is_cut_at_the_header_timeout(server: Server) -> None:
    reader, writer = await server.connect()
    assert await read_all(reader, wait=3) == b""
    writer.close()


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (f"GET /hello HTTP/1.1\r\nAuthorization: Basic {SECRET}\r\nBad Header <x>\r\n\r\n".encode(), 400),
        (f"GET /hello HTTP/1.1\r\nAuthorization: Basic {SECRET}\x01\r\n\r\n".encode(), 400),
        (f"GET /hello HTTP/1.1\r\nAuthorization: Basic {SECRET}{'a' * 2000}\r\n\r\n".encode(), 431),
        (f"GET /hello?password={SECRET}\x7f HTTP/1.1\r\n\r\n".encode(), 400),
        (b"GET /hello HTTP/1.1\r\n" + b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n" * 200 + b"\r\n", 431),
    ],
    ids=["bad-header", "control-char", "long-line", "bad-target", "head-too-large"],
)
async def test_a_refused_head_is_answered_in_oci_json_quoting_nothing(server: Server, raw: bytes, status: int) -> None:
    reader, writer = await server.connect()
    writer.write(raw)
    answer = await read_all(reader)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status}".encode())
    assert json.loads(body)["errors"][0]["code"] == "UNSUPPORTED"
    assert SECRET.encode() not in answer
    assert server.seen == []
    writer.close()


async def test_connections_over_the_cap_are_closed_on_accept(server: Server) -> None:
    held = [await server.connect() for _ in range(LIMITS.max_connections)]
    await asyncio.sleep(0.05)
    reader, writer = await server.connect()
    writer.write(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
    assert await read_all(reader) == b""
    writer.close()
    for _, w in held:
        w.close()


async def test_a_connection_serves_at_most_its_request_limit() -> None:
    srv, runner = await start(ConnectionLimits(header_timeout=2, max_requests_per_connection=2))
    try:
        reader, writer = await srv.connect()
        writer.write(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n" * 3)
        first, _ = await read_response(reader)
        second, _ = await read_response(reader)
        assert b"Connection: close" not in first and b"Connection: close" in second
        assert await read_all(reader) == b""
        assert srv.seen == ["/hello", "/hello"]
        writer.close()
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    "tail",
    [b"0\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n", b"zz\r\nabc\r\n0\r\n\r\n", b"3\r\nabcXX"],
    ids=["huge-trailer", "bad-size", "bad-data-end"],
)
async def test_broken_chunk_framing_ends_the_body_stream_with_an_error(server: Server, tail: bytes) -> None:
    """aiohttp's own parser error here would leave the handler waiting for ever."""
    reader, writer = await server.connect()
    writer.write(b"PATCH /body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n" + tail)
    head, body = await read_response(reader)
    assert head.startswith(b"HTTP/1.1 400") and b"Connection: close" in head
    assert json.loads(body) == {"error": "BodyFramingError"}
    assert await read_all(reader) == b""
    writer.close()


async def test_chunked_bodies_with_small_trailers_pass(server: Server) -> None:
    reader, writer = await server.connect()
    writer.write(
        b"PATCH /body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"
    )
    _, body = await read_response(reader)
    assert json.loads(body) == {"length": 5}
    writer.close()


async def test_drain_lets_an_upload_in_flight_finish_and_closes_idle_connections(server: Server) -> None:
    idle_reader, idle_writer = await server.connect()
    idle_writer.write(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
    await read_response(idle_reader)
    reader, writer = await server.connect()
    writer.write(b"PUT /body HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
    await asyncio.sleep(0.1)  # the handler is reading the body
    drained = asyncio.ensure_future(server.site.drain(5.0))
    assert await read_all(idle_reader) == b""  # idle keep-alive: closed at once
    await asyncio.sleep(0.1)
    writer.write(b"world")  # the rest of the upload still arrives
    head, body = await read_response(reader)
    assert json.loads(body) == {"length": 10}
    assert b"Connection: close" in head
    assert await drained is True
    writer.close()
    idle_writer.close()
    with pytest.raises(OSError):
        await server.connect()  # no longer listening


def self_signed(directory: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(directory / "cert.pem"), str(directory / "key.pem"))
    return context


async def test_over_tls_the_layer_sees_the_plain_requests_and_still_guards_them(tmp_path: Path) -> None:
    app = web.Application(middlewares=[connection_middleware])
    served: list[int] = []

    async def body(request: web.Request) -> web.Response:
        try:
            data = await request.content.read()
        except Exception as exc:
            return web.json_response({"error": type(exc).__name__}, status=400)
        served.append(len(data))
        return web.json_response({"length": len(data)})

    app.router.add_route("*", "/body", body)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    site = GuardedSite(runner, sock, LIMITS, ssl_context=self_signed(tmp_path))
    await site.start()
    client = ssl.create_default_context()
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    try:
        port = sock.getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
        writer.write(b"POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        _, answer = await read_response(reader)
        assert json.loads(answer) == {"length": 3}
        writer.write(
            b"PATCH /body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX: "
            + b"a" * 400
            + b"\r\n\r\n"
        )
        head, answer = await read_response(reader)
        assert head.startswith(b"HTTP/1.1 400") and json.loads(answer) == {"error": "BodyFramingError"}
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
        writer.write(f"GET /body HTTP/1.1\r\nAuthorization: Basic {SECRET}\r\nBad Header\r\n\r\n".encode())
        refused = await read_all(reader)
        assert refused.startswith(b"HTTP/1.1 400") and SECRET.encode() not in refused
        writer.close()
    finally:
        await runner.cleanup()
