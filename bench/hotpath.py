#!/usr/bin/env python3
"""Proxy CPU per authorized HEAD manifest, before and after the hot-path work, Basic and Bearer.

Two regproxies side by side in front of the fast upstream (``bench/fast_upstream.py``), same
config (``workers: 1``, example identities and policies, a token signing key, audit to a file,
the admin listener with its metrics on): "before" runs the source tree of a given git revision
(default: main before the hot-path work, unpacked with ``git archive``), "after" this tree. Each
round runs ``ab -k -i -c 32`` against both with Basic alice and with a Bearer token from each
one's own token endpoint, the order rotated each round. Reported: median requests/s, p50/p99,
regproxy CPU per request (utime+stime from /proc), and the medians of per-round ratios.

    python bench/hotpath.py [--quick] [--before REV] [--rounds N] [--seconds S]

Writes bench/results/hotpath.{md,json} (``.quick.`` for a quick run).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as c
from auth_modes import fetch_token
from hardening_cost import launcher

BUILDS = ("before", "after")
MODES = ("basic", "bearer")
TARGET_US = 100.0


def main() -> int:
    parser = c.base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="60a7f11", help="the git revision measured as 'before'")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, help="seconds per ab run (default 5, quick 2)")
    args = parser.parse_args()
    quick = args.quick
    rounds = args.rounds or (2 if quick else 5)
    seconds = args.seconds or (2.0 if quick else 5.0)
    env = c.environment()
    problems: list[str] = []
    loads: list[float] = []
    worktree = Path(tempfile.mkdtemp(prefix="regproxy-before-"))
    archive = subprocess.run(
        ["git", "-C", str(c.REPO), "archive", args.before, "regproxy"], check=True, capture_output=True
    )
    subprocess.run(["tar", "-x", "-C", str(worktree)], input=archive.stdout, check=True)
    raw: dict[str, list[dict[str, Any]]] = {f"{b} {m}": [] for b in BUILDS for m in MODES}
    try:
        with c.Bench("hotpath", keep=args.keep_workdir) as bench:
            fast = bench.fast_upstream()
            proxies = {
                "before": bench.regproxy(fast, name="before", tokens=True, command=launcher(worktree)),
                "after": bench.regproxy(fast, name="after", tokens=True),
            }
            urls = {b: f"{p.url}/v2/{c.BENCH_REPO}/manifests/latest" for b, p in proxies.items()}
            for b in BUILDS:
                c.check_head(urls[b], c.head_headers(c.basic(*c.ALICE)))
            for r in range(rounds):
                c.log(f"round {r + 1} of {rounds}")
                loads.append(os.getloadavg()[0])
                headers = {(b, "basic"): c.head_headers(c.basic(*c.ALICE)) for b in BUILDS} | {
                    (b, "bearer"): c.head_headers("Bearer " + fetch_token(proxies[b], c.BENCH_REPO)) for b in BUILDS
                }
                for b, m in c.rotated([(b, m) for m in MODES for b in BUILDS], r):
                    res = c.head_run(
                        urls[b],
                        seconds=seconds,
                        headers=headers[(b, m)],
                        measure={"proxy": proxies[b]},
                        concurrency=args.concurrency,
                        problems=problems,
                    )
                    row = {
                        "rps": res["rps"],
                        "p50_ms": res["p50_ms"],
                        "p99_ms": res["p99_ms"],
                        "cpu_us": res["cpu_us_per_req"]["proxy"],
                        "requests": res["complete"],
                    }
                    raw[f"{b} {m}"].append(row)
                    c.log(f"  {b:6s} {m:6s} rps={row['rps']:,.0f} cpu={row['cpu_us']:.1f}us/req")
    finally:
        shutil.rmtree(worktree, ignore_errors=True)
    summary: dict[str, dict[str, float]] = {}
    for key, rows in raw.items():
        summary[key] = {
            "rps": c.median([x["rps"] for x in rows]),
            "p50_ms": c.median([x["p50_ms"] for x in rows]),
            "p99_ms": c.median([x["p99_ms"] for x in rows]),
            "cpu_us": c.median([x["cpu_us"] for x in rows]),
        }
    for m in MODES:
        after, before = raw[f"after {m}"], raw[f"before {m}"]
        summary[f"after {m}"]["rps_vs_before"] = c.median(
            [a["rps"] / b["rps"] for a, b in zip(after, before, strict=True)]
        )
        summary[f"after {m}"]["cpu_vs_before"] = c.median(
            [a["cpu_us"] / b["cpu_us"] for a, b in zip(after, before, strict=True)]
        )
    data = {
        "benchmark": "hotpath",
        "environment": env,
        "config": {
            "rounds": rounds,
            "seconds": seconds,
            "concurrency": args.concurrency,
            "before": args.before,
            "quick": quick,
        },
        "loadavg_per_round": loads,
        "summary": summary,
        "problems": problems,
        "rounds": raw,
    }
    path = c.write_report("hotpath", quick, data, markdown(data), args.out)
    print(path.read_text())
    return 0


def markdown(data: dict[str, Any]) -> str:
    cfg, s = data["config"], data["summary"]
    out = [
        c.env_header(
            "Proxy CPU per authorized HEAD manifest: before and after the hot-path work",
            data["environment"],
            cfg["quick"],
            cfg["rounds"],
        ).rstrip(),
        f"- load average at the start of each round: {', '.join(f'{x:.2f}' for x in data['loadavg_per_round'])}",
        "",
        f"Fast upstream, ab -k -i -c {cfg['concurrency']} for {cfg['seconds']:.0f} s per run, audit to a file, "
        f"metrics on; before = `{cfg['before']}`.",
        "",
        c.table(
            ["build", "mode", "req/s", "p50 ms", "p99 ms", "CPU µs/req"],
            [
                (*key.split(" "), c.fmt(v["rps"]), c.fmt(v["p50_ms"], 2), c.fmt(v["p99_ms"], 2), c.fmt(v["cpu_us"], 1))
                for key, v in s.items()
            ],
        ),
        "",
    ]
    rows = []
    for m in MODES:
        after = s[f"after {m}"]
        rows.append(
            (
                m,
                f"{after['rps_vs_before']:.3f}",
                f"{after['cpu_vs_before']:.3f}",
                f"{after['cpu_us']:.0f} µs",
                c.verdict(after["cpu_us"] <= TARGET_US),
            )
        )
    out.append(c.table(["mode", "req/s after/before", "CPU after/before", "CPU after", "≤ 100 µs"], rows))
    if data["problems"]:
        out += ["", "Problems:", "", *[f"- {p}" for p in data["problems"]]]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
