"""The upstream registry client: one pooled session, explicit timeouts, regproxy's credentials.

No redirect following (a 307 to object storage goes back to the client), no decompression
(bytes pass as they are), no cookie jar. Upstream credentials: none, Basic, or the upstream's
own bearer-token flow done with regproxy's service credential, tokens cached per scope until
shortly before they expire.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import AsyncIterable, Mapping
from typing import Any

import aiohttp
import orjson

from regproxy.config import UpstreamConfig
from regproxy.errors import OciError, UpstreamUnavailable
from regproxy.proxy.headers import origin_of

log = logging.getLogger("regproxy.upstream")

_TOKEN_MARGIN = 10.0  # refresh a cached upstream token this many seconds before it expires


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


class UpstreamClient:
    def __init__(self, config: UpstreamConfig) -> None:
        self.config = config
        self.base_url = config.url.rstrip("/")
        self.origin = origin_of(config.url)
        self._session: aiohttp.ClientSession | None = None
        self._basic = ""
        if config.auth in ("basic", "bearer"):
            raw = f"{config.username}:{config.password}".encode()
            self._basic = "Basic " + base64.b64encode(raw).decode()
        self._tokens: dict[str, tuple[str, float]] = {}
        self._challenge: dict[str, str] | None = None
        self._token_lock = asyncio.Lock()

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self.config.pool_size,
            limit_per_host=self.config.pool_size,
            ttl_dns_cache=60,
            enable_cleanup_closed=False,
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

        Raises :class:`UpstreamUnavailable` when the upstream cannot be reached.
        """
        auth = await self._authorization(scope)
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
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            if isinstance(exc.__cause__, OciError):  # the client's body failed (too large, stalled, broken)
                raise exc.__cause__ from None
            log.warning("upstream unreachable: %s %s: %s", method, target.split("?", 1)[0], exc)
            raise UpstreamUnavailable("the registry behind regproxy cannot be reached") from exc

    def invalidate(self, scope: str) -> None:
        self._tokens.pop(scope, None)

    async def _authorization(self, scope: str) -> str:
        if self.config.auth == "none":
            return ""
        if self.config.auth == "basic":
            return self._basic
        cached = self._tokens.get(scope)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        async with self._token_lock:
            cached = self._tokens.get(scope)
            if cached is not None and cached[1] > time.monotonic():
                return cached[0]
            token, expires_in = await self._fetch_token(scope)
            self._tokens[scope] = (f"Bearer {token}", time.monotonic() + max(expires_in - _TOKEN_MARGIN, 1.0))
            return self._tokens[scope][0]

    async def _fetch_token(self, scope: str) -> tuple[str, float]:
        try:
            if self._challenge is None:
                async with self.session.get(self.base_url + "/v2/", allow_redirects=False) as resp:
                    scheme, params = parse_challenge(resp.headers.get("WWW-Authenticate", ""))
                    if scheme != "bearer" or "realm" not in params:
                        raise UpstreamUnavailable("the registry did not offer a bearer challenge")
                    self._challenge = params
            query: dict[str, Any] = {"service": self._challenge.get("service", "")}
            if scope:
                query["scope"] = scope
            async with self.session.get(
                self._challenge["realm"],
                params=query,
                headers={"Authorization": self._basic},
                allow_redirects=False,
            ) as resp:
                if resp.status != 200:
                    raise UpstreamUnavailable(f"the registry's token service answered {resp.status}")
                body: Mapping[str, Any] = orjson.loads(await resp.read())
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError) as exc:
            raise UpstreamUnavailable("the registry's token service cannot be reached") from exc
        token = body.get("token") or body.get("access_token")
        if not isinstance(token, str):
            raise UpstreamUnavailable("the registry's token service gave no token")
        expires_in = body.get("expires_in", 60)
        return token, float(expires_in) if isinstance(expires_in, int | float) else 60.0
