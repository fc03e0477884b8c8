"""regproxy's own token service: issue and verify the Bearer JWTs of the Docker token flow.

Follows distribution's token specs (docs/spec/auth/token.md, jwt.md, scope.md) and the JWT BCP
(RFC 8725). An access token carries ``iss``, ``sub`` (the principal id), ``aud`` (the service),
``exp``, ``nbf``, ``iat``, ``jti`` and ``access`` (the granted scopes), plus one private claim,
``regproxy``, with what rebuilding the :class:`~regproxy.identity.principal.Principal` needs::

    {"use": "access" | "refresh" | "sts", "kind", "name", "groups", "projects",
     "cid": credential id, "cscope": the credential's own scope, "claims": the principal's claims}

Tokens are explicitly typed twice (RFC 8725 §3.11): the JOSE ``typ`` header (``JWT`` for access
tokens, as distribution writes it; ``regproxy-refresh+jwt``; ``regproxy-sts+jwt``) and the
``regproxy.use`` claim, so a refresh token is never an access token and the reverse.

Verification trusts nothing in the header but ``kid``, and that only as a lookup key:

- the key is found by ``kid`` among our own keys (unknown kid: invalid); ``jku``, ``x5u``,
  ``jwk`` and ``x5c`` are never read, never fetched;
- the algorithm is the *key's* (EC -> ES256, RSA -> RS256); a header naming any other (``none``,
  ``HS256`` with the public key as an HMAC secret, ...) is refused before any crypto runs;
- ``exp nbf iat aud iss sub`` are required, ``aud`` must be exactly the service and ``iss``
  exactly the issuer; times are checked against the injected clock with a bounded leeway; a
  token that claims to live longer than the cap, or to be issued in the future, is refused.

The verified principal's scope is the token's ``access`` intersected with the credential's own
scope: a token never carries more than the credential it was exchanged for. The scope keeps the
credential's scope name, so ``credential-scope`` policy conditions hold through the token flow.
Nor does a token outlive the credential's revocation: a token exchanged for a credential that
is in the revocation set now (the ``revoked:`` of the identities file) is refused, access and
refresh tokens alike. A token never authorizes by itself: the policy in force still decides
every request.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any, NamedTuple

import jwt
from cachetools import LRUCache

from regproxy.errors import RegproxyError
from regproxy.identity.chain import NOT_MINE, AuthResult, Credentials, Invalid, Scheme, Valid
from regproxy.identity.keys import KeySet, SigningKey
from regproxy.identity.principal import (
    CredentialScope,
    IntersectedScope,
    Principal,
    PrincipalKind,
    TokenGrant,
)
from regproxy.identity.scope import access_to_scope, scope_from_claim, scope_to_claim

__all__ = [
    "CLAIM",
    "HEADER_TYPES",
    "Clock",
    "InvalidToken",
    "IssuedToken",
    "TokenAuthenticator",
    "TokenService",
    "TokenUse",
    "VerifiedTokenCache",
    "bound_by_credential",
    "check_time_claims",
    "credential_revoked",
    "credential_scope_from_claims",
    "decode_signed",
    "new_jti",
    "peek_issuer",
    "principal_claim",
    "principal_from_claims",
    "sign_claims",
    "verify_signed",
]

STS_USERNAME_PREFIX = "sts-"  # a short-lived credential's id is its username, `sts-<jti>`

Clock = Callable[[], float]
CLAIM = "regproxy"
REQUIRED_CLAIMS = ["exp", "nbf", "iat", "aud", "iss", "sub", "jti"]
DEFAULT_LIFETIME = 300
DEFAULT_MAX_LIFETIME = 3600
DEFAULT_REFRESH_LIFETIME = 7 * 24 * 3600
DEFAULT_LEEWAY = 30


class InvalidToken(RegproxyError):
    """A token that does not verify; ``reason`` is safe to log and to put in a challenge."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TokenUse(StrEnum):
    ACCESS = "access"
    REFRESH = "refresh"
    STS = "sts"


HEADER_TYPES: Mapping[TokenUse, str] = MappingProxyType(
    {
        TokenUse.ACCESS: "JWT",
        TokenUse.REFRESH: "regproxy-refresh+jwt",
        TokenUse.STS: "regproxy-sts+jwt",
    }
)


class IssuedToken(NamedTuple):
    """What the token endpoint answers: the JWT, seconds to expiry, ``issued_at`` (RFC 3339)."""

    token: str
    expires_in: int
    issued_at: str


def new_jti() -> str:
    return secrets.token_urlsafe(18)


