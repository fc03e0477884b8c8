"""The registry edge decides exactly as ``regproxy explain``: both drive the one flow, the edge
with facts from the upstream, explain with facts from flags (a Hypothesis property over random
policies, principals, token scopes, requests and facts)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from regproxy.authorization.explain import explain
from regproxy.config import Config
from regproxy.identity.identities import Identities
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
from regproxy.metrics import Metrics
from regproxy.oci.actions import Action
from regproxy.oci.routes import RegistryRequest, parse_request
from regproxy.policy.evaluate import compile_policy
from regproxy.policy.model import Effect, PolicySet, PrincipalRef, RequestContext, ResourcePattern, Statement
from regproxy.proxy.upstream import UpstreamClient
from regproxy.reload import Store
from regproxy.server.authentication import Authentication
from regproxy.server.registry import RegistryHandler

D = "sha256:" + "c" * 64
NOW = datetime(2026, 12, 1, tzinfo=UTC)
REPOS = ["team/app", "src/lib", "other/x"]
TAGS = ["v1", "release-1"]

statements = st.builds(
    lambda i, effect, who, actions, repo, tag: Statement(
        f"s{i}", effect, (PrincipalRef.parse(who),), frozenset(actions), (ResourcePattern(repo, tag),)
    ),
    st.integers(0, 10_000),
    st.sampled_from(list(Effect)),
    st.sampled_from(["user:alice", "user:bob", "group:devs", "authenticated", "everyone"]),
    st.sets(st.sampled_from(list(Action)), min_size=1),
    st.sampled_from(["team/*", "team/app", "src/**", "**"]),
    st.sampled_from([None, "v*", "release-*"]),
)
policies = st.lists(statements, max_size=6, unique_by=lambda s: s.id).map(
    lambda ss: compile_policy(PolicySet(tuple(ss), 3, "h"))
)
ALICE = make_principal(PrincipalKind.USER, "alice", groups=["devs"])
BOB = make_principal(PrincipalKind.USER, "bob")
# an access credential limited to pull (Thalassa's containerRegistry:pull)
CI_PULL = make_principal(
    PrincipalKind.SERVICE_ACCOUNT,
    "ci",
    groups=["devs"],
    credential_id="ci-pull",
    scope=CredentialScope("containerRegistry:pull", (ScopeGrant("**", frozenset({Action.PULL, Action.LIST})),)),
)


def with_token(principal: Principal, entries: list[tuple[str, list[str]]]) -> Principal:
    if not principal.authenticated:
        return principal
    access = access_to_scope([{"type": "repository", "name": n, "actions": w} for n, w in entries])
    bound = access if principal.scope is None else access.narrowed(principal.scope)
    return replace(principal, scope=bound, token=TokenGrant(access, principal.scope))


principals = st.builds(
    with_token,
    st.sampled_from([ANONYMOUS, ALICE, BOB, CI_PULL]),
    st.lists(st.tuples(st.sampled_from(REPOS), st.lists(st.sampled_from(["pull", "push", "delete", "*"])))),
) | st.sampled_from([ANONYMOUS, ALICE, BOB, CI_PULL])


@st.composite
def requests(draw: st.DrawFn) -> RegistryRequest:
    repo = draw(st.sampled_from(REPOS))
    tag = draw(st.sampled_from(TAGS))
    source = draw(st.sampled_from(REPOS))
    method, path, query = draw(
        st.sampled_from(
            [
                ("GET", "/v2/", ""),
                ("GET", "/v2/_catalog", ""),
                ("GET", f"/v2/{repo}/tags/list", ""),
                ("GET", f"/v2/{repo}/manifests/{tag}", ""),
                ("HEAD", f"/v2/{repo}/manifests/{D}", ""),
                ("GET", f"/v2/{repo}/blobs/{D}", ""),
                ("PUT", f"/v2/{repo}/manifests/{tag}", ""),
                ("PUT", f"/v2/{repo}/manifests/{D}", f"tag={tag}"),
                ("POST", f"/v2/{repo}/blobs/uploads/", ""),
                ("POST", f"/v2/{repo}/blobs/uploads/", f"mount={D}&from={source}"),
                ("PATCH", f"/v2/{repo}/blobs/uploads/u1", ""),
                ("DELETE", f"/v2/{repo}/manifests/{tag}", ""),
                ("DELETE", f"/v2/{repo}/blobs/{D}", ""),
            ]
        )
    )
    return parse_request(method, path, query, {})


answers = st.sampled_from([True, False, None])


def edge(policy: object, repo_exists: bool | None, tag_exists: bool | None) -> RegistryHandler:
    config = Config()
    store = Store(policy, Identities())  # type: ignore[arg-type]
    handler = RegistryHandler(config, store, UpstreamClient(config.upstream), Authentication(()), Metrics(), None)

    async def repository_exists(repository: str) -> bool | None:
        return repo_exists

    async def tag_exists_(repository: str, tag: str) -> bool | None:
        return tag_exists

    handler.facts.repository_exists = repository_exists  # type: ignore[method-assign]
    handler.facts.tag_exists = tag_exists_  # type: ignore[method-assign]
    return handler


@settings(max_examples=300, deadline=None)
@given(policy=policies, principal=principals, request=requests(), repo_exists=answers, tag_exists=answers)
def test_the_edge_and_explain_reach_the_same_verdict(
    policy: object, principal: Principal, request: RegistryRequest, repo_exists: bool | None, tag_exists: bool | None
) -> None:
    context = RequestContext(principal, None, NOW)
    handler = edge(policy, repo_exists, tag_exists)
    at_the_edge = asyncio.run(handler.facts.decide(request, context, policy))  # type: ignore[arg-type]
    explained = explain(request, context, policy, repo_exists, tag_exists)  # type: ignore[arg-type]
    assert at_the_edge == explained
