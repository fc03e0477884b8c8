#!/usr/bin/env python3
"""What each way of saying who you are costs: HEAD manifest through regproxy, by identity mode.

One regproxy (``workers: 1``, the example identities and policies, ``public: ["library/**"]``,
a token signing key) in front of the fast upstream (``bench/fast_upstream.py``), and three
kinds of client, side by side in interleaved rounds, each ``ab -k -i -c 32`` for a fixed time:

  anonymous   no Authorization, HEAD library/bench (public: anonymous may pull);
  basic       Basic alice on every request, HEAD team-a/bench (verified-credential cache on:
              only the first request pays for scrypt);
  bearer      a token from regproxy's token endpoint (discovered from the /v2/ challenge,
              fetched with Basic alice for repository:team-a/bench:pull), sent as
              ``Authorization: Bearer``. If the endpoint does not exist, this mode FAILS with
              a message saying so (it is never faked) and the script exits 2 after reporting
              the other modes.

"direct" (ab against the fast upstream itself) is the ceiling. Reported: requests/s, p50/p99,
regproxy CPU per request, ratios to direct and to anonymous.

    python bench/auth_modes.py [--quick]

Writes bench/results/auth_modes.{md,json} (``.quick.`` for a quick run).
"""

from __future__ import annotations

import json
import sys
import urllib.parse
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as c

MODES = ("anonymous", "basic", "bearer")


class BearerUnavailable(RuntimeError):
    pass


def fetch_token(proxy: c.Service, repo: str) -> str:
    """The Docker token flow, as a client does it: challenge, then GET realm with Basic."""
    status, headers, _ = c.http_request("GET", proxy.url + "/v2/")
    challenge = headers.get("www-authenticate", "")
    scheme, _, rest = challenge.partition(" ")
    params = dict(_challenge_params(rest))
    if status != 401 or scheme.lower() != "bearer" or "realm" not in params:
        # Not advertised; try the conventional path before giving up, to tell the two apart.
        probe, _, _ = c.http_request("GET", proxy.url + "/token", {"Authorization": c.basic(*c.ALICE)})
        raise BearerUnavailable(
            "regproxy's token endpoint is not available: GET /v2/ answered "
            f"{status} with WWW-Authenticate `{challenge or '(none)'}` (a Bearer challenge with a realm was "
            f"expected, tokens.signing_key is configured), and GET /token answered {probe}. "
            "The Bearer mode cannot be measured until the token service is wired in."
        )
    query = {"service": params.get("service", ""), "scope": f"repository:{repo}:pull"}
    realm = urllib.parse.urljoin(proxy.url + "/", params["realm"])
    url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
    status, _, body = c.http_request("GET", url, {"Authorization": c.basic(*c.ALICE)})
    if status != 200:
        raise BearerUnavailable(f"the token endpoint {realm} answered {status}: {body[:200]!r}")
    try:
        answer = json.loads(body)
    except ValueError:
        raise BearerUnavailable(f"the token endpoint {realm} did not answer JSON: {body[:200]!r}") from None
    token = answer.get("token") or answer.get("access_token")
    if not isinstance(token, str) or not token:
        raise BearerUnavailable(f"the token endpoint {realm} gave no token: {sorted(answer)}")
    return token


def _challenge_params(rest: str) -> list[tuple[str, str]]:
    out = []
    for part in rest.split(","):
        key, sep, value = part.strip().partition("=")
        if sep:
            out.append((key.strip().lower(), value.strip().strip('"')))
    return out


