#!/usr/bin/env python3
"""regproxy as a transparent edge: streaming throughput, HEAD rate, CPU and memory.

Starts the real registry (CNCF distribution, ``scripts/registry.sh``), nginx as the
conventional streaming reverse proxy in front of it, regproxy in front of it with authorization
on (Basic ``alice`` on every request, as docker does; the example identities and policies;
audit to a file), and the fast upstream (``bench/fast_upstream.py``) with its own nginx and
regproxy in front; then measures, in interleaved rounds (targets rotated each round):

  (a) pull of one blob (1 GiB of random bytes, pushed once directly), 1 stream and 4 concurrent
      streams, by curl discarding the bytes: MiB/s;
  (b) push of a 512 MiB blob (POST, then one streamed monolithic PUT by curl): MiB/s;
  (c) HEAD manifest at 32 keep-alive connections (ab -k -i -c 32) against the registry and
      against the fast upstream (which isolates the proxy's own cost): requests/s, p50, p99;
  (d) the proxy's CPU time (utime+stime from /proc) per HEAD request and per GiB streamed;
  (e) regproxy's peak RSS (VmHWM, reset just before) while four 1 GiB blobs stream.

Ratios are against "direct" (the client talking to the registry or fast upstream itself) and,
for pulls, regproxy against nginx, each the median of the per-round ratios.

    python bench/proxy_throughput.py            # full run (several minutes)
    python bench/proxy_throughput.py --quick    # smoke run (small blobs, short HEAD runs)

Writes bench/results/proxy_throughput.{md,json} (``.quick.`` for a quick run).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as c

MIB = 1 << 20
GIB = 1 << 30

SECTIONS = ("pull1", "pull4", "push", "head_registry", "head_fast")


def main() -> int:
    parser = c.base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--blob-mib", type=int, help="pulled blob size (default 1024, quick 64)")
    parser.add_argument("--push-mib", type=int, help="pushed blob size (default 512, quick 32)")
    parser.add_argument("--streams", type=int, default=4, help="concurrent pull streams (default 4)")
    parser.add_argument("--head-seconds", type=float, help="seconds per HEAD run (default 8, quick 2)")
    parser.add_argument("--concurrency", type=int, default=32, help="HEAD connections (default 32)")
    parser.add_argument(
        "--nginx-workers",
        type=int,
        default=1,
        help="nginx worker processes (default 1, like regproxy's default `workers: 1`)",
    )
    parser.add_argument(
        "--tuned-buffer",
        default="256k",
        help="proxy_buffer_size of the extra 'nginx-tuned' target in the streaming sections "
        "(default %(default)s; 'none' leaves that target out)",
    )
    parser.add_argument("--regproxy-workers", type=int, default=1, help="regproxy `workers:` (default 1)")
    parser.add_argument(
        "--audit", choices=("file", "off"), default="file", help="regproxy's audit log: to a file (default) or off"
    )
    parser.add_argument("--skip", action="append", default=[], choices=SECTIONS, help="leave out a section")
    args = parser.parse_args()
    quick = args.quick
    rounds = args.rounds or (2 if quick else 5)
    blob_size = (args.blob_mib or (64 if quick else 1024)) * MIB
    push_size = (args.push_mib or (32 if quick else 512)) * MIB
    head_seconds = args.head_seconds or (2 if quick else 8)
    sections = [s for s in SECTIONS if s not in args.skip]
    env = c.environment()
    alice = c.basic(*c.ALICE)
    head_headers = c.head_headers(alice)

    with c.Bench("throughput", keep=args.keep_workdir) as bench:
        c.log(f"work directory {bench.workdir}")
        registry = bench.registry()
        nginx = bench.nginx(registry, workers=args.nginx_workers)
        regproxy = bench.regproxy(registry, workers=args.regproxy_workers, audit=args.audit)
        fast = bench.fast_upstream()
        nginx_fast = bench.nginx(fast, "nginx-fast", workers=args.nginx_workers)
        regproxy_fast = bench.regproxy(fast, "regproxy-fast", workers=args.regproxy_workers, audit=args.audit)
        real = {"direct": registry, "nginx": nginx, "regproxy": regproxy}
        streaming = dict(real)
        if args.tuned_buffer != "none":  # nginx with bigger reads: what a tuned conventional proxy does
            streaming = {
                "direct": registry,
                "nginx": nginx,
                "nginx-tuned": bench.nginx(
                    registry, "nginx-tuned", workers=args.nginx_workers, buffer_size=args.tuned_buffer
                ),
                "regproxy": regproxy,
            }
        fastt = {"direct": fast, "nginx": nginx_fast, "regproxy": regproxy_fast}

        with c.timed("seeding the registry"):
            c.seed_manifest(registry.url)
            pull_file = bench.workdir / "pull.blob"
            push_file = bench.workdir / "push.blob"
            pull_digest = c.make_random_file(pull_file, blob_size)
            push_digest = c.make_random_file(push_file, push_size)
            c.push_blob_file(registry.url, c.BENCH_REPO, pull_file, pull_digest, c.ALICE)
            pull_file.unlink()  # only the registry's copy is needed from now on

        manifest_path = f"/v2/{c.BENCH_REPO}/manifests/latest"
        blob_path = f"/v2/{c.BENCH_REPO}/blobs/{pull_digest}"
        for group in (real, fastt):
            for service in group.values():
                c.check_head(service.url + manifest_path, head_headers)  # also warms the Basic cache
        for name, service in streaming.items():  # a blob answers through every path
            status, _, _ = c.http_request(
                "GET", service.url + blob_path, {"Authorization": alice, "Range": "bytes=0-1023"}
            )
            if status not in (200, 206):
                raise RuntimeError(f"GET blob through {name} answered {status}")
        for group in (real, fastt):  # warm-up: connection pools, caches, the interpreter
            for service in group.values():
                c.run_ab(
                    service.url + manifest_path,
                    seconds=1,
                    concurrency=args.concurrency,
                    headers=head_headers,
                    min_requests=1,
                )

        # peak RSS so far: start-up, warm-up and the first Basic verification (scrypt), before
        # any reset of VmHWM; idle RSS now
        startup_hwm = {
            name: c.hwm_bytes(s.pids())
            for name, s in (("regproxy", regproxy), ("regproxy-fast", regproxy_fast), ("nginx", nginx))
        }
        idle_rss = {
            name: c.rss_bytes(s.pids())
            for name, s in (("regproxy", regproxy), ("regproxy-fast", regproxy_fast), ("nginx", nginx))
        }
        problems: list[str] = []
        raw: dict[str, dict[str, list[dict[str, Any]]]] = {
            s: {t: [] for t in (real if s.startswith("head") else streaming)} for s in sections
        }
        for r in range(rounds):
            c.log(f"round {r + 1} of {rounds}")
            for section in sections:
                for name in c.rotated(list(raw[section]), r):
                    if not section.startswith("head"):  # (head_run warms its own target)
                        c.warm(streaming[name].url + manifest_path, head_headers)
                    if section.startswith("head"):
                        group = real if section == "head_registry" else fastt
                        m = _head(
                            group[name],
                            group["direct"],
                            manifest_path,
                            head_headers,
                            head_seconds,
                            args.concurrency,
                            problems,
                        )
                    elif section == "push":
                        m = _push(streaming[name], registry, push_file, push_digest, push_size)
                    else:
                        streams = 1 if section == "pull1" else args.streams
                        m = _pull(streaming[name], registry, blob_path, streams, blob_size)
                    raw[section][name].append(m)
                    c.log(
                        f"  {section:13s} {name:8s} "
                        + ", ".join(f"{k}={v:,.1f}" for k, v in m.items() if isinstance(v, float))
                    )
        audit_lines = _count_lines(regproxy.extra["audit_path"]) + _count_lines(regproxy_fast.extra["audit_path"])

    data = summarize(
        raw,
        env,
        {
            "rounds": rounds,
            "blob_bytes": blob_size,
            "push_bytes": push_size,
            "streams": args.streams,
            "head_seconds": head_seconds,
            "concurrency": args.concurrency,
            "nginx_workers": args.nginx_workers,
            "regproxy_workers": args.regproxy_workers,
            "audit": args.audit,
            "quick": quick,
            "tuned_buffer": args.tuned_buffer,
            "nginx_conf": nginx.extra["conf"],
            "regproxy_config": regproxy.extra["config"],
        },
        startup_hwm,
        idle_rss,
        audit_lines,
    )
    data["problems"] = problems
    path = c.write_report("proxy_throughput", quick, data, markdown(data), args.out)
    print(path.read_text())
    c.log(f"report: {path}")
    return 0


def _count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as f:
            return sum(1 for _ in f)
    except OSError:
        return 0


def _head(
    service: c.Service,
    upstream: c.Service,
    path: str,
    headers: dict[str, str],
    seconds: float,
    concurrency: int,
    problems: list[str],
) -> dict[str, Any]:
    proxied = service is not upstream
    measure = {"proxy": service, "upstream": upstream} if proxied else {"upstream": upstream}
    result = c.head_run(
        service.url + path,
        seconds=seconds,
        headers=headers,
        measure=measure,
        concurrency=concurrency,
        problems=problems,
    )
    cpu = result["cpu_us_per_req"]
    return {
        "rps": result["rps"],
        "p50_ms": result["p50_ms"],
        "p99_ms": result["p99_ms"],
        "proxy_cpu_us_per_req": cpu.get("proxy", float("nan")),
        "upstream_cpu_us_per_req": cpu["upstream"],
        "requests": result["complete"],
    }


def _pull(service: c.Service, registry: c.Service, path: str, streams: int, size: int) -> dict[str, Any]:
    proxied = service is not registry
    pids = service.pids()
    if proxied:
        c.reset_hwm(pids)
    cpu0, up0 = service.cpu(), registry.cpu()
    with c.RssSampler(pids if proxied else []) as sampler:
        t = c.pull_blobs([service.url + path] * streams, c.ALICE, size)
    cpu1, up1 = service.cpu(), registry.cpu()
    gib = t.bytes / GIB
    out: dict[str, Any] = {
        "mib_s": t.bytes / MIB / t.seconds,
        "seconds": t.seconds,
        "proxy_cpu_s_per_gib": (cpu1 - cpu0) / gib if proxied else float("nan"),
        "registry_cpu_s_per_gib": (up1 - up0) / gib,
    }
    if proxied:
        out["peak_rss_mib"] = c.hwm_bytes(pids) / MIB  # VmHWM since the reset
        out["sampled_peak_rss_mib"] = sampler.peak / MIB
    return out


def _push(service: c.Service, registry: c.Service, file: Path, digest: str, size: int) -> dict[str, Any]:
    proxied = service is not registry
    cpu0, up0 = service.cpu(), registry.cpu()
    t = c.push_blob_file(service.url, c.BENCH_REPO, file, digest, c.ALICE)
    cpu1, up1 = service.cpu(), registry.cpu()
    gib = size / GIB
    return {
        "mib_s": size / MIB / t.seconds,
        "seconds": t.seconds,
        "proxy_cpu_s_per_gib": (cpu1 - cpu0) / gib if proxied else float("nan"),
        "registry_cpu_s_per_gib": (up1 - up0) / gib,
    }


def _series(raw: dict[str, list[dict[str, Any]]], key: str) -> dict[str, list[float]]:
    return {t: [m[key] for m in ms] for t, ms in raw.items()}


def summarize(
    raw: dict[str, dict[str, list[dict[str, Any]]]],
    env: dict[str, Any],
    config: dict[str, Any],
    startup_hwm: dict[str, int],
    idle_rss: dict[str, int],
    audit_lines: int,
) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for section, per_target in raw.items():
        metric = "rps" if section.startswith("head") else "mib_s"
        values = _series(per_target, metric)
        s: dict[str, Any] = {
            "metric": metric,
            "median": {t: c.median(v) for t, v in values.items()},
            "ratio_vs_direct": c.paired_ratios(values, "direct"),
        }
        if section.startswith("pull"):
            s["regproxy_vs_nginx"] = c.paired_ratios(values, "nginx")["regproxy"]
            if "nginx-tuned" in values:
                s["regproxy_vs_nginx_tuned"] = c.paired_ratios(values, "nginx-tuned")["regproxy"]
        for key in {k for ms in per_target.values() for m in ms for k in m} - {metric}:
            s[key] = {t: c.median([m[key] for m in ms if key in m]) for t, ms in per_target.items()}
        if section.startswith("pull"):
            s["peak_rss_mib_max"] = {
                t: max((m["peak_rss_mib"] for m in ms if "peak_rss_mib" in m), default=float("nan"))
                for t, ms in per_target.items()
            }
            s["peak_rss_mib_median"] = {
                t: c.median([m["peak_rss_mib"] for m in ms if "peak_rss_mib" in m]) for t, ms in per_target.items()
            }
        summary[section] = s

    def get(section: str, *path: str) -> float:
        node: Any = summary.get(section)
        for p in path:
            if node is None:
                return float("nan")
            node = node.get(p)
        return float("nan") if node is None else float(node)

    quick = config["quick"]
    full_size = not quick and config["blob_bytes"] >= GIB and config["streams"] >= 4
    targets = [
        {
            "what": "pull, 1 stream: regproxy / nginx (same run)",
            "target": ">= 1.00",
            "value": get("pull1", "regproxy_vs_nginx"),
            "ok": _cmp(get("pull1", "regproxy_vs_nginx"), 1.0),
        },
        {
            "what": f"pull, {config['streams']} streams: regproxy / nginx (same run)",
            "target": ">= 1.00",
            "value": get("pull4", "regproxy_vs_nginx"),
            "ok": _cmp(get("pull4", "regproxy_vs_nginx"), 1.0),
        },
        *(
            [
                {
                    "what": f"(context) pull, 1 / {config['streams']} streams: regproxy / nginx-tuned "
                    f"(proxy_buffer_size {config['tuned_buffer']})",
                    "target": "(none)",
                    "value": get("pull1", "regproxy_vs_nginx_tuned"),
                    "value2": get("pull4", "regproxy_vs_nginx_tuned"),
                    "ok": None,
                }
            ]
            if config["tuned_buffer"] != "none"
            else []
        ),
        {
            "what": "push: regproxy / direct",
            "target": ">= 0.95",
            "value": get("push", "ratio_vs_direct", "regproxy"),
            "ok": _cmp(get("push", "ratio_vs_direct", "regproxy"), 0.95),
        },
        {
            "what": "CPU per authorized HEAD, regproxy -> fast upstream (us)",
            "target": "< 100",
            "value": get("head_fast", "proxy_cpu_us_per_req", "regproxy"),
            "ok": _cmp(100.0, get("head_fast", "proxy_cpu_us_per_req", "regproxy"), strict=True),
        },
        {
            "what": "HEAD rate: regproxy / direct registry",
            "target": ">= 0.90",
            "value": get("head_registry", "ratio_vs_direct", "regproxy"),
            "ok": _cmp(get("head_registry", "ratio_vs_direct", "regproxy"), 0.90),
        },
        {
            "what": f"peak RSS while {config['streams']} blobs of {config['blob_bytes'] // MIB} MiB stream (MiB), "
            "highest / median of the rounds",
            "target": "< 64" + ("" if full_size else " (only meaningful with 4 x 1 GiB)"),
            "value": get("pull4", "peak_rss_mib_max", "regproxy"),
            "value2": get("pull4", "peak_rss_mib_median", "regproxy"),
            "ok": _cmp(64.0, get("pull4", "peak_rss_mib_max", "regproxy"), strict=True),
        },
    ]
    return {
        "benchmark": "proxy_throughput",
        "environment": env,
        "config": config,
        "targets": targets,
        "summary": summary,
        "startup_peak_rss_mib": {k: v / MIB for k, v in startup_hwm.items()},
        "idle_rss_mib": {k: v / MIB for k, v in idle_rss.items()},
        "audit_events_written": audit_lines,
        "rounds": raw,
    }


def _cmp(a: float, b: float, strict: bool = False) -> bool | None:
    if a != a or b != b:
        return None
    return a > b if strict else a >= b


def _rss(x: dict[str, Any], n: str) -> str:
    top = x.get("peak_rss_mib_max", {}).get(n, float("nan"))
    mid = x.get("peak_rss_mib_median", {}).get(n, float("nan"))
    return "n/a" if top != top else f"{top:.1f} / {mid:.1f}"


def markdown(data: dict[str, Any]) -> str:
    cfg, s = data["config"], data["summary"]
    out = [
        c.env_header(
            "proxy_throughput: regproxy vs nginx vs the registry direct",
            data["environment"],
            cfg["quick"],
            cfg["rounds"],
        )
    ]
    out.append(
        f"Setup: regproxy `workers: {cfg['regproxy_workers']}`, authorization on (Basic alice on every request), "
        f"audit {cfg['audit']}; nginx `worker_processes {cfg['nginx_workers']}`, proxy_buffering off, "
        "proxy_request_buffering off, keepalive upstream pool, HTTP/1.1 upstream, nginx's default proxy_buffer_size "
        "(one page: with buffering off nginx reads the upstream 4 KiB at a time)"
        + (
            f"; nginx-tuned is the same with proxy_buffer_size {cfg['tuned_buffer']} (streaming sections only). "
            if cfg["tuned_buffer"] != "none"
            else ". "
        )
        + f"Pulled blob {cfg['blob_bytes'] // MIB} MiB, pushed blob {cfg['push_bytes'] // MIB} MiB, "
        f"HEAD runs of {cfg['head_seconds']:.0f}s at {cfg['concurrency']} keep-alive connections (ab -k -i).\n"
    )
    out.append("## Targets\n")
    out.append(
        c.table(
            ["what", "target", "measured", "verdict"],
            [
                (
                    t["what"],
                    t["target"],
                    c.fmt(t["value"], 2) + (f" / {c.fmt(t['value2'], 2)}" if "value2" in t else ""),
                    c.verdict(t["ok"]) if t["target"] != "(none)" else "",
                )
                for t in data["targets"]
            ],
        )
    )
    out.append("")
    if "pull1" in s or "pull4" in s or "push" in s:
        out.append("## Streaming (MiB/s, median)\n")
        rows = []
        for section, label in (
            ("pull1", "pull, 1 stream"),
            ("pull4", f"pull, {cfg['streams']} streams"),
            ("push", "push, 1 stream"),
        ):
            if section not in s:
                continue
            x = s[section]
            for n in x["median"]:
                rows.append(
                    (
                        label,
                        n,
                        c.fmt(x["median"][n]),
                        c.fmt(x["ratio_vs_direct"][n], 2),
                        c.fmt(x["proxy_cpu_s_per_gib"][n], 2),
                        c.fmt(x["registry_cpu_s_per_gib"][n], 2),
                        _rss(x, n),
                    )
                )
        out.append(
            c.table(
                [
                    "transfer",
                    "target",
                    "MiB/s",
                    "vs direct",
                    "proxy CPU s/GiB",
                    "registry CPU s/GiB",
                    "proxy peak RSS MiB (max / median)",
                ],
                rows,
            )
        )
        out.append("")
    if "head_registry" in s or "head_fast" in s:
        out.append(f"## HEAD manifest, {cfg['concurrency']} connections (median)\n")
        head_rows = []
        for section, label in (("head_registry", "real registry"), ("head_fast", "fast upstream")):
            if section not in s:
                continue
            x = s[section]
            for n in x["median"]:
                head_rows.append(
                    (
                        label,
                        n,
                        c.fmt(x["median"][n]),
                        c.fmt(x["ratio_vs_direct"][n], 2),
                        c.fmt(x["p50_ms"][n], 2),
                        c.fmt(x["p99_ms"][n], 2),
                        c.fmt(x["proxy_cpu_us_per_req"][n], 1),
                        c.fmt(x["upstream_cpu_us_per_req"][n], 1),
                    )
                )
        out.append(
            c.table(
                [
                    "upstream",
                    "target",
                    "req/s",
                    "vs direct",
                    "p50 ms",
                    "p99 ms",
                    "proxy CPU us/req",
                    "upstream CPU us/req",
                ],
                head_rows,
            )
        )
        out.append("")
    hwm, idle = data["startup_peak_rss_mib"], data["idle_rss_mib"]
    out.append("## Notes\n")
    out.append(
        f"- Memory before the measured rounds: regproxy RSS {idle.get('regproxy', 0):.1f} MiB idle, peak so far "
        f"{hwm.get('regproxy', 0):.1f} MiB (start-up, warm-up and the first Basic verification, whose scrypt "
        f"needs 32 MiB); nginx (master+workers) {idle.get('nginx', 0):.1f} MiB idle. The streaming peak above is "
        "VmHWM reset (/proc/PID/clear_refs) just before each concurrent pull, so it is the streaming window's own "
        "peak; a sampled VmRSS maximum (every 10 ms) is in the JSON as a cross-check. A round about 32 MiB (or a "
        "multiple) above the others had Basic re-verifications in its window: regproxy's verified-credential cache "
        "keeps a verification 60 s, and concurrent requests that miss it each run scrypt (32 MiB each, up to 4 at "
        "once), exactly as docker's parallel layer pulls would."
    )
    out.append(f"- Audit events written by the two regproxy instances: {data['audit_events_written']:,}.")
    out.append(
        "- CPU is utime+stime from /proc/PID/stat of the process and its children "
        "(clock-tick resolution); per request = CPU during the ab run / completed requests."
    )
    for problem in data.get("problems", []):
        out.append(f"- RETRIED a broken ab run: {problem}")
    out.append(
        "- ab speaks HTTP/1.0 with Connection: Keep-Alive; every run is checked for 0 failures, "
        "0 non-2xx answers and every request kept alive."
    )
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
