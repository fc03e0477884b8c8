"""regproxy itself, as its users run it: ``python -m regproxy serve --config FILE``.

:class:`Proxy` writes the config, the identities file and the policies directory into its own
folder, starts the server in a subprocess, waits until ``/v2/`` answers and stops it by PID.
Defaults are the examples' (examples/identities.yaml, examples/policies/): alice, bob, admin and
the access credential rpc-ci-pull.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tests.support.http import request
from tests.support.processes import ServerProcess, free_port, port_answers, wait_until

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def example_policies() -> dict[str, str]:
    """The example policy files, by name."""
    return {p.name: p.read_text() for p in sorted((EXAMPLES / "policies").glob("*.yaml"))}


class Proxy:
    def __init__(
        self,
        workdir: Path,
        upstream_url: str,
        *,
        policies: Mapping[str, str] | None = None,
        identities: str | None = None,
        public: tuple[str, ...] = (),
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        self.workdir = workdir
        self.upstream_url = upstream_url
        self.port = free_port()
        self.admin_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.address = f"127.0.0.1:{self.port}"  # as image references name it
        self.policies_dir = workdir / "policies"
        self.identities_path = workdir / "identities.yaml"
        self.audit_path = workdir / "audit.log"
        self.config_path = workdir / "regproxy.yaml"
        self.log = workdir / "regproxy.log"
        self._policies = dict(example_policies() if policies is None else policies)
        self._identities = identities
        self._public = public
        self._settings = dict(settings or {})
        self._process: ServerProcess | None = None

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "listen": f"127.0.0.1:{self.port}",
            "external_url": self.url,
            "upstream": {"url": self.upstream_url, "connect_timeout": 2, "read_timeout": 60},
            "identities": str(self.identities_path),
            "policies": str(self.policies_dir),
            "public": list(self._public),
            "admin": {"listen": f"127.0.0.1:{self.admin_port}"},
            "audit": {"path": str(self.audit_path)},
            "limits": {"shutdown_timeout": 5},
        }
        for key, value in self._settings.items():
            if isinstance(value, dict) and isinstance(config.get(key), dict):
                config[key] = {**config[key], **value}
            else:
                config[key] = value
        return config

    def start(self) -> Proxy:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.policies_dir.mkdir(exist_ok=True)
        for name, text in self._policies.items():
            (self.policies_dir / name).write_text(text)
        if self._identities is None:
            shutil.copyfile(EXAMPLES / "identities.yaml", self.identities_path)
        else:
            self.identities_path.write_text(self._identities)
        self.config_path.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGPROXY_")}
        self._process = ServerProcess(
            [sys.executable, "-m", "regproxy", "serve", "--config", str(self.config_path)],
            log=self.log,
            env=env,
            cwd=ROOT,
        )
        self._process.wait_ready(self._answers, what="regproxy")
        if self.config().get("admin", {}).get("listen") == f"127.0.0.1:{self.admin_port}":
            # the admin listener starts after the public one (in the supervisor, after the fork)
            self._process.wait_ready(lambda: port_answers(self.admin_port), what="regproxy's admin port")
        return self

    def _answers(self) -> bool:
        try:
            return request(self.url, "GET", "/v2/", timeout=2).status in (200, 401)
        except OSError:
            return False

    # -- the operator's handles: admin port, PID, signals ------------------------------------
    @property
    def admin_url(self) -> str:
        """The admin listener (/metrics, /healthz, /readyz), never the public port."""
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def pid(self) -> int:
        """The PID of ``regproxy serve`` (the supervising parent when ``workers`` > 1)."""
        assert self._process is not None, "not started"
        return self._process.pid

    def signal(self, sig: int) -> None:
        """Send ``sig`` to this regproxy's own PID (as ``kill -HUP``/``-USR1``/``-TERM`` would)."""
        assert self._process is not None, "not started"
        self._process.signal(sig)

    def wait_exit(self, timeout: float) -> int:
        """After a signal the test sent: the exit status, polled up to ``timeout`` seconds."""
        assert self._process is not None, "not started"
        process = self._process.process
        wait_until(lambda: process.poll() is not None, timeout=timeout, what="regproxy to exit")
        return process.returncode

    def exit_code(self) -> int | None:
        """The exit status if regproxy has exited, else None (no wait)."""
        assert self._process is not None, "not started"
        return self._process.process.poll()

    def stop(self) -> int | None:
        if self._process is None:
            return None
        code = self._process.stop()
        self._process = None
        return code

    def audit_events(self) -> list[dict[str, Any]]:
        """The audit events written so far (the writer is asynchronous: poll for a new one)."""
        if not self.audit_path.exists():
            return []
        text = self.audit_path.read_text()
        # A line still being written has no newline yet: it is not an event until it does.
        complete = text[: text.rfind("\n") + 1]
        return [json.loads(line) for line in complete.splitlines() if line.strip()]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def cli(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """``regproxy ARGV… --config <this proxy's config>`` as an operator runs it beside the
        server (the command decides with the server's files); output captured as text."""
        return subprocess.run(
            [sys.executable, "-m", "regproxy", *argv, "--config", str(self.config_path)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            check=False,
        )
