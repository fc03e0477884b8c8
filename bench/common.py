"""Shared helpers for regproxy's benchmarks (bench/*.py).

Everything here starts real processes on free loopback ports and measures them from outside:

- services: the real registry (``scripts/registry.sh``, CNCF distribution), nginx as the
  conventional reverse proxy, regproxy (``python -m regproxy serve``), the fast upstream
  (``bench/fast_upstream.py``) and a bare aiohttp relay (``bench/bare_relay.py``);
- process accounting from ``/proc``: CPU time (utime+stime of the process and its descendants,
  clock-tick resolution), resident memory (VmRSS), peak resident memory (VmHWM, which can be
  reset through ``/proc/PID/clear_refs`` so that a peak belongs to one measured window);
- clients: ``ab`` (ApacheBench) for HEAD load, ``curl`` for streamed blob pulls and pushes;
- statistics: medians, percentiles, interleaved rounds, ratios, Markdown/JSON reports.

Only processes started here are ever signalled, by PID. All traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ctypes
import datetime as dt
import hashlib
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
EXAMPLES = REPO / "examples"
CLK_TCK = os.sysconf("SC_CLK_TCK")

ALICE = ("alice", "alice-password")  # push + pull in team-a/** (examples/identities.yaml)
BOB = ("bob", "bob-password")  # pull only in team-a/**
BENCH_REPO = "team-a/bench"  # the repository every benchmark uses
PUBLIC_REPO = "library/bench"  # under `public: ["library/**"]`
# What docker/containerd send with a manifest request; distribution answers 404 for an OCI
# manifest that the Accept header does not admit.
MANIFEST_ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    )
)


def head_headers(auth: str | None) -> dict[str, str]:
    headers = {"Accept": MANIFEST_ACCEPT}
    if auth:
        headers["Authorization"] = auth
    return headers


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- /proc accounting ------------------------------------------------------------------------


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                raw = f.read()
        except OSError:
            continue
        ppid = int(raw[raw.rfind(b")") + 2 :].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def process_tree(pid: int) -> list[int]:
    """``pid`` and all of its descendants that exist now."""
    kids = _children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, ()))
    return out


def start_time(pid: int) -> int:
    """The process' start time (clock ticks since boot; 0 if gone): with the PID, an identity
    that a reused PID does not share."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return 0
    return int(raw[raw.rfind(b")") + 2 :].split()[19])


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the benchmark process dies (Linux), so that no
    server outlives a killed benchmark."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def cpu_seconds(pids: Iterable[int]) -> float:
    """utime+stime of each process (all its threads), from /proc/PID/stat, in seconds."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                raw = f.read()
        except OSError:
            continue
        fields = raw[raw.rfind(b")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / CLK_TCK


def _status_kib(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_bytes(pids: Iterable[int]) -> int:
    return sum(_status_kib(p, "VmRSS:") for p in pids) * 1024


def hwm_bytes(pids: Iterable[int]) -> int:
    """Sum of each process' peak RSS (VmHWM) — for one process, its peak."""
    return sum(_status_kib(p, "VmHWM:") for p in pids) * 1024


def reset_hwm(pids: Iterable[int]) -> bool:
    """Reset VmHWM to the current RSS (``echo 5 > /proc/PID/clear_refs``, Linux 4.0+, needs
    owning the process). Returns False if any reset failed."""
    ok = True
    for pid in pids:
        try:
            with open(f"/proc/{pid}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            ok = False
    return ok


class RssSampler:
    """Samples the summed VmRSS of a process tree every ``interval`` seconds in a thread."""

    def __init__(self, pids: Sequence[int], interval: float = 0.01) -> None:
        self.pids = list(pids)
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes(self.pids))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes(self.pids))


# -- services -------------------------------------------------------------------------------


@dataclass
class Service:
    name: str
    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path
    extra: dict[str, Any] = field(default_factory=dict)
    _known: dict[int, int] = field(default_factory=dict)  # pid -> start time: descendants seen

    @property
    def pid(self) -> int:
        return self.proc.pid

    def pids(self) -> list[int]:
        tree = process_tree(self.proc.pid)
        for pid in tree:
            self._known.setdefault(pid, start_time(pid))
        return tree

    def cpu(self) -> float:
        return cpu_seconds(self.pids())

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM this service's own process, then SIGKILL it and any descendant we saw."""
        with contextlib.suppress(Exception):
            self.pids()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for pid, started in sorted(self._known.items()):
            # still there after its parent's shutdown, and the same process (not a reused PID):
            # one of ours, end it by PID
            if pid != self.proc.pid and started and start_time(pid) == started:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)


