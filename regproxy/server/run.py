"""Serving: one process, or N worker processes sharing the port (SO_REUSEPORT).

The public server and the admin server run in each process' own event loop. With several
workers, the parent only supervises: it forwards SIGHUP (reload), SIGUSR1 (reopen the audit log)
and SIGTERM/SIGINT (graceful shutdown) to its workers, and one admin listener in the parent
sums the workers' metrics snapshots. Graceful shutdown: stop accepting, let in-flight requests
(uploads and downloads included) finish up to ``limits.shutdown_timeout``, then exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import ssl
import tempfile
import time
from pathlib import Path

import uvloop
from aiohttp import web

from regproxy.config import Config, HostPort
from regproxy.metrics import Metrics
from regproxy.proxy.upstream import UpstreamClient
from regproxy.reload import Store
from regproxy.server.admin import admin_app
from regproxy.server.app import STORE, UPSTREAM, build_app, initial_store
from regproxy.server.connections import GuardedSite, connection_limits
from regproxy.server.tokens import load_keyset

log = logging.getLogger("regproxy")


def _ssl_context(config: Config) -> ssl.SSLContext | None:
    if config.tls.cert is None or config.tls.key is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(config.tls.cert), str(config.tls.key))
    return ctx


def bind_socket(address: HostPort, *, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((address.host, address.port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


async def _readiness(store: Store, upstream: UpstreamClient) -> tuple[bool, str]:
    if store.policy.generation < 1:
        return False, "no policy set loaded"
    return await _upstream_ready(upstream, f"ready: policy generation {store.policy.generation}")


async def _upstream_ready(upstream: UpstreamClient, ok: str) -> tuple[bool, str]:
    try:
        response = await upstream.request("GET", "/v2/", {})
    except Exception as exc:
        return False, f"upstream not answering: {type(exc).__name__}"
    async with response:
        if response.status >= 500:
            return False, f"upstream answered {response.status}"
    return True, ok


async def serve_process(
    config: Config,
    *,
    sock: socket.socket | None = None,
    with_admin: bool = True,
    worker: int = 0,
    snapshot_dir: Path | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run one process' servers until SIGTERM/SIGINT (or ``stop``), then shut down gracefully."""
    store = await asyncio.to_thread(initial_store, config)
    keys = await asyncio.to_thread(load_keyset, config)
    metrics = Metrics()
    snapshot = (snapshot_dir, worker) if snapshot_dir is not None else None
    app = build_app(config, store, metrics=metrics, keys=keys, snapshot=snapshot)
    limits = config.limits
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=None,
        keepalive_timeout=limits.keepalive_timeout,
        # the drain (GuardedSite.drain, below) has the grace period; the runner's own wait
        # only ends what the drain left, so the whole shutdown stays within the grace + 2 s
        shutdown_timeout=min(limits.shutdown_timeout, 2.0),
        handler_cancellation=True,
        lingering_time=2.0,  # after an early answer (413, 408), drain a client's body this long, not 10 s
        max_line_size=limits.max_header_size,
        max_field_size=limits.max_header_size,
    )
    await runner.setup()
    ssl_context = _ssl_context(config)
    if sock is None:
        sock = bind_socket(config.listen, reuse_port=False)
    site = GuardedSite(runner, sock, connection_limits(limits), ssl_context=ssl_context)
    await site.start()
    admin_runner: web.AppRunner | None = None
    if with_admin and config.admin_listen is not None:
        admin = admin_app(lambda: metrics, lambda: _readiness(app[STORE], app[UPSTREAM]))
        admin_runner = web.AppRunner(admin, handle_signals=False, access_log=None)
        await admin_runner.setup()
        await web.TCPSite(admin_runner, config.admin_listen.host, config.admin_listen.port).start()
    log.info(
        "regproxy listening on %s (worker %d), upstream %s, policy generation %d",
        config.listen,
        worker,
        config.upstream.url,
        store.policy.generation,
    )

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info(
        "shutting down (worker %d): no new connections; in-flight requests get %.0fs", worker, limits.shutdown_timeout
    )
    if admin_runner is not None:
        await admin_runner.cleanup()
    await site.drain(limits.shutdown_timeout)  # in-flight requests (uploads included) finish
    await runner.cleanup()  # ends whatever the drain left, waiting for handlers up to the timeout


def run(config: Config) -> int:
    """Entry for ``regproxy serve``: the only place uvloop is installed."""
    if config.workers <= 1:
        uvloop.run(serve_process(config))
        return 0
    return _supervise(config)


def _supervise(config: Config) -> int:
    snapshot_dir = Path(tempfile.mkdtemp(prefix="regproxy-metrics-"))
    sock = bind_socket(config.listen, reuse_port=True)
    children: dict[int, int] = {}  # pid -> worker number
    for worker in range(config.workers):
        pid = os.fork()
        if pid == 0:  # a worker: its own event loop, the shared listening socket
            try:
                uvloop.run(
                    serve_process(
                        config,
                        sock=sock,
                        with_admin=False,
                        worker=worker,
                        snapshot_dir=snapshot_dir,
                    )
                )
                os._exit(0)
            except BaseException:
                log.exception("worker %d failed", worker)
                os._exit(1)
        children[pid] = worker
    sock.close()

    async def parent() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def forward(sig: signal.Signals) -> None:
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            if sig in (signal.SIGTERM, signal.SIGINT):
                stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
            loop.add_signal_handler(sig, forward, sig)
        admin_runner = None
        upstream = UpstreamClient(config.upstream)
        await upstream.start()
        if config.admin_listen is not None:
            admin = admin_app(Metrics, lambda: _parent_ready(snapshot_dir, config, upstream), snapshot_dir=snapshot_dir)
            admin_runner = web.AppRunner(admin, handle_signals=False, access_log=None)
            await admin_runner.setup()
            await web.TCPSite(admin_runner, config.admin_listen.host, config.admin_listen.port).start()
        status = 0
        remaining = set(children)
        while remaining:
            await asyncio.sleep(0.2)
            for pid in list(remaining):
                done, wait_status = os.waitpid(pid, os.WNOHANG)  # noqa: ASYNC222 - WNOHANG never blocks
                if done:
                    remaining.discard(pid)
                    code = os.waitstatus_to_exitcode(wait_status)
                    if code != 0:
                        status = 1
                        if not stop.is_set():
                            log.error(
                                "worker %d (pid %d) exited with %d; stopping the others", children[pid], pid, code
                            )
                            forward(signal.SIGTERM)
        if admin_runner is not None:
            await admin_runner.cleanup()
        await upstream.close()
        shutil.rmtree(snapshot_dir, ignore_errors=True)
        return status

    return int(uvloop.run(parent()))


async def _parent_ready(snapshot_dir: Path, config: Config, upstream: UpstreamClient) -> tuple[bool, str]:
    """Ready when every worker has reported in the last few seconds and the upstream answers."""

    def fresh_workers() -> int:
        now = time.time()
        return sum(1 for f in snapshot_dir.glob("worker-*.json") if now - f.stat().st_mtime < 5.0)

    workers = await asyncio.to_thread(fresh_workers)
    if workers < config.workers:
        return False, f"{workers} of {config.workers} workers ready"
    return await _upstream_ready(upstream, f"ready: {workers} workers")
