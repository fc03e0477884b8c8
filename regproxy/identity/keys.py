"""Signing and verification keys for regproxy's own tokens, and the JWKS that publishes them.

Keys come from PEM bytes (the caller reads the files, off the event loop). Two kinds only, each
pinned to one algorithm so that a token's header can never choose how it is verified (RFC 8725
§3.1, §3.2):

- EC P-256 -> ES256 (RFC 7518 §3.4), the algorithm the distribution token spec uses;
- RSA of at least 2048 bits -> RS256 (RFC 7518 §3.3, §3.3 minimum size).

A key's ``kid`` is its RFC 7638 JWK thumbprint (base64url of the SHA-256 of the canonical JWK)
unless one is configured. A :class:`KeySet` holds one signing key and any number of
verification keys, so keys rotate by adding the new key for verification, then making it the
signing key, then dropping the old one once tokens signed with it have expired.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from regproxy.errors import RegproxyError

__all__ = [
    "KeyAlgorithm",
    "KeyLoadError",
    "KeySet",
    "SigningKey",
    "VerificationKey",
    "jwk_thumbprint",
    "load_signing_key",
    "load_verification_key",
]

MIN_RSA_BITS = 2048
_JWK_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
# A configured kid is a lookup key that travels in a JOSE header: keep it short and plain.
_KID_RE = re.compile(r"[A-Za-z0-9._:=+/-]{1,128}")

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class KeyAlgorithm(StrEnum):
    """The JWS algorithm a key signs with: the key decides it, never a token header."""

    ES256 = "ES256"
    RS256 = "RS256"


class KeyLoadError(RegproxyError):
    """A key that cannot be used: unreadable PEM, wrong type or curve, too short."""


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A public key, its id, and the one algorithm it verifies."""

    kid: str
    algorithm: KeyAlgorithm
    public_key: PublicKey = field(repr=False)

    def jwk(self) -> dict[str, str]:
        """The public JWK (RFC 7517) with ``kid``, ``alg`` and ``use``."""
        return {
            **_public_jwk_members(self.public_key),
            "kid": self.kid,
            "alg": self.algorithm.value,
            "use": "sig",
        }

    def same_key(self, other: VerificationKey) -> bool:
        return jwk_thumbprint(self.public_key) == jwk_thumbprint(other.public_key)


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A private key that signs with exactly one algorithm, and its public half."""

    kid: str
    algorithm: KeyAlgorithm
    private_key: PrivateKey = field(repr=False)

    @property
    def verification_key(self) -> VerificationKey:
        return VerificationKey(self.kid, self.algorithm, self.private_key.public_key())


class KeySet:
    """One signing key (optional: a verifier-only process) and the verification keys by kid."""

    def __init__(self, signing: SigningKey | None, verification: Iterable[VerificationKey] = ()) -> None:
        keys: dict[str, VerificationKey] = {}
        candidates = [signing.verification_key] if signing is not None else []
        candidates.extend(verification)
        for key in candidates:
            existing = keys.get(key.kid)
            if existing is not None and not (existing.same_key(key) and existing.algorithm is key.algorithm):
                raise KeyLoadError(f"two different keys have the kid `{key.kid}`")
            keys[key.kid] = key
        if not keys:
            raise KeyLoadError("a key set needs at least one key")
        self.signing = signing
        self.verification: Mapping[str, VerificationKey] = MappingProxyType(keys)

    def get(self, kid: str) -> VerificationKey | None:
        return self.verification.get(kid)

    def jwks(self) -> dict[str, Any]:
        """The public JWKS to publish (RFC 7517 §5), signing key first."""
        ordered = sorted(
            self.verification.values(),
            key=lambda k: (self.signing is None or k.kid != self.signing.kid, k.kid),
        )
        return {"keys": [k.jwk() for k in ordered]}


def load_signing_key(pem: bytes, *, kid: str | None = None, password: bytes | None = None) -> SigningKey:
    """A signing key from a PEM private key (PKCS#8 or traditional; optionally encrypted)."""
    try:
        private_key = serialization.load_pem_private_key(pem, password=password)
    except (ValueError, TypeError) as exc:
        raise KeyLoadError(f"not a readable PEM private key: {exc}") from None
    if not isinstance(private_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise KeyLoadError("signing keys must be EC P-256 or RSA (>= 2048 bits)")
    algorithm = _algorithm_for(private_key.public_key())
    return SigningKey(_kid(kid, private_key.public_key()), algorithm, private_key)


def load_verification_key(pem: bytes, *, kid: str | None = None) -> VerificationKey:
    """A verification key from a PEM public key, certificate, or private key (its public half)."""
    public_key: Any
    if b"-----BEGIN CERTIFICATE-----" in pem:
        try:
            public_key = x509.load_pem_x509_certificate(pem).public_key()
        except ValueError as exc:
            raise KeyLoadError(f"not a readable PEM certificate: {exc}") from None
    elif b"PRIVATE KEY-----" in pem:
        return load_signing_key(pem, kid=kid).verification_key
    else:
        try:
            public_key = serialization.load_pem_public_key(pem)
        except (ValueError, TypeError) as exc:
            raise KeyLoadError(f"not a readable PEM public key: {exc}") from None
    if not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise KeyLoadError("verification keys must be EC P-256 or RSA (>= 2048 bits)")
    algorithm = _algorithm_for(public_key)
    return VerificationKey(_kid(kid, public_key), algorithm, public_key)


def jwk_thumbprint(public_key: PublicKey) -> str:
    """RFC 7638: base64url(SHA-256(the required JWK members, sorted, no whitespace))."""
    members = _public_jwk_members(public_key)
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":")).encode("ascii")
    return _b64url(hashlib.sha256(canonical).digest())


def _algorithm_for(public_key: PublicKey) -> KeyAlgorithm:
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if not isinstance(public_key.curve, ec.SECP256R1):
            raise KeyLoadError(f"EC keys must be on P-256, not `{public_key.curve.name}`")
        return KeyAlgorithm.ES256
    if public_key.key_size < MIN_RSA_BITS:
        raise KeyLoadError(f"RSA keys need at least {MIN_RSA_BITS} bits, not {public_key.key_size}")
    return KeyAlgorithm.RS256


def _kid(configured: str | None, public_key: PublicKey) -> str:
    if configured is None:
        return jwk_thumbprint(public_key)
    if _KID_RE.fullmatch(configured) is None:
        raise KeyLoadError(f"kid `{configured}` must be 1-128 characters of [A-Za-z0-9._:=+/-]")
    return configured


def _public_jwk_members(public_key: PublicKey) -> dict[str, str]:
    """The members RFC 7638 §3.2 requires, in the JWK encodings of RFC 7518 §6."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        crv = _JWK_CURVES.get(public_key.curve.name)
        if crv is None:
            raise KeyLoadError(f"EC curve `{public_key.curve.name}` has no JWK name")
        numbers = public_key.public_numbers()
        size = (public_key.curve.key_size + 7) // 8  # coordinates at full length (§6.2.1.2)
        return {
            "crv": crv,
            "kty": "EC",
            "x": _b64url(numbers.x.to_bytes(size, "big")),
            "y": _b64url(numbers.y.to_bytes(size, "big")),
        }
    rsa_numbers = public_key.public_numbers()
    return {"e": _b64url(_uint(rsa_numbers.e)), "kty": "RSA", "n": _b64url(_uint(rsa_numbers.n))}


def _uint(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
