"""The native YAML format: statements, wildcards, conditions, and errors with file:line."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

import pytest

from regproxy.identity.principal import (
    ANONYMOUS,
    CredentialScope,
    Principal,
    PrincipalKind,
    ScopeGrant,
    make_principal,
)
from regproxy.oci.actions import ALL_ACTIONS, Action
from regproxy.policy.dialects import DialectContext
from regproxy.policy.evaluate import compile_policy
from regproxy.policy.load import PolicySetInvalid, compile_policy_set
from regproxy.policy.model import Decision, RequestContext

POLICY = """\
version: 1
statements:
  - id: devs
    effect: allow
    principals: [group:devs]
    actions: [pull, push, "tag-*", create-repository]
    resources: ["team-a/**"]
  - id: immutable-releases
    effect: deny
    principals: [authenticated]
    actions: [tag-overwrite]
    resources: ["team-a/**:v*"]
  - id: public-base
    effect: allow
    principals: [everyone]
    actions: [pull]
    resources: ["base/*"]
  - id: office-only
    effect: allow
    principals: [user:carol]
    actions: [pull]
    resources: ["team-b/**"]
    conditions:
      source: [10.0.0.0/8]
      time: {daily: "08:00-18:00", weekdays: [mon, tue, wed, thu, fri]}
  - id: ci-main-only
    effect: allow
    principals: [service-account:ci]
    actions: [push]
    resources: ["team-c/**"]
    conditions:
      claims: {ref: "refs/heads/main"}
  - id: pull-scope-never-deletes
    effect: deny
    principals: [authenticated]
    actions: ["delete-*"]
    resources: ["**"]
    conditions:
      credential-scope: [containerRegistry:pull]
"""
MONDAY_NOON = datetime(2026, 11, 23, 12, tzinfo=UTC)
SUNDAY_NOON = datetime(2026, 11, 22, 12, tzinfo=UTC)


def decide(
    principal: Principal,
    action: Action,
    repo: str,
    tag: str | None = None,
    ip: str = "10.1.1.1",
    now: datetime = MONDAY_NOON,
) -> Decision:
    ps = compile_policy_set({"p.yaml": POLICY}, DialectContext(), 1)
    ctx = RequestContext(principal, ipaddress.ip_address(ip), now)
    return compile_policy(ps).evaluate(ctx, action, repo, tag)


DEV = make_principal(PrincipalKind.USER, "alice", groups=["devs"])
CAROL = make_principal(PrincipalKind.USER, "carol")


@pytest.mark.parametrize(
    ("principal", "action", "repo", "tag", "kw", "allowed", "statement"),
    [
        pytest.param(DEV, Action.PUSH, "team-a/app", None, {}, True, "p.yaml#devs", id="dev-push"),
        pytest.param(DEV, Action.TAG_CREATE, "team-a/app", "v1", {}, True, "p.yaml#devs", id="create-release-tag"),
        pytest.param(
            DEV,
            Action.TAG_OVERWRITE,
            "team-a/app",
            "v1",
            {},
            False,
            "p.yaml#immutable-releases",
            id="overwrite-release-tag-denied",
        ),
        pytest.param(DEV, Action.TAG_OVERWRITE, "team-a/app", "latest", {}, True, "p.yaml#devs", id="overwrite-latest"),
        pytest.param(DEV, Action.DELETE_MANIFEST, "team-a/app", None, {}, False, None, id="delete-not-granted"),
        pytest.param(
            ANONYMOUS, Action.PULL, "base/alpine", None, {}, True, "p.yaml#public-base", id="anonymous-public"
        ),
        pytest.param(ANONYMOUS, Action.PULL, "base/x/y", None, {}, False, None, id="star-is-one-segment"),
        pytest.param(
            CAROL, Action.PULL, "team-b/app", None, {}, True, "p.yaml#office-only", id="office-hours-office-net"
        ),
        pytest.param(CAROL, Action.PULL, "team-b/app", None, {"ip": "192.0.2.1"}, False, None, id="outside-network"),
        pytest.param(CAROL, Action.PULL, "team-b/app", None, {"now": SUNDAY_NOON}, False, None, id="weekend"),
    ],
)
def test_native_decisions(principal, action, repo, tag, kw, allowed, statement) -> None:  # type: ignore[no-untyped-def]
    d = decide(principal, action, repo, tag, **kw)
    assert d.allowed is allowed
    if statement:
        assert statement in d.statements


def test_claim_condition() -> None:
    main = make_principal(PrincipalKind.SERVICE_ACCOUNT, "ci", claims={"ref": "refs/heads/main"})
    branch = make_principal(PrincipalKind.SERVICE_ACCOUNT, "ci", claims={"ref": "refs/heads/x"})
    assert decide(main, Action.PUSH, "team-c/app").allowed
    assert not decide(branch, Action.PUSH, "team-c/app").allowed


def test_credential_scope_condition() -> None:
    scoped = make_principal(
        PrincipalKind.USER,
        "alice",
        groups=["devs"],
        scope=CredentialScope("containerRegistry:pull", (ScopeGrant("**", ALL_ACTIONS),)),
    )
    assert decide(scoped, Action.DELETE_TAG, "team-a/app", "x").statements == ("p.yaml#pull-scope-never-deletes",)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        pytest.param(
            "statements:\n  - id: a\n    effect: maybe\n    principals: [user:x]\n    actions: [pull]\n    resources: [a]\n",
            2,
            "effect",
            id="bad-effect",
        ),
        pytest.param(
            "statements:\n  - id: a\n    effect: allow\n    principals: [user:x]\n    actions: [pul]\n    resources: [a]\n",
            2,
            "unknown action `pul`",
            id="typo-action",
        ),
        pytest.param(
            "statements:\n  - id: a\n    effect: allow\n    principals: [root]\n    actions: [pull]\n    resources: [a]\n",
            2,
            "unknown principal",
            id="bad-principal",
        ),
        pytest.param(
            "statements:\n  - id: a\n    effect: allow\n    principals: [user:x]\n    actions: [pull]\n    resources: [Team/A]\n",
            2,
            "not a repository pattern",
            id="bad-resource",
        ),
        pytest.param(
            "statements:\n  - id: a\n    effect: allow\n    principals: [user:x]\n    actions: [pull]\n    resources: [a]\n    conditions: {source: [not-a-cidr]}\n",
            2,
            "statement `a`",
            id="bad-cidr",
        ),
        pytest.param(
            "statements:\n  - id: a\n    effect: allow\n    principals: [user:x]\n    actions: [pull]\n    resources: [a]\n    colour: red\n",
            2,
            "unknown key `colour`",
            id="unknown-key",
        ),
        pytest.param("statements: [\n", 2, "", id="yaml-syntax"),
    ],
)
def test_errors_name_file_and_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(PolicySetInvalid) as info:
        compile_policy_set({"bad.yaml": text}, DialectContext(), 1)
    message = str(info.value.errors[0])
    assert message.startswith(f"bad.yaml:{line}:") and fragment in message


def test_a_set_with_one_bad_file_is_refused_whole_with_every_error() -> None:
    good = "statements:\n  - {id: a, effect: allow, principals: [user:x], actions: [pull], resources: [a]}\n"
    bad = "statements:\n  - {id: a, effect: allow, principals: [user:x], actions: [nope], resources: [a]}\n"
    with pytest.raises(PolicySetInvalid) as info:
        compile_policy_set({"good.yaml": good, "bad1.yaml": bad, "bad2.yaml": bad}, DialectContext(), 1)
    assert [e.location.file for e in info.value.errors] == ["bad1.yaml", "bad2.yaml"]