def peek_issuer(token: str) -> str | None:
    """The unverified ``iss`` of a JWT, only to route it to its verifier; None if not a JWT."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    issuer = claims.get("iss")
    return issuer if isinstance(issuer, str) else None


def check_time_claims(
    claims: Mapping[str, Any],
    *,
    now: float,
    leeway: float,
    max_lifetime: float | None,
    require_nbf: bool = True,
) -> None:
    """``exp``, ``nbf``, ``iat`` against ``now`` with ``leeway``; lifetime under the cap."""
    exp = _time_claim(claims, "exp")
    iat = _time_claim(claims, "iat")
    if exp is None or iat is None or (require_nbf and claims.get("nbf") is None):
        missing = "exp" if exp is None else "iat" if iat is None else "nbf"
        raise InvalidToken(f"token lacks `{missing}`")
    nbf = _time_claim(claims, "nbf")
    if exp <= now - leeway:
        raise InvalidToken("token has expired")
    if nbf is not None and nbf > now + leeway:
        raise InvalidToken("token is not valid yet")
    if iat > now + leeway:
        raise InvalidToken("token is issued in the future")
    if exp <= iat:
        raise InvalidToken("token expires before it is issued")
    if max_lifetime is not None and exp - iat > max_lifetime:
        raise InvalidToken("token lifetime exceeds the maximum")


def _time_claim(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    # bool is an int in Python; JSON true is not a time. NaN and infinities are not either.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidToken(f"token `{name}` is not a time")
    return float(value)


def sign_claims(claims: Mapping[str, Any], key: SigningKey, use: TokenUse) -> str:
    """Sign with the key's own algorithm; the header names only ``alg``, ``kid``, ``typ``."""
    return jwt.encode(
        dict(claims),
        key.private_key,
        algorithm=key.algorithm.value,
        headers={"kid": key.kid, "typ": HEADER_TYPES[use]},
    )


def decode_signed(
    token: str,
    public_key: Any,
    algorithm: str,
    *,
    audience: str,
    issuer: str,
    strict_audience: bool,
    required: Sequence[str] = REQUIRED_CLAIMS,
    audience_error: str = "token is for another audience",
) -> dict[str, Any]:
    """PyJWT's signature, ``aud`` and ``iss`` checks with the algorithm pinned by the caller;
    times are left to :func:`check_time_claims` against the injected clock. Every failure is
    an :class:`InvalidToken` with a reason fit for a log line."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            public_key,
            algorithms=[algorithm],
            audience=audience,
            issuer=issuer,
            options={
                "require": list(required),
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "strict_aud": strict_audience,
                "enforce_minimum_key_length": True,
            },
        )
    except jwt.InvalidSignatureError:
        raise InvalidToken("token signature does not verify") from None
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidToken(f"token lacks `{exc.claim}`") from None
    except jwt.InvalidAudienceError:
        raise InvalidToken(audience_error) from None
    except jwt.InvalidIssuerError:
        raise InvalidToken("token is from another issuer") from None
    except jwt.PyJWTError:
        raise InvalidToken("token does not verify") from None
    return claims


def verify_signed(
    token: str,
    keys: KeySet,
    *,
    use: TokenUse,
    issuer: str,
    audience: str,
    now: float,
    leeway: float,
    max_lifetime: float,
) -> dict[str, Any]:
    """Verify one of regproxy's own tokens of this use: its claims, or :class:`InvalidToken`."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise InvalidToken("token is not a well-formed JWT") from None
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise InvalidToken("token names no key id")
    key = keys.get(kid)
    if key is None:
        raise InvalidToken("token is signed with an unknown key")
    if header.get("alg") != key.algorithm.value:
        raise InvalidToken(f"token algorithm is not the key's ({key.algorithm.value})")
    if header.get("typ") != HEADER_TYPES[use]:
        raise InvalidToken(f"not a regproxy {use.value} token")
    claims = decode_signed(
        token,
        key.public_key,
        key.algorithm.value,
        audience=audience,
        issuer=issuer,
        strict_audience=True,
        audience_error="token is for another service",
    )
    check_time_claims(claims, now=now, leeway=leeway, max_lifetime=max_lifetime)
    private = claims.get(CLAIM)
    if not isinstance(private, dict) or private.get("use") != use.value:
        raise InvalidToken(f"not a regproxy {use.value} token")
    if not isinstance(claims["sub"], str) or not claims["sub"]:
        raise InvalidToken("token subject is empty")
    return claims


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
    return Principal(
        id=claims["sub"],
        kind=kind,
        name=name,
        groups=frozenset(groups),
        projects=frozenset(projects),
        credential_id=cid,
        scope=scope,
        expires_at=float(claims["exp"]),
        claims=MappingProxyType(extra),
    )


