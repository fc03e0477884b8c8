"""Failed-login throttling: exponential back-off per source address and per user name.

The interface is :class:`LoginThrottle`, three calls on opaque keys (``source:<addr>``,
``user:<name>``): how long a key must still wait, a failure, a success. It is asynchronous so
that the counters can move to a shared store (Redis) for several replicas without touching the
callers; :class:`MemoryLoginThrottle` keeps them in this process.

The rule: the first ``free_failures`` failures of a user name within ``window`` seconds cost
nothing (``free_failures_per_source`` for an address, higher: many users may share one);
each further one blocks the key for ``backoff`` seconds, doubling with each failure, at most
``backoff_max``. A blocked key is answered 429 before any password is checked, so guessing is
slowed whatever the guesses are. A success clears its user name's count (not its address's: an
attacker who owns one account must not reset the count of the address they guess from); keys
are forgotten ``window`` seconds after their last failure. Requests that never fail are never
slowed: nothing is waited on, only refused while blocked.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from cachetools import TTLCache


class LoginThrottle(Protocol):
    async def retry_after(self, keys: Sequence[str]) -> float:
        """Seconds the longest-blocked of ``keys`` must still wait (0: not blocked)."""
        ...

    async def failed(self, keys: Sequence[str]) -> None: ...

    async def succeeded(self, keys: Sequence[str]) -> None: ...


@dataclass(slots=True)
class _Record:
    failures: int
    last: float
    blocked_until: float


class MemoryLoginThrottle:
    def __init__(
        self,
        *,
        free_failures: int,
        free_failures_per_source: int | None = None,
        backoff: float,
        backoff_max: float,
        window: float,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.free_failures = free_failures
        self.free_failures_per_source = free_failures if free_failures_per_source is None else free_failures_per_source
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.window = window
        self.clock = clock
        # bounded: an attacker cycling user names or addresses evicts old keys, never grows memory
        self._records: TTLCache[str, _Record] = TTLCache(maxsize=max_keys, ttl=window + backoff_max, timer=clock)

    async def retry_after(self, keys: Sequence[str]) -> float:
        if not self._records:  # no failure on record: the common case costs one length check
            return 0.0
        now = self.clock()
        wait = 0.0
        for key in keys:
            record = self._records.get(key)
            if record is not None:
                wait = max(wait, record.blocked_until - now)
        return wait

    async def failed(self, keys: Sequence[str]) -> None:
        now = self.clock()
        for key in keys:
            record = self._records.get(key)
            if record is None or now - record.last > self.window:
                record = _Record(0, now, 0.0)
            record.failures += 1
            record.last = now
            free = self.free_failures_per_source if key.startswith("source:") else self.free_failures
            over = record.failures - free
            if over > 0:
                delay = min(self.backoff * 2.0 ** min(over - 1, 32), self.backoff_max)
                record.blocked_until = max(record.blocked_until, now + delay)
            self._records[key] = record

    async def succeeded(self, keys: Sequence[str]) -> None:
        for key in keys:
            if key.startswith("user:"):
                self._records.pop(key, None)


def login_keys(source: str, username: str) -> list[str]:
    """The throttle keys of one login attempt."""
    keys = [f"source:{source}"] if source else []
    if username:
        keys.append(f"user:{username}")
    return keys
