"""The decision audit log: one JSON line per decided request, never blocking a request.

Events go into a bounded queue; a writer task drains it to a file, a FIFO or stdout. When the
queue is full the event is dropped and counted (``dropped``), so a slow or blocked sink never
stalls a request; a FIFO is written without blocking (no reader, or a full pipe for longer than
``fifo_wait``, drops the batch), so a sink nobody reads never holds the process at shutdown.
:meth:`AuditLog.reopen` (on SIGUSR1) makes the writer reopen the file before its next write, for
log rotation. Cancelling the writer (the owner does, at shutdown, once the requests in flight
have ended) writes every event it holds or that is queued before the file closes; an event
emitted after that is counted as dropped. Events carry no secret: no tokens, no passwords, no
Authorization header — only ids.

``facts`` names what the decision asked the upstream and the answers it used
(:func:`audit_facts`); ``reason`` why a credential refused what policy would allow (a Thalassa
credential with no registry scope: ``registry_scope_missing``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import select
import stat
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any

import orjson

from regproxy.authorization.verdict import Answer, Fact, RepositoryExists, TagExists

log = logging.getLogger("regproxy.audit")
BATCH_INTERVAL = 0.05  # seconds an audit batch gathers before it is written
MAX_BATCH = 4096

DROP_REPORT_INTERVAL = 10.0  # seconds between two "events dropped" warnings


@dataclass(slots=True)
class AuditEvent:
    time: float
    request_id: str
    source: str
    method: str
    route: str
    path: str
    action: str = ""
    namespace: str = ""
    repository: str = ""
    reference: str = ""
    principal: str = ""
    principal_kind: str = ""
    credential: str = ""
    decision: str = ""  # allowed | explicit-deny | default-deny | scope-deny | unauthenticated | refused
    statements: tuple[str, ...] = ()
    shadow: tuple[str, ...] = ()
    generation: int = 0
    policy_hash: str = ""
    status: int = 0
    upstream_status: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    cache: str = ""  # hit | miss: a manifest by digest answered from (or missed in) the manifest cache
    duration_ms: float = 0.0
    mount_dropped: bool = False
    # the facts the decision used: {"fact": "repository-exists" | "tag-exists", "repository",
    # "tag" (tag-exists only), "answer": true | false | null (could not tell: the stricter branch)}
    # or {"fact": "upstream-supports", "capability", "answer"} (the capability probe's finding)
    facts: tuple[dict[str, Any], ...] = ()
    reason: str = ""  # why the credential refused, when it says (registry_scope_missing)
    # how a request that did not end normally ended: aborted (the client went away, or the
    # request was cut at shutdown), upstream-broken, upstream-timeout; status and bytes say how
    # far it got (a status with failure set was sent, and its body cut short)
    failure: str = ""
    scopes: tuple[str, ...] = ()  # /token: the access granted, as `type:name:actions`
    pid: int = 0  # the process that decided: with several workers, which one
    # What a replay of the decision needs besides the above (`regproxy diff`, README "Audit
    # log"): ids, names, globs and action words, never a secret.
    groups: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()
    credential_scope: dict[str, object] | None = None  # the credential's bound: name and grants
    token_access: dict[str, object] | None = None  # a regproxy access token's own `access`
    query: str = ""  # only the query parameters a decision reads: mount, from, tag
    # shadow_policies: what the candidate set would have answered (a reply word), and by which statements
    shadow_decision: str = ""
    shadow_statements: tuple[str, ...] = ()

    def to_json(self) -> bytes:
        return orjson.dumps(self) + b"\n"  # orjson writes dataclasses natively, fields in order


def audit_facts(facts: Iterable[tuple[Fact, Answer]]) -> tuple[dict[str, Any], ...]:
    """The facts of a verdict as the audit line names them."""
    rendered: list[dict[str, Any]] = []
    for fact, answer in facts:
        if isinstance(fact, TagExists):
            rendered.append({"fact": "tag-exists", "repository": fact.repository, "tag": fact.tag, "answer": answer})
        elif isinstance(fact, RepositoryExists):
            rendered.append({"fact": "repository-exists", "repository": fact.repository, "answer": answer})
        else:
            rendered.append({"fact": "upstream-supports", "capability": fact.capability.value, "answer": answer})
    return tuple(rendered)


class AuditLog:
    """The queue and its writer. The file is touched only by the writer (a thread, or the
    writer task's own shutdown drain), so a reopen request never closes it mid-write."""

    #: how long one write may wait for a FIFO reader to drain the pipe before the rest is dropped
    fifo_wait = 1.0

    def __init__(self, path: str, queue_size: int = 10000) -> None:
        self.path = path
        self.queue: asyncio.Queue[AuditEvent] = asyncio.Queue(maxsize=queue_size)
        self.dropped = 0
        self.written = 0
        self.pid = os.getpid()  # built in the serving process: the worker's own pid
        self._file: IO[bytes] | None = None
        self._fd: int | None = None  # a FIFO sink, written without ever blocking indefinitely
        self._pending = b""  # the unwritten tail of a line a FIFO took only part of
        self._reopen = False
        self._failing = False
        self._writing = threading.Lock()  # one write at a time, the shutdown drain included
        self._closed = False
        self._outcomes: deque[tuple[int, int, OSError | None]] = deque()  # (lines, dropped, error)

    def emit(self, event: AuditEvent) -> None:
        event.pid = self.pid
        if self._closed:  # after the writer's final drain nothing would write it: say so
            self.dropped += 1
            log.error("audit event %s after the audit log closed: dropped", event.request_id)
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1

    def reopen(self) -> None:
        """Ask the writer to reopen the file before its next write (log rotation, SIGUSR1)."""
        if self.path != "-":
            self._reopen = True
        log.info("audit log reopen requested")

    def _open(self) -> None:
        if self.path == "-":
            self._file = sys.stdout.buffer
            return
        try:
            fifo = stat.S_ISFIFO(os.stat(self.path).st_mode)
        except FileNotFoundError:
            fifo = False
        if fifo:
            # A blocking open waits for a reader and a blocking write for the reader to read:
            # either would hold the writer thread forever (and the process at exit). Opened
            # non-blocking, no reader is ENXIO now and a full pipe is EAGAIN: both count as drops.
            self._fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            return
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        self._file = os.fdopen(fd, "ab", buffering=0)

    def _close(self) -> None:
        if self._file is not None and self.path != "-":
            self._file.close()
        if self._fd is not None:
            os.close(self._fd)
        self._file = self._fd = None
        self._pending = b""

    def _write(self, lines: list[bytes]) -> int:
        """Blocking (run in a thread): write ``lines``; return how many were dropped."""
        if self._reopen:
            self._reopen = False
            self._close()
        try:
            if self._file is None and self._fd is None:
                self._open()
            if self._fd is not None:
                return self._write_fifo(lines)
            assert self._file is not None
            self._file.write(b"".join(lines))
            if self.path == "-":
                self._file.flush()
            return 0
        except OSError:
            self._close()  # a broken pipe or a vanished reader: open afresh next time
            raise

    def _write_fifo(self, lines: list[bytes]) -> int:
        assert self._fd is not None
        deadline = time.monotonic() + self.fifo_wait
        for n, line in enumerate(lines):
            data = self._pending + line
            self._pending = b""
            while data:
                try:
                    data = data[os.write(self._fd, data) :]
                except BlockingIOError:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or not select.select([], [self._fd], [], remaining)[1]:
                        if len(data) < len(line):  # keep the line whole: finish it first next time
                            self._pending = data
                            return len(lines) - n - 1
                        return len(lines) - n
        return 0

    def _write_batch(self, batch: list[bytes]) -> None:
        """Blocking (in a thread): write ``batch``; its outcome waits in ``_outcomes`` for the
        event loop to count (:meth:`_settle_accounts`), even if the task that asked is gone."""
        with self._writing:
            try:
                outcome: tuple[int, int, OSError | None] = (len(batch), self._write(batch), None)
            except OSError as exc:
                outcome = (len(batch), len(batch), exc)
            self._outcomes.append(outcome)

    def _settle_accounts(self) -> None:
        """On the event loop, as :meth:`emit`: the counters are never updated from two threads."""
        while self._outcomes:
            self._account(*self._outcomes.popleft())

    def _account(self, size: int, dropped: int, error: OSError | None) -> None:
        self.dropped += dropped
        self.written += size - dropped
        if error is not None:
            if not self._failing:
                log.error("audit sink failed: %s; dropping events until it recovers", error)
            self._failing = True
        elif self._failing and dropped < size:
            log.info("audit sink writable again")
            self._failing = False

    async def run(self) -> None:
        """Drain the queue until cancelled; write in batches, off the event loop.

        Cancellation (the owner's, at shutdown) loses nothing: the events in hand (taken from
        the queue while a batch gathers) and those still queued are written by the ``finally``,
        and a batch a writer thread is busy with is finished, and counted, before the close."""
        reported, reported_at = 0, -DROP_REPORT_INTERVAL
        in_hand: list[AuditEvent] = []
        try:
            while True:
                in_hand.append(await self.queue.get())
                # Let a batch gather: one hop to the writer thread per interval, not per event
                # (a thread hop per request cost more than writing the line).
                await asyncio.sleep(BATCH_INTERVAL)
                while not self.queue.empty() and len(in_hand) < MAX_BATCH:
                    in_hand.append(self.queue.get_nowait())
                batch = [event.to_json() for event in in_hand]
                in_hand = []  # the thread owns the batch now, whatever happens to this task
                await asyncio.to_thread(self._write_batch, batch)
                self._settle_accounts()
                now = time.monotonic()
                if self.dropped != reported and now - reported_at >= DROP_REPORT_INTERVAL:
                    # at most one line per interval: a dead sink must not flood the log
                    log.warning("audit events dropped so far: %d", self.dropped)
                    reported, reported_at = self.dropped, now
        finally:
            self._closed = True
            rest = [event.to_json() for event in in_hand]
            while not self.queue.empty():
                rest.append(self.queue.get_nowait().to_json())
            # A cancelled to_thread() leaves its thread running: the lock waits for that write
            # (bounded, as every write is) so the last batch and the close never run under it.
            if rest:
                self._write_batch(rest)
            with self._writing:
                self._close()
            self._settle_accounts()
