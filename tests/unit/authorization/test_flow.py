"""The decision flow, route by route and fact by fact, with no event loop.

alice may pull, list, push and create tags in ``team/*`` but neither create repositories nor
overwrite tags; bob may only pull; carol may do everything in ``team/*``. Each case runs the
flow with the facts answered by the table, and pins the reply, the outcome and the facts the
flow asked for (only those that change the decision).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from itertools import product

import pytest

from regproxy.authorization.flow import authorize, decide
from regproxy.authorization.verdict import (
    Answer,
    Fact,
    Reply,
    RepositoryExists,
    TagExists,
    UpstreamSupports,
    Verdict,
)
from regproxy.identity.principal import (
    ANONYMOUS,
    CredentialScope,
    Principal,
    PrincipalKind,
    ScopeGrant,
    TokenGrant,
    make_principal,
)
from regproxy.identity.scope import access_to_scope
from regproxy.oci.actions import ALL_ACTIONS, Action
from regproxy.oci.capability import Capability
from regproxy.oci.routes import parse_request
from regproxy.policy.evaluate import compile_policy
from regproxy.policy.model import (
    Effect,
    Outcome,
    PolicySet,
    PrincipalRef,
    RequestContext,
    ResourcePattern,
    Statement,
)

D = "sha256:" + "a" * 64
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _allow(sid: str, who: str, actions: set[Action], resource: str = "team/*", tag: str | None = None) -> Statement:
    return Statement(
        sid, Effect.ALLOW, (PrincipalRef.parse(who),), frozenset(actions), (ResourcePattern(resource, tag),)
    )


POLICY = compile_policy(
    PolicySet(
        (
            _allow("alice", "user:alice", {Action.PULL, Action.LIST, Action.PUSH, Action.TAG_CREATE}),
            _allow("bob", "user:bob", {Action.PULL, Action.LIST}),
            _allow("carol", "user:carol", set(ALL_ACTIONS)),
            _allow("carol-pulls-src", "user:carol", {Action.PULL}, "src/*"),
            _allow("releases", "user:dave", {Action.PULL}, "team/app", "release-*"),
        ),
        7,
        "hash",
    )
)
ALICE = make_principal(PrincipalKind.USER, "alice")
BOB = make_principal(PrincipalKind.USER, "bob")
CAROL = make_principal(PrincipalKind.USER, "carol")
DAVE = make_principal(PrincipalKind.USER, "dave")

ANSWERS: list[Answer] = [True, False, None]


def run(
    principal: Principal,
    method: str,
    path: str,
    query: str = "",
    *,
    repo: Answer = None,
    tag: Answer = None,
    supports: Answer = None,
) -> tuple[Verdict, list[Fact]]:
    asked: list[Fact] = []

    def answer(fact: Fact) -> Answer:
        asked.append(fact)
        if isinstance(fact, RepositoryExists):
            return repo
        return tag if isinstance(fact, TagExists) else supports

    request = parse_request(method, path, query, {})
    return decide(request, RequestContext(principal, None, NOW), POLICY, answer), asked


# (method, path, query) -> expected reply for alice, as a function of (repository exists, tag exists)
def alice_expected(method: str, path: str, query: str, repo: Answer, tag: Answer) -> tuple[Reply, list[str]]:
    reads = method in ("GET", "HEAD")
    if reads:
        return Reply.ALLOW, []
    if method == "DELETE":
        return Reply.DENY, []
    if "/uploads/" in path and not path.endswith("/uploads/"):
        return Reply.ALLOW, []  # an upload session: push only
    facts = ["repo"]
    if repo is not True:
        return Reply.DENY, facts
    if method == "PUT" and "/manifests/" in path and (not path.endswith(D) or "tag=" in query):
        facts.append("tag")
        return (Reply.ALLOW if tag is False else Reply.DENY), facts
    return Reply.ALLOW, facts


ROUTES = [
    ("GET", "/v2/team/app/manifests/v1", ""),
    ("HEAD", f"/v2/team/app/manifests/{D}", ""),
    ("GET", f"/v2/team/app/blobs/{D}", ""),
    ("GET", "/v2/team/app/tags/list", ""),
    ("GET", f"/v2/team/app/referrers/{D}", ""),
    ("PUT", "/v2/team/app/manifests/v1", ""),
    ("PUT", f"/v2/team/app/manifests/{D}", ""),
    ("PUT", f"/v2/team/app/manifests/{D}", "tag=v2"),
    ("POST", "/v2/team/app/blobs/uploads/", ""),
    ("PATCH", "/v2/team/app/blobs/uploads/u1", ""),
    ("PUT", "/v2/team/app/blobs/uploads/u1", f"digest={D}"),
    ("DELETE", "/v2/team/app/manifests/v1", ""),
    ("DELETE", f"/v2/team/app/manifests/{D}", ""),
    ("DELETE", f"/v2/team/app/blobs/{D}", ""),
]


@pytest.mark.parametrize(
    ("route", "repo", "tag"),
    list(product(ROUTES, ANSWERS, ANSWERS)),
    ids=lambda v: f"{v[0]} {v[1]}{'?' + v[2] if v[2] else ''}" if isinstance(v, tuple) else str(v),
)
def test_every_route_and_fact_for_a_principal_whose_facts_matter(
    route: tuple[str, str, str], repo: Answer, tag: Answer
) -> None:
    method, path, query = route
    verdict, asked = run(ALICE, method, path, query, repo=repo, tag=tag)
    reply, facts = alice_expected(method, path, query, repo, tag)
    assert verdict.reply is reply, verdict
    assert [("repo" if isinstance(f, RepositoryExists) else "tag") for f in asked] == facts
    assert [f for f, _ in verdict.facts] == asked  # every fact used is named in the verdict
    assert verdict.generation == 7
    if reply is Reply.DENY:
        assert verdict.decision.outcome is Outcome.DEFAULT_DENY


@pytest.mark.parametrize(("route", "repo", "tag"), list(product(ROUTES, ANSWERS, ANSWERS)))
def test_a_principal_allowed_everything_never_asks_a_fact(
    route: tuple[str, str, str], repo: Answer, tag: Answer
) -> None:
    """Nothing about the repository or its tags; a delete asks what the registry supports."""
    verdict, asked = run(CAROL, *route, repo=repo, tag=tag)
    assert verdict.reply is Reply.ALLOW
    assert [f for f in asked if not isinstance(f, UpstreamSupports)] == []
    assert "carol" in verdict.decision.statements


@pytest.mark.parametrize(
    ("path", "capability"),
    [
        pytest.param("/v2/team/app/manifests/v1", Capability.TAG_DELETION, id="tag"),
        pytest.param(f"/v2/team/app/manifests/{D}", Capability.MANIFEST_DELETION, id="digest"),
    ],
)
@pytest.mark.parametrize("supports", ANSWERS, ids=["yes", "no", "cannot-tell"])
def test_an_allowed_delete_asks_what_the_registry_supports(path: str, capability: Capability, supports: Answer) -> None:
    verdict, asked = run(CAROL, "DELETE", path, supports=supports)
    assert asked == [UpstreamSupports(capability)]
    assert verdict.facts == ((UpstreamSupports(capability), supports),)
    # only a known "no" refuses, and the decision stays an allow (audited as allowed)
    assert verdict.reply is (Reply.UNSUPPORTED if supports is False else Reply.ALLOW)
    assert verdict.decision.outcome is Outcome.ALLOWED and "carol" in verdict.decision.statements


@pytest.mark.parametrize("principal", [ALICE, ANONYMOUS], ids=["refused", "anonymous"])
def test_a_refused_delete_never_asks_the_registry(principal: Principal) -> None:
    verdict, asked = run(principal, "DELETE", "/v2/team/app/manifests/v1", supports=False)
    assert asked == [] and verdict.reply in (Reply.DENY, Reply.CHALLENGE)


def test_a_blob_delete_needs_nothing_of_the_registry() -> None:
    verdict, asked = run(CAROL, "DELETE", f"/v2/team/app/blobs/{D}", supports=False)
    assert (verdict.reply, asked) == (Reply.ALLOW, [])


@pytest.mark.parametrize("route", ROUTES)
def test_anonymous_is_challenged_with_every_scope_the_request_needs(route: tuple[str, str, str]) -> None:
    verdict, _ = run(ANONYMOUS, *route)
    assert verdict.reply is Reply.CHALLENGE
    word = {"GET": "pull", "HEAD": "pull", "DELETE": "delete"}.get(route[0], "pull,push")
    assert verdict.scopes == (f"repository:team/app:{word}",)


def test_base_and_catalog() -> None:
    assert run(ANONYMOUS, "GET", "/v2/")[0].reply is Reply.CHALLENGE
    assert run(BOB, "GET", "/v2/")[0].reply is Reply.ALLOW
    catalog = run(ANONYMOUS, "GET", "/v2/_catalog")[0]
    assert catalog.reply is Reply.CHALLENGE and catalog.scopes == ("registry:catalog:*",)
    assert run(BOB, "GET", "/v2/_catalog")[0].reply is Reply.ALLOW  # filtered to nothing


def token(principal: Principal, *scopes: str, credential: CredentialScope | None = None) -> Principal:
    entries = []
    for text in scopes:
        kind, name, words = text.split(":")
        entries.append({"type": kind, "name": name, "actions": words.split(",")})
    access = access_to_scope(entries)
    bound = access if credential is None else access.narrowed(credential)
    return replace(principal, scope=bound, token=TokenGrant(access, credential))


def test_a_token_lacking_a_scope_the_policy_grants_is_insufficient_scope() -> None:
    verdict, _ = run(token(CAROL, "repository:team/app:pull"), "POST", "/v2/team/app/blobs/uploads/")
    assert verdict.reply is Reply.INSUFFICIENT_SCOPE
    assert verdict.decision.outcome is Outcome.INSUFFICIENT_SCOPE
    assert verdict.scopes == ("repository:team/app:pull,push",)
    assert run(token(CAROL, "repository:team/app:pull,push"), "POST", "/v2/team/app/blobs/uploads/")[0].allowed


def test_where_the_policy_denies_a_token_gets_403_not_a_new_token() -> None:
    verdict, _ = run(token(BOB, "repository:team/app:pull,push"), "POST", "/v2/team/app/blobs/uploads/")
    assert verdict.reply is Reply.DENY and verdict.decision.outcome is Outcome.DEFAULT_DENY


def test_where_the_credential_scope_denies_a_token_gets_403() -> None:
    pull_only = CredentialScope("containerRegistry:pull", (ScopeGrant("**", frozenset({Action.PULL, Action.LIST})),))
    holder = token(CAROL, "repository:team/app:pull", credential=pull_only)
    verdict, _ = run(holder, "POST", "/v2/team/app/blobs/uploads/")
    assert verdict.reply is Reply.DENY and verdict.decision.outcome is Outcome.SCOPE_DENY


@pytest.mark.parametrize(
    ("principal", "reply", "dropped"),
    [
        pytest.param(CAROL, Reply.ALLOW, False, id="source-pull-allowed"),
        pytest.param(ALICE, Reply.DENY, False, id="no-create-no-fact"),
        pytest.param(token(CAROL, "repository:team/app:pull,push"), Reply.INSUFFICIENT_SCOPE, False, id="token-lacks"),
        pytest.param(
            token(CAROL, "repository:team/app:pull,push", "repository:src/lib:pull"), Reply.ALLOW, False, id="token-has"
        ),
    ],
)
def test_a_mount_needs_pull_on_its_source(principal: Principal, reply: Reply, dropped: bool) -> None:
    verdict, _ = run(principal, "POST", "/v2/team/app/blobs/uploads/", f"mount={D}&from=src/lib", repo=False)
    assert verdict.reply is reply
    assert verdict.mount_dropped is dropped
    assert verdict.scopes == ("repository:team/app:pull,push", "repository:src/lib:pull")


def test_a_mount_from_a_repository_without_pull_is_dropped_not_refused() -> None:
    verdict, _ = run(CAROL, "POST", "/v2/team/app/blobs/uploads/", f"mount={D}&from=other/lib")
    assert verdict.reply is Reply.ALLOW and verdict.mount_dropped


def test_a_tag_grant_is_never_wider_than_written() -> None:
    assert run(DAVE, "GET", "/v2/team/app/manifests/release-1")[0].allowed
    assert not run(DAVE, "GET", "/v2/team/app/manifests/latest")[0].allowed
    assert not run(DAVE, "GET", f"/v2/team/app/manifests/{D}")[0].allowed
    assert not run(DAVE, "GET", f"/v2/team/app/blobs/{D}")[0].allowed


def test_the_flow_is_a_generator_that_yields_facts() -> None:
    request = parse_request("PUT", "/v2/team/app/manifests/v1", "", {})
    flow = authorize(request, RequestContext(ALICE, None, NOW), POLICY)
    assert next(flow) == RepositoryExists("team/app")
    assert flow.send(True) == TagExists("team/app", "v1")
    with pytest.raises(StopIteration) as done:
        flow.send(False)
    verdict: Verdict = done.value.value
    assert verdict.allowed and verdict.decision.statements == ("alice",)
    assert [str(c.permission) for c in verdict.checks] == [
        "push on team/app:v1",
        "create-repository on team/app",
        "tag-create on team/app:v1",
        "tag-overwrite on team/app:v1",
    ]
