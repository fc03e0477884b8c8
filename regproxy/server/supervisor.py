"""Several worker processes on one listening socket, kept at full strength.

The parent binds the socket once and starts ``workers`` processes, each a fresh interpreter
(``python -m regproxy.server.worker``) that inherits the socket and receives the configuration
on its stdin; the kernel hands each new connection to whichever worker accepts it first, so
while one worker is gone the others take every connection. The parent never serves requests.

- A worker that exits while the parent is not stopping is replaced, after a back-off that
  doubles with each death of that worker slot (:class:`RestartPolicy`). More than
  ``max_restarts`` deaths of any slot within ``window`` seconds is a crash loop: the parent
  stops the others and exits 1, so a service manager sees the failure.
- SIGTERM/SIGINT are forwarded to every worker (each drains its in-flight requests); the
  parent waits for all of them and exits 0 when each exited cleanly. SIGHUP and SIGUSR1 are
  forwarded as they are (reload, reopen the audit log).
- ``regproxy_worker_restarts_total`` counts replacements; :meth:`Supervisor.readiness` says how
  many workers are serving and which are missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import copyreg
import io
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from regproxy.config import Config
from regproxy.metrics import Metrics
from regproxy.server.wiring import host_key

log = logging.getLogger("regproxy.supervisor")

FRESH_SNAPSHOT = 5.0  # seconds: a worker whose metrics snapshot is older is not counted ready


@dataclass(slots=True)
class RestartPolicy:
    """Back-off and crash-loop limit, per worker slot. Pure: the caller passes the time."""

    initial_backoff: float = 0.1
    max_backoff: float = 5.0
    max_restarts: int = 5
    window: float = 60.0
    _deaths: dict[int, deque[float]] = field(default_factory=dict)

    def on_exit(self, slot: int, now: float) -> float | None:
        """The delay before replacing ``slot``'s worker, or None: a crash loop, give up."""
        deaths = self._deaths.setdefault(slot, deque())
        deaths.append(now)
        while deaths and now - deaths[0] > self.window:
            deaths.popleft()
        if len(deaths) > self.max_restarts:
            return None
        return min(self.initial_backoff * 2.0 ** (len(deaths) - 1), self.max_backoff)


@dataclass(slots=True)
class WorkerProcess:
    slot: int
    process: subprocess.Popen[bytes]
    started: float  # wall-clock, comparable with the snapshot file's mtime


def spawn_worker(config: Config, sock: socket.socket, slot: int, snapshot_dir: Path) -> subprocess.Popen[bytes]:
    """Start one worker on ``sock``: a new interpreter, the configuration on its stdin."""
    fd = sock.fileno()
    argv = [sys.executable, "-m", "regproxy.server.worker", str(fd), str(slot), str(snapshot_dir), str(os.getpid())]
    process = subprocess.Popen(argv, stdin=subprocess.PIPE, pass_fds=(fd,))  # noqa: S603 - our own module
    assert process.stdin is not None
    # a worker killed before it read its config is reaped like any other death: a broken pipe
    # here must not stop the supervisor
    with contextlib.suppress(BrokenPipeError), process.stdin:
        process.stdin.write(dump_config(config, host_key()))
    return process


