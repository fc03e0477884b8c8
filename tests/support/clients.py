"""The real clients, isolated per test: skopeo and podman (``--storage-driver vfs``).

Each wrapper keeps its state under the test's own folder: podman's storage root, run root,
tmp dir and auth file; a registries.conf of its own (no search registries, so no short name
ever resolves to the network); and an auth file that starts empty, so credentials of the
machine's user are never picked up. Every call has a timeout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.tools import require_tool

CLIENT_TIMEOUT = 120.0


@dataclass(frozen=True, slots=True)
class Run:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def __str__(self) -> str:  # what a failed assertion shows
        return f"$ {' '.join(self.argv)}\n(exit {self.returncode})\n{self.stdout}\n{self.stderr}"


def _environment(workdir: Path) -> dict[str, str]:
    workdir.mkdir(parents=True, exist_ok=True)
    registries = workdir / "registries.conf"
    registries.write_text('unqualified-search-registries = []\nshort-name-mode = "disabled"\n')
    auth = workdir / "auth.json"
    if not auth.exists():
        auth.write_text("{}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REGISTRY_", "CONTAINERS_", "DOCKER_"))}
    env |= {
        "CONTAINERS_REGISTRIES_CONF": str(registries),
        "REGISTRY_AUTH_FILE": str(auth),
        "TMPDIR": str(workdir / "tmp"),
    }
    (workdir / "tmp").mkdir(exist_ok=True)
    return env


def _run(argv: Sequence[str], env: dict[str, str], timeout: float, stdin: str = "") -> Run:
    completed = subprocess.run(
        list(argv), env=env, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )
    return Run(tuple(argv), completed.returncode, completed.stdout, completed.stderr)


class Skopeo:
    def __init__(self, workdir: Path) -> None:
        self.binary = require_tool("skopeo")
        self.workdir = workdir
        self.env = _environment(workdir)

    def run(self, *args: str, timeout: float = CLIENT_TIMEOUT) -> Run:
        return _run([self.binary, *args], self.env, timeout)

    def copy(
        self, source: str, destination: str, *, src_creds: str | None = None, dest_creds: str | None = None
    ) -> Run:
        """``skopeo copy``, plain HTTP on both sides, credentials as ``user:password``."""
        args = ["copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--retry-times", "0"]
        if source.startswith("docker:"):
            args += ["--src-creds", src_creds] if src_creds else ["--src-no-creds"]
        if destination.startswith("docker:"):
            args += ["--dest-creds", dest_creds] if dest_creds else ["--dest-no-creds"]
        return self.run(*args, source, destination)

    def inspect_raw(self, image: str, *, creds: str | None = None) -> Run:
        """``skopeo inspect --raw``: the manifest exactly as the registry serves it."""
        auth = ["--creds", creds] if creds else ["--no-creds"]
        return self.run("inspect", "--raw", "--tls-verify=false", "--retry-times", "0", *auth, image)


class Podman:
    """podman with storage of its own; :meth:`close` removes its run root (outside ``workdir``)."""

    def __init__(self, workdir: Path) -> None:
        self.binary = require_tool("podman")
        self.workdir = workdir
        self.env = _environment(workdir)
        self.authfile = workdir / "auth.json"
        # podman refuses a run root longer than 50 characters: pytest's folders are longer
        self.runroot = Path(tempfile.mkdtemp(prefix="rp-podman-", dir="/tmp"))
        self.global_args = (
            "--storage-driver",
            "vfs",
            "--root",
            str(workdir / "root"),
            "--runroot",
            str(self.runroot),
            "--tmpdir",
            str(workdir / "libpod-tmp"),
            "--events-backend",
            "file",
            "--cgroup-manager",
            "cgroupfs",
        )

    def run(self, *args: str, timeout: float = CLIENT_TIMEOUT, stdin: str = "") -> Run:
        return _run([self.binary, *self.global_args, *args], self.env, timeout, stdin)

    def close(self) -> None:
        shutil.rmtree(self.runroot, ignore_errors=True)

    def login(self, registry: str, username: str, password: str) -> Run:
        """``podman login`` (the password on stdin), into this client's own auth file."""
        return self.run(
            "login",
            "--tls-verify=false",
            "--authfile",
            str(self.authfile),
            "--username",
            username,
            "--password-stdin",
            registry,
            timeout=60,
            stdin=password,
        )

    def logout(self, registry: str) -> Run:
        return self.run("logout", "--authfile", str(self.authfile), registry)

    def push(self, image: str, destination: str, *, digestfile: Path | None = None) -> Run:
        extra = ["--digestfile", str(digestfile)] if digestfile is not None else []
        return self.run("push", "--tls-verify=false", "--authfile", str(self.authfile), *extra, image, destination)

    def pull(self, image: str) -> Run:
        return self.run("pull", "--tls-verify=false", "--authfile", str(self.authfile), image)

    def image_digest(self, image: str) -> str:
        run = self.run("image", "inspect", "--format", "{{.Digest}}", image, timeout=30)
        assert run.ok, str(run)
        return run.stdout.strip()


class Buildah:
    """buildah with storage of its own (``--storage-driver vfs``); credentials per call."""

    def __init__(self, workdir: Path) -> None:
        self.binary = require_tool("buildah")
        self.workdir = workdir
        self.env = _environment(workdir)
        self.runroot = Path(tempfile.mkdtemp(prefix="rp-buildah-", dir="/tmp"))
        self.global_args = ("--storage-driver", "vfs", "--root", str(workdir / "root"), "--runroot", str(self.runroot))

    def run(self, *args: str, timeout: float = CLIENT_TIMEOUT) -> Run:
        return _run([self.binary, *self.global_args, *args], self.env, timeout)

    def close(self) -> None:
        shutil.rmtree(self.runroot, ignore_errors=True)

    def pull(self, image: str, *, creds: str | None = None) -> Run:
        auth = ["--creds", creds] if creds else []
        return self.run("pull", "--tls-verify=false", *auth, image)

    def push(self, image: str, destination: str, *, creds: str | None = None) -> Run:
        auth = ["--creds", creds] if creds else []
        return self.run("push", "--tls-verify=false", *auth, image, destination)
