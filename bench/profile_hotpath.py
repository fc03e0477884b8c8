#!/usr/bin/env python3
"""Where one authorized HEAD manifest spends regproxy's time: a py-spy profile under load.

One regproxy (``workers: 1``, example identities and policies, a token signing key, audit to a
file, the admin listener and its metrics on) in front of the fast upstream
(``bench/fast_upstream.py``); ``ab -k -i -c 32`` sends HEAD manifest with Basic alice, then with
a Bearer token from regproxy's token endpoint, while ``py-spy record`` samples regproxy. Each
sample is charged to the innermost frame that belongs to a stage (parse, authenticate, decide,
audit, metrics, header filtering, upstream client, server and connection layer; what matches no
stage is the event loop itself), so the shares add up to 100%.

py-spy samples the wall time of a running thread: a loopback ``send()`` that wakes the receiving
process weighs more than its CPU on a busy machine. The CPU per request next to each profile is
the proxy's utime+stime from /proc during the same run.

    python bench/profile_hotpath.py [--seconds S] [--rate HZ]

Needs py-spy in the venv (``.venv/bin/pip install py-spy``; it is not in the lock). Writes
bench/results/profile_hotpath.md and the raw collapsed stacks
bench/results/profile_hotpath.{basic,bearer}.txt.
"""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as c
from auth_modes import fetch_token

# (stage, substrings of a frame "function (file:line)"), first match from the leaf upwards wins.
# aiohttp's shared modules (http_writer, http_parser, helpers, streams) match nothing: a send() in
# StreamWriter belongs to whoever called it (the client's request, the server's response).
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("audit", ("regproxy/audit.py", "concurrent/futures/thread.py", "threading.py")),
    ("metrics", ("regproxy/metrics.py",)),
    ("header filtering", ("regproxy/proxy/headers.py", "_copy_headers", "sealed_locations")),
    ("parse", ("regproxy/oci/", "_head_size", "client_address", "ipaddress.py", "bodies.py")),
    (
        "authenticate",
        ("regproxy/identity/", "regproxy/server/authentication.py", "regproxy/server/logins.py", "_authenticate"),
    ),
    ("decide", ("regproxy/authorization/", "regproxy/policy/", "_authorize", "_refuse_unless_allowed")),
    (
        "upstream client",
        (
            "regproxy/proxy/upstream.py",
            "regproxy/proxy/heads.py",
            "aiohttp/client",
            "aiohttp/connector.py",
            "aiohttp/tracing.py",
        ),
    ),
    (
        "server and connection layer",
        (
            "aiohttp/web_",
            "regproxy/server/connections.py",
            "regproxy/server/framing.py",
            "regproxy/server/app.py",
        ),
    ),
    ("request handler (regproxy/server/registry.py itself)", ("regproxy/server/registry.py",)),
)
OTHER = "event loop and the rest"


def spy() -> str:
    found = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if found is None:
        raise SystemExit("py-spy is not installed: .venv/bin/pip install py-spy")
    return found


def breakdown(raw: str) -> tuple[int, dict[str, int], list[tuple[str, int]]]:
    stages: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        leaves[frames[-1]] += n
        stage = OTHER
        for frame in reversed(frames):
            match = next((name for name, keys in STAGES if any(k in frame for k in keys)), None)
            if match is not None:
                stage = match
                break
        stages[stage] += n
    return total, dict(stages), leaves.most_common(15)


def main() -> int:
    parser = c.base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=15, help="seconds each mode is profiled")
    parser.add_argument("--rate", type=int, default=400, help="py-spy samples per second")
    args = parser.parse_args()
    env = c.environment()
    py_spy = spy()
    args.out.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {}
    with c.Bench("profile", keep=args.keep_workdir) as bench:
        fast = bench.fast_upstream()
        proxy = bench.regproxy(fast, tokens=True, audit="file")
        url = f"{proxy.url}/v2/{c.BENCH_REPO}/manifests/latest"
        for mode in ("basic", "bearer"):
            auth = c.basic(*c.ALICE) if mode == "basic" else "Bearer " + fetch_token(proxy, c.BENCH_REPO)
            headers = c.head_headers(auth)
            c.check_head(url, headers)
            c.run_ab(url, seconds=1, concurrency=32, headers=headers, min_requests=1)
            raw_path = args.out / f"profile_hotpath.{mode}.txt"
            argv = [py_spy, "record", "-p", str(proxy.pid), "-d", str(args.seconds), "-r", str(args.rate)]
            recorder = subprocess.Popen(
                [*argv, "-f", "raw", "-o", str(raw_path), "--nonblocking"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            load = os.getloadavg()[0]
            res = c.head_run(url, seconds=args.seconds + 1, headers=headers, measure={"proxy": proxy})
            recorder.wait(timeout=60)
            total, stages, leaves = breakdown(raw_path.read_text())
            out[mode] = {
                "rps": res["rps"],
                "cpu_us_per_req": res["cpu_us_per_req"]["proxy"],
                "load": load,
                "samples": total,
                "stages": stages,
                "leaves": leaves,
            }
            c.log(f"{mode}: {res['rps']:,.0f} req/s, {res['cpu_us_per_req']['proxy']:.0f} µs CPU/req")
    path = c.write_report("profile_hotpath", False, {"environment": env, "modes": out}, markdown(env, out), args.out)
    print(path.read_text())
    return 0


def markdown(env: dict[str, Any], out: dict[str, Any]) -> str:
    lines = [
        c.env_header("Where an authorized HEAD manifest spends regproxy's time (py-spy)", env, False, 1).rstrip(),
        "",
        "One run per mode, ab -k -c 32 against the fast upstream, audit to a file, metrics on. A stage's share",
        "is the share of py-spy samples whose innermost stage frame is that stage; µs/req splits the measured",
        "CPU per request in those proportions (an estimate: py-spy samples wall time of a running thread).",
        "",
    ]
    names = [name for name, _ in STAGES] + [OTHER]
    header = ["stage"]
    for mode in out:
        header += [f"{mode} share", f"{mode} µs/req"]
    rows = []
    for name in names:
        row = [name]
        for m in out.values():
            share = m["stages"].get(name, 0) / max(m["samples"], 1)
            row += [f"{share * 100:.1f}%", c.fmt(share * m["cpu_us_per_req"])]
        rows.append(row)
    total_row = ["total (measured CPU per request)"]
    for m in out.values():
        total_row += ["100%", c.fmt(m["cpu_us_per_req"])]
    rows.append(total_row)
    lines += [c.table(header, rows), ""]
    for mode, m in out.items():
        lines += [
            f"**{mode}**: {m['rps']:,.0f} req/s, {m['samples']} samples, load average {m['load']:.2f}. "
            "Heaviest leaf frames:",
            "",
            c.table(["share", "frame"], [(f"{n / m['samples'] * 100:.1f}%", f"`{f}`") for f, n in m["leaves"]]),
            "",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