def main() -> int:
    parser = c.base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, help="seconds per ab run (default 8, quick 2)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--audit",
        choices=("file", "off"),
        default="off",
        help="regproxy's audit log (default off: this compares identity costs)",
    )
    args = parser.parse_args()
    quick = args.quick
    rounds = args.rounds or (2 if quick else 5)
    seconds = args.seconds or (2 if quick else 8)
    env = c.environment()
    problems: list[str] = []
    errors: dict[str, str] = {}

    with c.Bench("auth", keep=args.keep_workdir) as bench:
        fast = bench.fast_upstream()
        proxy = bench.regproxy(fast, public=["library/**"], audit=args.audit, tokens=True)
        urls = {
            "direct": f"{fast.url}/v2/{c.BENCH_REPO}/manifests/latest",
            "anonymous": f"{proxy.url}/v2/{c.PUBLIC_REPO}/manifests/latest",
            "basic": f"{proxy.url}/v2/{c.BENCH_REPO}/manifests/latest",
            "bearer": f"{proxy.url}/v2/{c.BENCH_REPO}/manifests/latest",
        }
        headers: dict[str, dict[str, str]] = {
            "direct": c.head_headers(None),
            "anonymous": c.head_headers(None),
            "basic": c.head_headers(c.basic(*c.ALICE)),
        }
        try:
            headers["bearer"] = c.head_headers("Bearer " + fetch_token(proxy, c.BENCH_REPO))
        except BearerUnavailable as error:
            errors["bearer"] = str(error)
            c.log(f"BEARER MODE FAILED: {error}")
        targets = [t for t in ("direct", *MODES) if t in headers]
        for t in targets:
            try:
                c.check_head(urls[t], headers[t])
            except RuntimeError as error:
                if t == "bearer":  # a token that does not authorize a pull is a failure of the mode
                    errors["bearer"] = f"HEAD with the issued token failed: {error}"
                    targets.remove(t)
                    continue
                raise
            c.run_ab(urls[t], seconds=1, concurrency=args.concurrency, headers=headers[t], min_requests=1)

        raw: dict[str, list[dict[str, Any]]] = {t: [] for t in targets}
        for r in range(rounds):
            c.log(f"round {r + 1} of {rounds}")
            if "bearer" in targets:  # a fresh token each round: never measure an expiring one
                headers["bearer"] = c.head_headers("Bearer " + fetch_token(proxy, c.BENCH_REPO))
            for t in c.rotated(targets, r):
                measure = {"upstream": fast} if t == "direct" else {"proxy": proxy, "upstream": fast}
                res = c.head_run(
                    urls[t],
                    seconds=seconds,
                    headers=headers[t],
                    measure=measure,
                    concurrency=args.concurrency,
                    problems=problems,
                )
                m = {
                    "rps": res["rps"],
                    "p50_ms": res["p50_ms"],
                    "p99_ms": res["p99_ms"],
                    "proxy_cpu_us_per_req": res["cpu_us_per_req"].get("proxy", float("nan")),
                    "requests": res["complete"],
                }
                raw[t].append(m)
                c.log(
                    f"  {t:9s} rps={m['rps']:,.0f} p50={m['p50_ms']:.2f}ms p99={m['p99_ms']:.2f}ms "
                    f"cpu={m['proxy_cpu_us_per_req']:.1f}us/req"
                )

    rps = {t: [m["rps"] for m in ms] for t, ms in raw.items()}
    summary = {
        t: {
            "rps": c.median(rps[t]),
            "p50_ms": c.median([m["p50_ms"] for m in raw[t]]),
            "p99_ms": c.median([m["p99_ms"] for m in raw[t]]),
            "proxy_cpu_us_per_req": c.median([m["proxy_cpu_us_per_req"] for m in raw[t]]),
            "vs_direct": c.paired_ratios(rps, "direct")[t],
            "vs_anonymous": c.paired_ratios(rps, "anonymous")[t] if "anonymous" in rps else float("nan"),
        }
        for t in raw
    }
    data = {
        "benchmark": "auth_modes",
        "environment": env,
        "config": {
            "rounds": rounds,
            "seconds": seconds,
            "concurrency": args.concurrency,
            "audit": args.audit,
            "quick": quick,
        },
        "summary": summary,
        "errors": errors,
        "problems": problems,
        "rounds": raw,
    }
    path = c.write_report("auth_modes", quick, data, markdown(data), args.out)
    print(path.read_text())
    c.log(f"report: {path}")
    if errors:
        for mode, message in errors.items():
            c.log(f"FAILED mode {mode}: {message}")
        return 2
    return 0


def markdown(data: dict[str, Any]) -> str:
    cfg, s = data["config"], data["summary"]
    out = [
        c.env_header(
            "auth_modes: HEAD manifest through regproxy by identity mode",
            data["environment"],
            cfg["quick"],
            cfg["rounds"],
        )
    ]
    out.append(
        f"Setup: regproxy `workers: 1` in front of the fast upstream, audit {cfg['audit']}, "
        f"ab -k -i -c {cfg['concurrency']} for {cfg['seconds']:.0f}s per run. "
        "anonymous = no credentials on a `public:` repository; basic = Basic alice on every request "
        "(verified-credential cache on); bearer = a token from regproxy's own token endpoint.\n"
    )
    rows = []
    for t in ("direct", *MODES):
        if t in s:
            x = s[t]
            rows.append(
                (
                    t,
                    c.fmt(x["rps"]),
                    c.fmt(x["vs_direct"], 2),
                    c.fmt(x["vs_anonymous"], 2),
                    c.fmt(x["p50_ms"], 2),
                    c.fmt(x["p99_ms"], 2),
                    c.fmt(x["proxy_cpu_us_per_req"], 1),
                )
            )
        else:
            rows.append((t, "FAILED", "", "", "", "", ""))
    out.append(c.table(["mode", "req/s", "vs direct", "vs anonymous", "p50 ms", "p99 ms", "regproxy CPU us/req"], rows))
    out.append("")
    for mode, error in data["errors"].items():
        out.append(f"**{mode}: FAILED** — {error}\n")
    for problem in data["problems"]:
        out.append(f"- RETRIED a broken ab run: {problem}")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
