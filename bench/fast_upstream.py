"""A trivial, fast stand-in registry for benchmarks: raw asyncio sockets on uvloop.

It answers ``HEAD /v2/<name>/manifests/<ref>`` (and GET of the same, with a fixed small body)
at once with fixed headers, ``GET /v2/`` with ``{}``, and anything else with 404. No parsing
beyond the request line and the Content-Length / Connection headers, no allocation to speak of:
its own cost is a small fraction of a real registry's, so a benchmark that sends HEAD manifest
requests through a proxy in front of it measures the proxy's own cost.

HTTP/1.1 keep-alive (and HTTP/1.0 with ``Connection: keep-alive``, as ``ab -k`` sends) and
pipelining are supported. Run alone::

    python bench/fast_upstream.py --listen 127.0.0.1:5002
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import signal

try:
    import uvloop
except ImportError:  # plain asyncio still works, only slower
    uvloop = None  # type: ignore[assignment]

MANIFEST = (
    b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
    b'"config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":2,'
    b'"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},'
    b'"layers":[]}'
)
DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()


def _head(status: bytes, extra: bytes, length: int, keep_alive: bool) -> bytes:
    conn = b"Connection: keep-alive\r\n" if keep_alive else b"Connection: close\r\n"
    return (
        b"HTTP/1.1 " + status + b"\r\n"
        b"Docker-Distribution-Api-Version: registry/2.0\r\n"
        + extra
        + b"Content-Length: "
        + str(length).encode()
        + b"\r\n"
        + conn
        + b"\r\n"
    )


_MANIFEST_HEADERS = (
    b"Content-Type: application/vnd.oci.image.manifest.v1+json\r\n"
    b"Docker-Content-Digest: " + DIGEST.encode() + b"\r\n"
    b'Etag: "' + DIGEST.encode() + b'"\r\n'
    b"X-Content-Type-Options: nosniff\r\n"
    b"Date: Thu, 01 Jan 2026 00:00:00 GMT\r\n"
)
# (method is HEAD, keep-alive) -> response bytes, built once
RESPONSES = {
    (head, ka): _head(b"200 OK", _MANIFEST_HEADERS, len(MANIFEST), ka) + (b"" if head else MANIFEST)
    for head in (True, False)
    for ka in (True, False)
}
BASE = {ka: _head(b"200 OK", b"Content-Type: application/json\r\n", 2, ka) + b"{}" for ka in (True, False)}
NOT_FOUND = {ka: _head(b"404 Not Found", b"Content-Type: application/json\r\n", 2, ka) + b"{}" for ka in (True, False)}


class FastRegistry(asyncio.Protocol):
    __slots__ = ("buffer", "skip", "transport")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.skip = 0  # request body bytes still to discard

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.skip:
            if len(data) <= self.skip:
                self.skip -= len(data)
                return
            data = data[self.skip :]
            self.skip = 0
        buf = self.buffer + data if self.buffer else data
        out = []
        close = False
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buf[:end]
            buf = buf[end + 4 :]
            line, _, rest = head.partition(b"\r\n")
            parts = line.split(b" ")
            if len(parts) != 3:
                close = True
                out.append(NOT_FOUND[False])
                break
            method, target, version = parts
            lower = rest.lower()
            if version == b"HTTP/1.1":
                keep_alive = b"connection: close" not in lower
            else:
                keep_alive = b"connection: keep-alive" in lower
            length = 0
            at = lower.find(b"content-length:")
            if at >= 0:
                stop = lower.find(b"\r\n", at)
                length = int(lower[at + 15 : stop if stop >= 0 else len(lower)].strip() or b"0")
            if length:
                if len(buf) >= length:
                    buf = buf[length:]
                else:
                    self.skip = length - len(buf)
                    buf = b""
            path = target.partition(b"?")[0]
            if method in (b"HEAD", b"GET") and path.startswith(b"/v2/") and b"/manifests/" in path:
                out.append(RESPONSES[(method == b"HEAD", keep_alive)])
            elif method in (b"HEAD", b"GET") and path == b"/v2/":
                out.append(BASE[keep_alive] if method == b"GET" else BASE[keep_alive][:-2])
            else:
                out.append(NOT_FOUND[keep_alive])
            if not keep_alive:
                close = True
                break
        self.buffer = buf
        if out and self.transport is not None:
            self.transport.write(b"".join(out) if len(out) > 1 else out[0])
        if close and self.transport is not None:
            self.transport.close()


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(FastRegistry, host, port, backlog=1024, reuse_address=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"fast upstream listening on {host}:{port}", flush=True)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", default="127.0.0.1:5002", help="HOST:PORT (default %(default)s)")
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    if uvloop is not None:
        uvloop.run(serve(host, int(port)))
    else:
        asyncio.run(serve(host, int(port)))


if __name__ == "__main__":
    main()