def read_only(contents: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    """What a worker's unpickling calls to rebuild a read-only mapping (by this module's name)."""
    return MappingProxyType(contents)


def _reduce_mapping_proxy(
    proxy: MappingProxyType[Any, Any],
) -> tuple[Callable[[dict[Any, Any]], MappingProxyType[Any, Any]], tuple[dict[Any, Any]]]:
    return read_only, (dict(proxy),)


def dump_config(config: Config, upload_key: bytes) -> bytes:
    """What a worker reads on its stdin: the configuration and this host's upload-session key,
    pickled, with the read-only mappings the frozen settings hold (``MappingProxyType``, which
    pickle refuses) sent as their contents."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer)
    pickler.dispatch_table = {**copyreg.dispatch_table, MappingProxyType: _reduce_mapping_proxy}
    pickler.dump((config, upload_key))
    return buffer.getvalue()


class Supervisor:
    def __init__(
        self,
        config: Config,
        sock: socket.socket,
        snapshot_dir: Path,
        *,
        policy: RestartPolicy | None = None,
        spawn: Callable[[Config, socket.socket, int, Path], subprocess.Popen[bytes]] = spawn_worker,
        poll_interval: float = 0.05,
    ) -> None:
        self.config = config
        self.sock = sock
        self.snapshot_dir = snapshot_dir
        self.policy = policy or RestartPolicy()
        self.spawn = spawn
        self.poll_interval = poll_interval
        self.metrics = Metrics()
        self.metrics.inc("regproxy_worker_restarts_total", (), 0)
        self.workers: dict[int, WorkerProcess] = {}
        self._due: dict[int, float] = {}  # slot -> monotonic time its replacement starts
        self._stopping = asyncio.Event()
        self._status = 0

    def _start(self, slot: int) -> None:
        process = self.spawn(self.config, self.sock, slot, self.snapshot_dir)
        self.workers[slot] = WorkerProcess(slot, process, time.time())
        log.info("worker %d started (pid %d)", slot, process.pid)

    def forward(self, sig: signal.Signals) -> None:
        """Pass ``sig`` to every worker; SIGTERM/SIGINT also begin the parent's shutdown."""
        if sig in (signal.SIGTERM, signal.SIGINT):
            self._stopping.set()
            self._due.clear()
            # the parent's copy of the listening socket too: once the workers close theirs, a
            # new connection is refused instead of waiting in a backlog nobody accepts from
            self.sock.close()
        for worker in self.workers.values():
            with contextlib.suppress(ProcessLookupError):
                worker.process.send_signal(sig)

    async def run(self) -> int:
        """Start the workers and keep them running until SIGTERM or a crash loop; the status."""
        for slot in range(self.config.workers):
            self._start(slot)
        while not self._stopping.is_set():
            self._reap()
            now = time.monotonic()
            for slot, due in list(self._due.items()):
                if now >= due and not self._stopping.is_set():
                    del self._due[slot]
                    self._start(slot)
                    self.metrics.inc("regproxy_worker_restarts_total")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.poll_interval)
        await self._wait_all()
        return self._status

    def _reap(self) -> None:
        for slot, worker in list(self.workers.items()):
            code = worker.process.poll()
            if code is None:
                continue
            del self.workers[slot]
            if self._stopping.is_set():
                continue
            delay = self.policy.on_exit(slot, time.monotonic())
            if delay is None:
                log.error(
                    "worker %d (pid %d) exited with %s: more than %d deaths in %.0fs, a crash loop; stopping",
                    slot,
                    worker.process.pid,
                    _describe(code),
                    self.policy.max_restarts,
                    self.policy.window,
                )
                self._status = 1
                self.forward(signal.SIGTERM)
                return
            log.error(
                "worker %d (pid %d) exited with %s; replacing it in %.1fs",
                slot,
                worker.process.pid,
                _describe(code),
                delay,
            )
            self._due[slot] = time.monotonic() + delay

    async def _wait_all(self) -> None:
        """Wait for every worker to drain and exit; SIGKILL what outlives the drain by far."""
        deadline = time.monotonic() + self.config.limits.shutdown_timeout + 10.0
        while self.workers:
            for slot, worker in list(self.workers.items()):
                code = worker.process.poll()
                if code is None:
                    if time.monotonic() > deadline:
                        log.error("worker %d (pid %d) did not stop; killing it", slot, worker.process.pid)
                        worker.process.kill()
                    continue
                del self.workers[slot]
                if code != 0:
                    self._status = 1
                    log.error("worker %d (pid %d) exited with %s", slot, worker.process.pid, _describe(code))
            await asyncio.sleep(self.poll_interval)

    def ready_workers(self) -> tuple[int, list[int]]:
        """Blocking (file stats): how many workers serve now, and the slots that do not.

        A worker counts once it is running and has written a metrics snapshot since it started
        (it writes one as soon as its application is up, then every second)."""
        now = time.time()
        missing = []
        for slot in range(self.config.workers):
            worker = self.workers.get(slot)
            try:
                mtime = (self.snapshot_dir / f"worker-{slot}.json").stat().st_mtime
            except OSError:
                mtime = 0.0
            alive = worker is not None and worker.process.poll() is None
            if not (alive and worker is not None and mtime >= worker.started and now - mtime < FRESH_SNAPSHOT):
                missing.append(slot)
        return self.config.workers - len(missing), missing


def _describe(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"status {code}"


__all__ = ["RestartPolicy", "Supervisor", "spawn_worker"]
