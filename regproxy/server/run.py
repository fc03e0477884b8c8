"""Serving: one process, or N supervised worker processes sharing the port.

The public server and the admin server run in each process' own event loop. With several
workers, :mod:`regproxy.server.supervisor` keeps them running (a dead worker is replaced), the
parent forwards SIGHUP (reload), SIGUSR1 (reopen the audit log) and SIGTERM/SIGINT (graceful
shutdown) to its workers, and one admin listener in the parent sums the workers' metrics
snapshots. Graceful shutdown: stop accepting, let in-flight requests (uploads and downloads
included) finish up to ``limits.shutdown_timeout``, then exit.

Everything a setting points at (TLS pair, policies, identities, token keys, the audit file) is
loaded before anything listens (:mod:`regproxy.server.startup`), so a bad file stops the start
with one line naming the setting and the file.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import signal
import socket
import tempfile
from pathlib import Path

import uvloop
from aiohttp import web

from regproxy.config import Config, HostPort
from regproxy.errors import ConfigError, UpstreamUnavailable
from regproxy.metrics import Metrics
from regproxy.oci.capability import Capabilities
from regproxy.proxy.capabilities import CapabilityProbe
from regproxy.proxy.connection import operator_reason
from regproxy.proxy.upstream import UpstreamClient
from regproxy.reload import Store
from regproxy.server.admin import admin_app
from regproxy.server.app import CAPABILITIES, STORE, UPSTREAM, TaskOwner, build_app
from regproxy.server.connections import GuardedSite, connection_limits
from regproxy.server.startup import Prepared, prepare
from regproxy.server.supervisor import Supervisor

log = logging.getLogger("regproxy")


def bind_socket(address: HostPort, *, reuse_port: bool, key: str = "listen") -> socket.socket:
    """A listening socket on ``address``; a :class:`ConfigError` naming ``key`` if it cannot be."""
    family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((address.host, address.port))
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        raise ConfigError(key, f"cannot listen on {address}: {exc.strerror}") from None
    sock.setblocking(False)
    return sock


async def _start_admin(admin: web.Application, address: HostPort) -> web.AppRunner:
    runner = web.AppRunner(admin, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        await web.SockSite(runner, bind_socket(address, reuse_port=False, key="admin.listen")).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


async def _readiness(store: Store, upstream: UpstreamClient, probe: CapabilityProbe) -> tuple[bool, str]:
    if store.policy.generation < 1:
        return False, "no policy set loaded"
    ready, why = await _upstream_ready(upstream, f"ready: policy generation {store.policy.generation}")
    return ready, with_capabilities(why, probe.current)


def with_capabilities(why: str, found: Capabilities) -> str:
    """The readiness line with what the last capability probe found (nothing before the first)."""
    if found.probed_at == 0:
        return f"{why}; capabilities not probed yet"
    return f"{why}; {found.detail()}"


async def _upstream_ready(upstream: UpstreamClient, ok: str) -> tuple[bool, str]:
    """The registry answers, and accepts regproxy's own credentials (a 401 or 403 to them means
    every request would fail: not ready, whatever the registry's health)."""
    try:
        response = await upstream.request("GET", "/v2/", {})
    except UpstreamUnavailable as exc:  # its message says why: unreachable, TLS, refused credential
        return False, f"upstream not usable: {operator_reason(exc)}"
    except Exception as exc:
        return False, f"upstream unavailable: {getattr(exc, 'message', '') or type(exc).__name__}"
    async with response:
        if response.status in (401, 403):
            return False, f"upstream refuses regproxy's credentials: {response.status} to GET /v2/"
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
    prepared: Prepared | None = None,
) -> None:
    """Run one process' servers until SIGTERM/SIGINT (or ``stop``), then shut down gracefully."""
    if prepared is None:
        prepared = await asyncio.to_thread(prepare, config)
    metrics = Metrics()
    snapshot = (snapshot_dir, worker) if snapshot_dir is not None else None
    app = build_app(config, prepared.store, metrics=metrics, keys=prepared.keys, snapshot=snapshot)
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
    admin_runner: web.AppRunner | None = None
    site: GuardedSite | None = None
    owner = TaskOwner()
    try:
        await runner.setup()
        ssl_context = None
        if prepared.tls is not None:
            ssl_context = prepared.tls.listener
            owner.start(prepared.tls.watch(), "tls-watcher")
        if sock is None:
            sock = bind_socket(config.listen, reuse_port=False)
        site = GuardedSite(runner, sock, connection_limits(limits), ssl_context=ssl_context)
        await site.start()
        if with_admin and config.admin_listen is not None:
            admin = admin_app(lambda: metrics, lambda: _readiness(app[STORE], app[UPSTREAM], app[CAPABILITIES]))
            admin_runner = await _start_admin(admin, config.admin_listen)
        log.info(
            "regproxy listening on %s (worker %d), upstream %s, policy generation %d",
            config.listen,
            worker,
            config.upstream.url,
            prepared.store.policy.generation,
        )

        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info(
            "shutting down (worker %d): no new connections; in-flight requests get %.0fs",
            worker,
            limits.shutdown_timeout,
        )
        if admin_runner is not None:
            await admin_runner.cleanup()
            admin_runner = None
        if site is not None:
            await site.drain(limits.shutdown_timeout)  # in-flight requests (uploads included) finish
    finally:
        await owner.close()
        if admin_runner is not None:
            await admin_runner.cleanup()
        await runner.cleanup()  # ends whatever the drain left, waiting for handlers up to the timeout


