"""One new token always suffices: a client that asks for the scopes a challenge named is never
told insufficient_scope again (a property over random policies, held scopes and facts)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import event, given, settings
from hypothesis import strategies as st

from regproxy.authorization.flow import decide
from regproxy.authorization.grants import grant_access
from regproxy.authorization.verdict import Answer, Reply, RepositoryExists, Verdict
from regproxy.identity.principal import Principal, TokenGrant
from regproxy.identity.scope import access_to_scope, parse_scope
from regproxy.oci.actions import Action
from regproxy.oci.routes import parse_request
from regproxy.policy.evaluate import compile_policy
from regproxy.policy.model import Effect, PolicySet, PrincipalRef, RequestContext, ResourcePattern, Statement
from tests.unit.authorization.test_flow import ALICE, ANSWERS, NOW, D, token

# -- one new token always suffices: insufficient_scope never loops ---------------------------
_statements = st.builds(
    lambda i, effect, who, actions, repo, tag: Statement(
        f"s{i}", effect, (PrincipalRef.parse(who),), frozenset(actions), (ResourcePattern(repo, tag),)
    ),
    st.integers(0, 10_000),
    st.sampled_from(list(Effect)),
    st.sampled_from(["user:alice", "authenticated", "everyone"]),
    st.sets(st.sampled_from(list(Action)), min_size=1),
    st.sampled_from(["team/*", "team/app", "src/**", "**"]),
    st.sampled_from([None, "v*"]),
)
_policies = st.lists(_statements, max_size=5, unique_by=lambda s: s.id).map(
    lambda ss: compile_policy(PolicySet(tuple(ss), 1, "h"))
)
_REQUESTS = [
    ("GET", "/v2/_catalog", ""),
    ("GET", "/v2/team/app/tags/list", ""),
    ("GET", "/v2/team/app/manifests/v1", ""),
    ("GET", f"/v2/team/app/blobs/{D}", ""),
    ("PUT", "/v2/team/app/manifests/v1", ""),
    ("PUT", f"/v2/team/app/manifests/{D}", "tag=v2"),
    ("POST", "/v2/team/app/blobs/uploads/", f"mount={D}&from=src/lib"),
    ("PATCH", "/v2/team/app/blobs/uploads/u1", ""),
    ("DELETE", "/v2/team/app/manifests/v1", ""),
]


@settings(max_examples=300, deadline=None)
@given(
    policy=_policies,
    held=st.lists(st.sampled_from(["repository:team/app:pull", "repository:src/lib:push", "repository:x/y:*"])),
    route=st.sampled_from(_REQUESTS),
    repo=st.sampled_from(ANSWERS),
    tag=st.sampled_from(ANSWERS),
)
def test_a_token_asked_for_the_challenged_scopes_is_never_insufficient_again(
    policy: object, held: list[str], route: tuple[str, str, str], repo: Answer, tag: Answer
) -> None:
    request = parse_request(*route, {})

    def run_with(principal: Principal) -> Verdict:
        context = RequestContext(principal, None, NOW)
        return decide(request, context, policy, lambda f: repo if isinstance(f, RepositoryExists) else tag)  # type: ignore[arg-type]

    first = run_with(token(ALICE, *held) if held else token(ALICE, "repository:none/x:pull"))
    if first.reply is not Reply.INSUFFICIENT_SCOPE:
        return
    context = RequestContext(ALICE, None, NOW)
    granted = grant_access([parse_scope(s) for s in first.scopes], context, policy)  # type: ignore[arg-type]
    access = access_to_scope(granted)
    event("insufficient at first")
    second = run_with(replace(ALICE, scope=access, token=TokenGrant(access, None)))
    assert second.reply is not Reply.INSUFFICIENT_SCOPE, (first, granted, second)
