"""Loading signing/verification keys from PEM, RFC 7638 kids, key sets and the published JWKS."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from regproxy.identity.keys import (
    KeyAlgorithm,
    KeyLoadError,
    KeySet,
    jwk_thumbprint,
    load_signing_key,
    load_verification_key,
)
from tests.support import keys

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def private_pem(key: PrivateKey, password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def public_pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return keys.ec_key()


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return keys.rsa_key()


def test_an_ec_p256_key_signs_with_es256_only(ec_key: ec.EllipticCurvePrivateKey) -> None:
    key = load_signing_key(private_pem(ec_key))
    assert key.algorithm is KeyAlgorithm.ES256
    assert key.kid == jwk_thumbprint(ec_key.public_key())


def test_an_rsa_2048_key_signs_with_rs256_only(rsa_key: rsa.RSAPrivateKey) -> None:
    key = load_signing_key(private_pem(rsa_key))
    assert key.algorithm is KeyAlgorithm.RS256
    assert key.verification_key.algorithm is KeyAlgorithm.RS256


def test_an_encrypted_pem_loads_with_its_password(ec_key: ec.EllipticCurvePrivateKey) -> None:
    pem = private_pem(ec_key, b"s3cret")
    assert load_signing_key(pem, password=b"s3cret").algorithm is KeyAlgorithm.ES256
    with pytest.raises(KeyLoadError, match="PEM"):
        load_signing_key(pem)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024), "2048"),
        (lambda: ec.generate_private_key(ec.SECP384R1()), "P-256"),
        (lambda: ec.generate_private_key(ec.SECP256K1()), "P-256"),
        (ed25519.Ed25519PrivateKey.generate, "EC P-256 or RSA"),
    ],
    ids=["rsa-1024", "p-384", "secp256k1", "ed25519"],
)
def test_other_keys_are_refused(make: object, message: str) -> None:
    assert callable(make)
    key = make()
    with pytest.raises(KeyLoadError, match=message):
        load_signing_key(private_pem(key))
    with pytest.raises(KeyLoadError, match=message):
        load_verification_key(public_pem(key))


def test_garbage_is_not_a_key() -> None:
    with pytest.raises(KeyLoadError, match="PEM"):
        load_signing_key(b"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    with pytest.raises(KeyLoadError, match="PEM"):
        load_verification_key(b"not a key")


def test_rfc7638_thumbprint_of_the_rfc_example_key() -> None:
    # RFC 7638 §3.1: this RSA key's thumbprint is NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs.
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJ"
        "ECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW"
        "2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vM"
        "QFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    modulus = int.from_bytes(base64.urlsafe_b64decode(n + "=" * (-len(n) % 4)), "big")
    public_key = rsa.RSAPublicNumbers(65537, modulus).public_key()
    assert jwk_thumbprint(public_key) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_ec_thumbprint_agrees_with_an_independent_jwk_encoding(
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    jwk = jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key(), as_dict=True)
    required = {k: jwk[k] for k in ("crv", "kty", "x", "y")}
    canonical = json.dumps(required, sort_keys=True, separators=(",", ":")).encode()
    expected = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
    assert jwk_thumbprint(ec_key.public_key()) == expected


def test_a_configured_kid_wins_and_must_be_plain(ec_key: ec.EllipticCurvePrivateKey) -> None:
    assert load_signing_key(private_pem(ec_key), kid="2026-01").kid == "2026-01"
    with pytest.raises(KeyLoadError, match="kid"):
        load_signing_key(private_pem(ec_key), kid="has space")
    with pytest.raises(KeyLoadError, match="kid"):
        load_signing_key(private_pem(ec_key), kid="")


def test_verification_keys_load_from_public_keys_certificates_and_private_keys(
    ec_key: ec.EllipticCurvePrivateKey, rsa_key: rsa.RSAPrivateKey
) -> None:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "regproxy token signer")])
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(rsa_key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=1))
        .sign(rsa_key, hashes.SHA256())
    )
    from_cert = load_verification_key(certificate.public_bytes(serialization.Encoding.PEM))
    assert from_cert.algorithm is KeyAlgorithm.RS256
    assert from_cert.kid == jwk_thumbprint(rsa_key.public_key())
    from_public = load_verification_key(public_pem(ec_key))
    from_private = load_verification_key(private_pem(ec_key))
    assert from_public.kid == from_private.kid == jwk_thumbprint(ec_key.public_key())
    assert from_public.same_key(from_private)


def test_a_key_set_holds_one_signer_and_several_verifiers(
    ec_key: ec.EllipticCurvePrivateKey, rsa_key: rsa.RSAPrivateKey
) -> None:
    signer = load_signing_key(private_pem(ec_key))
    old = load_verification_key(public_pem(rsa_key))
    keys = KeySet(signer, [old, signer.verification_key])  # a repeated key is harmless
    assert set(keys.verification) == {signer.kid, old.kid}
    assert keys.get(old.kid) == old
    assert keys.get("nope") is None
    verifier_only = KeySet(None, [old])
    assert verifier_only.signing is None


def test_two_keys_cannot_share_a_kid(ec_key: ec.EllipticCurvePrivateKey, rsa_key: rsa.RSAPrivateKey) -> None:
    signer = load_signing_key(private_pem(ec_key), kid="k1")
    other = load_verification_key(public_pem(rsa_key), kid="k1")
    with pytest.raises(KeyLoadError, match="k1"):
        KeySet(signer, [other])
    with pytest.raises(KeyLoadError, match="at least one"):
        KeySet(None, [])


def test_the_jwks_publishes_public_halves_that_verify_our_tokens(
    ec_key: ec.EllipticCurvePrivateKey, rsa_key: rsa.RSAPrivateKey
) -> None:
    signer = load_signing_key(private_pem(rsa_key))
    keys = KeySet(signer, [load_verification_key(public_pem(ec_key))])
    document = keys.jwks()
    assert document["keys"][0]["kid"] == signer.kid
    for jwk in document["keys"]:
        assert jwk["use"] == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(jwk)
    rsa_jwk = document["keys"][0]
    assert rsa_jwk["kty"] == "RSA"
    assert rsa_jwk["alg"] == "RS256"
    ec_jwk = document["keys"][1]
    assert (ec_jwk["kty"], ec_jwk["crv"], ec_jwk["alg"]) == ("EC", "P-256", "ES256")
    token = jwt.encode({"sub": "x"}, rsa_key, algorithm="RS256", headers={"kid": signer.kid})
    published = jwt.PyJWK(rsa_jwk)
    assert jwt.decode(token, published, algorithms=["RS256"]) == {"sub": "x"}
