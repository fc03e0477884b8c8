"""Principals of already verified tokens, so a push does not check one signature per blob."""

from __future__ import annotations

import hashlib

from cachetools import LRUCache

from regproxy.identity.principal import Principal

__all__ = ["VerifiedTokenCache"]


class VerifiedTokenCache:
    """Principals of tokens already verified, by SHA-256 of the token, each until a deadline.

    A client sends the same token with every blob of a push; remembering the verification
    spares a signature check per request. An entry is served only before its deadline (the
    token's ``exp`` plus leeway, or sooner), so caching never extends a token's life.
    """

    def __init__(self, maxsize: int = 4096) -> None:
        self._entries: LRUCache[bytes, tuple[Principal, float]] = LRUCache(maxsize=max(1, maxsize))
        self._enabled = maxsize > 0

    def get(self, token: str, now: float) -> Principal | None:
        if not self._enabled:
            return None
        digest = _digest(token)
        entry = self._entries.get(digest)
        if entry is None:
            return None
        principal, until = entry
        if now < until:
            return principal
        del self._entries[digest]
        return None

    def put(self, token: str, principal: Principal, until: float) -> None:
        if self._enabled:
            self._entries[_digest(token)] = (principal, until)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
