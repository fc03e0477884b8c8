"""The ``regproxy`` private claim: what rebuilding a principal from a verified token needs.

::

    {"use": "access" | "refresh" | "sts", "kind", "name", "groups", "projects",
     "cid": credential id, "cscope": the credential's own scope, "claims": the principal's claims}

The verified principal's scope is the token's ``access`` intersected with the credential's own
scope (:func:`bound_by_credential`), named after the credential's so ``credential-scope`` policy
conditions hold through the token flow. Nor does a token outlive the credential's revocation
(:func:`credential_revoked`): a token exchanged for a credential that is in the revocation set
now (the ``revoked:`` of the identities file) is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from regproxy.identity.jose import CLAIM, InvalidToken, TokenUse
from regproxy.identity.principal import CredentialScope, IntersectedScope, Principal, PrincipalKind, make_principal
from regproxy.identity.scope import scope_from_claim, scope_to_claim

__all__ = [
    "STS_USERNAME_PREFIX",
    "bound_by_credential",
    "credential_revoked",
    "credential_scope_from_claims",
    "principal_claim",
    "principal_from_claims",
]

STS_USERNAME_PREFIX = "sts-"  # a short-lived credential's id is its username, `sts-<jti>`


def principal_claim(principal: Principal, use: TokenUse) -> dict[str, Any]:
    """The ``regproxy`` private claim that lets a verifier rebuild ``principal``."""
    out: dict[str, Any] = {
        "use": use.value,
        "kind": principal.kind.value,
        "name": principal.name,
        "groups": sorted(principal.groups),
        "projects": sorted(principal.projects),
    }
    if principal.credential_id is not None:
        out["cid"] = principal.credential_id
    if principal.scope is not None:
        out["cscope"] = scope_to_claim(principal.scope)
    if principal.claims:
        out["claims"] = dict(principal.claims)
    return out


def principal_from_claims(claims: Mapping[str, Any], scope: CredentialScope | None) -> Principal:
    """Rebuild the principal a verified token was issued to; ``scope`` is the bound to carry."""
    private = claims[CLAIM]
    try:
        kind = PrincipalKind(private.get("kind"))
        name = private["name"]
        groups = private.get("groups", [])
        projects = private.get("projects", [])
        cid = private.get("cid")
        extra = private.get("claims", {})
        if not isinstance(name, str) or not isinstance(extra, dict):
            raise TypeError
        if not isinstance(groups, list) or not isinstance(projects, list):
            raise TypeError
        if not all(isinstance(g, str) for g in [*groups, *projects]):
            raise TypeError
        if cid is not None and not isinstance(cid, str):
            raise TypeError
    except (KeyError, TypeError, ValueError):
        raise InvalidToken("token principal claim is malformed") from None
    principal = make_principal(
        kind,
        name,
        groups=groups,
        projects=projects,
        credential_id=cid,
        scope=scope,
        expires_at=float(claims["exp"]),
        claims=extra,
    )
    return replace(principal, id=claims["sub"])  # the token's subject, as it was issued


def credential_scope_from_claims(claims: Mapping[str, Any]) -> CredentialScope | None:
    raw = claims[CLAIM].get("cscope")
    if raw is None:
        return None
    try:
        return scope_from_claim(raw)
    except ValueError:
        raise InvalidToken("token credential scope is malformed") from None


def credential_revoked(credential: Principal | str | None, revoked: frozenset[str]) -> bool:
    """Whether a credential (by id, or the one ``principal`` authenticated with) is in the
    revocation set: an access credential by its id, a short-lived credential by its jti or its
    ``sts-<jti>`` name."""
    cid = credential.credential_id if isinstance(credential, Principal) else credential
    if not cid or not revoked:
        return False
    return cid in revoked or (cid.startswith(STS_USERNAME_PREFIX) and cid.removeprefix(STS_USERNAME_PREFIX) in revoked)


def bound_by_credential(scope: CredentialScope, credential: CredentialScope | None) -> CredentialScope:
    """``scope`` intersected with the credential's own scope, named after the credential's."""
    if credential is None:
        return scope
    return IntersectedScope(credential.name, (), (scope, credential))
