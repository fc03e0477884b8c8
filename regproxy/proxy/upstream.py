"""The upstream registry client: one pooled session, explicit timeouts, regproxy's credentials.

No redirect following (a 307 to object storage goes back to the client), no decompression
(bytes pass as they are), no cookie jar. Upstream credentials: none, Basic, or the upstream's
own bearer-token flow (the Docker token-auth spec) done with regproxy's service credential.

The bearer flow, as distribution, Harbor and the cloud registries expect it:

- the challenge (``realm``, ``service``) is learned from ``GET /v2/`` once and learned again
  after a failure; a realm that would send the service credential over plain HTTP while the
  registry itself is HTTPS is refused;
- ``GET realm?service=…&scope=…&scope=…`` with Basic, one ``scope`` parameter per resource
  (a mount asks for two), answered ``{"token"|"access_token", "expires_in"}``;
- tokens are cached per scope (bounded, least recently used out) until shortly before they
  expire, and one fetch per scope is in flight at a time however many requests wait for it;
- a cached token the registry refuses with 401 is dropped and, when the request body can be
  sent again, the request is retried once with a fresh token; otherwise the 401 goes back to
  the caller, which never passes the registry's challenge on;
- a token service that refuses the service credential is :class:`UpstreamUnavailable` (a
  503 for the client) with the reason logged.

TLS towards the registry: ``upstream.ca_file`` (a private CA) and ``upstream.client_cert`` /
``client_key`` (mTLS) build the client's SSL context once, at start-up; a certificate the
registry presents that does not verify, or a handshake the registry refuses, is reported as
such, never as a plain "unreachable" (:mod:`regproxy.proxy.connection`).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl
import time
from collections import OrderedDict
from collections.abc import AsyncIterable, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from regproxy.config import UpstreamConfig
from regproxy.errors import OciError, UpstreamUnavailable
from regproxy.proxy.connection import build_ssl_context, describe_connection_error
from regproxy.proxy.headers import origin_of

log = logging.getLogger("regproxy.upstream")

TOKEN_MARGIN = 10.0  # refresh a cached upstream token this many seconds before it expires
DEFAULT_EXPIRES_IN = 60.0  # the token-auth spec's default when `expires_in` is absent
MAX_CACHED_TOKENS = 4096  # one per scope; least recently used out
_MAX_TOKEN_BODY = 1 << 20

Clock = Callable[[], float]


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="...",service="..."`` → ("bearer", {realm, service, ...})."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    i = 0
    while i < len(rest):
        eq = rest.find("=", i)
        if eq == -1:
            break
        key = rest[i:eq].strip(" ,").lower()
        if eq + 1 < len(rest) and rest[eq + 1] == '"':
            end = rest.find('"', eq + 2)
            end = len(rest) if end == -1 else end
            params[key] = rest[eq + 2 : end]
            i = end + 1
        else:
            end = rest.find(",", eq + 1)
            end = len(rest) if end == -1 else end
            params[key] = rest[eq + 1 : end].strip()
            i = end + 1
    return scheme.lower(), params


def challenge_scope(header: str) -> str:
    """The ``scope`` a registry's Bearer challenge asks for ("" when it names none)."""
    scheme, params = parse_challenge(header)
    return params.get("scope", "").strip() if scheme == "bearer" else ""


