"""The /v2 handler: parse → authenticate → authorize → forward and stream.

One request, start to end (DESIGN.md). The handler takes a snapshot of the policy in force
when the request arrives and decides with it to the end; facts only the upstream knows
(does the repository exist, does the tag exist) are asked only when they change the decision,
and an unknown fact takes the stricter branch. Bodies stream in both directions as they arrive.
"""

from __future__ import annotations

import itertools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import aiohttp
import orjson
from aiohttp import web
from cachetools import TTLCache

from regproxy.audit import AuditEvent, AuditLog
from regproxy.authorization import (
    Permission,
    base_permissions,
    challenge_scope,
    client_address,
    creates_content,
    merge,
    pushed_tags,
)
from regproxy.config import Config
from regproxy.errors import Denied, ErrorCode, OciError, TooManyRequests, Unauthenticated, UpstreamUnavailable
from regproxy.identity.chain import (
    Authenticator,
    Invalid,
    MalformedCredentials,
    NotMine,
    Scheme,
    Unavailable,
    Valid,
    parse_authorization,
    run_chain,
)
from regproxy.identity.principal import ANONYMOUS, Principal
from regproxy.metrics import Metrics
from regproxy.oci.actions import Action
from regproxy.oci.routes import RegistryRequest, RouteKind, parse_request
from regproxy.policy.evaluate import CompiledPolicy
from regproxy.policy.model import Decision, Outcome, RequestContext, principal_keys
from regproxy.proxy.headers import request_headers, response_headers
from regproxy.proxy.upstream import UpstreamClient
from regproxy.reload import Store
from regproxy.server import bodies
from regproxy.server.limits import PrincipalLimiter
from regproxy.server.logins import Logins
from regproxy.server.responses import API_VERSION_HEADER, error_response

log = logging.getLogger("regproxy.access")

MANIFEST_ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
    )
)
CATALOG_MAX_BYTES = 16 * 1024 * 1024
_BODY_METHODS = frozenset({"PUT", "POST", "PATCH"})
_NO_BODY_STATUS = frozenset({204, 304})


