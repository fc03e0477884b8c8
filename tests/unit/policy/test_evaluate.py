"""The indexed evaluator: deny beats allow, conditions are re-tested per request, the cache
keeps only what does not depend on the request, and shadow statements never decide."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

from regproxy.identity.principal import PrincipalKind, make_principal
from regproxy.oci.actions import Action
from regproxy.policy.conditions import SourceAddressIn
from regproxy.policy.evaluate import compile_policy, evaluate_reference
from regproxy.policy.model import (
    Effect,
    Outcome,
    PolicySet,
    PrincipalRef,
    RequestContext,
    ResourcePattern,
    Statement,
)

NOW = datetime(2026, 1, 14, 12, tzinfo=UTC)
ALICE = make_principal(PrincipalKind.USER, "alice", groups=["devs"])
BOB = make_principal(PrincipalKind.USER, "bob")
DEVS = (PrincipalRef.parse("group:devs"),)
OFFICE = SourceAddressIn((ipaddress.ip_network("10.0.0.0/8"),))


def statement(sid: str, effect: Effect, repository: str, **kw: object) -> Statement:
    return Statement(sid, effect, DEVS, frozenset({Action.PULL}), (ResourcePattern(repository),), **kw)  # type: ignore[arg-type]


def ctx(who: object = ALICE, source: str = "10.1.1.1") -> RequestContext:
    return RequestContext(who, ipaddress.ip_address(source), NOW)  # type: ignore[arg-type]


SET = PolicySet(
    (
        statement("allow-team", Effect.ALLOW, "team/**"),
        statement("deny-secret", Effect.DENY, "team/secret"),
        statement("office-only", Effect.ALLOW, "lab/**", conditions=(OFFICE,)),
        statement("trial-deny", Effect.DENY, "team/app", shadow=True),
    ),
    5,
    "h",
)


def test_allow_deny_and_default() -> None:
    policy = compile_policy(SET)
    allowed = policy.evaluate(ctx(), Action.PULL, "team/app")
    assert (allowed.effect, allowed.outcome, allowed.statements, allowed.generation) == (
        Effect.ALLOW,
        Outcome.ALLOWED,
        ("allow-team",),
        5,
    )
    denied = policy.evaluate(ctx(), Action.PULL, "team/secret")
    assert (denied.outcome, denied.statements) == (Outcome.EXPLICIT_DENY, ("deny-secret",))
    assert policy.evaluate(ctx(BOB), Action.PULL, "team/app").outcome is Outcome.DEFAULT_DENY
    assert policy.evaluate(ctx(), Action.PUSH, "team/app").outcome is Outcome.DEFAULT_DENY


def test_conditions_are_tested_on_every_request_even_from_the_cache() -> None:
    policy = compile_policy(SET)
    assert policy.evaluate(ctx(source="10.1.1.1"), Action.PULL, "lab/x").allowed
    assert not policy.evaluate(ctx(source="192.0.2.1"), Action.PULL, "lab/x").allowed
    assert policy.cache_hits == 1 and policy.cache_misses == 1


def test_shadow_statements_are_reported_never_enforced() -> None:
    policy = compile_policy(SET)
    assert policy.evaluate(ctx(), Action.PULL, "team/app").allowed
    assert policy.shadow_matches(ctx(), Action.PULL, "team/app", None) == ("trial-deny",)


def test_may_allow_answers_whether_any_allow_could_apply() -> None:
    policy = compile_policy(SET)
    assert policy.may_allow(DEVS, Action.PULL)
    assert not policy.may_allow(DEVS, Action.PUSH)


def test_the_reference_interpreter_agrees_on_these_cases() -> None:
    policy = compile_policy(SET)
    for who, repository, source in [
        (ALICE, "team/app", "10.0.0.1"),
        (ALICE, "lab/x", "192.0.2.1"),
        (BOB, "team/a", "10.0.0.1"),
    ]:
        fast = policy.evaluate(ctx(who, source), Action.PULL, repository)
        slow = evaluate_reference(SET, ctx(who, source), Action.PULL, repository)
        assert (fast.effect, fast.outcome, set(fast.statements)) == (slow.effect, slow.outcome, set(slow.statements))
