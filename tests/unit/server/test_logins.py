"""Logins in the audit trail: one event per /token or /credentials request, with the user name
tried, the source, the result; failures counted and throttled."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.test_utils import TestClient

from regproxy.audit import AuditEvent, AuditLog
from regproxy.errors import OciError
from regproxy.metrics import Metrics
from regproxy.server.logins import Logins
from regproxy.server.throttle import MemoryLoginThrottle

MakeClient = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]


def setup() -> tuple[web.Application, AuditLog, Metrics]:
    audit = AuditLog("unused.log")
    metrics = Metrics()
    throttle = MemoryLoginThrottle(free_failures=1, backoff=30, backoff_max=60, window=900)
    logins = Logins(throttle, audit, metrics, ())

    async def login(request: web.Request) -> web.StreamResponse:
        user = request.query.get("user", "")
        if not user:
            return web.Response(status=401)  # no credentials: a challenge
        try:
            await logins.attempt(request, user)
        except OciError as error:
            return web.Response(status=error.status, headers=error.headers)
        if request.query.get("password") != "right":
            await logins.failed(request, "password")
            return web.Response(status=401)
        await logins.succeeded(request, f"user:{user}")
        logins.granted(request, f"user:{user}", "user", [{"type": "repository", "name": "a/b", "actions": ["pull"]}])
        return web.Response(status=200)

    app = web.Application()
    app.router.add_get("/token", logins.audited("token", login))
    return app, audit, metrics


def events(audit: AuditLog) -> list[AuditEvent]:
    out = []
    while not audit.queue.empty():
        out.append(audit.queue.get_nowait())
    return out


async def test_each_login_leaves_one_event_with_user_source_and_result(aiohttp_client: MakeClient) -> None:
    app, audit, metrics = setup()
    client = await aiohttp_client(app)
    statuses = [
        (await client.get("/token")).status,
        (await client.get("/token?user=alice&password=right")).status,
        (await client.get("/token?user=bob&password=wrong")).status,
        (await client.get("/token?user=bob&password=wrong")).status,
        (await client.get("/token?user=bob&password=right")).status,
    ]
    assert statuses == [401, 200, 401, 401, 429]
    seen = [(e.route, e.principal, e.source, e.decision, e.status) for e in events(audit)]
    assert seen == [
        ("token", "", "127.0.0.1", "challenge", 401),
        ("token", "user:alice", "127.0.0.1", "issued", 200),
        ("token", "bob", "127.0.0.1", "unauthenticated", 401),
        ("token", "bob", "127.0.0.1", "unauthenticated", 401),
        ("token", "bob", "127.0.0.1", "throttled", 429),
    ]
    assert metrics.counters["regproxy_authentication_failures_total"][(("method", "password"),)] == 2
    assert metrics.counters["regproxy_logins_throttled_total"][()] == 1


async def test_the_scopes_granted_are_recorded(aiohttp_client: MakeClient) -> None:
    app, audit, _ = setup()
    client = await aiohttp_client(app)
    await client.get("/token?user=alice&password=right")
    (event,) = events(audit)
    assert event.scopes == ("repository:a/b:pull",)
    assert event.principal_kind == "user"