def http_request(
    method: str, url: str, headers: dict[str, str] | None = None, body: bytes | None = None, timeout: float = 30.0
) -> tuple[int, dict[str, str], bytes]:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, target, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def wait_http(
    service: Service, path: str = "/v2/", timeout: float = 30.0, ok: Callable[[int], bool] = lambda s: s < 500
) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not service.alive():
            raise RuntimeError(f"{service.name} exited ({service.proc.returncode}):\n{service.log_tail()}")
        try:
            status, _, _ = http_request("GET", service.url + path, timeout=2)
            if ok(status):
                return
            last = f"status {status}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.05)
    raise RuntimeError(f"{service.name} not ready after {timeout}s ({last}):\n{service.log_tail()}")


class Bench:
    """A working directory and the services started in it; stops them all on exit
    (also on SIGTERM / Ctrl-C)."""

    def __init__(self, name: str, keep: bool = False) -> None:
        self.name = name
        self.keep = keep
        self.workdir = Path(tempfile.mkdtemp(prefix=f"regproxy-bench-{name}-"))
        self.services: list[Service] = []

    def __enter__(self) -> Bench:
        def _term(signum: int, frame: object) -> None:
            raise SystemExit(128 + signum)

        signal.signal(signal.SIGTERM, _term)
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None and exc_type is not KeyboardInterrupt:
            for service in self.services:  # what each process said, for the failure's cause
                state = "running" if service.alive() else f"EXITED with {service.proc.returncode}"
                log(f"--- {service.name} ({state}), last lines of {service.log_path.name}:\n{service.log_tail(15)}")
        for service in reversed(self.services):
            try:
                service.stop()
            except Exception as error:  # keep stopping the others
                log(f"stopping {service.name}: {error}")
        if self.keep:
            log(f"work directory kept: {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _spawn(
        self,
        name: str,
        argv: Sequence[str | Path],
        url: str,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Service:
        log_path = self.workdir / f"{name}.log"
        out = open(log_path, "wb")  # noqa: SIM115 - owned by the child
        proc = subprocess.Popen(
            [str(a) for a in argv],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=str(cwd or REPO),
            env={**os.environ, **(env or {})},
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - services start before any thread does
        )
        out.close()
        service = Service(name, proc, url, log_path)
        self.services.append(service)
        return service

    # -- the real registry --
    def registry(self, name: str = "registry") -> Service:
        port = free_port()
        data = self.workdir / name
        service = self._spawn(
            name, ["bash", REPO / "scripts" / "registry.sh", data, f"127.0.0.1:{port}"], f"http://127.0.0.1:{port}"
        )
        service.extra["data"] = data
        wait_http(service, ok=lambda s: s == 200)
        return service

    # -- nginx, the conventional reverse proxy --
    def nginx(self, upstream: Service, name: str = "nginx", workers: int = 1, buffer_size: str = "") -> Service:
        """nginx as configured by the transparent-edge issue; ``buffer_size`` sets
        proxy_buffer_size (with proxy_buffering off, the size of each read from the upstream;
        nginx's default is one memory page, 4k)."""
        port = free_port()
        d = self.workdir / name
        (d / "tmp").mkdir(parents=True, exist_ok=True)
        up = urllib.parse.urlsplit(upstream.url)
        tuning = (
            "".join(
                f"\n            {line};"
                for line in (
                    f"proxy_buffer_size {buffer_size}",
                    f"proxy_buffers 4 {buffer_size}",
                    f"proxy_busy_buffers_size {buffer_size}",
                )
            )
            if buffer_size
            else ""
        )
        user = "user root root;" if os.geteuid() == 0 else ""
        conf = f"""# nginx as the conventional streaming reverse proxy in front of a registry (benchmark)
{user}
daemon off;
master_process on;
worker_processes {workers};
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    upstream registry {{
        server {up.hostname}:{up.port};
        keepalive 128;
        keepalive_requests 1000000;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        chunked_transfer_encoding on;
        location /v2/ {{
            proxy_pass http://registry;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_buffering off;
            proxy_request_buffering off;{tuning}
            proxy_read_timeout 900s;
            proxy_send_timeout 900s;
        }}
    }}
}}
"""
        (d / "nginx.conf").write_text(conf)
        service = self._spawn(
            name, ["nginx", "-p", d, "-c", d / "nginx.conf", "-e", d / "error.log"], f"http://127.0.0.1:{port}"
        )
        service.extra["conf"] = conf
        wait_http(service)
        return service

    # -- regproxy --
    def regproxy(
        self,
        upstream: Service,
        name: str = "regproxy",
        *,
        workers: int = 1,
        public: Sequence[str] = (),
        audit: str = "file",  # "file" | "off" | "stdout"
        tokens: bool = False,
        extra: dict[str, Any] | None = None,
        command: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> Service:
        """regproxy on a free port; ``command`` replaces ``python -m regproxy`` (e.g. a launcher
        that profiles it); ``extra`` adds or overrides top-level config keys."""
        port, admin = free_port(), free_port()
        d = self.workdir / name
        d.mkdir(parents=True, exist_ok=True)
        url = f"http://127.0.0.1:{port}"
        config: dict[str, Any] = {
            "listen": f"127.0.0.1:{port}",
            "external_url": url,
            "upstream": {"url": upstream.url, "read_timeout": 900},
            "identities": str(EXAMPLES / "identities.yaml"),
            "policies": str(EXAMPLES / "policies"),
            "public": list(public),
            "admin": {"listen": f"127.0.0.1:{admin}"},
            "audit": {"path": {"file": str(d / "audit.jsonl"), "off": "", "stdout": "-"}[audit]},
            "workers": workers,
            "log_level": "warning",
        }
        if tokens:
            key = d / "signing.pem"
            subprocess.run(
                ["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key],
                check=True,
                capture_output=True,
            )
            config["tokens"] = {"signing_key": str(key)}
        config.update(extra or {})
        path = d / "regproxy.yaml"
        path.write_text(json.dumps(config, indent=2))  # JSON is YAML
        argv: list[str | Path] = [*(command or (sys.executable, "-m", "regproxy")), "serve", "--config", path]
        service = self._spawn(name, argv, url, env=env)
        service.extra.update(config=config, admin=f"http://127.0.0.1:{admin}", audit_path=d / "audit.jsonl")
        wait_http(service)
        if workers > 1:  # every worker up: the supervisor's readiness counts their snapshots
            admin_service = Service(name + "-admin", service.proc, service.extra["admin"], service.log_path)
            wait_http(admin_service, "/readyz", ok=lambda s: s == 200)
        return service

    # -- the fast upstream and the bare relay --
    def fast_upstream(self, name: str = "fast-upstream") -> Service:
        port = free_port()
        service = self._spawn(
            name,
            [sys.executable, BENCH / "fast_upstream.py", "--listen", f"127.0.0.1:{port}"],
            f"http://127.0.0.1:{port}",
        )
        wait_http(service, ok=lambda s: s == 200)
        return service

    def bare_relay(self, upstream: Service, name: str = "bare-relay", workers: int = 1) -> Service:
        port = free_port()
        service = self._spawn(
            name,
            [
                sys.executable,
                BENCH / "bare_relay.py",
                "--listen",
                f"127.0.0.1:{port}",
                "--upstream",
                upstream.url,
                "--workers",
                str(workers),
            ],
            f"http://127.0.0.1:{port}",
        )
        wait_http(service)
        return service


# -- registry content ------------------------------------------------------------------------


def make_random_file(path: Path, size: int, chunk: int = 4 << 20) -> str:
    """Write ``size`` random bytes to ``path``; return the sha256 digest."""
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            block = os.urandom(min(chunk, left))
            h.update(block)
            f.write(block)
            left -= len(block)
    return "sha256:" + h.hexdigest()


def start_upload(base: str, repo: str, auth: str) -> str:
    status, headers, body = http_request(
        "POST", f"{base}/v2/{repo}/blobs/uploads/", {"Authorization": auth, "Content-Length": "0"}
    )
    if status != 202 or "location" not in headers:
        raise RuntimeError(f"POST upload at {base} answered {status}: {body[:200]!r}")
    return urllib.parse.urljoin(base + "/", headers["location"])


def _with_digest(location: str, digest: str) -> str:
    sep = "&" if "?" in location else "?"
    return f"{location}{sep}digest={urllib.parse.quote(digest)}"


def push_small_blob(base: str, repo: str, data: bytes, auth: str) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    location = start_upload(base, repo, auth)
    status, _, body = http_request(
        "PUT",
        _with_digest(location, digest),
        {"Authorization": auth, "Content-Type": "application/octet-stream", "Content-Length": str(len(data))},
        data,
    )
    if status != 201:
        raise RuntimeError(f"PUT blob answered {status}: {body[:200]!r}")
    return digest


@dataclass
class Transfer:
    seconds: float
    bytes: int


def push_blob_file(
    base: str, repo: str, path: Path, digest: str, user: tuple[str, str], timeout: float = 900
) -> Transfer:
    """POST an upload, then one streamed monolithic PUT of the file's bytes (curl -T)."""
    auth = basic(*user)
    location = start_upload(base, repo, auth)
    size = path.stat().st_size
    argv = [
        "curl",
        "-sS",
        "--fail",
        "-o",
        "/dev/null",
        "-u",
        f"{user[0]}:{user[1]}",
        "-H",
        "Expect:",
        "-H",
        "Content-Type: application/octet-stream",
        "-T",
        str(path),
        "-w",
        "%{http_code}",
        _with_digest(location, digest),
    ]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0 or done.stdout.strip() != "201":
        raise RuntimeError(f"push to {base} failed: {done.stdout.strip()} {done.stderr.strip()}")
    return Transfer(seconds, size)


def put_manifest(
    base: str, repo: str, tag: str, config_digest: str, config_size: int, layers: Sequence[tuple[str, int]], auth: str
) -> str:
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "size": config_size,
                "digest": config_digest,
            },
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar", "size": s, "digest": d} for d, s in layers
            ],
        },
        separators=(",", ":"),
    ).encode()
    status, _, body = http_request(
        "PUT",
        f"{base}/v2/{repo}/manifests/{tag}",
        {"Authorization": auth, "Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        manifest,
    )
    if status != 201:
        raise RuntimeError(f"PUT manifest answered {status}: {body[:200]!r}")
    return "sha256:" + hashlib.sha256(manifest).hexdigest()


def seed_manifest(base: str, repo: str = BENCH_REPO, tag: str = "latest") -> str:
    """A small image (config + one small layer + manifest) so HEAD manifest has something."""
    auth = basic(*ALICE)
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    layer = os.urandom(1024)
    config_digest = push_small_blob(base, repo, config, auth)
    layer_digest = push_small_blob(base, repo, layer, auth)
    return put_manifest(base, repo, tag, config_digest, len(config), [(layer_digest, len(layer))], auth)


def pull_blobs(urls: Sequence[str], user: tuple[str, str] | None, expect_bytes: int, timeout: float = 900) -> Transfer:
    """Pull each URL with its own curl (concurrently), discarding the bytes; wall time of all."""
    argv = ["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{http_code} %{size_download}"]
    if user is not None:
        argv += ["-u", f"{user[0]}:{user[1]}"]
    started = time.perf_counter()
    procs = [subprocess.Popen([*argv, u], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for u in urls]
    total = 0
    errors = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            errors.append("timeout")
            continue
        fields = out.split()
        if p.returncode != 0 or len(fields) != 2 or fields[0] != "200":
            errors.append(f"{out.strip()} {err.strip()}")
            continue
        total += int(fields[1])
    seconds = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"pull failed: {errors}")
    if total != expect_bytes * len(urls):
        raise RuntimeError(f"pulled {total} bytes, expected {expect_bytes * len(urls)}")
    return Transfer(seconds, total)


# -- HEAD load with ApacheBench ----------------------------------------------------------------

_AB_FIELDS = {
    "complete": r"^Complete requests:\s+(\d+)",
    "failed": r"^Failed requests:\s+(\d+)",
    "non2xx": r"^Non-2xx responses:\s+(\d+)",
    "keepalive": r"^Keep-Alive requests:\s+(\d+)",
    "rps": r"^Requests per second:\s+([\d.]+)",
    "seconds": r"^Time taken for tests:\s+([\d.]+)",
}


class AbError(RuntimeError):
    pass


def run_ab(
    url: str,
    *,
    seconds: float,
    concurrency: int = 32,
    headers: dict[str, str] | None = None,
    min_requests: int = 200,
    head: bool = True,
) -> dict[str, Any]:
    """``ab -k -i -c C -t SECONDS``: keep-alive HEAD requests for a fixed time; returns rps,
    p50/p99 (ms) and counts.

    A fixed duration (rather than a fixed count) bounds every run's time whatever the machine's
    load. ``ab`` speaks HTTP/1.0 with ``Connection: Keep-Alive``; every server here keeps those
    connections open (checked: ``keepalive`` must equal ``complete``), and every answer must be
    a 2xx (a refused request is never counted as a fast one). Percentiles come from ``-e``
    (CSV, microsecond resolution) rather than ab's whole-millisecond table. ``head=False``
    sends GET instead (ab reads each body by its Content-Length).
    """
    with tempfile.NamedTemporaryFile(suffix=".csv", delete=False) as tmp:
        csv_path = Path(tmp.name)
    argv = [
        "ab",
        "-q",
        "-r",
        "-k",
        *(["-i"] if head else []),
        "-c",
        str(concurrency),
        "-t",
        str(max(1, round(seconds))),
        "-n",
        "2000000",
        "-s",
        "30",
        "-e",
        str(csv_path),
    ]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    argv.append(url)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 90, check=False)
        if done.returncode != 0:
            raise AbError(f"ab failed ({done.returncode}): {done.stderr.strip()[-500:]}")
        result: dict[str, Any] = {}
        for key, pattern in _AB_FIELDS.items():
            m = re.search(pattern, done.stdout, re.M)
            result[key] = float(m.group(1)) if m else 0.0
        pct = {}
        for line in csv_path.read_text().splitlines()[1:]:
            p, _, ms = line.partition(",")
            pct[int(p)] = float(ms)
        result["p50_ms"] = pct.get(50, float("nan"))
        result["p99_ms"] = pct.get(99, float("nan"))
    finally:
        csv_path.unlink(missing_ok=True)
    for key in ("complete", "failed", "non2xx", "keepalive"):
        result[key] = int(result[key])
    problems = []
    if result["complete"] < min_requests:
        problems.append(f"only {result['complete']} requests completed in {seconds:.0f}s")
    if result["failed"] or result["non2xx"]:
        problems.append(f"{result['failed']} failed, {result['non2xx']} non-2xx")
    if result["keepalive"] < result["complete"]:
        problems.append(f"only {result['keepalive']} of {result['complete']} kept alive")
    if problems:
        raise AbError(f"ab against {url}: " + "; ".join(problems))
    return result


