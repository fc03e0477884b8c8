"""Upstreams other than the plain one: docker-registry with token auth, on S3, behind TLS.

:class:`UpstreamRegistry` is :class:`tests.support.registry.Registry` (same process handling,
access log kept) with the sections production registries use: ``auth: token`` trusting a
:class:`tests.support.token_issuer.TokenIssuer`, the ``s3`` storage driver against a
:class:`S3Server` (moto's server mode, a real S3 API on loopback) with ``redirect`` on, and
``http.tls`` with a private CA's certificate and, for mTLS, ``clientcas``.
"""

from __future__ import annotations

import importlib.util
import os
import ssl
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.http import request
from tests.support.pki import Issued
from tests.support.processes import ServerProcess, free_port, port_answers
from tests.support.registry import Registry
from tests.support.tools import missing, require_tool

S3_ACCESS_KEY = "regproxy-test"
S3_SECRET_KEY = "regproxy-test-secret"  # moto's in-memory S3 on loopback


class S3Server:
    """moto's server mode on a free loopback port, with one bucket created."""

    def __init__(self, workdir: Path, bucket: str = "registry") -> None:
        self.workdir = workdir
        self.bucket = bucket
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: ServerProcess | None = None

    def start(self) -> S3Server:
        if importlib.util.find_spec("moto") is None:
            missing("moto[server] is not installed (pip install -e '.[test]')")
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self._process = ServerProcess(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            log=self.workdir / "moto.log",
            env=env,
        )
        self._process.wait_ready(lambda: port_answers(self.port), what="moto S3 server")
        created = request(self.url, "PUT", f"/{self.bucket}", body=b"")
        assert created.status == 200, (created.status, created.body)
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None

    def storage(self) -> dict[str, Any]:
        """distribution's ``storage.s3`` section for this server's bucket."""
        return {
            "accesskey": S3_ACCESS_KEY,
            "secretkey": S3_SECRET_KEY,
            "region": "us-east-1",
            "regionendpoint": self.url,
            "bucket": self.bucket,
            "secure": False,
            "v4auth": True,
            "rootdirectory": "/registry",
        }


@dataclass(frozen=True, slots=True)
class Tls:
    server: Issued
    client_cas: tuple[Path, ...] = ()  # non-empty: the registry demands a client certificate


class UpstreamRegistry(Registry):
    def __init__(
        self,
        workdir: Path,
        *,
        auth: dict[str, Any] | None = None,
        s3: S3Server | None = None,
        tls: Tls | None = None,
        ca_file: Path | None = None,
    ) -> None:
        super().__init__(workdir)
        self.auth = auth
        self.s3 = s3
        self.tls = tls
        self.ca_file = ca_file  # how this test reaches the registry when it speaks TLS
        if tls is not None:
            self.url = f"https://127.0.0.1:{self.port}"

    def config(self) -> dict[str, Any]:
        storage: dict[str, Any] = {"delete": {"enabled": True}, "cache": {"blobdescriptor": "inmemory"}}
        if self.s3 is not None:
            storage["s3"] = self.s3.storage()
            storage["redirect"] = {"disable": False}
        else:
            storage["filesystem"] = {"rootdirectory": str(self.storage)}
        http: dict[str, Any] = {
            "addr": f"127.0.0.1:{self.port}",
            "secret": uuid.uuid4().hex,
            "headers": {"X-Content-Type-Options": ["nosniff"]},
        }
        if self.tls is not None:
            http["tls"] = {"certificate": str(self.tls.server.cert), "key": str(self.tls.server.key)}
            if self.tls.client_cas:
                http["tls"]["clientcas"] = [str(p) for p in self.tls.client_cas]
        config: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "info", "accesslog": {"disabled": False}},
            "storage": storage,
            "http": http,
        }
        if self.auth is not None:
            config["auth"] = self.auth
        return config

    def start(self) -> UpstreamRegistry:
        binary = require_tool("docker-registry")
        self.storage.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(self.config()))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REGISTRY_", "AWS_"))}
        self._process = ServerProcess(
            [binary, "serve", str(self.config_path)],
            log=self.workdir / "registry.log",
            stdout=self.access_log,
            env=env,
        )
        self._process.wait_ready(self._answers, what="docker-registry")
        return self

    def _answers(self) -> bool:
        if self.tls is not None:  # a TLS listener: a handshake is as far as a probe without a client cert gets
            return port_answers(self.port)
        try:
            return request(self.url, "GET", "/v2/", timeout=2).status in (200, 401)
        except OSError:
            return False

    def log_text(self) -> str:
        path = self.workdir / "registry.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def client_context(self, client: Issued | None = None) -> ssl.SSLContext:
        """An SSL context that trusts this registry's CA (and presents ``client``)."""
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if client is not None:
            context.load_cert_chain(str(client.cert), str(client.key))
        return context
