"""Manifests by digest, kept in memory: content-addressed, so a copy is as good as the registry's.

Optional (``cache.manifests.size_mib``, 0 = off, the default). Only a manifest fetched **by
digest** with a 200 is kept, and only when the bytes hash to that digest (a registry answering
other bytes than it was asked for is never copied). Tags are never cached: a tag moves. The
cache sits after authorization: a hit is answered only to a request that was allowed as usual.

Bounded by the bytes it holds (least recently used out) and by age (``ttl``): a delete made
through regproxy evicts at once; one made behind regproxy's back is served at most ``ttl``
seconds more. Keys are (repository, digest): the same digest in another repository is another
entry, so a request never learns that a repository it may not see holds a manifest.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]
_HASHES: dict[str, Callable[[bytes], str]] = {
    "sha256": lambda data: hashlib.sha256(data).hexdigest(),
    "sha512": lambda data: hashlib.sha512(data).hexdigest(),
}
#: headers a hit answers with (lower-case), as the registry sent them through regproxy's filter
KEPT_HEADERS = frozenset(
    {"content-type", "content-length", "docker-content-digest", "etag", "docker-distribution-api-version"}
)


@dataclass(frozen=True, slots=True)
class CachedManifest:
    body: bytes
    headers: tuple[tuple[str, str], ...]  # already filtered and rewritten for the client
    expires: float


def matches_digest(digest: str, body: bytes) -> bool:
    """``body`` hashes to ``digest`` (``algorithm:hex``); an unknown algorithm never matches."""
    algorithm, _, expected = digest.partition(":")
    hasher = _HASHES.get(algorithm)
    return hasher is not None and hasher(body) == expected


class ManifestCache:
    """A bounded LRU of manifests by (repository, digest); not thread-safe (one event loop)."""

    def __init__(self, max_bytes: int, ttl: float, *, clock: Clock = time.monotonic) -> None:
        self.max_bytes = max_bytes
        self.ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], CachedManifest] = OrderedDict()
        self.size = 0  # bytes held (bodies)

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, repository: str, digest: str) -> CachedManifest | None:
        key = (repository, digest)
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires <= self._clock():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, repository: str, digest: str, body: bytes, headers: list[tuple[str, str]]) -> bool:
        """Keep ``body`` if it is the manifest ``digest`` names and fits; True when kept."""
        if not self.enabled or len(body) > self.max_bytes or not matches_digest(digest, body):
            return False
        key = (repository, digest)
        self._drop(key)
        kept = tuple((name, value) for name, value in headers if name.lower() in KEPT_HEADERS)
        self._entries[key] = CachedManifest(body, kept, self._clock() + self.ttl)
        self.size += len(body)
        while self.size > self.max_bytes:
            self._drop(next(iter(self._entries)))
        return True

    def evict(self, repository: str, digest: str) -> None:
        self._drop((repository, digest))

    def _drop(self, key: tuple[str, str]) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.size -= len(entry.body)


__all__ = ["CachedManifest", "ManifestCache", "matches_digest"]