def warm(url: str, headers: dict[str, str], connections: int = 1) -> None:
    """HEAD ``url`` on ``connections`` fresh connections, each answering 200, right before a
    measurement: regproxy's verified-credential cache keeps a Basic verification 60 s, and a
    run that starts with it expired has every connection's first request run scrypt at once
    (the thundering herd is real, and reported apart; the runs measure the steady state).
    Several connections reach every worker of a SO_REUSEPORT group with high probability."""
    for _ in range(connections):
        check_head(url, headers)


def head_run(
    url: str,
    *,
    seconds: float,
    headers: dict[str, str],
    measure: dict[str, Service],
    concurrency: int = 32,
    problems: list[str] | None = None,
    retries: int = 1,
    warm_connections: int = 1,
) -> dict[str, Any]:
    """One ab run with the CPU time of each process in ``measure`` taken around it:
    ``cpu_us_per_req[name]`` = CPU during the run / completed requests. ``warm`` runs first.

    A run that ab reports as broken (failures, non-2xx, dropped keep-alive) is retried up to
    ``retries`` times; each failure is appended to ``problems`` (it goes into the report)."""
    for attempt in range(retries + 1):
        warm(url, headers, warm_connections)
        before = {name: s.cpu() for name, s in measure.items()}
        try:
            result = run_ab(url, seconds=seconds, concurrency=concurrency, headers=headers)
        except AbError as error:
            note = f"{time.strftime('%H:%M:%S')} {error}"
            if problems is not None:
                problems.append(note)
            log(f"ab run failed (attempt {attempt + 1}): {error}")
            if attempt == retries:
                raise
            continue
        after = {name: s.cpu() for name, s in measure.items()}
        n = result["complete"]
        result["cpu_us_per_req"] = {name: (after[name] - before[name]) / n * 1e6 for name in measure}
        return result
    raise AssertionError("unreachable")


