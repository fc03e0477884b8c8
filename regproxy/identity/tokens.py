"""regproxy's own token service: issue and verify the Bearer JWTs of the Docker token flow.

Follows distribution's token specs (docs/spec/auth/token.md, jwt.md, scope.md). An access token
carries ``iss``, ``sub`` (the principal id), ``aud`` (the service), ``exp``, ``nbf``, ``iat``,
``jti`` and ``access`` (the granted scopes), plus the private claim ``regproxy``
(:mod:`regproxy.identity.claims`). Signing and verification are :mod:`regproxy.identity.jose`.

The verified principal's scope is the token's ``access`` intersected with the credential's own
scope: a token never carries more than the credential it was exchanged for, nor outlives the
credential's revocation. A token never authorizes by itself: the policy in force still decides
every request.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from regproxy.identity.claims import (
    bound_by_credential,
    credential_revoked,
    credential_scope_from_claims,
    principal_claim,
    principal_from_claims,
)
from regproxy.identity.jose import (
    CLAIM,
    DEFAULT_LEEWAY,
    Clock,
    InvalidToken,
    TokenUse,
    peek_issuer,
    registered_claims,
    sign_claims,
    verify_signed,
)
from regproxy.identity.keys import KeySet
from regproxy.identity.principal import Principal, TokenGrant
from regproxy.identity.scope import access_to_scope

__all__ = ["DEFAULT_LIFETIME", "DEFAULT_MAX_LIFETIME", "DEFAULT_REFRESH_LIFETIME", "IssuedToken", "TokenService"]

DEFAULT_LIFETIME = 300
DEFAULT_MAX_LIFETIME = 3600
DEFAULT_REFRESH_LIFETIME = 7 * 24 * 3600


class IssuedToken(NamedTuple):
    """What the token endpoint answers: the JWT, seconds to expiry, ``issued_at`` (RFC 3339)."""

    token: str
    expires_in: int
    issued_at: str


@dataclass(eq=False, kw_only=True, slots=True)
class TokenService:
    """Issues and verifies access and refresh tokens for one service (the ``aud``).

    ``revoked`` reads the revocation set as it is now (the identities file reloads): a token
    exchanged for a credential that is revoked since is refused with it.
    """

    issuer: str
    service: str
    keys: KeySet
    lifetime: int = DEFAULT_LIFETIME
    max_lifetime: int = DEFAULT_MAX_LIFETIME
    refresh_lifetime: int = DEFAULT_REFRESH_LIFETIME
    leeway: float = DEFAULT_LEEWAY
    clock: Clock = time.time
    revoked: Callable[[], frozenset[str]] = frozenset

    def __post_init__(self) -> None:
        if not self.issuer or not self.service:
            raise ValueError("a token service needs an issuer and a service")
        if not 0 < self.lifetime <= self.max_lifetime:
            raise ValueError("token lifetime must be positive and at most the maximum lifetime")
        if self.refresh_lifetime <= 0 or self.leeway < 0:
            raise ValueError("refresh lifetime must be positive and leeway not negative")

    def issue(
        self,
        principal: Principal,
        access: Sequence[Mapping[str, Any]],
        now: float | None = None,
        *,
        lifetime: int | None = None,
    ) -> IssuedToken:
        """An access token granting ``access`` (already intersected with what policy allows).

        The token never outlives the credential it was exchanged for (``principal.expires_at``).
        Raises ``ValueError`` for a malformed access list or an already expired principal.
        """
        try:
            entries = [{"type": e["type"], "name": e["name"], "actions": list(e["actions"])} for e in access]
        except (KeyError, TypeError):
            raise ValueError("`access` entries need `type`, `name` and `actions`") from None
        access_to_scope(entries)  # refuse to sign what verification would refuse to read
        if lifetime is not None and lifetime <= 0:
            raise ValueError("token lifetime must be positive")
        wanted = min(lifetime or self.lifetime, self.max_lifetime)
        return self._issue(principal, TokenUse.ACCESS, wanted, {"access": entries}, now)

    def issue_refresh_token(self, principal: Principal, now: float | None = None) -> IssuedToken:
        """A long-lived token the token endpoint exchanges for access tokens, and nothing else."""
        return self._issue(principal, TokenUse.REFRESH, self.refresh_lifetime, {}, now)

    def verify(self, token: str, now: float | None = None) -> Principal:
        """The principal of a valid access token, its scope bounded by the token's ``access``."""
        claims = self._verify(token, TokenUse.ACCESS, self.max_lifetime, now)
        try:
            access_scope = access_to_scope(claims.get("access"))
        except ValueError:
            raise InvalidToken("token access claim is malformed") from None
        credential = credential_scope_from_claims(claims)
        principal = principal_from_claims(claims, bound_by_credential(access_scope, credential))
        principal = replace(principal, token=TokenGrant(access_scope, credential))
        self.refuse_revoked(principal)
        return principal

    def verify_refresh_token(self, token: str, now: float | None = None) -> Principal:
        """The principal of a valid refresh token (for the token endpoint only)."""
        claims = self._verify(token, TokenUse.REFRESH, self.refresh_lifetime, now)
        principal = principal_from_claims(claims, credential_scope_from_claims(claims))
        self.refuse_revoked(principal)
        return principal

    def refuse_revoked(self, principal: Principal) -> None:
        """:class:`InvalidToken` when the credential the token was exchanged for is revoked now."""
        if credential_revoked(principal, self.revoked()):
            raise InvalidToken("the token's credential has been revoked")

    def now(self) -> float:
        return self.clock()

    def owns(self, token: str) -> bool:
        return peek_issuer(token) == self.issuer

    def _verify(self, token: str, use: TokenUse, cap: float, now: float | None) -> dict[str, Any]:
        return verify_signed(
            token,
            self.keys,
            use=use,
            issuer=self.issuer,
            audience=self.service,
            now=self.clock() if now is None else now,
            leeway=self.leeway,
            max_lifetime=cap,
        )

    def _issue(
        self,
        principal: Principal,
        use: TokenUse,
        lifetime: int,
        extra: Mapping[str, Any],
        now: float | None,
    ) -> IssuedToken:
        key = self.keys.signing
        if key is None:
            raise ValueError("this token service has no signing key")
        iat = int(self.clock() if now is None else now)
        exp = iat + lifetime
        if principal.expires_at is not None:
            exp = min(exp, math.floor(principal.expires_at))
        if exp <= iat:
            raise ValueError("the credential has expired")
        claims = {
            **registered_claims(issuer=self.issuer, subject=principal.id, audience=self.service, iat=iat, exp=exp),
            **extra,
            CLAIM: principal_claim(principal, use),
        }
        issued_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(iat))
        return IssuedToken(sign_claims(claims, key, use), exp - iat, issued_at)
