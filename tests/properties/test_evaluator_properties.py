"""The compiled evaluator against the plain reference interpreter, and the decision rule's laws."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from regproxy.identity.principal import ANONYMOUS, CredentialScope, Principal, PrincipalKind, ScopeGrant, make_principal
from regproxy.oci.actions import Action
from regproxy.policy.conditions import SourceAddressIn
from regproxy.policy.evaluate import compile_policy, evaluate_reference
from regproxy.policy.model import (
    ANY_TAG,
    Effect,
    PolicySet,
    PrincipalRef,
    PrincipalSelector,
    RequestContext,
    ResourcePattern,
    Statement,
)

NAMES = ["alice", "bob"]
GROUPS = ["devs", "ops"]
SEGMENTS = ["a", "b", "team-a"]
TAGS = ["v1", "latest", "dev"]
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)

principal_refs = st.one_of(
    st.builds(PrincipalRef, st.just(PrincipalSelector.USER), st.sampled_from(NAMES)),
    st.builds(PrincipalRef, st.just(PrincipalSelector.GROUP), st.sampled_from(GROUPS)),
    st.builds(PrincipalRef, st.just(PrincipalSelector.SERVICE_ACCOUNT), st.sampled_from(NAMES)),
    st.sampled_from(
        [
            PrincipalRef(PrincipalSelector.ANONYMOUS),
            PrincipalRef(PrincipalSelector.AUTHENTICATED),
            PrincipalRef(PrincipalSelector.EVERYONE),
        ]
    ),
)
repo_patterns = st.lists(st.sampled_from([*SEGMENTS, "*", "**"]), min_size=1, max_size=3).map("/".join)
resources = st.builds(ResourcePattern, repo_patterns, st.one_of(st.none(), st.sampled_from(["v*", "latest", "*"])))
conditions = st.one_of(
    st.just(()),
    st.just((SourceAddressIn((ipaddress.ip_network("10.0.0.0/8"),)),)),
)


@st.composite
def statements(draw: st.DrawFn, n: int) -> Statement:
    return Statement(
        id=f"s{n}",
        effect=draw(st.sampled_from(list(Effect))),
        principals=tuple(draw(st.lists(principal_refs, min_size=1, max_size=3))),
        actions=frozenset(draw(st.sets(st.sampled_from(list(Action)), min_size=1, max_size=4))),
        resources=tuple(draw(st.lists(resources, min_size=1, max_size=2))),
        conditions=draw(conditions),
    )


@st.composite
def policy_sets(draw: st.DrawFn) -> PolicySet:
    count = draw(st.integers(min_value=0, max_value=12))
    return PolicySet(tuple(draw(statements(i)) for i in range(count)), 1, "h")


@st.composite
def principals(draw: st.DrawFn) -> Principal:
    if draw(st.booleans()) and draw(st.booleans()):
        return ANONYMOUS
    scope = None
    if draw(st.booleans()):
        scope = CredentialScope(
            "s", (ScopeGrant(draw(repo_patterns), frozenset(draw(st.sets(st.sampled_from(list(Action)))))),)
        )
    return make_principal(
        draw(st.sampled_from([PrincipalKind.USER, PrincipalKind.SERVICE_ACCOUNT])),
        draw(st.sampled_from(NAMES)),
        groups=draw(st.sets(st.sampled_from(GROUPS))),
        scope=scope,
    )


requests = st.tuples(
    st.sampled_from(list(Action)),
    st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=3).map("/".join),
    st.one_of(st.none(), st.sampled_from(TAGS)),
    st.sampled_from(["10.1.2.3", "192.0.2.1"]),
)


@settings(max_examples=200, deadline=None)
@given(policy_sets(), principals(), st.lists(requests, min_size=1, max_size=5))
def test_compiled_evaluator_agrees_with_reference(
    policy_set: PolicySet, principal: Principal, reqs: list[tuple[Action, str, str | None, str]]
) -> None:
    compiled = compile_policy(policy_set)
    for action, repository, tag, ip in reqs * 2:  # twice: the second pass answers from the cache
        context = RequestContext(principal, ipaddress.ip_address(ip), NOW)
        got = compiled.evaluate(context, action, repository, tag)
        want = evaluate_reference(policy_set, context, action, repository, tag)
        assert (got.effect, got.outcome, sorted(got.statements)) == (want.effect, want.outcome, sorted(want.statements))


@settings(max_examples=150, deadline=None)
@given(policy_sets(), statements(999), principals(), requests)
def test_adding_a_deny_never_turns_a_deny_into_an_allow(
    policy_set: PolicySet, extra: Statement, principal: Principal, req: tuple[Action, str, str | None, str]
) -> None:
    action, repository, tag, ip = req
    context = RequestContext(principal, ipaddress.ip_address(ip), NOW)
    before = compile_policy(policy_set).evaluate(context, action, repository, tag)
    deny = Statement(extra.id, Effect.DENY, extra.principals, extra.actions, extra.resources, extra.conditions)
    after = compile_policy(PolicySet((*policy_set.statements, deny), 2, "h")).evaluate(context, action, repository, tag)
    if not before.allowed:
        assert not after.allowed


@settings(max_examples=150, deadline=None)
@given(policy_sets(), principals(), requests, repo_patterns, st.sets(st.sampled_from(list(Action))))
def test_a_scope_never_widens_a_decision(
    policy_set: PolicySet,
    principal: Principal,
    req: tuple[Action, str, str | None, str],
    pattern: str,
    actions: set[Action],
) -> None:
    action, repository, tag, ip = req
    compiled = compile_policy(policy_set)
    unscoped = Principal(principal.id, principal.kind, principal.name, principal.groups)
    scoped = Principal(
        principal.id,
        principal.kind,
        principal.name,
        principal.groups,
        scope=CredentialScope("s", (ScopeGrant(pattern, frozenset(actions)),)),
    )
    free = compiled.evaluate(RequestContext(unscoped, ipaddress.ip_address(ip), NOW), action, repository, tag)
    bound = compiled.evaluate(RequestContext(scoped, ipaddress.ip_address(ip), NOW), action, repository, tag)
    if bound.allowed:
        assert free.allowed


def test_decision_names_its_statements_and_generation() -> None:
    allow = Statement(
        "p#a",
        Effect.ALLOW,
        (PrincipalRef(PrincipalSelector.USER, "alice"),),
        frozenset({Action.PULL}),
        (ResourcePattern("a/**"),),
    )
    deny = Statement(
        "p#d",
        Effect.DENY,
        (PrincipalRef(PrincipalSelector.AUTHENTICATED),),
        frozenset({Action.PULL}),
        (ResourcePattern("a/secret"),),
    )
    compiled = compile_policy(PolicySet((allow, deny), 7, "h"))
    ctx = RequestContext(make_principal(PrincipalKind.USER, "alice"), None, NOW)
    ok = compiled.evaluate(ctx, Action.PULL, "a/x")
    assert ok.allowed and ok.statements == ("p#a",) and ok.generation == 7
    denied = compiled.evaluate(ctx, Action.PULL, "a/secret")
    assert not denied.allowed and denied.statements == ("p#d",)
    default = compiled.evaluate(ctx, Action.PUSH, "a/x")
    assert not default.allowed and default.statements == ()


def test_glob_star_stays_in_one_segment_and_double_star_crosses() -> None:
    assert ResourcePattern("a/*").matches("a/b", None)
    assert not ResourcePattern("a/*").matches("a/b/c", None)
    assert ResourcePattern("a/**").matches("a/b/c", None)
    assert not ResourcePattern("a/**").matches("ab/c", None)


def test_tag_pattern_grants_only_requests_naming_a_matching_tag() -> None:
    pattern = ResourcePattern("a", "v*")
    assert pattern.matches("a", "v1") and not pattern.matches("a", "latest")
    # never wider than written: a blob or digest request names no tag, so a tag grant is no grant
    assert not pattern.matches("a", None)
    assert pattern.matches("a", ANY_TAG)  # "some tag of a": what token grants and listings ask
    assert ResourcePattern("a").matches("a", None)


def test_a_tag_deny_refuses_its_tags_and_every_tagless_request_never_other_tags() -> None:
    """Never narrower than written: a blob or a manifest by digest may be a denied tag's content."""
    deny = Statement(
        "d",
        Effect.DENY,
        (PrincipalRef(PrincipalSelector.EVERYONE),),
        frozenset({Action.PULL}),
        (ResourcePattern("a", "prod-*"),),
    )
    assert deny.matches(Action.PULL, "a", "prod-1")
    assert not deny.matches(Action.PULL, "a", "dev-1")
    assert deny.matches(Action.PULL, "a", None)
    assert not deny.matches(Action.PULL, "b", None)
    # "could some tag of a be allowed?" (token grants, listings): the other tags still could
    assert not deny.matches(Action.PULL, "a", ANY_TAG)
