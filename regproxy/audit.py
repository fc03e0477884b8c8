"""The decision audit log: one JSON line per decided request, never blocking a request.

Events go into a bounded queue; a writer task drains it to a file or stdout. When the queue is
full the event is dropped and counted (``dropped``), so a slow or blocked sink never stalls a
request. :meth:`AuditLog.reopen` (on SIGUSR1) reopens the file for log rotation. Events carry no
secret: no tokens, no passwords, no Authorization header — only ids.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from dataclasses import asdict, dataclass
from typing import IO, Any

import orjson

log = logging.getLogger("regproxy.audit")


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
    duration_ms: float = 0.0
    mount_dropped: bool = False

    def to_json(self) -> bytes:
        data: dict[str, Any] = asdict(self)
        return orjson.dumps(data) + b"\n"


class AuditLog:
    def __init__(self, path: str, queue_size: int = 10000) -> None:
        self.path = path
        self.queue: asyncio.Queue[AuditEvent] = asyncio.Queue(maxsize=queue_size)
        self.dropped = 0
        self.written = 0
        self._file: IO[bytes] | None = None

    def emit(self, event: AuditEvent) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1

    def _open(self) -> IO[bytes]:
        if self.path == "-":
            return sys.stdout.buffer
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        return os.fdopen(fd, "ab", buffering=0)

    def reopen(self) -> None:
        if self._file is not None and self.path != "-":
            self._file.close()
            self._file = None
        log.info("audit log reopened")

    def _write(self, lines: list[bytes]) -> None:
        if self._file is None:
            self._file = self._open()
        self._file.write(b"".join(lines))
        if self.path == "-":
            self._file.flush()

    async def run(self) -> None:
        """Drain the queue until cancelled; write in batches, off the event loop."""
        reported = 0
        try:
            while True:
                first = await self.queue.get()
                batch = [first.to_json()]
                while not self.queue.empty() and len(batch) < 512:
                    batch.append(self.queue.get_nowait().to_json())
                try:
                    await asyncio.to_thread(self._write, batch)
                    self.written += len(batch)
                except OSError as exc:
                    self.dropped += len(batch)
                    log.error("audit sink failed: %s", exc)
                if self.dropped != reported:
                    log.warning("audit events dropped so far: %d", self.dropped)
                    reported = self.dropped
        finally:
            while not self.queue.empty():
                try:
                    self._write([self.queue.get_nowait().to_json()])
                except OSError:
                    break
            if self._file is not None and self.path != "-":
                self._file.close()
