"""The authenticator of ``Bearer`` access tokens issued by regproxy's own token service."""

from __future__ import annotations

from regproxy.identity.chain import NOT_MINE, AuthResult, Credentials, Invalid, Scheme, Valid
from regproxy.identity.jose import InvalidToken
from regproxy.identity.token_cache import VerifiedTokenCache
from regproxy.identity.tokens import TokenService

__all__ = ["TokenAuthenticator"]


class TokenAuthenticator:
    """Authenticates ``Bearer`` access tokens whose ``iss`` is this service's issuer.

    A Bearer token from another issuer is not ours (:class:`NotMine`: the OIDC authenticator
    may take it); one of ours that does not verify is :class:`Invalid`. Verified tokens are
    remembered until they expire (:class:`VerifiedTokenCache`).
    """

    def __init__(self, service: TokenService, *, cache_size: int = 4096) -> None:
        self._service = service
        self._cache = VerifiedTokenCache(cache_size)

    async def authenticate(self, credentials: Credentials) -> AuthResult:
        token = credentials.secret
        if credentials.scheme is not Scheme.BEARER:
            return NOT_MINE
        now = self._service.now()
        # The cache first: only tokens this service verified are in it, and peeking at the
        # issuer (a full JWT parse) costs more than the whole cached path.
        cached = self._cache.get(token, now)
        if cached is None and not self._service.owns(token):
            return NOT_MINE
        if cached is not None:
            try:  # remembered verification, but the revocation set is read as it is now
                self._service.refuse_revoked(cached)
            except InvalidToken as exc:
                return Invalid(exc.reason, Scheme.BEARER)
            return Valid(cached)
        try:
            principal = self._service.verify(token, now)
        except InvalidToken as exc:
            return Invalid(exc.reason, Scheme.BEARER)
        if principal.expires_at is not None:  # always: verify() sets it from `exp`
            self._cache.put(token, principal, principal.expires_at + self._service.leeway)
        return Valid(principal)