class UpstreamClient:
    def __init__(self, config: UpstreamConfig, *, clock: Clock = time.monotonic) -> None:
        self.config = config
        self.base_url = config.url.rstrip("/")
        self.origin = origin_of(config.url)
        self.ssl_context = build_ssl_context(config)
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._basic = ""
        if config.auth in ("basic", "bearer"):
            raw = f"{config.username}:{config.password}".encode()
            self._basic = "Basic " + base64.b64encode(raw).decode()
        self._tokens: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._pending: dict[tuple[str, str], asyncio.Future[str]] = {}  # (cached as, fetched for)
        self._challenge: dict[str, str] | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self.config.pool_size,
            limit_per_host=self.config.pool_size,
            ttl_dns_cache=60,
            enable_cleanup_closed=False,
            ssl=self.ssl_context if self.ssl_context is not None else True,
        )
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.config.connect_timeout, sock_read=self.config.read_timeout
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("upstream client is not started")
        return self._session

    async def request(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        *,
        scope: str = "",
        data: AsyncIterable[bytes] | bytes | None = None,
    ) -> aiohttp.ClientResponse:
        """Send one request upstream; the caller reads and releases the response.

        Raises :class:`UpstreamUnavailable` when the upstream cannot be reached or regproxy's
        own credentials cannot be had.
        """
        cached = self.config.auth == "bearer" and self._cached(scope) is not None
        response = await self._send(method, target, headers, scope, data)
        if response.status != 401 or self.config.auth != "bearer" or isinstance(data, AsyncIterable):
            return response
        wanted = challenge_scope(response.headers.get("WWW-Authenticate", ""))
        if not cached and wanted in ("", scope):
            return response  # a fresh token for the very scope asked: retrying changes nothing
        # the registry refused a token regproxy still trusted (revoked early, the issuer's key
        # rotated, clocks apart), or it names the scope it wants (Harbor and others spell some
        # scopes their own way): one token for what it asked, one more try
        response.release()
        self.invalidate(scope)
        log.info(
            "the registry refused the token for scope `%s`%s: fetching a new one",
            scope or "(none)",
            f" and asked for `{wanted}`" if wanted and wanted != scope else "",
        )
        return await self._send(method, target, headers, scope, data, fetch_scope=wanted or scope)

    async def _send(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        scope: str,
        data: AsyncIterable[bytes] | bytes | None,
        *,
        fetch_scope: str | None = None,
    ) -> aiohttp.ClientResponse:
        auth = await self._authorization(scope, scope if fetch_scope is None else fetch_scope)
        if auth:
            headers["authorization"] = auth
        try:
            return await self.session.request(
                method,
                self.base_url + target,
                headers=headers,
                data=data,
                allow_redirects=False,
                compress=None,
                auto_decompress=False,
            )
        except (aiohttp.ClientConnectionError, TimeoutError, ssl.SSLError) as exc:
            if isinstance(exc.__cause__, OciError):  # the client's body failed (too large, stalled, broken)
                raise exc.__cause__ from None
            reason = describe_connection_error(exc)
            log.warning("upstream request failed: %s %s: %s", method, target.split("?", 1)[0], reason)
            raise UpstreamUnavailable("the registry behind regproxy cannot be reached") from exc

    def invalidate(self, scope: str) -> None:
        self._tokens.pop(scope, None)

    # -- the bearer flow ------------------------------------------------------------------
    def _cached(self, scope: str) -> str | None:
        entry = self._tokens.get(scope)
        if entry is None:
            return None
        if entry[1] <= self._clock():
            del self._tokens[scope]
            return None
        self._tokens.move_to_end(scope)
        return entry[0]

    async def _authorization(self, scope: str, fetch_scope: str) -> str:
        """The Authorization value for a request needing ``scope``; a token is fetched for
        ``fetch_scope`` (the registry's own wording, once it named it) and cached under ``scope``."""
        if self.config.auth == "none":
            return ""
        if self.config.auth == "basic":
            return self._basic
        cached = self._cached(scope)
        if cached is not None:
            return cached
        key = (scope, fetch_scope)
        pending = self._pending.get(key)
        if pending is not None:  # another request is fetching this very token: wait for it
            return await asyncio.shield(pending)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            token, expires_in = await self._fetch_token(fetch_scope)
            value = f"Bearer {token}"
            self._tokens[scope] = (value, self._clock() + max(expires_in - TOKEN_MARGIN, 1.0))
            while len(self._tokens) > MAX_CACHED_TOKENS:
                self._tokens.popitem(last=False)
            future.set_result(value)
            return value
        except asyncio.CancelledError:
            # the request that was fetching went away: the others waiting get a clear 503
            future.set_exception(UpstreamUnavailable("the fetch of a registry token was interrupted"))
            future.exception()  # retrieved here: nobody may be waiting
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here: a fetch nobody else waited for is not "never retrieved"
            raise
        finally:
            del self._pending[key]

    async def _discover(self) -> dict[str, str]:
        if self._challenge is not None:
            return self._challenge
        async with self.session.get(self.base_url + "/v2/", allow_redirects=False) as resp:
            await resp.read()
            scheme, params = parse_challenge(resp.headers.get("WWW-Authenticate", ""))
        if scheme != "bearer" or "realm" not in params:
            raise UpstreamUnavailable(
                f"upstream.auth is bearer but the registry answered /v2/ with {resp.status} and no bearer challenge"
            )
        realm = urlsplit(params["realm"])
        if realm.scheme not in ("http", "https") or not realm.hostname:
            raise UpstreamUnavailable(f"the registry's token realm `{params['realm']}` is not an http(s) URL")
        if realm.scheme == "http" and urlsplit(self.base_url).scheme == "https":
            raise UpstreamUnavailable(
                f"the registry's token realm `{params['realm']}` is plain HTTP: the service credential stays unsent"
            )
        self._challenge = params
        return params

    async def _fetch_token(self, scope: str) -> tuple[str, float]:
        try:
            challenge = await self._discover()
            query: list[tuple[str, str]] = [("service", challenge.get("service", ""))]
            query += [("scope", s) for s in scope.split(" ") if s]
            async with self.session.get(
                challenge["realm"],
                params=query,
                headers={"Authorization": self._basic},
                allow_redirects=False,
            ) as resp:
                raw = await resp.content.read(_MAX_TOKEN_BODY)
                if resp.status != 200:
                    self._challenge = None  # learn the challenge again next time
                    reason = _token_error(resp.status, raw)
                    log.error(
                        "the registry's token service at %s refused regproxy's service credential `%s`: %s",
                        challenge["realm"],
                        self.config.username,
                        reason,
                    )
                    # the client learns that regproxy cannot use the registry; the reason is the log's
                    raise UpstreamUnavailable("the registry's token service refused regproxy's service credential")
                body: Mapping[str, Any] = orjson.loads(raw)
        except (aiohttp.ClientConnectionError, TimeoutError, ssl.SSLError) as exc:
            self._challenge = None
            reason = describe_connection_error(exc)
            log.error("the registry's token service cannot be used: %s", reason)
            raise UpstreamUnavailable("the registry's token service cannot be reached") from exc
        except (aiohttp.ClientError, orjson.JSONDecodeError, AttributeError) as exc:
            self._challenge = None
            log.error("the registry's token service gave an unusable answer: %s", exc)
            raise UpstreamUnavailable("the registry's token service gave an unusable answer") from exc
        token = body.get("token") or body.get("access_token") if isinstance(body, Mapping) else None
        if not isinstance(token, str) or not token:
            log.error("the registry's token service answered 200 without a token")
            raise UpstreamUnavailable("the registry's token service gave no token")
        expires_in = body.get("expires_in")
        if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or expires_in <= 0:
            return token, DEFAULT_EXPIRES_IN
        return token, float(expires_in)


def _token_error(status: int, raw: bytes) -> str:
    """``401: credential refused`` from a token service's error answer (OCI or OAuth2 shape)."""
    detail = ""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            detail = str(errors[0].get("message") or errors[0].get("code") or "")
        else:
            detail = str(body.get("error_description") or body.get("error") or body.get("details") or "")
    return f"{status}: {detail[:200]}" if detail else f"{status}"
