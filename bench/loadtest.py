"""A load test ops can run against any regproxy (or any registry) URL.

Drives a realistic mix — manifest HEAD and GET, blob GET, pushes — with credentials, for a
given duration and concurrency, shows progress every second, and writes a report (throughput,
p50/p95/p99 and errors per operation) and a latency-over-time plot (PNG).

    python bench/loadtest.py --url http://127.0.0.1:5000 --user alice --password alice-password \\
        --repository team-a/loadtest --concurrency 16 --duration 60 \\
        --mix head=50,get=20,blob=25,push=5 --out bench/results/loadtest

Before the run it pushes a seed image (``--layers`` layers of ``--layer-size`` bytes) so the
reads have something to read; pushes upload a fresh small blob and tag a manifest
``load-<n>``. Authentication follows the registry's challenge: Basic, or the Bearer token flow
(regproxy's own token service, or any registry's), refreshing tokens as they expire.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import random
import sys
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import aiohttp

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OPERATIONS = ("head", "get", "blob", "push")


@dataclass
class Sample:
    at: float  # seconds since start
    op: str
    seconds: float
    ok: bool


@dataclass
class Target:
    repository: str
    tag: str
    layers: list[str]
    config_digest: str
    config_size: int
    layer_sizes: list[int]


@dataclass
class Auth:
    user: str
    password: str
    basic: str = ""
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.user:
            self.basic = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.partition(" ")
    params = {}
    for part in rest.split(","):
        key, _, value = part.strip().partition("=")
        params[key.lower()] = value.strip('"')
    return scheme.lower(), params


class Client:
    def __init__(self, session: aiohttp.ClientSession, base: str, auth: Auth) -> None:
        self.session = session
        self.base = base.rstrip("/")
        self.auth = auth

    async def _token(self, challenge: dict[str, str], scope: str, refresh: bool) -> str:
        cached = self.auth.tokens.get(scope)
        if cached and not refresh and cached[1] > time.monotonic():
            return cached[0]
        query = urlencode({"service": challenge.get("service", ""), "scope": scope})
        headers = {"Authorization": self.auth.basic} if self.auth.basic else {}
        async with self.session.get(f"{challenge['realm']}?{query}", headers=headers) as resp:
            body = await resp.json(content_type=None)
            if resp.status != 200:
                raise RuntimeError(f"token service answered {resp.status}: {body}")
        token = str(body.get("token") or body["access_token"])
        lifetime = float(body.get("expires_in", 60))
        self.auth.tokens[scope] = (token, time.monotonic() + max(lifetime - 10, 5))
        return token

    async def request(
        self,
        method: str,
        path: str,
        scope: str,
        *,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
        read: bool = True,
    ) -> tuple[int, bytes, Mapping[str, str]]:
        headers = dict(headers or {})
        cached = self.auth.tokens.get(scope)
        if cached and cached[1] > time.monotonic():
            headers["Authorization"] = f"Bearer {cached[0]}"
        elif self.auth.basic:
            headers["Authorization"] = self.auth.basic
        for attempt in range(2):
            async with self.session.request(
                method, self.base + path, headers=headers, data=data, allow_redirects=False
            ) as resp:
                body = b""
                if read and method != "HEAD":
                    async for chunk in resp.content.iter_any():
                        body += chunk if len(body) < 1 << 20 else b""
                if resp.status == 401 and attempt == 0:
                    scheme, challenge = parse_challenge(resp.headers.get("WWW-Authenticate", ""))
                    if scheme == "bearer":
                        headers["Authorization"] = f"Bearer {await self._token(challenge, scope, refresh=True)}"
                        continue
                return resp.status, body, resp.headers
        return 401, b"", {}


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def push_blob(client: Client, repository: str, data: bytes) -> str:
    d = digest(data)
    scope = f"repository:{repository}:pull,push"
    status, _, headers = await client.request("POST", f"/v2/{repository}/blobs/uploads/", scope)
    if status != 202:
        raise RuntimeError(f"upload start answered {status}")
    location = headers["Location"]
    if location.startswith("http"):
        location = "/" + location.split("/", 3)[3]
    sep = "&" if "?" in location else "?"
    status, _, _ = await client.request(
        "PUT", f"{location}{sep}digest={d}", scope, headers={"Content-Type": "application/octet-stream"}, data=data
    )
    if status != 201:
        raise RuntimeError(f"upload finish answered {status}")
    return d


def manifest_for(config_digest: str, config_size: int, layers: list[str], sizes: list[int]) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config_size,
            },
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": s}
                for d, s in zip(layers, sizes, strict=True)
            ],
        }
    ).encode()


async def seed(client: Client, repository: str, layers: int, layer_size: int) -> Target:
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    config_digest = await push_blob(client, repository, config)
    blobs = [os.urandom(layer_size) for _ in range(layers)]
    digests = [await push_blob(client, repository, b) for b in blobs]
    manifest = manifest_for(config_digest, len(config), digests, [len(b) for b in blobs])
    status, body, _ = await client.request(
        "PUT",
        f"/v2/{repository}/manifests/seed",
        f"repository:{repository}:pull,push",
        headers={"Content-Type": OCI_MANIFEST},
        data=manifest,
    )
    if status != 201:
        raise RuntimeError(f"seed manifest answered {status}: {body[:200]!r}")
    return Target(repository, "seed", digests, config_digest, len(config), [len(b) for b in blobs])


async def operation(client: Client, op: str, target: Target, counter: list[int], push_size: int) -> bool:
    repo = target.repository
    pull = f"repository:{repo}:pull"
    if op == "head":
        status, _, _ = await client.request(
            "HEAD", f"/v2/{repo}/manifests/{target.tag}", pull, headers={"Accept": OCI_MANIFEST}
        )
        return status == 200
    if op == "get":
        status, _, _ = await client.request(
            "GET", f"/v2/{repo}/manifests/{target.tag}", pull, headers={"Accept": OCI_MANIFEST}
        )
        return status == 200
    if op == "blob":
        status, _, _ = await client.request("GET", f"/v2/{repo}/blobs/{random.choice(target.layers)}", pull)
        return status == 200
    counter[0] += 1
    n = counter[0]
    layer = await push_blob(client, repo, os.urandom(push_size))
    manifest = manifest_for(target.config_digest, target.config_size, [layer], [push_size])
    status, _, _ = await client.request(
        "PUT",
        f"/v2/{repo}/manifests/load-{n}",
        f"repository:{repo}:pull,push",
        headers={"Content-Type": OCI_MANIFEST},
        data=manifest,
    )
    return status == 201


def parse_mix(text: str) -> list[tuple[str, float]]:
    weights = []
    for part in text.split(","):
        name, _, weight = part.partition("=")
        if name not in OPERATIONS:
            raise SystemExit(f"unknown operation `{name}` in --mix (known: {', '.join(OPERATIONS)})")
        weights.append((name, float(weight or 1)))
    return weights


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(args: argparse.Namespace) -> list[Sample]:
    mix = parse_mix(args.mix)
    names, weights = [m[0] for m in mix], [m[1] for m in mix]
    connector = aiohttp.TCPConnector(limit=args.concurrency * 2, ssl=not args.insecure)
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    samples: list[Sample] = []
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False) as session:
        client = Client(session, args.url, Auth(args.user, args.password))
        print(f"seeding {args.repository} with {args.layers} x {args.layer_size} B layers ...", file=sys.stderr)
        target = await seed(client, args.repository, args.layers, args.layer_size)
        started = time.monotonic()
        deadline = started + args.duration
        counter = [0]
        errors: dict[str, int] = defaultdict(int)

        async def worker(seed_value: int) -> None:
            rng = random.Random(seed_value)
            while time.monotonic() < deadline:
                op = rng.choices(names, weights)[0]
                t0 = time.monotonic()
                try:
                    ok = await operation(client, op, target, counter, args.push_size)
                except (aiohttp.ClientError, TimeoutError, RuntimeError) as exc:
                    ok = False
                    if errors[op] < 3:
                        print(f"\n{op}: {exc}", file=sys.stderr)
                t1 = time.monotonic()
                if not ok:
                    errors[op] += 1
                samples.append(Sample(t0 - started, op, t1 - t0, ok))

        async def progress() -> None:
            last = 0
            while time.monotonic() < deadline:
                await asyncio.sleep(1.0)
                now = time.monotonic() - started
                done = len(samples)
                failed = sum(errors.values())
                print(
                    f"\r{now:5.0f}s/{args.duration}s  {done - last:6d} req/s  total {done:8d}  errors {failed:6d}",
                    end="",
                    file=sys.stderr,
                    flush=True,
                )
                last = done
            print(file=sys.stderr)

        async with asyncio.TaskGroup() as group:
            group.create_task(progress())
            for i in range(args.concurrency):
                group.create_task(worker(args.seed + i))
    return samples


def report(samples: list[Sample], args: argparse.Namespace) -> str:
    by_op: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        by_op[s.op].append(s)
    duration = max((s.at + s.seconds for s in samples), default=1.0)
    lines = [
        f"# Load test: {args.url} ({args.repository})",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; concurrency {args.concurrency}, "
        f"duration {args.duration} s, mix {args.mix}",
        "",
        "| operation | requests | per second | p50 ms | p95 ms | p99 ms | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for op in OPERATIONS:
        group = by_op.get(op, [])
        if not group:
            continue
        times = [s.seconds * 1000 for s in group if s.ok]
        failed = sum(not s.ok for s in group)
        lines.append(
            f"| {op} | {len(group)} | {len(group) / duration:.1f} | {percentile(times, 0.5):.2f} | "
            f"{percentile(times, 0.95):.2f} | {percentile(times, 0.99):.2f} | {failed} |"
        )
    total_errors = sum(not s.ok for s in samples)
    lines += ["", f"total: {len(samples)} requests, {len(samples) / duration:.1f}/s, {total_errors} errors"]
    return "\n".join(lines) + "\n"


def plot(samples: list[Sample], path: Path) -> bool:
    """Draw the plot; False (and nothing written) when matplotlib is not installed."""
    try:
        import matplotlib  # noqa: PLC0415 - only needed for the plot
    except ImportError:
        return False

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7), sharex=True)
    by_op: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for s in samples:
        if s.ok:
            by_op[s.op][int(s.at)].append(s.seconds * 1000)
    for op, buckets in sorted(by_op.items()):
        xs = sorted(buckets)
        top.plot(xs, [percentile(buckets[x], 0.5) for x in xs], label=f"{op} p50")
        top.plot(xs, [percentile(buckets[x], 0.99) for x in xs], linestyle="--", label=f"{op} p99")
        bottom.plot(xs, [len(buckets[x]) for x in xs], label=op)
    top.set_ylabel("latency (ms)")
    top.set_yscale("log")
    top.legend(ncol=4, fontsize=8)
    top.grid(alpha=0.3)
    bottom.set_ylabel("requests/s")
    bottom.set_xlabel("seconds since start")
    bottom.legend(ncol=4, fontsize=8)
    bottom.grid(alpha=0.3)
    fig.suptitle("regproxy load test: latency and throughput over time")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="registry or regproxy base URL")
    parser.add_argument("--user", default="")
    parser.add_argument("--password", default=os.environ.get("LOADTEST_PASSWORD", ""))
    parser.add_argument("--repository", default="loadtest/app")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=int, default=60, help="seconds")
    parser.add_argument("--mix", default="head=50,get=20,blob=25,push=5")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--layer-size", type=int, default=256 * 1024)
    parser.add_argument("--push-size", type=int, default=64 * 1024)
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="bench/results/loadtest", help="report prefix: PREFIX.md, .json, .png")
    args = parser.parse_args()
    if not 1 <= args.duration <= 3600 or not 1 <= args.concurrency <= 1024:
        parser.error("duration must be 1..3600 s and concurrency 1..1024")
    try:
        import uvloop  # noqa: PLC0415

        samples = uvloop.run(run(args))
    except ImportError:
        samples = asyncio.run(run(args))
    text = report(samples, args)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(text)
    out.with_suffix(".json").write_text(
        json.dumps(
            {
                "url": args.url,
                "concurrency": args.concurrency,
                "duration": args.duration,
                "mix": args.mix,
                "samples": len(samples),
                "errors": sum(not s.ok for s in samples),
            },
            indent=2,
        )
    )
    if plot(samples, out.with_suffix(".png")):
        print(f"report: {out.with_suffix('.md')}, plot: {out.with_suffix('.png')}", file=sys.stderr)
    else:
        print(f"report: {out.with_suffix('.md')}; plot skipped: matplotlib is not installed", file=sys.stderr)
    return 0 if samples and not any(not s.ok for s in samples) else 1


if __name__ == "__main__":
    raise SystemExit(main())
