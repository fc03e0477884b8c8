"""The signing keys of external OIDC issuers as data: JWK Set parsing, URL rules, the key source.

Follows RFC 7517 (JWK Set). Only asymmetric signature keys are kept: RSA (>= 2048 bits) and EC
P-256/P-384/P-521. A JWK with ``use`` other than ``sig``, with private members, or of type
``oct`` is dropped, so a token can never be checked with an HMAC "secret" that is in fact
public. Fetching is an adapter's (:mod:`regproxy.identity.jwks`); the OIDC authenticator sees
only an :class:`IssuerKeys`.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from regproxy.errors import RegproxyError

__all__ = [
    "IssuerKey",
    "IssuerKeys",
    "IssuerUnavailable",
    "JwksError",
    "UnknownKeyId",
    "is_secure_url",
    "parse_jwks",
]

log = logging.getLogger("regproxy.identity.jwks")

MAX_KEYS = 64
MIN_RSA_BITS = 2048
RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
EC_ALGORITHMS: Mapping[str, str] = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}


class JwksError(RegproxyError):
    """Base of the JWKS cache's errors."""


class IssuerUnavailable(JwksError):
    """The issuer's keys cannot be fetched and no cached key serves the token (-> 503)."""


class UnknownKeyId(JwksError):
    """The issuer was reached and has no usable key with this kid (-> the token is invalid)."""


@dataclass(frozen=True, slots=True)
class IssuerKey:
    """One usable public key of an issuer, and the algorithms it may verify."""

    kid: str
    algorithms: frozenset[str]
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey = field(repr=False)


def is_secure_url(url: str) -> bool:
    """``https``, or plain ``http`` to a loopback address only (tests, a sidecar)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def parse_jwks(document: Any) -> dict[str, IssuerKey]:
    """The usable keys of a JWK Set by kid; unusable keys are dropped (and logged)."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("a JWK Set is an object with a `keys` list")
    keys: dict[str, IssuerKey] = {}
    for jwk in document["keys"][:MAX_KEYS]:
        try:
            key = _parse_jwk(jwk)
        except ValueError as exc:
            log.warning("dropping a JWK: %s", exc)
            continue
        if key.kid in keys:
            log.warning("dropping a JWK: kid `%s` is repeated", key.kid)
            continue
        keys[key.kid] = key
    return keys


def _parse_jwk(jwk: Any) -> IssuerKey:
    if not isinstance(jwk, dict):
        raise ValueError("not an object")
    kid, kty, alg = jwk.get("kid"), jwk.get("kty"), jwk.get("alg")
    if not isinstance(kid, str) or not kid:
        raise ValueError("no kid")
    if jwk.get("use", "sig") != "sig":
        raise ValueError(f"kid `{kid}` is not a signature key")
    if "d" in jwk or "p" in jwk or "k" in jwk:
        raise ValueError(f"kid `{kid}` carries private or symmetric key material")
    try:
        if kty == "RSA":
            rsa_key = RSAAlgorithm.from_jwk(jwk)
            if not isinstance(rsa_key, rsa.RSAPublicKey):
                raise ValueError(f"kid `{kid}` is not an RSA public key")
            if rsa_key.key_size < MIN_RSA_BITS:
                raise ValueError(f"kid `{kid}` is shorter than {MIN_RSA_BITS} bits")
            public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey = rsa_key
            family = RSA_ALGORITHMS
        elif kty == "EC":
            ec_key = ECAlgorithm.from_jwk(jwk)
            if not isinstance(ec_key, ec.EllipticCurvePublicKey):
                raise ValueError(f"kid `{kid}` is not an EC public key")
            curve_alg = EC_ALGORITHMS.get(str(jwk.get("crv")))
            if curve_alg is None:
                raise ValueError(f"kid `{kid}` is on an unsupported curve")
            public_key, family = ec_key, frozenset({curve_alg})
        else:
            raise ValueError(f"kid `{kid}` has unsupported key type `{kty}`")
    except (jwt.PyJWTError, KeyError, TypeError) as exc:
        raise ValueError(f"kid `{kid}` does not parse: {exc}") from None
    if alg is not None:
        # A JWK that names its algorithm pins it (RFC 7517 §4.4).
        if alg not in family:
            raise ValueError(f"kid `{kid}` names algorithm `{alg}` its key cannot use")
        family = frozenset({alg})
    return IssuerKey(kid, family, public_key)


class IssuerKeys(Protocol):
    """Where the OIDC authenticator finds an issuer's key by kid (the JWKS cache)."""

    async def get_key(self, issuer: str, kid: str, *, jwks_uri: str | None = None) -> IssuerKey:
        """The key, or :class:`UnknownKeyId` / :class:`IssuerUnavailable`."""
        ...
