"""Principals and credential scopes: who asks, and the bound their credential puts on them."""

from __future__ import annotations

import pytest

from regproxy.identity.principal import (
    ANONYMOUS,
    CredentialScope,
    NoRegistryScope,
    PrincipalKind,
    ScopeGrant,
    TokenGrant,
    compile_repository_glob,
    glob_matches,
    make_principal,
    scope_reason,
)
from regproxy.oci.actions import Action

PULL = CredentialScope("pull", (ScopeGrant("team/**", frozenset({Action.PULL})),))
PUSH = CredentialScope("push", (ScopeGrant("team/app", frozenset({Action.PULL, Action.PUSH})),))


def test_a_principal_id_is_its_kind_and_name() -> None:
    ci = make_principal(PrincipalKind.SERVICE_ACCOUNT, "ci", groups=["builders"])
    assert (ci.id, ci.groups, ci.authenticated) == ("service-account:ci", frozenset({"builders"}), True)
    assert not ANONYMOUS.authenticated


def test_no_scope_permits_everything_policy_allows() -> None:
    assert make_principal(PrincipalKind.USER, "alice").scope_permits(Action.DELETE_MANIFEST, "x/y")


def test_a_scope_permits_its_grants_only() -> None:
    alice = make_principal(PrincipalKind.USER, "alice", scope=PULL)
    assert alice.scope_permits(Action.PULL, "team/a/b")
    assert not alice.scope_permits(Action.PUSH, "team/a")
    assert not alice.scope_permits(Action.PULL, "other/a")


def test_narrowing_keeps_what_both_scopes_permit() -> None:
    both = PULL.narrowed(PUSH)
    assert both.name == "pull&push"
    assert both.permits(Action.PULL, "team/app")
    assert not both.permits(Action.PUSH, "team/app")  # PULL does not grant push
    assert not both.permits(Action.PULL, "team/other")  # PUSH does not cover it
    assert PULL.narrowed(None) is PULL


def test_a_credential_without_registry_scope_permits_nothing_and_says_why() -> None:
    none = NoRegistryScope("oidc", ())
    assert not none.permits(Action.PULL, "a")
    assert scope_reason(PULL.narrowed(none)) == "registry_scope_missing"
    assert scope_reason(PULL) is None
    assert make_principal(PrincipalKind.USER, "u", scope=none).scope_reason == "registry_scope_missing"


def test_a_token_grant_grants_the_catalog_only_when_its_access_names_it() -> None:
    catalog = CredentialScope("t", (ScopeGrant("**", frozenset({Action.CATALOG})),))
    assert TokenGrant(catalog, None).grants_catalog()
    assert not TokenGrant(PULL, None).grants_catalog()


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("team/app", "team/app", True),
        ("team/app", "team/app2", False),
        ("**", "any/depth/at/all", True),
        ("team/**", "team/a/b", True),
        ("team/**", "team/", False),
        ("team/*", "team/a", True),
        ("team/*", "team/a/b", False),
        ("t?am/*-ci", "team/app-ci", True),
        ("*/app", "a/b/app", False),
        ("a/**/z", "a/b/c/z", True),
        ("a.b/*", "aXb/c", False),  # a dot is literal
    ],
)
def test_repository_globs(pattern: str, name: str, matches: bool) -> None:
    assert compile_repository_glob(pattern)(name) is matches


def test_plain_globs_have_no_path_semantics() -> None:
    assert glob_matches("v1.*", "v1.2/3")
    assert not glob_matches("v1.*", "v2.0")