def check_head(url: str, headers: dict[str, str]) -> None:
    """One HEAD that must answer 200 (so that a refused request is never counted as a fast one)."""
    status, _, _ = http_request("HEAD", url, headers)
    if status != 200:
        raise RuntimeError(f"HEAD {url} answered {status}, expected 200")


# -- statistics and rounds ----------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def rotated(items: Sequence[Any], round_no: int) -> list[Any]:
    """The order of targets for one round: rotated each round so none always goes first."""
    k = round_no % len(items) if items else 0
    return list(items[k:]) + list(items[:k])


def paired_ratios(values: dict[str, list[float]], baseline: str) -> dict[str, float]:
    """For each target, the median over rounds of (target / baseline) in the same round."""
    out = {}
    base = values.get(baseline, [])
    for name, vals in values.items():
        pairs = [v / b for v, b in zip(vals, base, strict=False) if b]
        out[name] = median(pairs) if pairs else float("nan")
    return out


# -- reports ---------------------------------------------------------------------------------------


def _cmd_version(argv: Sequence[str]) -> str:
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=10, check=False)
        text = (done.stdout + done.stderr).strip().splitlines()
        return text[0] if text else ""
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"


def environment() -> dict[str, Any]:
    """Where and when: date, commit (read-only git), machine, load, tool versions."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=False
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""

    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {"python": platform.python_version()}
    for mod in ("aiohttp", "uvloop"):
        with contextlib.suppress(Exception):
            versions[mod] = __import__(mod).__version__
    versions["nginx"] = _cmd_version(["nginx", "-v"])
    versions["registry"] = _cmd_version(["docker-registry", "--version"])
    versions["ab"] = _cmd_version(["ab", "-V"])
    versions["curl"] = _cmd_version(["curl", "--version"])
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--", "regproxy")),
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "loadavg_start": os.getloadavg()[0],
        "versions": versions,
    }


def write_report(name: str, quick: bool, data: dict[str, Any], markdown: str, out_dir: Path = RESULTS) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{name}.quick" if quick else name
    data.setdefault("environment", {})["loadavg_end"] = os.getloadavg()[0]
    (out_dir / f"{stem}.json").write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    md_path = out_dir / f"{stem}.md"
    md_path.write_text(markdown.rstrip() + "\n")
    return md_path


def env_header(title: str, env: dict[str, Any], quick: bool, rounds: int) -> str:
    v = env["versions"]
    return "\n".join(
        [
            f"# {title}",
            "",
            f"- date: {env['date']}, commit {env['commit']}{' (regproxy/ has uncommitted changes)' if env['dirty'] else ''}"
            f"{', QUICK smoke run (small sizes, few rounds: not for comparison)' if quick else ''}",
            f"- machine: {env['cpus']} CPUs ({env['cpu_model']}), load average {env['loadavg_start']:.2f} at start"
            f" / {os.getloadavg()[0]:.2f} at end; client, proxies and upstream share the CPUs",
            f"- {v.get('registry', '')}; {v.get('nginx', '')}; Python {v['python']}, aiohttp {v.get('aiohttp', '?')},"
            f" uvloop {v.get('uvloop', '?')}",
            f"- every figure is the median of {rounds} interleaved rounds (targets rotated each round);"
            " a ratio is the median of the per-round ratios to the baseline in the same round",
            "",
        ]
    )


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(lines)


def fmt(value: float, digits: int = 0) -> str:
    if value != value:  # NaN
        return "n/a"
    return f"{value:,.{digits}f}"


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "NOT met")


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="short smoke run: small sizes, few rounds")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 5, quick 2)")
    parser.add_argument("--keep-workdir", action="store_true", help="keep the temporary work directory")
    parser.add_argument("--out", type=Path, default=RESULTS, help="report directory (default bench/results)")
    return parser


@contextlib.contextmanager
def timed(label: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    log(f"{label}: {time.perf_counter() - started:.1f}s")
