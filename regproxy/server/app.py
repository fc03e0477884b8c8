"""The application: the parts built once by :func:`regproxy.server.wiring.wire`, the handler,
the routes and the background tasks.

Startup and teardown are ``cleanup_ctx`` generators; every background task has an owner
(:class:`TaskOwner`) that cancels and awaits it on shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any

from aiohttp import web

from regproxy.audit import AuditLog
from regproxy.authorization import public_statements
from regproxy.config import Config
from regproxy.errors import ErrorCode, OciError
from regproxy.identity.chain import Authenticator
from regproxy.identity.keys import KeySet
from regproxy.metrics import Metrics, write_snapshot
from regproxy.policycode.shadow import Shadow, shadow_of
from regproxy.proxy.capabilities import CapabilityProbe
from regproxy.proxy.upstream import UpstreamClient
from regproxy.redaction import install_log_redaction
from regproxy.reload import Reloader, Store, load_all
from regproxy.server import tokens as token_edge
from regproxy.server.connections import REFUSAL_AUDIT, REFUSAL_METRICS, ConnectionStats, connection_middleware
from regproxy.server.limits import PrincipalLimiter
from regproxy.server.logins import LOGINS, Logins
from regproxy.server.registry import RegistryHandler
from regproxy.server.responses import error_response
from regproxy.server.throttle import MemoryLoginThrottle
from regproxy.server.wiring import wire

log = logging.getLogger("regproxy")

STORE = web.AppKey("store", Store)
METRICS = web.AppKey("metrics", Metrics)
UPSTREAM = web.AppKey("upstream", UpstreamClient)
RELOADER = web.AppKey("reloader", Reloader)
CHAIN = web.AppKey("chain", tuple[Authenticator, ...])
CAPABILITIES = web.AppKey("capabilities", CapabilityProbe)


class TaskOwner:
    """Keeps strong references to background tasks; cancels and awaits them on close."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def initial_store(config: Config) -> Store:
    """Load the policy set and identities once, at start-up (errors here stop the start)."""
    loaded = load_all(
        config.policies, config.identities, config.dialects, public_statements(config.public), 1, config.policy_tests
    )
    return Store(loaded.policy, loaded.identities)


