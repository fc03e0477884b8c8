"""One worker process of a supervised server: ``python -m regproxy.server.worker FD SLOT DIR PPID``.

Started by :mod:`regproxy.server.supervisor` only: the listening socket is inherited as ``FD``,
the configuration and the host's upload-session key arrive pickled on stdin from the parent
(the same user's process, never anything else), and metrics snapshots go to ``DIR`` as
``worker-SLOT.json``. ``PPID`` is the supervisor's pid: a worker whose supervisor is gone stops.
"""

from __future__ import annotations

import ctypes
import logging
import os
import pickle
import signal
import socket
import sys
from pathlib import Path

from regproxy.config import Config
from regproxy.errors import RegproxyError
from regproxy.logs import setup_logging
from regproxy.server.run import run_worker
from regproxy.server.wiring import adopt_host_key

log = logging.getLogger("regproxy")

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent(parent: int) -> None:
    """Linux: SIGTERM this worker if the supervisor dies (even by SIGKILL), so no orphan keeps
    serving on the port unsupervised; a parent already gone means exit now."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        raise SystemExit(0)


def main(argv: list[str]) -> int:
    fd, slot, snapshot_dir = int(argv[0]), int(argv[1]), Path(argv[2])
    _die_with_parent(int(argv[3]))
    payload = pickle.loads(sys.stdin.buffer.read())  # noqa: S301 - written by our own parent
    match payload:
        case (Config() as config, bytes() as upload_key):
            adopt_host_key(upload_key)
        case _:
            raise SystemExit("regproxy worker: no configuration on stdin")
    setup_logging(config)
    sock = socket.socket(fileno=fd)
    sock.setblocking(False)
    try:
        run_worker(config, sock, slot, snapshot_dir)
    except (RegproxyError, OSError) as exc:
        log.error("worker %d cannot serve: %s", slot, exc)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
