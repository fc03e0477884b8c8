"""The /v2 handler: parse → authenticate → authorize → forward and stream.

One request, start to end (DESIGN.md). The handler takes a snapshot of the policy in force
when the request arrives and decides with it to the end; facts only the upstream knows
(does the repository exist, does the tag exist) are asked only when they change the decision,
and an unknown fact takes the stricter branch. Bodies stream in both directions as they arrive.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import aiohttp
from aiohttp import web

from regproxy.audit import AuditEvent, AuditLog, audit_facts
from regproxy.authorization import client_address
from regproxy.authorization.scopes import challenge_scope, request_scopes
from regproxy.authorization.uploads import UploadSealer, sealed_locations
from regproxy.authorization.verdict import Reply, UpstreamSupports, Verdict
from regproxy.config import Config
from regproxy.errors import Denied, ErrorCode, OciError, TooManyRequests, Unauthenticated, UpstreamUnavailable
from regproxy.identity.chain import Scheme
from regproxy.identity.principal import Principal
from regproxy.metrics import Metrics
from regproxy.oci import grammar
from regproxy.oci.actions import Action
from regproxy.oci.capability import unsupported_error
from regproxy.oci.routes import RegistryRequest, RouteKind, parse_request
from regproxy.policy.evaluate import CompiledPolicy
from regproxy.policy.model import ANY_TAG, Outcome, RequestContext
from regproxy.policycode.recording import record_caller
from regproxy.policycode.shadow import Shadow
from regproxy.proxy.capabilities import CapabilityProbe
from regproxy.proxy.headers import request_headers, response_headers
from regproxy.proxy.heads import HeadResponse
from regproxy.proxy.manifest_cache import ManifestCache
from regproxy.proxy.upstream import UpstreamClient
from regproxy.reload import Store
from regproxy.server import bodies
from regproxy.server.authentication import Authentication, Refused
from regproxy.server.limits import PrincipalLimiter
from regproxy.server.listings import filtered_listing
from regproxy.server.logins import Logins
from regproxy.server.manifest_hits import fill, lookup
from regproxy.server.rechallenge import RepeatedChallenges
from regproxy.server.relay import ABORTED, stream_down, stream_up, upstream_failure
from regproxy.server.responses import error_response
from regproxy.server.upstream_facts import UpstreamFacts

log = logging.getLogger("regproxy.access")

_BODY_METHODS = frozenset({"PUT", "POST", "PATCH"})
_NO_BODY_STATUS = frozenset({204, 304})


class RegistryHandler:
    def __init__(
        self,
        config: Config,
        store: Store,
        upstream: UpstreamClient,
        authentication: Authentication,
        metrics: Metrics,
        audit: AuditLog | None,
        limiter: PrincipalLimiter | None = None,
        token_realm: str | None = None,
        sealer: UploadSealer | None = None,
        logins: Logins | None = None,
        capabilities: CapabilityProbe | None = None,
        shadow: Shadow | None = None,
    ) -> None:
        self.logins = logins
        self.shadow = shadow
        self.config = config
        self.store = store
        self.upstream = upstream
        self.authentication = authentication
        self.sealer = sealer or UploadSealer(secrets.token_bytes(32))
        self.metrics = metrics
        self.audit = audit
        self.limiter = limiter
        self.capabilities = capabilities
        self.external_url = config.public_url
        self.trusted = config.trusted_proxies
        self.token_realm = token_realm
        self.max_head_size = config.limits.max_header_size * 4
        self.idle = config.limits.body_idle_timeout
        self.facts = UpstreamFacts(upstream, capabilities)
        self.manifests = ManifestCache(config.cache.manifests_size_mib << 20, config.cache.manifests_ttl)
        self._rechallenges = RepeatedChallenges()
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
        status = 0
        try:
            try:
                if _head_size(request) > self.max_head_size:  # aiohttp limits each line, not their sum
                    raise OciError(
                        f"request head exceeds {self.max_head_size} bytes", code=ErrorCode.UNSUPPORTED, status=431
                    )
                response = await self._handle(request, path, query, event, started)
            except OciError as error:
                if not event.decision:  # an anonymous caller told to authenticate is no malformed request
                    event.decision = "challenge" if isinstance(error, Unauthenticated) else "refused"
                elif isinstance(error, UpstreamUnavailable) and event.decision == Outcome.ALLOWED.value:
                    event.failure = event.failure or upstream_failure(error)
                response = error_response(error, head=head)
                if error.status >= 500 or error.status == 400:
                    log.warning("%s %s -> %d %s", request.method, event.path, error.status, error.message)
            status = response.status
            return response
        except asyncio.CancelledError:
            # the client went away (aiohttp cancels its handler), or shutdown cut the request
            event.failure = event.failure or ABORTED
            raise
        except Exception:
            event.status = event.status or 500  # the error middleware's answer (or the status sent)
            event.failure = event.failure or "error"
            raise
        finally:
            # exactly one line per request, however it ended; a status already sent stays
            event.status = event.status or status
            self._account(event, started)

    def _account(self, event: AuditEvent, started: float) -> None:
        event.duration_ms = round((time.perf_counter() - started) * 1000, 3)
        self.metrics.inc(
            "regproxy_requests_total",
            (
                ("action", event.action or "none"),
                ("decision", event.decision or "none"),
                ("status", str(event.status)),
            ),
        )
        if self.audit is not None:
            self.audit.emit(event)

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
        record_caller(event, parsed, principal)
        policy = self.store.policy  # this request's snapshot, whatever reloads meanwhile
        event.generation = policy.generation
        event.policy_hash = policy.policy_set.content_hash
        context = RequestContext(principal, source, datetime.now(UTC))

        if self.limiter is not None and not self.limiter.acquire(principal.id):
            self.metrics.inc("regproxy_rate_limited_total")
            raise TooManyRequests("too many requests for this principal; slow down", headers={"Retry-After": "1"})
        try:
            verdict = await self.facts.decide(parsed, context, policy)
            event.decision = verdict.decision.outcome.value
            if parsed.route is RouteKind.BASE and verdict.reply is Reply.CHALLENGE:
                event.decision = "challenge"  # a ping without credentials (every `docker login`)
            event.statements = verdict.decision.statements
            event.mount_dropped = verdict.mount_dropped
            event.facts = audit_facts(verdict.facts)
            if verdict.decision.outcome is Outcome.SCOPE_DENY:
                event.reason = principal.scope_reason or ""
            if self.shadow is not None:  # the candidate set decides too, without effect
                self.shadow.observe(parsed, context, verdict, event)
            if parsed.route not in (RouteKind.BASE, RouteKind.CATALOG):
                event.shadow = policy.shadow_matches(
                    context, parsed.action or Action.PULL, parsed.repository, parsed.tag
                )
            self._refuse_unless_allowed(verdict, request.headers.get("Authorization"))
            self._check_upload_session(parsed, principal, event)
            self.metrics.observe("regproxy_decision_seconds", time.perf_counter() - started)
            if parsed.route in (RouteKind.CATALOG, RouteKind.TAGS):
                return await self._listing(parsed, context, policy, event)
            return await self._forward(request, parsed, context, policy, event, verdict.mount_dropped)
        finally:
            if self.limiter is not None:
                self.limiter.release(principal.id)

    # -- who ------------------------------------------------------------------------------
    async def _authenticate(self, request: web.Request, parsed: RegistryRequest, event: AuditEvent) -> Principal:
        try:
            credentials = self.authentication.credentials(request)
            # Basic on every request is a login too: guessing here is throttled as at /token
            logins = self.logins if credentials.scheme is Scheme.BASIC else None
            if logins is not None:
                await logins.check_password(event, credentials.username)
            try:
                return await self.authentication.check(credentials)
            except Refused:
                self.metrics.inc("regproxy_authentication_failures_total", (("method", credentials.scheme.value),))
                if logins is not None:
                    await logins.password_failed(event, credentials.username)
                raise
        except Refused as refused:
            event.decision = "unauthenticated"
            raise self._challenge(
                request_scopes(parsed), refused.reason, invalid=True, bearer=refused.scheme is Scheme.BEARER
            ) from None
        except OciError:
            event.decision = event.decision or "unauthenticated"  # a throttled login says so already
            raise

    def _challenge(
        self,
        scopes: Sequence[str],
        message: str,
        *,
        invalid: bool = False,
        bearer: bool = False,
        insufficient: bool = False,
    ) -> Unauthenticated:
        if self.token_realm is not None:
            params = [f'realm="{self.token_realm}"', f'service="{self.config.service}"']
            if scopes:
                params.append(f'scope="{" ".join(scopes)}"')
            if insufficient:
                params.append('error="insufficient_scope"')
            elif invalid and bearer:
                params.append('error="invalid_token"')
            header = "Bearer " + ",".join(params)
        else:
            header = f'Basic realm="{self.config.service}"'
        return Unauthenticated(message, headers={"WWW-Authenticate": header})

    # -- what -----------------------------------------------------------------------------
    def _refuse_unless_allowed(self, verdict: Verdict, authorization: str | None) -> None:
        if verdict.reply is Reply.ALLOW:
            return
        if verdict.reply is Reply.CHALLENGE:
            raise self._challenge(verdict.scopes, "authentication required")
        if verdict.reply is Reply.UNSUPPORTED:
            # allowed, and the registry is known not to do it (a tag delete before distribution 2.8)
            lacking = next(f for f, _ in verdict.facts if isinstance(f, UpstreamSupports))
            raise unsupported_error(lacking.capability, self.facts.found)
        if verdict.reply is Reply.INSUFFICIENT_SCOPE:
            challenge = self._challenge(verdict.scopes, "the token does not grant this access", insufficient=True)
            if self._rechallenges.repeated(authorization, verdict.scopes):
                # the same token again after that 401: a 403 with the challenge (rechallenge.py)
                raise Denied("the token does not grant this access", headers=challenge.headers)
            raise challenge
        raise Denied("requested access to the resource is denied")

    def _check_upload_session(self, parsed: RegistryRequest, principal: Principal, event: AuditEvent) -> None:
        """An upload session answers only the principal it was sealed to (404 to anyone else,
        as for a session that does not exist: nothing confirms that it does)."""
        if parsed.route is not RouteKind.UPLOAD_SESSION or parsed.upload_id is None:
            return
        if not self.sealer.verify(parsed.upload_seal, principal.id, parsed.repository, parsed.upload_id):
            event.decision = "upload-not-owned"
            raise OciError("blob upload unknown to registry", code=ErrorCode.BLOB_UPLOAD_UNKNOWN, status=404)

    async def _listing(
        self, parsed: RegistryRequest, context: RequestContext, policy: CompiledPolicy, event: AuditEvent
    ) -> web.StreamResponse:
        if parsed.route is RouteKind.CATALOG:

            def visible(name: str) -> bool:
                return grammar.is_name(name) and policy.evaluate(context, Action.CATALOG, name, ANY_TAG).allowed
        else:

            def visible(name: str) -> bool:
                return grammar.is_tag(name) and policy.evaluate(context, Action.LIST, parsed.repository, name).allowed

        response = await filtered_listing(self.upstream, parsed, visible)
        event.upstream_status = response.status
        return response

    # -- forward --------------------------------------------------------------------------
    def _upstream_headers(self, request: web.Request, event: AuditEvent) -> dict[str, str]:
        forwarded = None
        if self.config.forwarded_headers:
            forwarded = {
                "x-forwarded-for": event.source,
                "x-forwarded-proto": request.scheme,
                "x-forwarded-host": request.host,
            }
        return request_headers(request.headers.items(), forwarded=forwarded)

    async def _forward(
        self,
        request: web.Request,
        parsed: RegistryRequest,
        context: RequestContext,
        policy: CompiledPolicy,
        event: AuditEvent,
        drop_mount: bool,
    ) -> web.StreamResponse:
        cached, hit = lookup(self.manifests, parsed, event, self.metrics)
        if hit is not None:
            return hit
        headers = self._upstream_headers(request, event)
        target = parsed.target(drop_mount=drop_mount)
        body: AsyncIterator[bytes] | None = None
        uploading = request.method in _BODY_METHODS and request.body_exists
        if uploading:
            limit = bodies.upload_limit(request.method, request.path, self.config.limits)
            body = stream_up(bodies.stream_body(request, limit, self.idle), event, self.metrics)
            self.metrics.add("regproxy_uploads_in_flight", 1)
        upstream_started = time.perf_counter()
        upstream_response: HeadResponse | aiohttp.ClientResponse
        try:
            if request.method == "HEAD":  # the lean path where the registry allows it (proxy/heads.py)
                upstream_response = await self.upstream.head(target, headers, scope=challenge_scope(parsed))
            else:
                upstream_response = await self.upstream.request(
                    request.method, target, headers, scope=challenge_scope(parsed), data=body
                )
        finally:
            if uploading:
                self.metrics.add("regproxy_uploads_in_flight", -1)
        self.metrics.observe("regproxy_upstream_seconds", time.perf_counter() - upstream_started)
        event.upstream_status = upstream_response.status
        if parsed.mount is not None and not drop_mount and self.capabilities is not None:
            self.capabilities.observe_mount(upstream_response.status)
        try:
            if cached is not None and request.method == "DELETE":
                self.manifests.evict(*cached)  # again: a GET may have filled it meanwhile
            if upstream_response.status == 401:
                # The registry refused regproxy's own credentials: never pass its challenge on.
                self.upstream.invalidate(challenge_scope(parsed))
                log.error("the registry refused regproxy's credentials for %s", parsed.route.value)
                raise UpstreamUnavailable("the registry refused regproxy's credentials")
            out_headers = response_headers(
                upstream_response.headers.items(), self.upstream.origin, self.external_url, upstream_response.status
            )
            if parsed.route in (RouteKind.UPLOAD_START, RouteKind.UPLOAD_SESSION):
                out_headers = sealed_locations(out_headers, self.sealer, context.principal.id, parsed.repository)
            if request.method == "HEAD" or upstream_response.status in _NO_BODY_STATUS:
                bodiless = web.Response(status=upstream_response.status)
                _copy_headers(bodiless, out_headers)
                return bodiless
            assert isinstance(upstream_response, aiohttp.ClientResponse)  # only a HEAD answers on the lean path
            if cached is not None and request.method == "GET":
                kept = await fill(
                    self.manifests, cached, upstream_response, out_headers, event, self.metrics, self.idle
                )
                if kept is not None:
                    return kept
            return await stream_down(request, upstream_response, out_headers, event, self.metrics, self.idle)
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, TimeoutError) as exc:
            # before any header went out (a catalog page read whole): still time for an error
            log.warning("upstream stream broke: %s %s: %s", request.method, event.path, exc)
            raise UpstreamUnavailable("the registry connection broke mid-response") from exc
        finally:
            upstream_response.release()


def _head_size(request: web.Request) -> int:
    return sum(len(name) + len(value) + 4 for name, value in request.raw_headers) + len(request.raw_path)


def _copy_headers(response: web.StreamResponse, headers: list[tuple[str, str]]) -> None:
    for name, value in headers:
        response.headers.add(name, value)


__all__ = ["RegistryHandler"]