@web.middleware
async def _unexpected_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Anything that escapes the handler is a 500 in OCI error JSON, logged, never an allow."""
    try:
        return await handler(request)  # type: ignore[no-any-return]
    except web.HTTPException:
        raise
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(
            OciError("internal error", code=ErrorCode.UNKNOWN, status=500), head=request.method == "HEAD"
        )


def build_app(
    config: Config,
    store: Store,
    *,
    metrics: Metrics | None = None,
    snapshot: tuple[Path, int] | None = None,
    keys: KeySet | None = None,
) -> web.Application:
    """The public application. ``keys`` (from :func:`regproxy.server.tokens.load_keyset`)
    turn on the token service; without them clients get a Basic challenge."""
    install_log_redaction()  # before anything can log: no secret reaches any log line
    metrics = metrics or Metrics()
    upstream = UpstreamClient(config.upstream)
    audit = AuditLog(config.audit.path, config.audit.queue_size) if config.audit.path else None
    owner = TaskOwner()
    reloader = Reloader(
        store,
        policies=config.policies,
        identities=config.identities,
        context=config.dialects,
        extra=public_statements(config.public),
        settle=config.reload_settle,
        tests=config.policy_tests,
    )
    limits = config.limits
    limiter = None
    if limits.requests_per_second > 0 or limits.concurrent_requests > 0:
        limiter = PrincipalLimiter(
            limits.requests_per_second, limits.burst or int(limits.requests_per_second) or 1, limits.concurrent_requests
        )

    shadow = shadow_of(config, metrics)  # config shadow_policies: a candidate set deciding without effect
    # client_max_size=0: bodies are bounded per route where they are read (regproxy.server.bodies)
    app = web.Application(middlewares=[connection_middleware, _unexpected_errors], client_max_size=0)
    app[STORE] = store
    app[METRICS] = metrics
    app[UPSTREAM] = upstream
    app[RELOADER] = reloader
    capabilities = app[CAPABILITIES] = CapabilityProbe(upstream, metrics, config.upstream.probe_interval)
    app[REFUSAL_METRICS] = metrics
    if audit is not None:
        app[REFUSAL_AUDIT] = audit
    app[LOGINS] = _logins(config, audit, metrics)

    wiring = wire(config, store, keys)
    app[CHAIN] = wiring.authentication.chain
    if wiring.token_service is not None:
        token_edge.install(app, config, store, metrics, wiring.token_service, wiring.authentication)
    handler = RegistryHandler(
        config,
        store,
        upstream,
        wiring.authentication,
        metrics,
        audit,
        limiter=limiter,
        token_realm=wiring.token_realm,
        sealer=wiring.sealer,
        logins=app[LOGINS],
        capabilities=capabilities,
        shadow=shadow[0] if shadow is not None else None,
    )
    app.router.add_route("*", "/v2/{tail:.*}", handler.handle)
    app.router.add_route("*", "/v2", _redirect_v2)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await upstream.start()
        owner.start(capabilities.run(), "capability-probe")
        if audit is not None:
            owner.start(audit.run(), "audit-writer")
        owner.start(reloader.watch(), "policy-watcher")
        if shadow is not None:
            owner.start(shadow[1].watch(), "shadow-policy-watcher")
        owner.start(_gauges(store, metrics, audit, snapshot), "metrics-gauges")
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGHUP, lambda: _reload_all(owner, reloader, shadow))
            if audit is not None:
                loop.add_signal_handler(signal.SIGUSR1, audit.reopen)
        except (NotImplementedError, RuntimeError):
            pass
        yield
        await owner.close()
        await upstream.close()

    app.cleanup_ctx.append(lifecycle)
    app.cleanup_ctx.extend(wiring.lifecycles)
    return app


def _reload_all(owner: TaskOwner, reloader: Reloader, shadow: tuple[Shadow, Reloader] | None) -> None:
    owner.start(reloader.reload("SIGHUP"), "reload")
    if shadow is not None:
        owner.start(shadow[1].reload("SIGHUP"), "shadow-reload")


def _logins(config: Config, audit: AuditLog | None, metrics: Metrics) -> Logins:
    """Login auditing and the failed-login back-off, per process (shared counters come later)."""
    limits = config.limits
    throttle = MemoryLoginThrottle(
        free_failures=limits.login_free_failures,
        free_failures_per_source=limits.login_free_failures_per_source,
        backoff=limits.login_backoff,
        backoff_max=limits.login_backoff_max,
        window=limits.login_failure_window,
    )
    return Logins(throttle, audit, metrics, config.trusted_proxies)


async def _redirect_v2(request: web.Request) -> web.StreamResponse:
    raise web.HTTPMovedPermanently("/v2/")


async def _gauges(store: Store, metrics: Metrics, audit: AuditLog | None, snapshot: tuple[Path, int] | None) -> None:
    while True:
        policy = store.policy
        metrics.set("regproxy_policy_generation", policy.generation)
        metrics.counters["regproxy_policy_reloads_total"][(("result", "succeeded"),)] = store.reloads_ok
        metrics.counters["regproxy_policy_reloads_total"][(("result", "failed"),)] = store.reloads_failed
        metrics.counters["regproxy_policy_reloads_total"][(("result", "tests-failed"),)] = store.reloads_tests_failed
        metrics.counters["regproxy_decision_cache_hits_total"][()] = float(policy.cache_hits + store.cache_hits_retired)
        metrics.counters["regproxy_decision_cache_misses_total"][()] = float(
            policy.cache_misses + store.cache_misses_retired
        )
        closed = metrics.counters["regproxy_connections_closed_total"]
        for reason, count in ConnectionStats.by_reason().items():
            closed[(("reason", reason),)] = count
        if audit is not None:
            metrics.counters["regproxy_audit_dropped_total"][()] = audit.dropped
        if snapshot is not None:
            try:
                await asyncio.to_thread(write_snapshot, metrics, snapshot[0], snapshot[1])
            except OSError as exc:
                log.warning("cannot write metrics snapshot: %s", exc)
        await asyncio.sleep(1.0)
