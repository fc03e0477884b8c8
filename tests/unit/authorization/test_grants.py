"""The token service grants by the decision flow: each word iff policy would allow some request
that needs it; the catalog only when asked and only to who may see it."""

from __future__ import annotations

from datetime import UTC, datetime

from regproxy.authorization.grants import grant_access
from regproxy.identity.principal import ANONYMOUS, CredentialScope, PrincipalKind, ScopeGrant, make_principal
from regproxy.identity.scope import parse_scope
from regproxy.oci.actions import Action
from regproxy.policy.evaluate import compile_policy
from regproxy.policy.model import (
    Effect,
    PolicySet,
    PrincipalRef,
    RequestContext,
    ResourcePattern,
    Statement,
)

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _s(sid: str, effect: Effect, who: str, actions: set[Action], resource: str, tag: str | None = None) -> Statement:
    return Statement(sid, effect, (PrincipalRef.parse(who),), frozenset(actions), (ResourcePattern(resource, tag),))


POLICY = compile_policy(
    PolicySet(
        (
            _s("dev", Effect.ALLOW, "user:alice", {Action.PULL, Action.PUSH, Action.TAG_CREATE, Action.CATALOG}, "t/*"),
            _s("rel", Effect.ALLOW, "user:dave", {Action.PULL}, "t/app", "release-*"),
            _s("no-prod", Effect.DENY, "user:dave", {Action.PULL}, "t/app", "prod-*"),
        ),
        1,
        "h",
    )
)
ALICE = make_principal(PrincipalKind.USER, "alice")
DAVE = make_principal(PrincipalKind.USER, "dave")


def grant(principal: object, *scopes: str) -> list[dict[str, object]]:
    context = RequestContext(principal, None, NOW)  # type: ignore[arg-type]
    return grant_access([parse_scope(s) for s in scopes], context, POLICY)


def test_each_word_is_granted_iff_policy_allows_a_request_needing_it() -> None:
    assert grant(ALICE, "repository:t/app:pull,push,delete") == [
        {"type": "repository", "name": "t/app", "actions": ["pull", "push"]}
    ]
    assert grant(ALICE, "repository:other/app:pull") == [{"type": "repository", "name": "other/app", "actions": []}]


def test_a_tag_grant_grants_the_word_its_tags_need() -> None:
    assert grant(DAVE, "repository:t/app:pull") == [{"type": "repository", "name": "t/app", "actions": ["pull"]}]


def test_the_credential_scope_bounds_the_grant() -> None:
    pull_only = CredentialScope("pull", (ScopeGrant("**", frozenset({Action.PULL})),))
    holder = make_principal(PrincipalKind.USER, "alice", scope=pull_only)
    assert grant(holder, "repository:t/app:pull,push")[0]["actions"] == ["pull"]


def test_the_catalog_only_when_asked_and_only_to_who_may_see_it() -> None:
    assert grant(ALICE, "registry:catalog:*") == [{"type": "registry", "name": "catalog", "actions": ["*"]}]
    assert grant(DAVE, "registry:catalog:*") == []
    assert grant(ANONYMOUS, "registry:catalog:*") == []
    assert all(e["type"] == "repository" for e in grant(ALICE, "repository:t/app:pull"))
