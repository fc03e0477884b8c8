"""A bare aiohttp relay: the floor for any aiohttp/uvloop proxy on this machine.

No authentication, no authorization, no audit, no metrics, no header hygiene beyond dropping
hop-by-hop headers: each request is forwarded to the upstream with one pooled aiohttp
ClientSession and the answer relayed (bodies streamed). With ``--workers N`` it forks N
processes sharing the port with SO_REUSEPORT, as regproxy's ``workers:`` does. regproxy's
figures next to this relay's show what regproxy's own work costs on top of the framework.

    python bench/bare_relay.py --listen 127.0.0.1:5003 --upstream http://127.0.0.1:5002 [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys

import aiohttp
import uvloop
from aiohttp import web

HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "proxy-authorization",
        "proxy-authenticate",
        "host",
    }
)


def make_app(upstream: str) -> web.Application:
    session_box: dict[str, aiohttp.ClientSession] = {}

    async def relay(request: web.Request) -> web.StreamResponse:
        session = session_box["s"]
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
        data = request.content.iter_any() if request.body_exists else None
        async with session.request(
            request.method,
            upstream + request.raw_path,
            headers=headers,
            data=data,
            allow_redirects=False,
            auto_decompress=False,
        ) as up:
            out = [(k, v) for k, v in up.headers.items() if k.lower() not in HOP]
            if request.method == "HEAD" or up.status in (204, 304):
                response = web.Response(status=up.status)
                for k, v in out:
                    response.headers.add(k, v)
                return response
            stream = web.StreamResponse(status=up.status)
            for k, v in out:
                stream.headers.add(k, v)
            await stream.prepare(request)
            async for chunk in up.content.iter_any():
                await stream.write(chunk)
            await stream.write_eof()
            return stream

    async def lifecycle(app: web.Application):  # type: ignore[no-untyped-def]
        session_box["s"] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=256),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=None, sock_read=900),
        )
        yield
        await session_box["s"].close()

    app = web.Application(client_max_size=0)
    app.router.add_route("*", "/{tail:.*}", relay)
    app.cleanup_ctx.append(lifecycle)
    return app


async def serve(sock: socket.socket, upstream: str) -> None:
    runner = web.AppRunner(make_app(upstream), handle_signals=False, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", default="127.0.0.1:5003")
    parser.add_argument("--upstream", default="http://127.0.0.1:5002")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, int(port)))
    sock.listen(1024)
    sock.setblocking(False)
    upstream = args.upstream.rstrip("/")
    if args.workers <= 1:
        uvloop.run(serve(sock, upstream))
        return 0
    children = []
    for _ in range(args.workers):
        pid = os.fork()
        if pid == 0:
            try:
                uvloop.run(serve(sock, upstream))
            finally:
                os._exit(0)
        children.append(pid)
    sock.close()

    def forward(signum: int, frame: object) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for child in children:
        while True:
            try:
                os.waitpid(child, 0)
                break
            except InterruptedError:
                continue
    return 0


if __name__ == "__main__":
    sys.exit(main())
