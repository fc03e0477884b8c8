"""Machinery for fault tests: a bounded request loop that records every outcome with its time,
and the worker processes of a supervised regproxy.

:class:`LoadLoop` runs a few concurrent aiohttp clients in its own thread, each request on a
new connection (so a request lands on whichever worker accepts it), until stopped or a bound
is reached. Every answer and every error is kept with the monotonic time it ended, so a test
can count what happened in a window after a fault.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from tests.support.processes import wait_until


@dataclass(frozen=True, slots=True)
class Outcome:
    at: float  # time.monotonic() when the request ended
    status: int  # 0 for a connection error or timeout
    error: str = ""


class LoadLoop:
    def __init__(
        self,
        url: str,
        *,
        method: str = "HEAD",
        headers: Mapping[str, str] | None = None,
        concurrency: int = 4,
        max_requests: int = 50_000,
    ) -> None:
        self.url = url
        self.method = method
        self.headers = dict(headers or {})
        self.concurrency = concurrency
        self.max_requests = max_requests
        self.prefix = f"load-{uuid.uuid4().hex[:8]}-"
        self.outcomes: list[Outcome] = []
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="load", daemon=True)

    def __enter__(self) -> LoadLoop:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        assert not self._thread.is_alive(), "the load loop did not stop"

    async def _main(self) -> None:
        timeout = aiohttp.ClientTimeout(total=30)
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            await asyncio.gather(*(self._worker(session) for _ in range(self.concurrency)))

    async def _worker(self, session: aiohttp.ClientSession) -> None:
        while not self._stop.is_set() and self.sent < self.max_requests:
            self.sent += 1
            headers = {**self.headers, "X-Request-Id": f"{self.prefix}{self.sent}"}
            try:
                async with session.request(self.method, self.url, headers=headers) as response:
                    await response.read()
                    self.outcomes.append(Outcome(time.monotonic(), response.status))
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                self.outcomes.append(Outcome(time.monotonic(), 0, repr(exc)))

    def between(self, start: float, end: float) -> list[Outcome]:
        return [o for o in list(self.outcomes) if start <= o.at < end]

    def wait_for_more(self, count: int, timeout: float = 30.0) -> None:
        target = len(self.outcomes) + count
        wait_until(lambda: len(self.outcomes) >= target, timeout=timeout, what=f"{count} more answers under load")


def children_of(pid: int) -> list[int]:
    """The PIDs whose parent is ``pid`` (from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return sorted(out)
