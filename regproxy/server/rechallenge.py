"""A repeated ``insufficient_scope`` challenge, answered so that oras-py fetches a new token.

The token-auth protocol answers a bearer token whose ``access`` lacks a scope the policy would
grant with 401 ``error="insufficient_scope"`` naming every scope the request needs: Docker,
containerd and containers/image (podman, skopeo, buildah) fetch a token for those scopes and
retry. oras-py (0.2.43, ``oras/provider.py`` ``do_request`` and ``oras/auth/token.py``
``authenticate_request``) instead retries a 401 with the token it already holds, and drops it
for a token of the challenged scopes only after a 403 that carries a challenge: its push, which
starts with a blob HEAD and so holds a pull-only token, would fail on its first upload.

The rule, narrow on purpose: when the *same* bearer token is presented again, within
:data:`WINDOW` seconds, for a request with the *same* required scopes that this process has
already answered 401 ``insufficient_scope``, the answer is 403 ``DENIED`` carrying the same
challenge. A client that follows the first challenge never meets it (it comes back with a new
token); the decision itself is unchanged (the flow still says insufficient scope, and the audit
line says so). Only a hash of the token is kept, never the token; memory is bounded (a TTL
cache of :data:`MAX_ENTRIES`) and per process, which suffices because the retry rides the same
keep-alive connection, hence reaches the same worker.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence

from cachetools import TTLCache

WINDOW = 60.0  # seconds a 401 insufficient_scope is remembered
MAX_ENTRIES = 4096

Key = tuple[bytes, tuple[str, ...]]


class RepeatedChallenges:
    """Which (token, scopes) pairs this process answered 401 ``insufficient_scope`` lately."""

    def __init__(
        self, window: float = WINDOW, max_entries: int = MAX_ENTRIES, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._answered: TTLCache[Key, bool] = TTLCache(maxsize=max_entries, ttl=window, timer=clock)

    def repeated(self, authorization: str | None, scopes: Sequence[str]) -> bool:
        """Record that ``authorization`` is being answered 401 ``insufficient_scope`` for
        ``scopes``; true when it already was within the window (answer 403 with the challenge).

        Only a Bearer credential counts: nothing else can be refreshed by a new token."""
        key = _key(authorization, scopes)
        if key is None:
            return False
        if self._answered.get(key, False):
            return True
        self._answered[key] = True
        return False

    def __len__(self) -> int:
        return len(self._answered)


def _key(authorization: str | None, scopes: Sequence[str]) -> Key | None:
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest(), tuple(sorted(scopes))


__all__ = ["MAX_ENTRIES", "WINDOW", "RepeatedChallenges"]
