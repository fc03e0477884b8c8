#!/usr/bin/env python3
"""Run every regproxy benchmark in sequence (``make bench``), each in its own process.

    python bench/run_all.py            # full runs (about 14 minutes on 2 cores)
    python bench/run_all.py --quick    # smoke runs (a few minutes)
    python bench/run_all.py --only workers --only auth_modes

Each benchmark writes its own report to bench/results/; this writes
bench/results/run_all.md (``run_all.quick.md``) listing what ran, how long it took, whether it
succeeded, and each report's target table. A benchmark that fails does not stop the others;
the exit status is non-zero if any failed (auth_modes exits 2 when a mode, such as Bearer,
cannot be measured).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import common as c

# name -> (script, time limit in seconds for a full run, for a quick run)
BENCHMARKS = {
    "proxy_throughput": ("proxy_throughput.py", 3600, 900),
    "auth_modes": ("auth_modes.py", 1800, 600),
    "workers": ("workers.py", 1800, 600),
    "decisions": ("decisions.py", 1800, 600),  # the policy engine alone (in-process)
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke runs: small sizes, few rounds")
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), help="run only these (repeatable)")
    args = parser.parse_args()
    chosen = [n for n in BENCHMARKS if not args.only or n in args.only]
    env = c.environment()
    results = []
    for name in chosen:
        script, full_limit, quick_limit = BENCHMARKS[name]
        path = BENCH / script
        if not path.exists():
            results.append((name, "missing", 0.0))
            continue
        argv = [sys.executable, str(path), *(["--quick"] if args.quick else [])]
        c.log(f"=== {name}: {' '.join(argv[1:])}")
        started = time.monotonic()
        try:
            code = subprocess.run(
                argv, cwd=BENCH.parent, timeout=quick_limit if args.quick else full_limit, check=False
            ).returncode
            status = "ok" if code == 0 else f"FAILED (exit {code})"
        except subprocess.TimeoutExpired:
            status = "FAILED (time limit)"
        results.append((name, status, time.monotonic() - started))
        c.log(f"=== {name}: {status} in {results[-1][2]:.0f}s")

    stem = "run_all.quick" if args.quick else "run_all"
    lines = [
        f"# regproxy benchmarks{' (quick smoke runs)' if args.quick else ''}",
        "",
        f"- date: {env['date']}, commit {env['commit']}{' (regproxy/ has uncommitted changes)' if env['dirty'] else ''}",
        f"- machine: {env['cpus']} CPUs ({env['cpu_model']})",
        "",
        c.table(
            ["benchmark", "status", "seconds", "report"],
            [(n, s, f"{t:.0f}", _report_name(n, args.quick)) for n, s, t in results],
        ),
        "",
    ]
    for name, _status, _ in results:
        report = c.RESULTS / _report_name(name, args.quick)
        targets = _section(report, "## Targets")
        if targets:
            lines += [f"## {name}: targets", "", targets, ""]
    c.RESULTS.mkdir(parents=True, exist_ok=True)
    (c.RESULTS / f"{stem}.md").write_text("\n".join(lines).rstrip() + "\n")
    print("\n".join(lines))
    return 0 if all(s == "ok" for _, s, _ in results) else 1


def _report_name(name: str, quick: bool) -> str:
    if name == "decisions":  # its own naming
        return "decisions-quick.md" if quick else "decisions.md"
    return f"{name}.quick.md" if quick else f"{name}.md"


def _section(path: Path, heading: str) -> str:
    try:
        text = path.read_text()
    except OSError:
        return ""
    if heading not in text:
        return ""
    body = text.split(heading, 1)[1]
    return body.split("\n## ", 1)[0].strip()


if __name__ == "__main__":
    sys.exit(main())
