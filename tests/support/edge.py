"""Probes for the edge's hardening tests: a process' memory and upstream sockets, raw exchanges.

- :func:`rss_kib` reads ``VmRSS`` from ``/proc/PID/status``;
- :func:`upstream_connections` counts the ESTABLISHED TCP sockets that process ``pid`` owns
  towards ``port`` (its inodes in ``/proc/PID/fd`` matched against ``/proc/PID/net/tcp``);
- :func:`stream_request` sends a head and then a body from a generator, stopping as soon as
  the server answers (never holding the whole body in memory), and returns the answer.
"""

from __future__ import annotations

import os
import select
import socket
import time
from collections.abc import Iterable
from pathlib import Path


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def upstream_connections(pid: int, port: int) -> int:
    """ESTABLISHED sockets of ``pid`` whose remote port is ``port`` (IPv4 and IPv6)."""
    inodes = _socket_inodes(pid)
    count = 0
    for table in ("tcp", "tcp6"):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            remote, state, inode = fields[2], fields[3], fields[9]
            if state == "01" and int(remote.rsplit(":", 1)[1], 16) == port and inode in inodes:
                count += 1
    return count


def _answered(sock: socket.socket) -> bool:
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)


def stream_request(port: int, head: bytes, body: Iterable[bytes], *, timeout: float = 30.0) -> bytes:
    """Send ``head`` then ``body`` piece by piece until the server answers or closes; the
    answer, read until the server closes or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head)
        try:
            for piece in body:
                if _answered(sock) or time.monotonic() > deadline:
                    break
                sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_answer(sock, deadline)


def read_answer(sock: socket.socket, deadline: float) -> bytes:
    chunks = []
    while time.monotonic() < deadline:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def status_of(answer: bytes) -> int:
    line = answer.split(b"\r\n", 1)[0]
    return int(line.split(b" ")[1]) if line.startswith(b"HTTP/") else 0


def body_of(answer: bytes) -> bytes:
    return answer.partition(b"\r\n\r\n")[2]
