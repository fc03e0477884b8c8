"""Server subprocesses: free ports, bounded polling, start, readiness and stop by PID.

Nothing here sleeps for a fixed time: readiness is polled against a deadline, and the pause
between polls is a bounded wait on the process itself, so a server that dies while starting is
reported at once with the tail of its log.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import pytest

POLL_INTERVAL = 0.02
T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(probe: Callable[[], T | None], *, timeout: float, what: str) -> T:
    """Call ``probe`` until it returns something other than None or False; fail at the deadline.

    The pause between probes is short and bounded; the deadline is what makes the wait finite.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result is not None and result is not False:
            return result
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(POLL_INTERVAL)  # the poll step of a bounded wait, not a synchronisation


def port_answers(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class ServerProcess:
    """One server subprocess with its output in ``log``; stopped by PID, never by name."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        log: Path,
        stdout: Path | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        """Start ``argv``; its stderr (and stdout, unless ``stdout`` names a file) go to ``log``."""
        self.argv = list(argv)
        self.log = log
        self._log_file = log.open("ab")
        self._stdout_file = stdout.open("ab") if stdout is not None else None
        self.process = subprocess.Popen(  # its own session: a terminal's Ctrl-C reaches pytest only
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._stdout_file or self._log_file,
            stderr=self._log_file,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, ready: Callable[[], bool], *, timeout: float = 20.0, what: str = "") -> None:
        """Poll ``ready`` until true; fail early (with the log) if the process exits."""
        deadline = time.monotonic() + timeout
        name = what or Path(self.argv[0]).name
        while not ready():
            if time.monotonic() >= deadline:
                self.stop()
                pytest.fail(f"{name} did not become ready in {timeout:.0f}s:\n{self.log_tail()}")
            try:  # the pause between polls doubles as the check that the process is alive
                code = self.process.wait(timeout=POLL_INTERVAL * 5)
            except subprocess.TimeoutExpired:
                continue
            pytest.fail(f"{name} exited with status {code} while starting:\n{self.log_tail()}")

    def signal(self, sig: int) -> None:
        if self.process.poll() is None:
            os.kill(self.pid, sig)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL if still running after ``timeout``; return the exit status."""
        try:
            if self.process.poll() is None:
                os.kill(self.pid, signal.SIGTERM)
                try:
                    self.process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    os.kill(self.pid, signal.SIGKILL)
                    self.process.wait(timeout=timeout)
            return self.process.returncode
        finally:
            self._log_file.close()
            if self._stdout_file is not None:
                self._stdout_file.close()
