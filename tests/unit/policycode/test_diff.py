"""diff: flips grouped by principal, action and repository, with the statements responsible."""

from __future__ import annotations

import orjson

from regproxy.authorization.replay import Replayer
from regproxy.policy.dialects import DialectContext
from regproxy.policy.evaluate import CompiledPolicy, compile_policy
from regproxy.policy.load import compile_policy_set
from regproxy.policycode.diff import ALLOW_TO_DENY, DENY_TO_ALLOW, diff_lines, render_json, render_text
from regproxy.reload import read_policy_files
from tests.support.examples import EXAMPLES


def candidate() -> CompiledPolicy:
    files = read_policy_files(EXAMPLES / "policies")
    files["team-a.yaml"] = files["team-a.yaml"].replace("actions: [pull, list, catalog]\n", "actions: [list]\n")
    files["extra.yaml"] = (
        "version: 1\nstatements:\n  - {id: bob-other, effect: allow, principals: [user:bob], "
        'actions: [pull], resources: ["other/**"]}\n'
    )
    return compile_policy(compile_policy_set(files, DialectContext(), 2))


def line(principal: str, groups: list[str], path: str, decision: str, **extra: object) -> bytes:
    kind = principal.partition(":")[0]
    record = {"time": 1.7e9, "method": "GET", "path": path, "principal": principal, "principal_kind": kind}
    record |= {"groups": groups, "decision": decision, "statements": [], "action": "pull"}
    record |= {"repository": path.split("/manifests/", maxsplit=1)[0].removeprefix("/v2/")}
    return orjson.dumps(record | extra)


def test_flips_are_grouped_with_the_statements_responsible() -> None:
    bob = ("user:bob", ["team-a-readers"])
    lines = [
        line(*bob, "/v2/team-a/app/manifests/v1", "allowed", statements=["team-a.yaml#readers-pull"]),
        line(*bob, "/v2/team-a/app/manifests/v2", "allowed", statements=["team-a.yaml#readers-pull"]),
        line(*bob, "/v2/other/x/manifests/v1", "default-deny"),
        line("user:alice", ["team-a-devs"], "/v2/team-a/app/manifests/v1", "allowed"),
        b'{"decision": "unauthenticated", "path": "/v2/"}',
        b"not json",
        b"",
    ]
    report = diff_lines(lines, Replayer(candidate()))
    assert (report.lines, report.replayed, report.unchanged, report.flipped) == (6, 4, 1, 3)
    [lockout] = report.groups(ALLOW_TO_DENY)
    assert (lockout.principal, lockout.action, lockout.repository, lockout.requests) == (
        "user:bob",
        "pull",
        "team-a/app",
        2,
    )
    assert (lockout.now, lockout.statements, lockout.was) == ("deny (default-deny)", (), ("team-a.yaml#readers-pull",))
    [opening] = report.groups(DENY_TO_ALLOW)
    assert (opening.repository, opening.statements) == ("other/x", ("extra.yaml#bob-other",))
    assert report.not_policy == {"unauthenticated": 1}
    assert report.not_replayable == {"not JSON": 1}
    text = render_text(report, 20, 0.1)
    assert text[0] == "allow → deny: 2 request(s) in 1 group(s)"
    assert "user:bob pull team-a/app: 2 request(s); now deny (default-deny) by no statement" in text[1]
    document = render_json(report, 0.1)
    assert [f["direction"] for f in document["flips"]] == ["allow-to-deny", "deny-to-allow"]


def test_the_same_set_flips_nothing() -> None:
    policy = compile_policy(compile_policy_set(read_policy_files(EXAMPLES / "policies"), DialectContext(), 1))
    lines = [line("user:bob", ["team-a-readers"], "/v2/team-a/app/manifests/v1", "allowed")]
    report = diff_lines(lines, Replayer(policy))
    assert report.flips == {} and report.unchanged == 1
    assert render_text(report, 20, 0.1)[0] == "no decision flips"
