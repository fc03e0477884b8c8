"""Logins in the audit trail: every ``/token`` and ``/credentials`` request leaves one audit
line (the principal, or the user name that was tried, the source address, the result and the
scopes granted), failed logins are counted and throttled (:mod:`regproxy.server.throttle`).

The endpoints stay unaware of the audit sink: :meth:`Logins.audited` wraps each handler, opens
the event before it runs and writes it when the response is ready; inside, the handler reports
what it learned through :func:`attempt` (the user name tried), :func:`failed` and
:func:`granted`. The result follows the answer unless the handler said more: ``issued``,
``unauthenticated``, ``throttled``, ``refused`` (a malformed request), ``unavailable``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from typing import Any

from aiohttp import web

from regproxy.audit import AuditEvent, AuditLog
from regproxy.authorization.source import Network, client_address
from regproxy.errors import TooManyRequests
from regproxy.metrics import Metrics
from regproxy.server.throttle import LoginThrottle, login_keys

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# the login event of the request being handled: each aiohttp handler runs in its own task, with
# its own copy of the context (a request key would need web.RequestKey, aiohttp 3.13 and later)
_EVENT: ContextVar[AuditEvent] = ContextVar("regproxy_login_event")
_GUESSABLE = frozenset({"password", "basic"})
# 401 without a failed login on record: no credentials were presented, the caller is challenged
_RESULT_BY_STATUS = {200: "issued", 401: "challenge", 403: "denied", 429: "throttled", 503: "unavailable"}


class Logins:
    def __init__(
        self, throttle: LoginThrottle, audit: AuditLog | None, metrics: Metrics, trusted: Sequence[Network]
    ) -> None:
        self.throttle = throttle
        self.audit = audit
        self.metrics = metrics
        self.trusted = trusted

    def audited(self, route: str, handler: Handler) -> Handler:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            started = time.perf_counter()
            source = client_address(request.remote, request.headers.get("X-Forwarded-For"), self.trusted)
            event = AuditEvent(
                time=time.time(),
                request_id=request.headers.get("X-Request-Id", "")[:64],
                source=str(source) if source is not None else "",
                method=request.method,
                route=route,
                path=request.path[:512],
            )
            _EVENT.set(event)
            response = await handler(request)
            event.status = response.status
            if not event.decision:
                event.decision = _RESULT_BY_STATUS.get(response.status, "refused")
            event.duration_ms = round((time.perf_counter() - started) * 1000, 3)
            self.metrics.inc("regproxy_logins_total", (("route", route), ("result", event.decision)))
            # every audit line is a counted request: regproxy_requests_total sums them all
            requests = (("action", "none"), ("decision", event.decision), ("status", str(event.status)))
            self.metrics.inc("regproxy_requests_total", requests)
            if self.audit is not None:
                self.audit.emit(event)
            return response

        return wrapped

    async def attempt(self, request: web.Request, username: str) -> None:
        """A login is tried as ``username`` (empty for a token): refused with 429 while throttled."""
        event = _EVENT.get()
        event.principal = username
        await self.check_password(event, username)

    async def check_password(self, event: AuditEvent, username: str) -> None:
        """Before a password is checked (here or as Basic on a registry request): 429 while
        the caller's address or ``username`` is backing off."""
        wait = await self.throttle.retry_after(login_keys(event.source, username))
        if wait > 0:
            event.decision = "throttled"
            self.metrics.inc("regproxy_logins_throttled_total")
            seconds = str(max(1, int(wait + 0.999)))
            raise TooManyRequests(
                f"too many failed logins from this address or for this user; retry after {seconds}s",
                headers={"Retry-After": seconds},
            )

    async def failed(self, request: web.Request, method: str) -> None:
        """A login failed. Only password failures count towards the back-off: a signed token
        cannot be guessed, and an expired or revoked one is no attack."""
        event = _EVENT.get()
        event.decision = "unauthenticated"
        self.metrics.inc("regproxy_authentication_failures_total", (("method", method),))
        if method in _GUESSABLE:
            await self.password_failed(event, event.principal)

    async def password_failed(self, event: AuditEvent, username: str) -> None:
        await self.throttle.failed(login_keys(event.source, username))

    async def succeeded(self, request: web.Request, principal_id: str) -> None:
        event = _EVENT.get()
        await self.throttle.succeeded(login_keys(event.source, event.principal))
        event.principal = principal_id

    def granted(self, request: web.Request, principal_id: str, kind: str, access: list[dict[str, Any]]) -> None:
        event = _EVENT.get()
        event.principal = principal_id
        event.principal_kind = kind
        event.decision = "issued"
        event.scopes = tuple(f"{a['type']}:{a['name']}:{','.join(a['actions'])}" for a in access)


LOGINS = web.AppKey("logins", Logins)
