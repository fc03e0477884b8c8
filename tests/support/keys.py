"""Private keys for the suites, generated once per run and shared (RSA generation is slow).

A label names a key: the same label is the same key everywhere in one run, another label
another key (an attacker's, a rotated one).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from regproxy.identity.keys import SigningKey, load_signing_key

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@functools.cache
def ec_key(label: str = "default") -> ec.EllipticCurvePrivateKey:
    """A P-256 key (ES256)."""
    return ec.generate_private_key(ec.SECP256R1())


@functools.cache
def rsa_key(label: str = "default") -> rsa.RSAPrivateKey:
    """A 2048-bit RSA key (RS256)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pkcs8_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def signing_key(key: PrivateKey) -> SigningKey:
    """The token service's view of ``key``, loaded from its PEM as from a file."""
    return load_signing_key(pkcs8_pem(key))


def write_pkcs8(path: Path, key: PrivateKey | None = None) -> Path:
    """``key`` (a fresh-per-run P-256 key by default) as a PKCS#8 PEM file, as ``tokens.signing_key``."""
    path.write_bytes(pkcs8_pem(key or ec_key()))
    return path


def jwk(key: PrivateKey, kid: str, **extra: Any) -> dict[str, Any]:
    """The public half of ``key`` as a JWK with ``kid`` (and any other members)."""
    public_key = key.public_key()
    if isinstance(public_key, rsa.RSAPublicKey):
        data = jwt.algorithms.RSAAlgorithm.to_jwk(public_key, as_dict=True)
    else:
        data = jwt.algorithms.ECAlgorithm.to_jwk(public_key, as_dict=True)
    return {**data, "kid": kid, **extra}