def credential_scope_from_claims(claims: Mapping[str, Any]) -> CredentialScope | None:
    raw = claims[CLAIM].get("cscope")
    if raw is None:
        return None
    try:
        return scope_from_claim(raw)
    except ValueError:
        raise InvalidToken("token credential scope is malformed") from None


def credential_revoked(principal: Principal, revoked: frozenset[str]) -> bool:
    """Whether the credential ``principal`` authenticated with is in the revocation set: an
    access credential by its id, a short-lived credential by its jti or its ``sts-<jti>`` name."""
    cid = principal.credential_id
    if not cid or not revoked:
        return False
    return cid in revoked or (cid.startswith(STS_USERNAME_PREFIX) and cid.removeprefix(STS_USERNAME_PREFIX) in revoked)


def bound_by_credential(scope: CredentialScope, credential: CredentialScope | None) -> CredentialScope:
    """``scope`` intersected with the credential's own scope, named after the credential's."""
    if credential is None:
        return scope
    return IntersectedScope(credential.name, (), (scope, credential))


class TokenService:
    """Issues and verifies access and refresh tokens for one service (the ``aud``)."""

    def __init__(
        self,
        *,
        issuer: str,
        service: str,
        keys: KeySet,
        lifetime: int = DEFAULT_LIFETIME,
        max_lifetime: int = DEFAULT_MAX_LIFETIME,
        refresh_lifetime: int = DEFAULT_REFRESH_LIFETIME,
        leeway: float = DEFAULT_LEEWAY,
        clock: Clock = time.time,
        revoked: Callable[[], frozenset[str]] = frozenset,
    ) -> None:
        """``revoked`` reads the revocation set as it is now (the identities file reloads): a
        token exchanged for a credential that is revoked since is refused with it."""
        if not issuer or not service:
            raise ValueError("a token service needs an issuer and a service")
        if not 0 < lifetime <= max_lifetime:
            raise ValueError("token lifetime must be positive and at most the maximum lifetime")
        if refresh_lifetime <= 0 or leeway < 0:
            raise ValueError("refresh lifetime must be positive and leeway not negative")
        self.issuer = issuer
        self.service = service
        self.keys = keys
        self.lifetime = lifetime
        self.max_lifetime = max_lifetime
        self.refresh_lifetime = refresh_lifetime
        self.leeway = leeway
        self._clock = clock
        self._revoked = revoked

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
        if credential_revoked(principal, self._revoked()):
            raise InvalidToken("the token's credential has been revoked")

    def now(self) -> float:
        return self._clock()

    def owns(self, token: str) -> bool:
        return peek_issuer(token) == self.issuer

    def _verify(self, token: str, use: TokenUse, cap: float, now: float | None) -> dict[str, Any]:
        return verify_signed(
            token,
            self.keys,
            use=use,
            issuer=self.issuer,
            audience=self.service,
            now=self._clock() if now is None else now,
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
        iat = int(self._clock() if now is None else now)
        exp = iat + lifetime
        if principal.expires_at is not None:
            exp = min(exp, math.floor(principal.expires_at))
        if exp <= iat:
            raise ValueError("the credential has expired")
        claims = {
            "iss": self.issuer,
            "sub": principal.id,
            "aud": self.service,
            "exp": exp,
            "nbf": iat,
            "iat": iat,
            "jti": new_jti(),
            **extra,
            CLAIM: principal_claim(principal, use),
        }
        issued_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(iat))
        return IssuedToken(sign_claims(claims, key, use), exp - iat, issued_at)


class VerifiedTokenCache:
    """Principals of tokens already verified, by SHA-256 of the token, each until a deadline.

    A client sends the same token with every blob of a push; remembering the verification
    spares a signature check per request. An entry is served only before its deadline (the
    token's ``exp`` plus leeway, or sooner), so caching never extends a token's life.
    """

    def __init__(self, maxsize: int = 4096) -> None:
        self._entries: LRUCache[bytes, tuple[Principal, float]] = LRUCache(maxsize=max(1, maxsize))
        self._enabled = maxsize > 0

    def get(self, token: str, now: float) -> Principal | None:
        if not self._enabled:
            return None
        digest = _digest(token)
        entry = self._entries.get(digest)
        if entry is None:
            return None
        principal, until = entry
        if now < until:
            return principal
        del self._entries[digest]
        return None

    def put(self, token: str, principal: Principal, until: float) -> None:
        if self._enabled:
            self._entries[_digest(token)] = (principal, until)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


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
