"""The real upstream: Debian's ``docker-registry`` (CNCF distribution 2.8) on loopback.

Equivalent to scripts/registry.sh (filesystem storage in a folder, deletes enabled), with two
differences a test needs: the port is free-picked, and the access log is kept (distribution
writes it to stdout, one Combined Log Format line per request, before the response is sent),
so a test can prove that a request was *never forwarded*: see :meth:`Registry.saw`.
"""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import yaml

from tests.support.http import request
from tests.support.processes import ServerProcess, free_port, wait_until
from tests.support.tools import require_tool


class Registry:
    def __init__(self, workdir: Path, *, htpasswd: Path | None = None) -> None:
        self.workdir = workdir
        self.htpasswd = htpasswd  # when set, the registry itself demands Basic credentials
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.address = f"127.0.0.1:{self.port}"  # as image references name it
        self.storage = workdir / "storage"
        self.access_log = workdir / "access.log"
        self.config_path = workdir / "config.yml"
        self._process: ServerProcess | None = None

    def start(self) -> Registry:
        binary = require_tool("docker-registry")
        self.storage.mkdir(parents=True, exist_ok=True)
        config = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": False}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.storage)},
                "delete": {"enabled": True},
                "cache": {"blobdescriptor": "inmemory"},
            },
            "http": {
                "addr": f"127.0.0.1:{self.port}",
                "secret": uuid.uuid4().hex,
                "headers": {"X-Content-Type-Options": ["nosniff"]},
            },
        }
        if self.htpasswd is not None:
            config["auth"] = {"htpasswd": {"realm": "upstream-realm", "path": str(self.htpasswd)}}
        self.config_path.write_text(yaml.safe_dump(config))
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        self._process = ServerProcess(
            [binary, "serve", str(self.config_path)],
            log=self.workdir / "registry.log",
            stdout=self.access_log,
            env=env,
        )
        self._process.wait_ready(self._answers, what="docker-registry")
        return self

    def _answers(self) -> bool:
        try:
            return request(self.url, "GET", "/v2/", timeout=2).status in ((401,) if self.htpasswd else (200,))
        except OSError:
            return False

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the registry (SIGSTOP/SIGCONT: a registry that stalls, then resumes)."""
        assert self._process is not None, "not started"
        self._process.signal(sig)

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would: every connection it had is cut."""
        if self._process is not None:
            self._process.signal(signal.SIGKILL)
            self._process.process.wait(timeout=10)
            self._process.stop()
            self._process = None

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None

    # -- what the registry saw -------------------------------------------------------------
    def requests(self) -> list[str]:
        """Every access-log line so far, after a barrier: nothing sent before is missing."""
        marker = uuid.uuid4().hex
        request(self.url, "GET", f"/v2/?barrier={marker}")

        def logged() -> list[str] | None:
            lines = self.access_log.read_text(errors="replace").splitlines()
            return lines if any(marker in line for line in lines) else None

        return wait_until(logged, timeout=10, what="the registry's access log")

    def saw(self, text: str) -> list[str]:
        """The access-log lines (request lines included) that contain ``text``."""
        return [line for line in self.requests() if text in line]

    def repository_dir(self, repository: str) -> Path:
        return self.storage / "docker" / "registry" / "v2" / "repositories" / repository

    def has_repository(self, repository: str) -> bool:
        return self.repository_dir(repository).is_dir()
