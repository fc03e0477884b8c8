#!/usr/bin/env python3
"""What the edge's hardening costs: authorized HEAD manifest, before and after, in one run.

Two regproxies side by side in front of the fast upstream (``bench/fast_upstream.py``), same
config (``workers: 1``, example identities and policies, audit to a file): "before" runs the
source tree of a given git revision (default: the first parent of the hardening, checked out
into a temporary folder with ``git archive``), "after" runs this tree (the owned connection layer, the framing
scanner, bounded bodies, log redaction, login auditing). Each round measures both with
``ab -k -i -c 32`` and Basic alice, the order rotated each round; reported: the median
requests/s, p50/p99 and regproxy CPU per request of each, and the median of the per-round
ratios after/before.

    python bench/hardening_cost.py [--quick] [--before REV] [--rounds N] [--seconds S]

Writes bench/results/hardening_cost.{md,json} (``.quick.`` for a quick run).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as c

TARGETS = ("before", "after")


def launcher(source: Path) -> tuple[str, ...]:
    """``python -m regproxy`` importing regproxy from ``source`` ahead of this tree."""
    code = f"import sys, runpy; sys.path.insert(0, {str(source)!r}); runpy.run_module('regproxy', run_name='__main__')"
    return (sys.executable, "-c", code)


def main() -> int:
    parser = c.base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="fa612ca", help="the git revision measured as 'before'")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, help="seconds per ab run (default 5, quick 2)")
    args = parser.parse_args()
    quick = args.quick
    rounds = args.rounds or (2 if quick else 6)
    seconds = args.seconds or (2.0 if quick else 5.0)
    env = c.environment()
    problems: list[str] = []
    worktree = Path(tempfile.mkdtemp(prefix="regproxy-before-"))
    # the old tree's files only (git archive): the repository's worktrees and refs stay untouched
    archive = subprocess.run(
        ["git", "-C", str(c.REPO), "archive", args.before, "regproxy"], check=True, capture_output=True
    )
    subprocess.run(["tar", "-x", "-C", str(worktree)], input=archive.stdout, check=True)
    try:
        with c.Bench("hardening", keep=args.keep_workdir) as bench:
            fast = bench.fast_upstream()
            proxies = {
                "before": bench.regproxy(fast, name="before", command=launcher(worktree)),
                "after": bench.regproxy(fast, name="after"),
            }
            headers = c.head_headers(c.basic(*c.ALICE))
            urls = {t: f"{p.url}/v2/{c.BENCH_REPO}/manifests/latest" for t, p in proxies.items()}
            for t in TARGETS:
                c.check_head(urls[t], headers)
                c.run_ab(urls[t], seconds=1, concurrency=args.concurrency, headers=headers, min_requests=1)
            raw: dict[str, list[dict[str, Any]]] = {t: [] for t in TARGETS}
            for r in range(rounds):
                c.log(f"round {r + 1} of {rounds}")
                for t in c.rotated(TARGETS, r):
                    res = c.head_run(
                        urls[t],
                        seconds=seconds,
                        headers=headers,
                        measure={"proxy": proxies[t], "upstream": fast},
                        concurrency=args.concurrency,
                        problems=problems,
                    )
                    m = {
                        "rps": res["rps"],
                        "p50_ms": res["p50_ms"],
                        "p99_ms": res["p99_ms"],
                        "proxy_cpu_us_per_req": res["cpu_us_per_req"]["proxy"],
                        "requests": res["complete"],
                    }
                    raw[t].append(m)
                    c.log(
                        f"  {t:6s} rps={m['rps']:,.0f} p50={m['p50_ms']:.2f}ms cpu={m['proxy_cpu_us_per_req']:.1f}us/req"
                    )
    finally:
        shutil.rmtree(worktree, ignore_errors=True)
    rps = {t: [m["rps"] for m in ms] for t, ms in raw.items()}
    cpu = {t: [m["proxy_cpu_us_per_req"] for m in ms] for t, ms in raw.items()}
    summary = {
        t: {
            "rps": c.median(rps[t]),
            "p50_ms": c.median([m["p50_ms"] for m in raw[t]]),
            "p99_ms": c.median([m["p99_ms"] for m in raw[t]]),
            "proxy_cpu_us_per_req": c.median(cpu[t]),
        }
        for t in TARGETS
    }
    summary["after"]["rps_vs_before"] = c.paired_ratios(rps, "before")["after"]
    summary["after"]["cpu_vs_before"] = c.paired_ratios(cpu, "before")["after"]
    data = {
        "benchmark": "hardening_cost",
        "environment": env,
        "config": {"rounds": rounds, "seconds": seconds, "concurrency": args.concurrency, "before": args.before},
        "summary": summary,
        "problems": problems,
        "rounds": raw,
    }
    path = c.write_report("hardening_cost", quick, data, markdown(data), args.out)
    print(path.read_text())
    return 0


def markdown(data: dict[str, Any]) -> str:
    cfg, s = data["config"], data["summary"]
    out = [
        "# The hardening's cost on authorized HEAD",
        "",
        f"{cfg['rounds']} interleaved rounds of {cfg['seconds']:.0f} s, `ab -k -c {cfg['concurrency']}`, Basic alice, "
        f"fast upstream; before = `{cfg['before']}`.",
        "",
        "| build | requests/s (median) | p50 ms | p99 ms | regproxy CPU µs/request |",
        "|---|---:|---:|---:|---:|",
    ]
    for t in TARGETS:
        x = s[t]
        out.append(
            f"| {t} | {x['rps']:,.0f} | {x['p50_ms']:.2f} | {x['p99_ms']:.2f} | {x['proxy_cpu_us_per_req']:.1f} |"
        )
    after = s["after"]
    out += [
        "",
        f"after/before, median of per-round ratios: requests/s {after['rps_vs_before']:.3f}, "
        f"CPU per request {after['cpu_vs_before']:.3f}.",
    ]
    if data["problems"]:
        out += ["", "Problems:", *[f"- {p}" for p in data["problems"]]]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
