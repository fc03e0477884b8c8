#!/usr/bin/env python3
"""Does regproxy scale with ``workers:``? HEAD manifest requests/s with 1 and 2 worker processes.

Two regproxy instances in front of the fast upstream (``bench/fast_upstream.py``), one with
``workers: 1`` and one with ``workers: 2`` (SO_REUSEPORT), both production-like: authorization
on (Basic alice on every request, the example identities and policies), the audit log to a
file, the admin listener with /metrics on. For reference, the bare aiohttp relay
(``bench/bare_relay.py``, no auth/audit/metrics) with 1 and 2 processes, and the fast upstream
itself ("direct"). Interleaved rounds of ``ab -k -i -c 32`` for a fixed time each.

Reported: requests/s, p50/p99, CPU per request (all of an instance's processes), the scaling
ratio workers 2 / workers 1, regproxy / bare relay at the same process count; and, as a check
that the work was really done, the audit lines written and the requests counted in /metrics.

On this 2-core machine ab, the fast upstream and the proxy share the cores, so 2 workers cannot
double the rate: compare with the bare relay's own scaling in the same run (a reference point
taken earlier on this machine: about 7,000 req/s with one process, 14,000 with two).

    python bench/workers.py [--quick] [--no-reference]

Writes bench/results/workers.{md,json} (``.quick.`` for a quick run).
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as c


def main() -> int:
    parser = c.base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, help="seconds per ab run (default 8, quick 2)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--no-reference", action="store_true", help="leave out the bare relay and direct")
    args = parser.parse_args()
    quick = args.quick
    rounds = args.rounds or (2 if quick else 5)
    seconds = args.seconds or (2 if quick else 8)
    env = c.environment()
    problems: list[str] = []
    headers = c.head_headers(c.basic(*c.ALICE))
    path = f"/v2/{c.BENCH_REPO}/manifests/latest"

    with c.Bench("workers", keep=args.keep_workdir) as bench:
        fast = bench.fast_upstream()
        services: dict[str, c.Service] = {
            "regproxy-w1": bench.regproxy(fast, "regproxy-w1", workers=1, audit="file"),
            "regproxy-w2": bench.regproxy(fast, "regproxy-w2", workers=2, audit="file"),
        }
        if not args.no_reference:
            services["bare-relay-1"] = bench.bare_relay(fast, "bare-relay-1", workers=1)
            services["bare-relay-2"] = bench.bare_relay(fast, "bare-relay-2", workers=2)
            services["direct"] = fast
        for s in services.values():
            c.check_head(s.url + path, headers)
            c.run_ab(s.url + path, seconds=1, concurrency=args.concurrency, headers=headers, min_requests=1)
        # every worker has verified alice once (Basic cache is per process): warm them all
        for name in ("regproxy-w2",):
            for _ in range(20):
                c.check_head(services[name].url + path, headers)
        sent = dict.fromkeys(services, 0)
        raw: dict[str, list[dict[str, Any]]] = {name: [] for name in services}
        targets = list(services)
        for r in range(rounds):
            c.log(f"round {r + 1} of {rounds}")
            for name in c.rotated(targets, r):
                s = services[name]
                measure = {"self": s} if s is fast else {"self": s, "upstream": fast}
                res = c.head_run(
                    s.url + path,
                    seconds=seconds,
                    headers=headers,
                    measure=measure,
                    concurrency=args.concurrency,
                    problems=problems,
                    warm_connections=8,
                )
                sent[name] += res["complete"]
                m = {
                    "rps": res["rps"],
                    "p50_ms": res["p50_ms"],
                    "p99_ms": res["p99_ms"],
                    "cpu_us_per_req": res["cpu_us_per_req"]["self"],
                    "requests": res["complete"],
                    "processes": len(s.pids()),
                }
                raw[name].append(m)
                c.log(
                    f"  {name:13s} rps={m['rps']:,.0f} p50={m['p50_ms']:.2f}ms p99={m['p99_ms']:.2f}ms "
                    f"cpu={m['cpu_us_per_req']:.1f}us/req"
                )
        checks = {}
        for name in ("regproxy-w1", "regproxy-w2"):
            s = services[name]
            c.http_request("GET", s.extra["admin"] + "/healthz")
            time.sleep(1.5)  # worker metrics snapshots are written every second
            status, _, body = c.http_request("GET", s.extra["admin"] + "/metrics")
            counted = sum(
                float(v)
                for v in re.findall(
                    r'^regproxy_requests_total\{[^}]*status="200"[^}]*\} ([0-9.e+]+)$', body.decode(), re.M
                )
            )
            audit_lines = _count_lines(s.extra["audit_path"])
            checks[name] = {
                "metrics_status": status,
                "requests_200_in_metrics": counted,
                "audit_lines": audit_lines,
                "sent_in_measured_runs": sent[name],
            }

    rps = {n: [m["rps"] for m in ms] for n, ms in raw.items()}
    summary: dict[str, Any] = {
        n: {
            "rps": c.median(rps[n]),
            "p50_ms": c.median([m["p50_ms"] for m in ms]),
            "p99_ms": c.median([m["p99_ms"] for m in ms]),
            "cpu_us_per_req": c.median([m["cpu_us_per_req"] for m in ms]),
        }
        for n, ms in raw.items()
    }
    ratios = {
        "regproxy w2 / w1": c.median([b / a for a, b in zip(rps["regproxy-w1"], rps["regproxy-w2"], strict=True)])
    }
    if "bare-relay-1" in rps:
        ratios["bare relay 2 / 1"] = c.median(
            [b / a for a, b in zip(rps["bare-relay-1"], rps["bare-relay-2"], strict=True)]
        )
        ratios["regproxy / bare relay, 1 process"] = c.median(
            [a / b for a, b in zip(rps["regproxy-w1"], rps["bare-relay-1"], strict=True)]
        )
        ratios["regproxy / bare relay, 2 processes"] = c.median(
            [a / b for a, b in zip(rps["regproxy-w2"], rps["bare-relay-2"], strict=True)]
        )
    data = {
        "benchmark": "workers",
        "environment": env,
        "config": {
            "rounds": rounds,
            "seconds": seconds,
            "concurrency": args.concurrency,
            "quick": quick,
            "audit": "file",
            "metrics": "admin /metrics on",
            "authorization": "Basic alice",
        },
        "summary": summary,
        "ratios": ratios,
        "checks": checks,
        "problems": problems,
        "rounds": raw,
    }
    path_md = c.write_report("workers", quick, data, markdown(data), args.out)
    print(path_md.read_text())
    c.log(f"report: {path_md}")
    return 0


def _count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as f:
            return sum(1 for _ in f)
    except OSError:
        return 0


def markdown(data: dict[str, Any]) -> str:
    cfg, s = data["config"], data["summary"]
    out = [
        c.env_header(
            "workers: regproxy with 1 and 2 worker processes", data["environment"], cfg["quick"], cfg["rounds"]
        )
    ]
    out.append(
        f"Setup: fast upstream; regproxy with authorization (Basic alice), audit to a file, admin /metrics on; "
        f"ab -k -i -c {cfg['concurrency']} for {cfg['seconds']:.0f}s per run. The bare aiohttp relay "
        "(no auth, audit or metrics) is the framework's floor. Reference taken earlier on this machine: "
        "bare relay about 7,000 req/s with 1 process, 14,000 with 2.\n"
    )
    rows = [
        (n, c.fmt(x["rps"]), c.fmt(x["p50_ms"], 2), c.fmt(x["p99_ms"], 2), c.fmt(x["cpu_us_per_req"], 1))
        for n, x in s.items()
    ]
    out.append(c.table(["target", "req/s", "p50 ms", "p99 ms", "CPU us/req (all its processes)"], rows))
    out.append("")
    out.append(c.table(["ratio", "median of per-round ratios"], [(k, c.fmt(v, 2)) for k, v in data["ratios"].items()]))
    out.append("")
    out.append("Checks (whole run, warm-up included):\n")
    out.append(
        c.table(
            ["instance", "/metrics", "200s counted in /metrics", "audit lines", "sent in measured runs"],
            [
                (
                    n,
                    x["metrics_status"],
                    c.fmt(x["requests_200_in_metrics"]),
                    c.fmt(x["audit_lines"]),
                    c.fmt(x["sent_in_measured_runs"]),
                )
                for n, x in data["checks"].items()
            ],
        )
    )
    for problem in data["problems"]:
        out.append(f"- RETRIED a broken ab run: {problem}")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
