"""The ``regproxy`` private claim: a principal round-trips through it, a malformed one is an
invalid token, and revocation names a credential by id, jti or ``sts-<jti>``."""

from __future__ import annotations

import pytest

from regproxy.identity.claims import (
    bound_by_credential,
    credential_revoked,
    credential_scope_from_claims,
    principal_claim,
    principal_from_claims,
)
from regproxy.identity.jose import CLAIM, InvalidToken, TokenUse
from regproxy.identity.principal import CredentialScope, PrincipalKind, ScopeGrant, make_principal
from regproxy.oci.actions import Action

SCOPE = CredentialScope("ci-pull", (ScopeGrant("team/**", frozenset({Action.PULL})),))
CI = make_principal(
    PrincipalKind.SERVICE_ACCOUNT,
    "ci",
    groups=["builders"],
    projects=["p"],
    credential_id="key-1",
    scope=SCOPE,
    claims={"repository": "acme/app"},
)


def claims_for(private: dict[str, object]) -> dict[str, object]:
    return {"sub": CI.id, "exp": 1234, CLAIM: private}


def test_a_principal_round_trips_through_the_claim() -> None:
    private = principal_claim(CI, TokenUse.ACCESS)
    assert private["use"] == "access" and private["cid"] == "key-1"
    claims = claims_for(private)
    scope = credential_scope_from_claims(claims)
    assert scope is not None and scope.name == "ci-pull"
    back = principal_from_claims(claims, scope)
    assert (back.id, back.kind, back.groups, back.projects) == (CI.id, CI.kind, CI.groups, CI.projects)
    assert (back.credential_id, back.expires_at, dict(back.claims)) == ("key-1", 1234.0, {"repository": "acme/app"})
    assert back.scope_permits(Action.PULL, "team/a") and not back.scope_permits(Action.PUSH, "team/a")


@pytest.mark.parametrize(
    "private",
    [
        {"use": "access", "kind": "robot", "name": "ci"},
        {"use": "access", "kind": "user"},
        {"use": "access", "kind": "user", "name": "a", "groups": "admins"},
        {"use": "access", "kind": "user", "name": "a", "groups": [1]},
        {"use": "access", "kind": "user", "name": "a", "cid": 7},
        {"use": "access", "kind": "user", "name": "a", "claims": []},
    ],
)
def test_a_malformed_principal_claim_is_an_invalid_token(private: dict[str, object]) -> None:
    with pytest.raises(InvalidToken, match="malformed"):
        principal_from_claims(claims_for(private), None)


def test_a_malformed_credential_scope_is_an_invalid_token() -> None:
    assert credential_scope_from_claims(claims_for({})) is None
    with pytest.raises(InvalidToken, match="credential scope"):
        credential_scope_from_claims(claims_for({"cscope": "nonsense"}))


def test_a_token_is_bounded_by_its_credential_and_named_after_it() -> None:
    access = CredentialScope("t", (ScopeGrant("**", frozenset({Action.PULL, Action.PUSH})),))
    bounded = bound_by_credential(access, SCOPE)
    assert bounded.name == "ci-pull"
    assert bounded.permits(Action.PULL, "team/a") and not bounded.permits(Action.PUSH, "team/a")
    assert bound_by_credential(access, None) is access


def test_revocation_names_a_credential_by_id_or_a_short_lived_one_by_jti() -> None:
    assert credential_revoked(CI, frozenset({"key-1"}))
    assert not credential_revoked(CI, frozenset({"key-2"}))
    assert credential_revoked("sts-abc", frozenset({"abc"}))
    assert credential_revoked("sts-abc", frozenset({"sts-abc"}))
    assert not credential_revoked(make_principal(PrincipalKind.USER, "alice"), frozenset({"alice"}))
    assert not credential_revoked(None, frozenset({"x"}))
