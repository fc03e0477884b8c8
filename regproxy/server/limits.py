"""Per-principal request-rate (token bucket) and concurrency limits, answered with 429."""

from __future__ import annotations

import time
from collections.abc import Callable

from cachetools import TTLCache


class PrincipalLimiter:
    def __init__(
        self,
        rate: float,
        burst: int,
        concurrency: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = max(burst, 1) if rate > 0 else 0
        self.concurrency = concurrency
        self.clock = clock
        self._buckets: TTLCache[str, list[float]] = TTLCache(maxsize=100000, ttl=3600)
        self._active: dict[str, int] = {}

    def acquire(self, principal_id: str) -> bool:
        """Take one request slot; False when over the rate or the concurrency limit."""
        if self.rate > 0:
            now = self.clock()
            bucket = self._buckets.get(principal_id)
            if bucket is None:
                bucket = [float(self.burst), now]
            tokens = min(float(self.burst), bucket[0] + (now - bucket[1]) * self.rate)
            if tokens < 1.0:
                self._buckets[principal_id] = [tokens, now]
                return False
            self._buckets[principal_id] = [tokens - 1.0, now]
        if self.concurrency > 0:
            active = self._active.get(principal_id, 0)
            if active >= self.concurrency:
                return False
            self._active[principal_id] = active + 1
        return True

    def release(self, principal_id: str) -> None:
        if self.concurrency > 0:
            active = self._active.get(principal_id, 0) - 1
            if active <= 0:
                self._active.pop(principal_id, None)
            else:
                self._active[principal_id] = active