def run(config: Config) -> int:
    """Entry for ``regproxy serve``: the only place uvloop is installed.

    Raises :class:`~regproxy.errors.ConfigError` (naming the setting) before anything listens."""
    prepared = prepare(config)
    if config.workers <= 1:
        uvloop.run(serve_process(config, prepared=prepared))
        return 0
    return _supervise(config)


def run_worker(config: Config, sock: socket.socket, worker: int, snapshot_dir: Path) -> None:
    """Entry for one supervised worker (:mod:`regproxy.server.worker`)."""
    uvloop.run(serve_process(config, sock=sock, with_admin=False, worker=worker, snapshot_dir=snapshot_dir))


def _supervise(config: Config) -> int:
    sock = bind_socket(config.listen, reuse_port=True)
    snapshot_dir = Path(tempfile.mkdtemp(prefix="regproxy-metrics-"))
    supervisor = Supervisor(config, sock, snapshot_dir)

    async def parent() -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
            loop.add_signal_handler(sig, supervisor.forward, sig)
        admin_runner = None
        upstream = UpstreamClient(config.upstream)
        await upstream.start()
        owner = TaskOwner()
        try:
            if config.admin_listen is not None:
                # the parent's own probe: what /readyz says of the upstream's capabilities
                probe = CapabilityProbe(upstream, supervisor.metrics, config.upstream.probe_interval)
                owner.start(probe.run(), "capability-probe")
                admin = admin_app(
                    lambda: supervisor.metrics,
                    lambda: _parent_ready(supervisor, upstream, probe),
                    snapshot_dir=snapshot_dir,
                )
                admin_runner = await _start_admin(admin, config.admin_listen)
            return await supervisor.run()
        finally:
            await owner.close()
            if admin_runner is not None:
                await admin_runner.cleanup()
            await upstream.close()
            sock.close()
            shutil.rmtree(snapshot_dir, ignore_errors=True)

    return int(uvloop.run(parent()))


async def _parent_ready(supervisor: Supervisor, upstream: UpstreamClient, probe: CapabilityProbe) -> tuple[bool, str]:
    """Ready when every worker serves (running, with a recent metrics snapshot) and the
    upstream accepts regproxy's credentials; otherwise every reason, missing workers named."""
    ready, missing = await asyncio.to_thread(supervisor.ready_workers)
    upstream_ok, upstream_why = await _upstream_ready(upstream, f"ready: {ready} workers")
    if not missing:
        return upstream_ok, with_capabilities(upstream_why, probe.current)
    slots = ", ".join(str(slot) for slot in missing)
    why = f"{ready} of {supervisor.config.workers} workers ready; not serving: worker {slots}"
    return False, why if upstream_ok else f"{why}; {upstream_why}"