class RegistryHandler:
    def __init__(
        self,
        config: Config,
        store: Store,
        upstream: UpstreamClient,
        chain: Sequence[Authenticator],
        metrics: Metrics,
        audit: AuditLog | None,
        limiter: PrincipalLimiter | None = None,
        token_realm: str | None = None,
        logins: Logins | None = None,
    ) -> None:
        self.logins = logins
        self.config = config
        self.store = store
        self.upstream = upstream
        self.chain = chain
        self.metrics = metrics
        self.audit = audit
        self.limiter = limiter
        self.external_url = config.public_url
        self.trusted = config.trusted_proxies
        self.token_realm = token_realm
        self.max_head_size = config.limits.max_header_size * 4
        self.idle = config.limits.body_idle_timeout
        self._repository_seen: TTLCache[str, bool] = TTLCache(maxsize=10000, ttl=60)
        # request ids: a random per-process prefix and a counter (cheaper than a uuid4 each)
        self._id_prefix = uuid.uuid4().hex[:12]
        self._id_counter = itertools.count(1)

    def _next_request_id(self) -> str:
        return f"{self._id_prefix}-{next(self._id_counter):x}"

    # -- the request ---------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        path, _, query = request.raw_path.partition("?")
        event = AuditEvent(
            time=time.time(),
            request_id=request.headers.get("X-Request-Id", "")[:64] or self._next_request_id(),
            source="",
            method=request.method,
            route="",
            path=path[:512],
        )
        head = request.method == "HEAD"
        try:
            if _head_size(request) > self.max_head_size:  # aiohttp limits each line, not their sum
                raise OciError(
                    f"request head exceeds {self.max_head_size} bytes", code=ErrorCode.UNSUPPORTED, status=431
                )
            response = await self._handle(request, path, query, event, started)
        except OciError as error:
            if not event.decision:  # an anonymous caller told to authenticate is no malformed request
                event.decision = "challenge" if isinstance(error, Unauthenticated) else "refused"
            response = error_response(error, head=head)
            if error.status >= 500 or error.status == 400:
                log.warning("%s %s -> %d %s", request.method, event.path, error.status, error.message)
        event.status = response.status
        event.duration_ms = round((time.perf_counter() - started) * 1000, 3)
        self.metrics.inc(
            "regproxy_requests_total",
            (
                ("action", event.action or "none"),
                ("decision", event.decision or "none"),
                ("status", str(response.status)),
            ),
        )
        if self.audit is not None:
            self.audit.emit(event)
        return response

    async def _handle(
        self, request: web.Request, path: str, query: str, event: AuditEvent, started: float
    ) -> web.StreamResponse:
        source = client_address(request.remote, request.headers.get("X-Forwarded-For"), self.trusted)
        event.source = str(source) if source is not None else ""
        parsed = parse_request(request.method, path, query, request.headers)
        bodies.check_declared_size(request, bodies.upload_limit(request.method, path, self.config.limits))
        event.route = parsed.route.value
        event.action = parsed.action.value if parsed.action else ""
        event.repository = parsed.repository
        event.namespace = parsed.namespace
        event.reference = parsed.reference or parsed.upload_id or ""

        principal = await self._authenticate(request, parsed, event)
        event.principal = principal.id
        event.principal_kind = principal.kind.value
        event.credential = principal.credential_id or ""
        policy = self.store.policy  # this request's snapshot, whatever reloads meanwhile
        event.generation = policy.generation
        event.policy_hash = policy.policy_set.content_hash
        context = RequestContext(principal, source, datetime.now(UTC))

        if self.limiter is not None and not self.limiter.acquire(principal.id):
            self.metrics.inc("regproxy_rate_limited_total")
            raise TooManyRequests("too many requests for this principal; slow down", headers={"Retry-After": "1"})
        try:
            drop_mount = False
            if parsed.route is RouteKind.BASE:
                if not principal.authenticated:
                    raise self._challenge(parsed, "authentication required")
                event.decision = Outcome.ALLOWED.value
            elif parsed.route is RouteKind.CATALOG:
                if not principal.authenticated and not policy.may_apply(principal_keys(principal), Action.CATALOG):
                    raise self._challenge(parsed, "authentication required")
                event.decision = Outcome.ALLOWED.value
            else:
                decision, drop_mount = await self._authorize(parsed, context, policy)
                event.decision = decision.outcome.value
                event.statements = decision.statements
                event.mount_dropped = drop_mount
                event.shadow = policy.shadow_matches(
                    context, parsed.action or Action.PULL, parsed.repository, parsed.tag
                )
                if not decision.allowed:
                    if not principal.authenticated:
                        raise self._challenge(parsed, "authentication required")
                    raise Denied("requested access to the resource is denied")
            self.metrics.observe("regproxy_decision_seconds", time.perf_counter() - started)
            return await self._forward(request, parsed, context, policy, event, drop_mount)
        finally:
            if self.limiter is not None:
                self.limiter.release(principal.id)

    # -- who ------------------------------------------------------------------------------
    async def _authenticate(self, request: web.Request, parsed: RegistryRequest, event: AuditEvent) -> Principal:
        try:
            credentials = parse_authorization(request.headers.get("Authorization"))
        except MalformedCredentials as exc:
            event.decision = "unauthenticated"
            raise self._challenge(parsed, str(exc), invalid=True) from None
        # Basic on every request is a login too: guessing here is throttled the same way
        logins = self.logins if credentials.scheme is Scheme.BASIC else None
        if logins is not None:
            await logins.check_password(event, credentials.username)
        result = await run_chain(self.chain, credentials)
        if isinstance(result, Valid):
            principal = result.principal
            if principal.expires_at is not None and principal.expires_at <= time.time():
                event.decision = "unauthenticated"
                raise self._challenge(
                    parsed, "credential expired", invalid=True, bearer=credentials.scheme is Scheme.BEARER
                )
            return principal
        if isinstance(result, NotMine):
            return ANONYMOUS
        event.decision = "unauthenticated"
        if isinstance(result, Unavailable):
            raise UpstreamUnavailable(f"cannot verify credentials now: {result.reason}")
        assert isinstance(result, Invalid)
        if logins is not None:
            await logins.password_failed(event, credentials.username)
        self.metrics.inc("regproxy_authentication_failures_total", (("method", result.scheme.value),))
        raise self._challenge(parsed, result.reason, invalid=True, bearer=result.scheme is Scheme.BEARER)

    def _challenge(
        self, parsed: RegistryRequest, message: str, *, invalid: bool = False, bearer: bool = False
    ) -> Unauthenticated:
        if self.token_realm is not None:
            params = [f'realm="{self.token_realm}"', f'service="{self.config.service}"']
            scope = challenge_scope(parsed)
            if scope:
                params.append(f'scope="{scope}"')
            if invalid and bearer:
                params.append('error="invalid_token"')
            header = "Bearer " + ",".join(params)
        else:
            header = f'Basic realm="{self.config.service}"'
        return Unauthenticated(message, headers={"WWW-Authenticate": header})

    # -- what -----------------------------------------------------------------------------
    async def _authorize(
        self, parsed: RegistryRequest, context: RequestContext, policy: CompiledPolicy
    ) -> tuple[Decision, bool]:
        def decide(p: Permission) -> Decision:
            return policy.evaluate(context, p.action, p.repository, p.tag)

        decisions = [decide(p) for p in base_permissions(parsed)]
        if any(not d.allowed for d in decisions):
            return merge(decisions, policy.generation), False

        if creates_content(parsed):
            create = decide(Permission(Action.CREATE_REPOSITORY, parsed.repository))
            if not create.allowed and await self._repository_exists(parsed.repository) is not True:
                return create, False  # a new repository (or one we cannot tell) needs create

        for tag in pushed_tags(parsed):
            created = decide(Permission(Action.TAG_CREATE, parsed.repository, tag))
            overwritten = decide(Permission(Action.TAG_OVERWRITE, parsed.repository, tag))
            if created.allowed and overwritten.allowed:
                decisions.append(created)
                continue
            if not created.allowed and not overwritten.allowed:
                return created, False
            exists = await self._tag_exists(parsed.repository, tag)
            if exists is None:  # cannot tell: take the stricter branch
                return (overwritten if not overwritten.allowed else created), False
            decisions.append(overwritten if exists else created)

        drop_mount = False
        if parsed.mount is not None:
            source = decide(Permission(Action.PULL, parsed.mount.source))
            drop_mount = not source.allowed  # decided before forwarding: no existence leak
        return merge(decisions, policy.generation), drop_mount

    async def _repository_exists(self, repository: str) -> bool | None:
        if self._repository_seen.get(repository):
            return True
        try:
            response = await self.upstream.request(
                "GET", f"/v2/{repository}/tags/list?n=1", {}, scope=f"repository:{repository}:pull"
            )
        except UpstreamUnavailable:
            return None
        async with response:
            await response.read()
            if response.status == 200:
                self._repository_seen[repository] = True
                return True
            return False if response.status == 404 else None

    async def _tag_exists(self, repository: str, tag: str) -> bool | None:
        try:
            response = await self.upstream.request(
                "HEAD",
                f"/v2/{repository}/manifests/{tag}",
                {"accept": MANIFEST_ACCEPT},
                scope=f"repository:{repository}:pull",
            )
        except UpstreamUnavailable:
            return None
        async with response:
            if response.status == 200:
                return True
            return False if response.status == 404 else None

    # -- forward --------------------------------------------------------------------------
    async def _forward(
        self,
        request: web.Request,
        parsed: RegistryRequest,
        context: RequestContext,
        policy: CompiledPolicy,
        event: AuditEvent,
        drop_mount: bool,
    ) -> web.StreamResponse:
        forwarded = None
        if self.config.forwarded_headers:
            forwarded = {
                "x-forwarded-for": event.source,
                "x-forwarded-proto": request.scheme,
                "x-forwarded-host": request.host,
            }
        headers = request_headers(request.headers.items(), forwarded=forwarded)
        target = parsed.target(drop_mount=drop_mount)
        body: AsyncIterator[bytes] | None = None
        uploading = request.method in _BODY_METHODS and request.body_exists
        if uploading:
            body = self._stream_up(request, event)
            self.metrics.add("regproxy_uploads_in_flight", 1)
        upstream_started = time.perf_counter()
        try:
            upstream_response = await self.upstream.request(
                request.method, target, headers, scope=_upstream_scope(parsed), data=body
            )
        finally:
            if uploading:
                self.metrics.add("regproxy_uploads_in_flight", -1)
        self.metrics.observe("regproxy_upstream_seconds", time.perf_counter() - upstream_started)
        event.upstream_status = upstream_response.status
        try:
            if upstream_response.status == 401:
                # The registry refused regproxy's own credentials: never pass its challenge on.
                self.upstream.invalidate(_upstream_scope(parsed))
                log.error("the registry refused regproxy's credentials for %s", parsed.route.value)
                raise UpstreamUnavailable("the registry refused regproxy's credentials")
            if parsed.route is RouteKind.CATALOG and upstream_response.status == 200:
                return await self._filtered_catalog(upstream_response, context, policy)
            out_headers = response_headers(
                upstream_response.headers.items(), self.upstream.origin, self.external_url, upstream_response.status
            )
            if request.method == "HEAD" or upstream_response.status in _NO_BODY_STATUS:
                bodiless = web.Response(status=upstream_response.status)
                _copy_headers(bodiless, out_headers)
                return bodiless
            response = web.StreamResponse(status=upstream_response.status)
            _copy_headers(response, out_headers)
            await response.prepare(request)
            sent = 0
            async for chunk in bodies.idle_guarded(upstream_response.content.iter_any(), self.idle, upstream=True):
                await response.write(chunk)
                sent += len(chunk)
            await response.write_eof()
            event.bytes_out = sent
            self.metrics.inc("regproxy_bytes_total", (("direction", "down"),), sent)
            return response
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, TimeoutError) as exc:
            log.warning("upstream stream broke: %s %s: %s", request.method, event.path, exc)
            raise UpstreamUnavailable("the registry connection broke mid-response") from exc
        finally:
            upstream_response.release()

    async def _stream_up(self, request: web.Request, event: AuditEvent) -> AsyncIterator[bytes]:
        async for chunk in bodies.stream_body(
            request, bodies.upload_limit(request.method, request.path, self.config.limits), self.idle
        ):
            event.bytes_in += len(chunk)
            yield chunk
        self.metrics.inc("regproxy_bytes_total", (("direction", "up"),), event.bytes_in)

    async def _filtered_catalog(
        self, upstream_response: aiohttp.ClientResponse, context: RequestContext, policy: CompiledPolicy
    ) -> web.Response:
        raw = await upstream_response.content.read(CATALOG_MAX_BYTES + 1)
        if len(raw) > CATALOG_MAX_BYTES:
            raise UpstreamUnavailable("the registry's catalog page is too large to filter")
        try:
            listing = orjson.loads(raw)
            names = listing.get("repositories") or []
        except (orjson.JSONDecodeError, AttributeError):
            raise UpstreamUnavailable("the registry's catalog answer is not JSON") from None
        visible = [n for n in names if isinstance(n, str) and policy.evaluate(context, Action.CATALOG, n).allowed]
        response = web.Response(status=200, body=orjson.dumps({"repositories": visible}))
        # the listing is re-rendered, its media type is the registry's (charset included)
        response.headers["Content-Type"] = upstream_response.headers.get("Content-Type", "application/json")
        response.headers[API_VERSION_HEADER[0]] = API_VERSION_HEADER[1]
        link = upstream_response.headers.get("Link")
        if link:
            for name, value in response_headers([("Link", link)], self.upstream.origin, self.external_url):
                response.headers[name] = value
        return response


def _head_size(request: web.Request) -> int:
    return sum(len(name) + len(value) + 4 for name, value in request.raw_headers) + len(request.raw_path)


def _copy_headers(response: web.StreamResponse, headers: list[tuple[str, str]]) -> None:
    for name, value in headers:
        response.headers.add(name, value)


def _upstream_scope(parsed: RegistryRequest) -> str:
    if parsed.route is RouteKind.CATALOG:
        return "registry:catalog:*"
    if not parsed.repository:
        return ""
    if parsed.action in (Action.DELETE_BLOB, Action.DELETE_MANIFEST, Action.DELETE_TAG):
        return f"repository:{parsed.repository}:delete"
    if parsed.action in (Action.PULL, Action.LIST):
        return f"repository:{parsed.repository}:pull"
    scope = f"repository:{parsed.repository}:pull,push"
    if parsed.mount is not None:
        scope += f" repository:{parsed.mount.source}:pull"
    return scope


__all__ = ["RegistryHandler"]
