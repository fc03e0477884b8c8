"""JWK Sets as data: which keys are usable, and which URLs may ever be fetched."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from regproxy.identity.jwk import is_secure_url, parse_jwks
from tests.support.keys import ec_key, jwk, rsa_key

RSA_KEY = rsa_key("issuer")
EC_KEY = ec_key("issuer")


def test_parse_jwks_keeps_only_asymmetric_signature_keys() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    p384 = ec.generate_private_key(ec.SECP384R1())
    document = {
        "keys": [
            jwk(RSA_KEY, "rsa"),
            jwk(RSA_KEY, "rsa-pinned", alg="PS256"),
            jwk(EC_KEY, "ec"),
            jwk(p384, "p384"),
            jwk(RSA_KEY, "encryption", use="enc"),
            jwk(small, "too-small"),
            jwk(EC_KEY, "ec-claims-rs256", alg="RS256"),
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {**jwk(EC_KEY, "private"), "d": "AAAA"},
            {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {**jwk(EC_KEY, "no-kid"), "kid": None},
            "not-an-object",
            jwk(RSA_KEY, "rsa"),  # repeated kid: the first wins
        ]
    }
    keys = parse_jwks(document)
    assert set(keys) == {"rsa", "rsa-pinned", "ec", "p384"}
    assert keys["rsa-pinned"].algorithms == {"PS256"}
    assert keys["p384"].algorithms == {"ES384"}
    with pytest.raises(ValueError, match="keys"):
        parse_jwks({"nokeys": []})


@pytest.mark.parametrize(
    ("url", "secure"),
    [
        ("https://token.actions.githubusercontent.com", True),
        ("http://127.0.0.1:8080", True),
        ("http://[::1]:8080/x", True),
        ("http://localhost/x", True),
        ("http://idp.example", False),
        ("http://10.0.0.1", False),
        ("ftp://idp.example", False),
        ("https://", False),
    ],
)
def test_only_https_or_loopback_urls_are_fetched(url: str, secure: bool) -> None:
    assert is_secure_url(url) is secure
