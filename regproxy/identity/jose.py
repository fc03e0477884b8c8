"""JWT primitives for regproxy's own tokens: sign, verify, time claims, token types.

Follows the JWT BCP (RFC 8725). Tokens are explicitly typed twice (§3.11): the JOSE ``typ``
header (``JWT`` for access tokens, as distribution writes it; ``regproxy-refresh+jwt``;
``regproxy-sts+jwt``) and the ``regproxy.use`` claim, so a refresh token is never an access token
and the reverse.

Verification trusts nothing in the header but ``kid``, and that only as a lookup key:

- the key is found by ``kid`` among our own keys (unknown kid: invalid); ``jku``, ``x5u``,
  ``jwk`` and ``x5c`` are never read, never fetched;
- the algorithm is the *key's* (EC -> ES256, RSA -> RS256); a header naming any other (``none``,
  ``HS256`` with the public key as an HMAC secret, ...) is refused before any crypto runs;
- ``exp nbf iat aud iss sub`` are required, ``aud`` must be exactly the service and ``iss``
  exactly the issuer; times are checked against the injected clock with a bounded leeway; a
  token that claims to live longer than the cap, or to be issued in the future, is refused.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import jwt

from regproxy.errors import RegproxyError
from regproxy.identity.keys import KeySet, SigningKey

__all__ = [
    "CLAIM",
    "DEFAULT_LEEWAY",
    "HEADER_TYPES",
    "Clock",
    "InvalidToken",
    "TokenUse",
    "check_time_claims",
    "decode_signed",
    "new_jti",
    "peek_issuer",
    "registered_claims",
    "sign_claims",
    "verify_signed",
]

Clock = Callable[[], float]
CLAIM = "regproxy"  # the private claim of regproxy's own tokens
REQUIRED_CLAIMS = ["exp", "nbf", "iat", "aud", "iss", "sub", "jti"]
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


def new_jti() -> str:
    return secrets.token_urlsafe(18)


def registered_claims(*, issuer: str, subject: str, audience: str, iat: int, exp: int) -> dict[str, Any]:
    """The registered claims every regproxy token carries, with a fresh ``jti``."""
    return {"iss": issuer, "sub": subject, "aud": audience, "exp": exp, "nbf": iat, "iat": iat, "jti": new_jti()}


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
