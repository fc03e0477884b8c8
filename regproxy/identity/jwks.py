"""Fetch and cache the signing keys of external OIDC issuers (adapter: aiohttp client only).

Follows OpenID Connect Discovery 1.0 (``{issuer}/.well-known/openid-configuration`` names the
``jwks_uri``; its ``issuer`` must equal the configured issuer, §4.3) and RFC 7517 (JWK Set).
PyJWT's ``PyJWKClient`` is not used: it blocks the event loop on urllib.

Only issuers named in the configuration are ever fetched, at URLs derived from the
configuration: never from a token (``jku``, ``x5u`` and ``jwk`` headers are ignored upstream of
here). Keys are cached for ``ttl``; a token with an unknown ``kid`` (the issuer rotated) makes
the cache refetch, but at most once per ``min_refetch_interval``, so a stream of tokens with
made-up kids cannot turn the proxy into a load generator against the issuer. When the issuer
cannot be reached, a cached key still serves its kid (up to ``max_stale`` after the last good
fetch); otherwise :class:`IssuerUnavailable` (the authenticator answers 503, never an allow).
Every fetch has an explicit timeout, a size cap, and does not follow redirects.

Which keys are usable is :mod:`regproxy.identity.jwk` (pure); this module only fetches.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

import aiohttp
import orjson

from regproxy.identity.jwk import IssuerKey, IssuerUnavailable, UnknownKeyId, is_secure_url, parse_jwks

__all__ = ["JwksCache"]

log = logging.getLogger("regproxy.identity.jwks")

DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=5.0, connect=2.0)
MAX_DOCUMENT_BYTES = 256 * 1024
DISCOVERY_PATH = "/.well-known/openid-configuration"


@dataclass(slots=True)
class _IssuerState:
    keys: dict[str, IssuerKey] = field(default_factory=dict)
    fetched_at: float | None = None  # last successful fetch
    attempted_at: float | None = None  # last attempt, successful or not
    failed: bool = False  # whether the last attempt failed
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(eq=False)
class JwksCache:
    """Per-issuer key cache over a caller-owned :class:`aiohttp.ClientSession`."""

    session: aiohttp.ClientSession
    _: KW_ONLY
    clock: Callable[[], float] = time.time
    ttl: float = 600.0
    min_refetch_interval: float = 30.0
    max_stale: float = 24 * 3600.0
    timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT
    max_document_bytes: int = MAX_DOCUMENT_BYTES
    _states: dict[str, _IssuerState] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.ttl <= 0 or self.min_refetch_interval < 0 or self.max_stale < self.ttl:
            raise ValueError("need ttl > 0, min_refetch_interval >= 0, max_stale >= ttl")
        if self.timeout.total is None and self.timeout.sock_read is None:
            raise ValueError("JWKS fetches need an explicit timeout")

    async def get_key(self, issuer: str, kid: str, *, jwks_uri: str | None = None) -> IssuerKey:
        """The issuer's key with this kid.

        Raises :class:`UnknownKeyId` when the issuer's current key set has no such key, and
        :class:`IssuerUnavailable` when the keys cannot be fetched and no cached key serves.
        """
        state = self._states.setdefault(issuer, _IssuerState())
        key = self._fresh(state, kid, self.clock())
        if key is not None:
            return key
        async with state.lock:  # one fetch per issuer at a time; waiters reuse its result
            now = self.clock()
            key = self._fresh(state, kid, now)
            if key is not None:
                return key
            recently = state.attempted_at is not None and now - state.attempted_at < self.min_refetch_interval
            if not recently:
                await self._refresh(state, issuer, jwks_uri, now)
            key = self._usable(state, kid, now)
            if key is not None:
                return key
            if state.failed:
                raise IssuerUnavailable(f"keys of issuer `{issuer}` cannot be fetched")
            raise UnknownKeyId(f"issuer `{issuer}` has no key `{kid}`")

    async def refresh(self, issuer: str, *, jwks_uri: str | None = None) -> None:
        """Fetch now (e.g. at start-up); raises :class:`IssuerUnavailable` on failure."""
        state = self._states.setdefault(issuer, _IssuerState())
        async with state.lock:
            await self._refresh(state, issuer, jwks_uri, self.clock())
            if state.failed:
                raise IssuerUnavailable(f"keys of issuer `{issuer}` cannot be fetched")

    def _fresh(self, state: _IssuerState, kid: str, now: float) -> IssuerKey | None:
        if state.fetched_at is None or now - state.fetched_at >= self.ttl:
            return None
        return state.keys.get(kid)

    def _usable(self, state: _IssuerState, kid: str, now: float) -> IssuerKey | None:
        """A cached key, fresh or stale, as long as the last good fetch is within max_stale."""
        if state.fetched_at is None or now - state.fetched_at >= self.max_stale:
            return None
        return state.keys.get(kid)

    async def _refresh(self, state: _IssuerState, issuer: str, jwks_uri: str | None, now: float) -> None:
        state.attempted_at = now
        try:
            uri = jwks_uri or await self._discover(issuer)
            keys = parse_jwks(await self._fetch_json(uri))
        except (IssuerUnavailable, ValueError) as exc:
            log.warning("fetching the keys of issuer `%s` failed: %s", issuer, exc)
            state.failed = True
            return
        state.keys, state.fetched_at, state.failed = keys, now, False

    async def _discover(self, issuer: str) -> str:
        document = await self._fetch_json(issuer.rstrip("/") + DISCOVERY_PATH)
        if not isinstance(document, dict):
            raise IssuerUnavailable("discovery document is not an object")
        if document.get("issuer") != issuer:
            raise IssuerUnavailable("discovery document names another issuer")
        uri = document.get("jwks_uri")
        if not isinstance(uri, str) or not is_secure_url(uri):
            raise IssuerUnavailable("discovery document has no https `jwks_uri`")
        return uri

    async def _fetch_json(self, url: str) -> Any:
        try:
            async with self.session.get(
                url,
                timeout=self.timeout,
                allow_redirects=False,
                headers={"Accept": "application/json"},
            ) as response:
                if response.status != 200:
                    raise IssuerUnavailable(f"`{url}` answered {response.status}")
                body = bytearray()
                async for chunk in response.content.iter_chunked(64 * 1024):
                    body += chunk
                    if len(body) > self.max_document_bytes:
                        raise IssuerUnavailable(f"`{url}` answered too large a document")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise IssuerUnavailable(f"`{url}` cannot be fetched: {type(exc).__name__}") from None
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            raise IssuerUnavailable(f"`{url}` did not answer JSON") from None
