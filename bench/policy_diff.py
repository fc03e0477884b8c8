"""``regproxy diff`` on a day of traffic: 100,000 generated audit lines replayed through a
candidate policy set, timed end to end as an operator runs it (``python -m regproxy diff``, a
new process: start-up, loading and compiling included).

    python bench/policy_diff.py [--lines 100000] [--quick]

The lines are what the edge writes (regproxy.audit.AuditEvent with the replay fields): the
example identities (alice, bob, admin, the CI access credential, some holding tokens, and
anonymous callers), pulls, listings, blob uploads, tag pushes with their facts, deletes, over
2,000 repositories in team-a/, other-team/ and library/. The candidate is examples/policies with
one change: the readers lose ``list`` (bob's listings flip allow → deny) and alice may delete
tags in team-a/tools/* (deny → allow). The target is under 10 s for 100,000 lines.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from regproxy.audit import AuditEvent
from regproxy.authorization.replay import Replayer
from regproxy.policy.dialects import DialectContext
from regproxy.policy.evaluate import compile_policy
from regproxy.policy.load import compile_policy_set
from regproxy.reload import load_identities_file, read_policy_files

EXAMPLES = ROOT / "examples"
CALLERS = (
    {"principal": "user:alice", "principal_kind": "user", "groups": ["team-a-devs"]},
    {"principal": "user:bob", "principal_kind": "user", "groups": ["team-a-readers"]},
    {"principal": "user:admin", "principal_kind": "user", "groups": ["registry-admins"]},
    {
        "principal": "service-account:ci",
        "principal_kind": "service-account",
        "groups": ["team-a-devs"],
        "credential": "rpc-ci-pull",
        "credential_scope": {"name": "containerRegistry:pull", "parts": [["**=catalog,list,pull"]]},
    },
    {
        "principal": "user:alice",
        "principal_kind": "user",
        "groups": ["team-a-devs"],
        "token_access": {"name": "token", "parts": [["team-a/app0=pull,list"]]},
    },
    {"principal": "anonymous", "principal_kind": "anonymous", "groups": []},
)
DIGEST = "sha256:" + "ab" * 32


def request(rng: random.Random, repository: str) -> tuple[str, str, str, str, str, dict[str, bool]]:
    """(method, route, path, action, reference, facts)."""
    kind = rng.random()
    if kind < 0.55:
        return "GET", "manifest", f"/v2/{repository}/manifests/v1.{rng.randrange(5)}", "pull", "v1.0", {}
    if kind < 0.75:
        return "GET", "blob", f"/v2/{repository}/blobs/{DIGEST}", "pull", DIGEST, {}
    if kind < 0.85:
        return "GET", "tags", f"/v2/{repository}/tags/list", "list", "", {}
    if kind < 0.92:
        facts = {f"repository {repository} exists": True}
        return "POST", "upload-start", f"/v2/{repository}/blobs/uploads/", "push", "", facts
    if kind < 0.97:
        tag = rng.choice(("latest", "v2.0", "dev"))
        facts = {f"repository {repository} exists": True, f"tag {repository}:{tag} exists": rng.random() < 0.5}
        return "PUT", "manifest", f"/v2/{repository}/manifests/{tag}", "push", tag, facts
    tag = f"build-{rng.randrange(3)}"
    return "DELETE", "manifest", f"/v2/{repository}/manifests/{tag}", "delete-tag", tag, {}


def generate(path: Path, lines: int, seed: int = 15) -> None:
    rng = random.Random(seed)
    repositories = [f"team-a/app{i}" for i in range(1000)]
    repositories += [f"team-a/tools/t{i}" for i in range(200)]
    repositories += [f"other-team/svc{i}" for i in range(600)]
    repositories += [f"library/img{i}" for i in range(200)]
    identities = load_identities_file(EXAMPLES / "identities.yaml")
    files = read_policy_files(EXAMPLES / "policies")
    live = compile_policy(compile_policy_set(files, DialectContext(), 1))
    replayer = Replayer(live, identities)  # the recorded decision is the live set's
    start = datetime(2026, 12, 1, tzinfo=UTC).timestamp()
    with path.open("wb") as out:
        for n in range(lines):
            caller = rng.choice(CALLERS)
            repository = rng.choice(repositories)
            method, route, req_path, action, reference, facts = request(rng, repository)
            event = AuditEvent(
                time=start + n * 0.864,
                request_id=f"bench-{n:x}",
                source=f"10.0.{rng.randrange(4)}.{rng.randrange(250)}",
                method=method,
                route=route,
                path=req_path,
                action=action,
                namespace=repository.partition("/")[0],
                repository=repository,
                reference=reference,
                principal=str(caller["principal"]),
                principal_kind=str(caller["principal_kind"]),
                credential=str(caller.get("credential", "")),
                groups=tuple(caller["groups"]),
                credential_scope=caller.get("credential_scope"),  # type: ignore[arg-type]
                token_access=caller.get("token_access"),  # type: ignore[arg-type]
                status=200,
                pid=1,
            )
            record = json.loads(event.to_json())
            record["facts"] = facts
            verdict = replayer.replay(record)
            record["decision"] = verdict.decision.outcome.value
            record["statements"] = list(verdict.decision.statements)
            record["generation"] = 1
            out.write(json.dumps(record, separators=(",", ":")).encode() + b"\n")


def candidate(directory: Path) -> None:
    shutil.copytree(EXAMPLES / "policies", directory, ignore=shutil.ignore_patterns("tests"))
    team = (directory / "team-a.yaml").read_text()
    team = team.replace("actions: [pull, list, catalog]\n", "actions: [pull, catalog]\n")
    team += (
        "  - id: alice-cleans-tools\n    effect: allow\n    principals: [user:alice]\n"
        '    actions: [delete-tag]\n    resources: ["team-a/tools/*"]\n'
    )
    (directory / "team-a.yaml").write_text(team)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="10,000 lines, no report written")
    args = parser.parse_args()
    lines = 10_000 if args.quick else args.lines
    with tempfile.TemporaryDirectory(prefix="regproxy-diff-bench-") as tmp:
        work = Path(tmp)
        audit = work / "audit.log"
        began = time.perf_counter()
        generate(audit, lines)
        generated = time.perf_counter() - began
        candidate(work / "candidate")
        command = [
            sys.executable,
            "-m",
            "regproxy",
            "diff",
            "--audit",
            str(audit),
            "--against",
            str(work / "candidate"),
            "--json",
        ]
        began = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - began
        if done.returncode not in (0, 1):
            print(done.stderr, file=sys.stderr)
            return 2
        report = json.loads(done.stdout)
        size = audit.stat().st_size
    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "lines": lines,
        "audit_bytes": size,
        "generate_s": round(generated, 2),
        "wall_s": round(wall, 2),
        "replay_s": report["seconds"],
        "lines_per_s": round(lines / report["seconds"]),
        "replayed": report["replayed"],
        "flipped": report["flipped"],
        "groups": len(report["flips"]),
        "not_policy": report["not_policy"],
        "missing_facts": report["missing_facts"],
    }
    text = [
        "# regproxy diff on generated audit lines",
        "",
        f"{result['date']}, {lines:,} lines ({size / 1e6:.1f} MB), `python -m regproxy diff --json`",
        "",
        "| lines | wall s (whole command) | replay s | lines/s | replayed | flips | groups |",
        "|---|---|---|---|---|---|---|",
        f"| {lines:,} | {result['wall_s']} | {result['replay_s']} | {result['lines_per_s']:,} | "
        f"{result['replayed']:,} | {result['flipped']:,} | {result['groups']} |",
        "",
        f"not decided by policy (left alone): {result['not_policy']}; facts not recorded: {result['missing_facts']}",
        "target: 100,000 lines in under 10 s (wall, start-up included)",
    ]
    print("\n".join(text))
    if not args.quick:
        out = ROOT / "bench" / "results"
        (out / "policy_diff.json").write_text(json.dumps(result, indent=2) + "\n")
        (out / "policy_diff.md").write_text("\n".join(text) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
