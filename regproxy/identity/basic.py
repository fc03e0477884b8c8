"""Basic authentication against the identities file: accounts and access credentials.

docker sends Basic on every request, so a verified (name, secret) pair is cached briefly. The
cache key is a keyed BLAKE2b MAC of the pair under a per-process random key: the cache never holds a
secret in the clear. The cache belongs to one :class:`Identities` snapshot and is emptied when
the identities file changes. Hashing runs in a thread, bounded by a semaphore so that a flood of
wrong passwords cannot queue unbounded work.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Callable

from cachetools import TTLCache

from regproxy.identity.chain import NOT_MINE, AuthResult, Credentials, Invalid, Scheme, Valid
from regproxy.identity.identities import Identities
from regproxy.identity.passwords import DUMMY_HASH, verify_password
from regproxy.identity.principal import Principal


class BasicAuthenticator:
    def __init__(
        self,
        identities: Callable[[], Identities],
        *,
        cache_ttl: float = 60.0,
        cache_size: int = 10000,
        max_concurrent_hashes: int = 4,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._identities = identities
        self._clock = clock
        self._key = os.urandom(32)
        self._cache: TTLCache[bytes, Principal] = TTLCache(maxsize=cache_size, ttl=cache_ttl)
        self._cache_owner: Identities | None = None
        self._hashing = asyncio.Semaphore(max_concurrent_hashes)
        self._pending: dict[bytes, asyncio.Future[AuthResult]] = {}

    def _cache_key(self, username: str, secret: str) -> bytes:
        # keyed BLAKE2b is a MAC in one C call (RFC 7693 §2.5); hmac.new costs several Python calls
        return hashlib.blake2b(username.encode() + b"\0" + secret.encode(), key=self._key, digest_size=32).digest()

    async def authenticate(self, credentials: Credentials) -> AuthResult:
        if credentials.scheme is not Scheme.BASIC:
            return NOT_MINE
        identities = self._identities()
        if identities is not self._cache_owner:  # the file changed: forget every verified pair
            self._cache.clear()
            self._cache_owner = identities
        now = self._clock()
        key = self._cache_key(credentials.username, credentials.secret)
        cached = self._cache.get(key)
        if cached is not None and (cached.expires_at is None or cached.expires_at > now):
            return Valid(cached)

        # One verification per credential at a time: when an entry expires under load, the
        # requests that miss together wait for the one hash instead of each running their own.
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[AuthResult] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            result = await self._verify(identities, credentials, key, now)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: the waiters (if any) see it, nobody logs it as lost
            raise
        else:
            future.set_result(result)
            return result
        finally:
            del self._pending[key]

    async def _verify(self, identities: Identities, credentials: Credentials, key: bytes, now: float) -> AuthResult:
        name = credentials.username
        credential = identities.credentials.get(name)
        account = identities.logins.get(name)
        if credential is not None:
            stored = credential.secret_hash
        elif account is not None and account.password_hash is not None:
            stored = account.password_hash
        else:
            stored = DUMMY_HASH  # the same work for an unknown name
        async with self._hashing:
            ok = await asyncio.to_thread(verify_password, stored, credentials.secret)
        if not ok or stored is DUMMY_HASH:
            return Invalid("invalid username or password")
        if credential is not None:
            if credential.id in identities.revoked:
                return Invalid("credential revoked")
            if credential.expires_at is not None and credential.expires_at <= now:
                return Invalid("credential expired")
            principal = credential.account.principal(
                credential_id=credential.id, scope=credential.scope, expires_at=credential.expires_at
            )
        else:
            assert account is not None
            principal = account.principal()
        self._cache[key] = principal
        return Valid(principal)
