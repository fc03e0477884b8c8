"""Keys and JWTs for the identity suites: keys as operators make them, tokens signed right and
forged wrong.

:func:`write_ec_key` writes what ``openssl ecparam -name prime256v1 -genkey -noout`` writes (a
SEC1 ``EC PRIVATE KEY`` PEM), so the proxy loads the same kind of file its users give it. The
forgeries are built by hand, byte by byte, because PyJWT (rightly) refuses to make most of them:
an ``alg: none`` token, an HS256 token whose HMAC secret is the issuer's *public* key PEM (the
classic algorithm-confusion attack), a token whose signature was altered after signing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def new_ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def write_ec_key(path: Path, key: ec.EllipticCurvePrivateKey | None = None) -> Path:
    """A P-256 private key as a SEC1 PEM (the ``openssl ecparam -genkey -noout`` format)."""
    key = key or new_ec_key()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    path.write_bytes(pem)
    path.chmod(0o600)
    return path


def read_private_key(path: Path) -> PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey), type(key)
    return key


def public_pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _segment(value: Mapping[str, Any]) -> str:
    return b64url(json.dumps(dict(value), separators=(",", ":")).encode())


def sign(claims: Mapping[str, Any], key: PrivateKey, *, kid: str, typ: str = "JWT") -> str:
    """A correctly signed JWT: ES256 for an EC key, RS256 for an RSA key."""
    algorithm = "ES256" if isinstance(key, ec.EllipticCurvePrivateKey) else "RS256"
    return jwt.encode(dict(claims), key, algorithm=algorithm, headers={"kid": kid, "typ": typ})


def unsigned(claims: Mapping[str, Any], *, kid: str, typ: str = "JWT") -> str:
    """``alg: none``: a header, the claims, and an empty signature (RFC 7519 §6)."""
    return f"{_segment({'alg': 'none', 'typ': typ, 'kid': kid})}.{_segment(claims)}."


def hs256_with_public_key(claims: Mapping[str, Any], key: PrivateKey, *, kid: str, typ: str = "JWT") -> str:
    """HS256 keyed with the *public* key's PEM: what a verifier that lets the header choose the
    algorithm would accept as genuine (the algorithm-confusion attack, RFC 8725 §2.1)."""
    signing_input = f"{_segment({'alg': 'HS256', 'typ': typ, 'kid': kid})}.{_segment(claims)}"
    mac = hmac.new(public_pem(key), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def tampered(token: str) -> str:
    """``token`` with one bit of its signature flipped (header and claims untouched)."""
    head, _, signature = token.rpartition(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return f"{head}.{b64url(bytes(raw))}"


def with_claims(token: str, **changes: Any) -> str:
    """``token`` with its claims changed and its original signature kept (so it cannot verify)."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    return f"{header}.{_segment(claims)}.{signature}"


def header_of(token: str) -> dict[str, Any]:
    header: dict[str, Any] = jwt.get_unverified_header(token)
    return header


def claims_of(token: str) -> dict[str, Any]:
    """A token's claims, unverified: only to look at what a server issued."""
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims
