#!/usr/bin/env python3
"""Manifest requests in front of the real registry: by tag, and by digest with and without
regproxy's manifest cache (``cache.manifests``).

The registry (``scripts/registry.sh``) with one small image, and two regproxies in front of it
(``workers: 1``, the example identities and policies, audit to a file, Basic alice on every
request): ``regproxy`` as configured by default (no cache) and ``regproxy-cache`` with
``cache.manifests.size_mib: 16``. Each round runs ``ab -k -c 32`` for a fixed time against
every target, the order rotated each round:

  HEAD by tag      direct, regproxy                 (the issue's "HEAD rate ≥ 0.90x direct")
  HEAD by digest   direct, regproxy, regproxy-cache (the cache's "≥ 3x direct")
  GET by digest    direct, regproxy, regproxy-cache

Reported: requests/s, p50/p99, the proxy's and the registry's CPU per request, and each
target's rate over direct's in the same round (median of the per-round ratios).

    python bench/manifest_cache.py [--quick] [--rounds N] [--seconds S]

Writes bench/results/manifest_cache.{md,json} (``.quick.`` for a quick run).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as c

CASES = (
    ("HEAD by tag", True, "tag", ("direct", "regproxy")),
    ("HEAD by digest", True, "digest", ("direct", "regproxy", "regproxy-cache")),
    ("GET by digest", False, "digest", ("direct", "regproxy", "regproxy-cache")),
)


def main() -> int:
    parser = c.base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, help="seconds per ab run (default 5, quick 2)")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    quick = args.quick
    rounds = args.rounds or (2 if quick else 5)
    seconds = args.seconds or (2.0 if quick else 5.0)
    env = c.environment()
    problems: list[str] = []
    raw: dict[str, dict[str, list[dict[str, Any]]]] = {case: {} for case, *_ in CASES}
    with c.Bench("manifest-cache", keep=args.keep_workdir) as bench:
        registry = bench.registry()
        services = {
            "regproxy": bench.regproxy(registry),
            "regproxy-cache": bench.regproxy(
                registry, name="regproxy-cache", extra={"cache": {"manifests": {"size_mib": 16, "ttl": 60}}}
            ),
        }
        digest = c.seed_manifest(registry.url)
        bases = {"direct": registry.url} | {name: s.url for name, s in services.items()}
        auth = c.basic(*c.ALICE)
        runs = [
            (case, head, target, f"{bases[target]}/v2/{c.BENCH_REPO}/manifests/{'latest' if ref == 'tag' else digest}")
            for case, head, ref, targets in CASES
            for target in targets
        ]
        for _case, head, _target, url in runs:
            c.check_head(url, c.head_headers(auth))
            c.run_ab(
                url, seconds=1, concurrency=args.concurrency, headers=c.head_headers(auth), min_requests=1, head=head
            )
        for r in range(rounds):
            c.log(f"round {r + 1} of {rounds}")
            for case, head, target, url in c.rotated(runs, r):
                headers = c.head_headers(auth)
                c.warm(url, headers)
                measure = {"registry": registry} | ({"proxy": services[target]} if target in services else {})
                before = {n: s.cpu() for n, s in measure.items()}
                try:
                    res = c.run_ab(url, seconds=seconds, concurrency=args.concurrency, headers=headers, head=head)
                except c.AbError as error:
                    problems.append(f"{case} {target}: {error}")
                    c.log(f"ab failed: {error}")
                    continue
                cpu = {n: (s.cpu() - before[n]) / res["complete"] * 1e6 for n, s in measure.items()}
                m = {
                    "rps": res["rps"],
                    "p50_ms": res["p50_ms"],
                    "p99_ms": res["p99_ms"],
                    "proxy_cpu_us_per_req": cpu.get("proxy", float("nan")),
                    "registry_cpu_us_per_req": cpu["registry"],
                    "requests": res["complete"],
                }
                raw[case].setdefault(target, []).append(m)
                c.log(
                    f"  {case:15s} {target:15s} rps={m['rps']:,.0f} p50={m['p50_ms']:.2f}ms "
                    f"proxy={m['proxy_cpu_us_per_req']:.0f}us registry={m['registry_cpu_us_per_req']:.0f}us"
                )
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for case, targets in raw.items():
        rps = {t: [m["rps"] for m in ms] for t, ms in targets.items()}
        ratios = c.paired_ratios(rps, "direct") if "direct" in rps else {}
        summary[case] = {
            t: {
                "rps": c.median(rps[t]),
                "p50_ms": c.median([m["p50_ms"] for m in ms]),
                "p99_ms": c.median([m["p99_ms"] for m in ms]),
                "proxy_cpu_us_per_req": c.median([m["proxy_cpu_us_per_req"] for m in ms]),
                "registry_cpu_us_per_req": c.median([m["registry_cpu_us_per_req"] for m in ms]),
                "vs_direct": ratios.get(t, float("nan")),
            }
            for t, ms in targets.items()
        }
    data = {
        "benchmark": "manifest_cache",
        "environment": env,
        "config": {"rounds": rounds, "seconds": seconds, "concurrency": args.concurrency, "quick": quick},
        "summary": summary,
        "problems": problems,
        "rounds": raw,
    }
    path = c.write_report("manifest_cache", quick, data, markdown(data), args.out)
    print(path.read_text())
    return 0


def markdown(data: dict[str, Any]) -> str:
    cfg, s = data["config"], data["summary"]
    out = [
        c.env_header(
            "Manifest requests in front of the real registry: by tag, by digest, with the manifest cache",
            data["environment"],
            cfg["quick"],
            cfg["rounds"],
        ).rstrip(),
        "",
        f"ab -k -c {cfg['concurrency']} for {cfg['seconds']:.0f} s per run, Basic alice, audit to a file; "
        "`regproxy-cache` has `cache.manifests.size_mib: 16`.",
        "",
    ]
    rows = []
    for case, targets in s.items():
        for t, m in targets.items():
            rows.append(
                (
                    case,
                    t,
                    c.fmt(m["rps"]),
                    f"{m['vs_direct']:.2f}",
                    c.fmt(m["p50_ms"], 2),
                    c.fmt(m["p99_ms"], 2),
                    c.fmt(m["proxy_cpu_us_per_req"]),
                    c.fmt(m["registry_cpu_us_per_req"]),
                )
            )
    out.append(
        c.table(
            ["request", "target", "req/s", "vs direct", "p50 ms", "p99 ms", "proxy CPU µs/req", "registry CPU µs/req"],
            rows,
        )
    )
    tag = s.get("HEAD by tag", {}).get("regproxy", {}).get("vs_direct", float("nan"))
    head = s.get("HEAD by digest", {}).get("regproxy-cache", {}).get("vs_direct", float("nan"))
    get = s.get("GET by digest", {}).get("regproxy-cache", {}).get("vs_direct", float("nan"))
    out += [
        "",
        c.table(
            ["target", "figure", "verdict"],
            [
                ("HEAD by tag ≥ 0.90x direct", f"{tag:.2f}", c.verdict(tag >= 0.90)),
                ("cache: HEAD by digest ≥ 3x direct", f"{head:.2f}", c.verdict(head >= 3.0)),
                ("cache: GET by digest ≥ 3x direct", f"{get:.2f}", c.verdict(get >= 3.0)),
            ],
        ),
    ]
    if data["problems"]:
        out += ["", "Problems:", "", *[f"- {p}" for p in data["problems"]]]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
