"""JWT primitives: typed tokens, the key's own algorithm, time claims against the given clock."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from regproxy.identity.jose import (
    CLAIM,
    HEADER_TYPES,
    InvalidToken,
    TokenUse,
    check_time_claims,
    peek_issuer,
    registered_claims,
    sign_claims,
    verify_signed,
)
from regproxy.identity.keys import KeySet
from tests.support.clock import NOW
from tests.support.keys import ec_key, rsa_key, signing_key

SIGNER = signing_key(ec_key("jose"))
RSA_SIGNER = signing_key(rsa_key("jose"))
ISSUER, AUDIENCE = "https://regproxy.example/token", "registry.example"


def claims(use: TokenUse = TokenUse.ACCESS, **extra: Any) -> dict[str, Any]:
    base = registered_claims(issuer=ISSUER, subject="user:alice", audience=AUDIENCE, iat=int(NOW), exp=int(NOW) + 300)
    return {**base, CLAIM: {"use": use.value}, **extra}


def verify(token: str, use: TokenUse = TokenUse.ACCESS, keys: KeySet | None = None, now: float = NOW) -> dict[str, Any]:
    return verify_signed(
        token,
        keys or KeySet(SIGNER),
        use=use,
        issuer=ISSUER,
        audience=AUDIENCE,
        now=now,
        leeway=30,
        max_lifetime=3600,
    )


def test_registered_claims_carry_a_fresh_jti_each_time() -> None:
    first, second = claims(), claims()
    assert first["nbf"] == first["iat"] == int(NOW) and first["exp"] == int(NOW) + 300
    assert first["jti"] != second["jti"]


@pytest.mark.parametrize("use", list(TokenUse))
def test_a_token_is_typed_in_its_header_and_verifies_only_as_its_use(use: TokenUse) -> None:
    token = sign_claims(claims(use), SIGNER, use)
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "ES256", "kid": SIGNER.kid, "typ": HEADER_TYPES[use]}
    assert verify(token, use)["sub"] == "user:alice"
    for other in set(TokenUse) - {use}:
        with pytest.raises(InvalidToken, match=f"not a regproxy {other.value} token"):
            verify(token, other)


def test_an_rsa_key_signs_rs256() -> None:
    token = sign_claims(claims(), RSA_SIGNER, TokenUse.ACCESS)
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert verify(token, keys=KeySet(RSA_SIGNER))["iss"] == ISSUER


def test_an_unknown_key_or_a_header_naming_another_algorithm_is_refused() -> None:
    with pytest.raises(InvalidToken, match="unknown key"):
        verify(sign_claims(claims(), signing_key(ec_key("stranger")), TokenUse.ACCESS))
    forged = jwt.encode(claims(), "s" * 32, algorithm="HS256", headers={"kid": SIGNER.kid, "typ": "JWT"})
    with pytest.raises(InvalidToken, match="algorithm is not the key's"):
        verify(forged)


def test_a_use_claim_that_disagrees_with_the_header_is_refused() -> None:
    token = sign_claims(claims(TokenUse.REFRESH), SIGNER, TokenUse.ACCESS)
    with pytest.raises(InvalidToken, match="not a regproxy access token"):
        verify(token)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"exp": NOW - 31}, "expired"),
        ({"nbf": NOW + 31}, "not valid yet"),
        ({"iat": NOW + 31, "exp": NOW + 100}, "issued in the future"),
        ({"exp": NOW - 10, "iat": NOW - 5}, "expires before it is issued"),
        ({"exp": NOW + 3601, "iat": NOW - 1}, "lifetime exceeds"),
        ({"exp": True}, "not a time"),
        ({"iat": float("nan")}, "not a time"),
        ({"iat": None}, "lacks `iat`"),
    ],
)
def test_time_claims(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidToken, match=reason):
        check_time_claims({**claims(), **changes}, now=NOW, leeway=30, max_lifetime=3600)


def test_leeway_allows_a_little_clock_skew() -> None:
    check_time_claims({**claims(), "nbf": NOW + 29}, now=NOW, leeway=30, max_lifetime=3600)


def test_the_issuer_is_peeked_only_to_route_a_token() -> None:
    assert peek_issuer(sign_claims(claims(), SIGNER, TokenUse.ACCESS)) == ISSUER
    assert peek_issuer("not-a-jwt") is None
    assert peek_issuer(jwt.encode({"sub": "x"}, "k" * 32, algorithm="HS256")) is None
