"""regproxy's own access and refresh tokens: what is issued, and everything verification refuses."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st

from regproxy.identity.chain import Credentials, Invalid, Scheme, Valid
from regproxy.identity.jose import CLAIM, InvalidToken, TokenUse, sign_claims
from regproxy.identity.keys import KeySet, SigningKey
from regproxy.identity.principal import (
    ANONYMOUS,
    CredentialScope,
    Principal,
    PrincipalKind,
    ScopeGrant,
    make_principal,
)
from regproxy.identity.scope import access_to_scope
from regproxy.identity.token_auth import TokenAuthenticator
from regproxy.identity.tokens import TokenService
from regproxy.oci.actions import ALL_ACTIONS, Action
from tests.support.clock import NOW, FakeClock
from tests.support.keys import ec_key, rsa_key, signing_key

ISSUER = "https://regproxy.example/token"
SERVICE = "registry.example"
PULL = frozenset({Action.PULL, Action.LIST})


# Module-level keys: hypothesis tests cannot take function-scoped fixtures.
EC_PRIVATE = ec_key("service")
EC_SIGNER = signing_key(EC_PRIVATE)
RSA_PRIVATE = rsa_key("service")
RSA_SIGNER = signing_key(RSA_PRIVATE)
ATTACKER_PRIVATE = ec_key("attacker")


def make_service(signer: SigningKey = EC_SIGNER, clock: FakeClock | None = None, **kw: Any) -> TokenService:
    return TokenService(
        issuer=kw.pop("issuer", ISSUER),
        service=kw.pop("service", SERVICE),
        keys=kw.pop("keys", KeySet(signer)),
        clock=clock or FakeClock(),
        **kw,
    )


ALICE = make_principal(
    PrincipalKind.USER,
    "alice",
    groups=["devs", "admins"],
    projects=["p1"],
    credential_id="cred-1",
    claims={"source": "test", "ref": "refs/heads/main"},
)
ACCESS = [{"type": "repository", "name": "team/app", "actions": ["pull"]}]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segments(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    head, body, _ = token.split(".")
    return json.loads(unb64(head)), json.loads(unb64(body))


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def forge(header: dict[str, Any], claims: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


def issued_claims(service: TokenService, principal: Principal = ALICE) -> dict[str, Any]:
    return segments(service.issue(principal, ACCESS).token)[1]


# --- what is issued ---------------------------------------------------------------------------


@pytest.mark.parametrize("signer", [EC_SIGNER, RSA_SIGNER], ids=["es256", "rs256"])
def test_an_issued_token_verifies_back_to_its_principal(signer: SigningKey) -> None:
    service = make_service(signer)
    token, expires_in, issued_at = service.issue(ALICE, ACCESS)
    principal = service.verify(token)
    assert (principal.id, principal.kind, principal.name) == ("user:alice", PrincipalKind.USER, "alice")
    assert principal.groups == {"devs", "admins"}
    assert principal.projects == {"p1"}
    assert principal.credential_id == "cred-1"
    assert dict(principal.claims) == {"source": "test", "ref": "refs/heads/main"}
    assert principal.expires_at == NOW + 300
    assert expires_in == 300
    assert issued_at == "2023-11-14T22:13:20Z"
    assert principal.scope is not None
    assert principal.scope.permits(Action.PULL, "team/app")
    assert principal.scope.permits(Action.LIST, "team/app")
    assert not principal.scope.permits(Action.PUSH, "team/app")
    assert not principal.scope.permits(Action.PULL, "team/other")


def test_the_token_carries_the_distribution_claims_and_header() -> None:
    service = make_service()
    token = service.issue(ALICE, ACCESS).token
    header, claims = segments(token)
    assert header == {"alg": "ES256", "kid": EC_SIGNER.kid, "typ": "JWT"}
    assert claims["iss"] == ISSUER
    assert claims["sub"] == "user:alice"
    assert claims["aud"] == SERVICE
    assert claims["iat"] == claims["nbf"] == int(NOW)
    assert claims["exp"] == int(NOW) + 300
    assert claims["access"] == ACCESS
    assert claims[CLAIM]["use"] == "access"
    assert claims[CLAIM]["groups"] == ["admins", "devs"]
    assert len(claims["jti"]) >= 16
    assert issued_claims(service)["jti"] != claims["jti"]


def test_a_token_never_outlives_the_credential_it_was_exchanged_for() -> None:
    service = make_service()
    short = make_principal(PrincipalKind.USER, "bob", expires_at=NOW + 42.9)
    issued = service.issue(short, ACCESS)
    assert issued.expires_in == 42
    assert service.verify(issued.token).expires_at == NOW + 42
    with pytest.raises(ValueError, match="expired"):
        service.issue(make_principal(PrincipalKind.USER, "bob", expires_at=NOW), ACCESS)


def test_a_requested_lifetime_is_capped() -> None:
    service = make_service(lifetime=300, max_lifetime=900)
    assert service.issue(ALICE, ACCESS, lifetime=10_000).expires_in == 900
    assert service.issue(ALICE, ACCESS, lifetime=60).expires_in == 60
    with pytest.raises(ValueError, match="lifetime"):
        make_service(lifetime=1000, max_lifetime=900)


@pytest.mark.parametrize(
    "access",
    [
        [{"type": "repository", "name": "team/*", "actions": ["pull"]}],
        [{"type": "repository", "name": "team/app"}],
        [{"type": "repository", "name": "team/app", "actions": None}],
    ],
    ids=["glob-name", "no-actions", "actions-none"],
)
def test_a_malformed_access_list_is_not_signed(access: list[dict[str, Any]]) -> None:
    with pytest.raises(ValueError, match="access"):
        make_service().issue(ALICE, access)


def test_the_credential_scope_bounds_the_token_and_keeps_its_name() -> None:
    service = make_service()
    pull_only = CredentialScope("containerRegistry:pull", (ScopeGrant("**", PULL),))
    principal = make_principal(PrincipalKind.USER, "carol", scope=pull_only)
    access = [{"type": "repository", "name": "team/app", "actions": ["pull", "push"]}]
    verified = service.verify(service.issue(principal, access).token)
    assert verified.scope is not None
    assert verified.scope.name == "containerRegistry:pull"
    assert verified.scope_permits(Action.PULL, "team/app")
    assert not verified.scope_permits(Action.PUSH, "team/app")
    assert not verified.scope_permits(Action.PULL, "elsewhere")


def test_an_anonymous_token_stays_anonymous() -> None:
    service = make_service()
    verified = service.verify(service.issue(ANONYMOUS, ACCESS).token)
    assert verified.id == "anonymous"
    assert not verified.authenticated


def test_refresh_tokens_round_trip_and_are_long_lived() -> None:
    service = make_service(refresh_lifetime=7 * 86400)
    issued = service.issue_refresh_token(ALICE)
    assert issued.expires_in == 7 * 86400
    header, claims = segments(issued.token)
    assert header["typ"] == "regproxy-refresh+jwt"
    assert "access" not in claims
    principal = service.verify_refresh_token(issued.token, NOW + 6 * 86400)
    assert principal.id == ALICE.id
    assert principal.groups == ALICE.groups


def test_keys_rotate_old_tokens_verify_until_the_old_key_is_dropped() -> None:
    old = make_service(EC_SIGNER)
    token = old.issue(ALICE, ACCESS).token
    rotated = make_service(keys=KeySet(RSA_SIGNER, [EC_SIGNER.verification_key]))
    assert rotated.verify(token).id == ALICE.id
    assert segments(rotated.issue(ALICE, ACCESS).token)[0]["kid"] == RSA_SIGNER.kid
    dropped = make_service(keys=KeySet(RSA_SIGNER))
    with pytest.raises(InvalidToken, match="unknown key"):
        dropped.verify(token)


# --- what verification refuses ----------------------------------------------------------------


def resign(mutate: Callable[[dict[str, Any]], None], use: TokenUse = TokenUse.ACCESS) -> str:
    claims = issued_claims(make_service())
    mutate(claims)
    return sign_claims(claims, EC_SIGNER, use)


def drop(name: str) -> Callable[[dict[str, Any]], None]:
    return lambda claims: claims.pop(name)


def put(**values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda claims: claims.update(values)


def tamper_signature(token: str) -> str:
    head, body, sig = token.split(".")
    middle = len(sig) // 2
    flipped = "A" if sig[middle] != "A" else "B"
    return f"{head}.{body}.{sig[:middle]}{flipped}{sig[middle + 1 :]}"


def tamper_payload(token: str) -> str:
    head, _, sig = token.split(".")
    claims = segments(token)[1]
    claims["access"][0]["actions"] = ["pull", "push"]
    return f"{head}.{b64(json.dumps(claims).encode())}.{sig}"


def public_pem_bytes() -> bytes:
    return EC_PRIVATE.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def attacker_signed(header_extra: dict[str, Any], kid: str = EC_SIGNER.kid) -> str:
    claims = issued_claims(make_service())
    claims["access"] = [{"type": "repository", "name": "team/app", "actions": ["*"]}]
    attacker_jwk = jwt.algorithms.ECAlgorithm.to_jwk(ATTACKER_PRIVATE.public_key(), as_dict=True)
    headers = {"kid": kid, "typ": "JWT", **header_extra}
    if header_extra.get("jwk") == "attacker":
        headers["jwk"] = attacker_jwk
    return jwt.encode(claims, ATTACKER_PRIVATE, algorithm="ES256", headers=headers)


def ours_with_headers(extra: dict[str, Any]) -> str:
    claims = issued_claims(make_service())
    return jwt.encode(claims, EC_PRIVATE, algorithm="ES256", headers={"kid": EC_SIGNER.kid, "typ": "JWT", **extra})


def alg_none() -> str:
    claims = issued_claims(make_service())
    claims["access"] = [{"type": "repository", "name": "team/app", "actions": ["*"]}]
    return forge({"alg": "none", "kid": EC_SIGNER.kid, "typ": "JWT"}, claims, lambda _: b"")


def hs256_with_public_key() -> str:
    claims = issued_claims(make_service())
    claims["access"] = [{"type": "repository", "name": "team/app", "actions": ["*"]}]
    secret = public_pem_bytes()
    return forge(
        {"alg": "HS256", "kid": EC_SIGNER.kid, "typ": "JWT"},
        claims,
        lambda data: hmac.new(secret, data, hashlib.sha256).digest(),
    )


REFUSED: list[tuple[str, Callable[[], str], str]] = [
    ("tampered-signature", lambda: tamper_signature(make_service().issue(ALICE, ACCESS).token), "signature"),
    ("tampered-payload", lambda: tamper_payload(make_service().issue(ALICE, ACCESS).token), "signature"),
    ("alg-none", alg_none, "algorithm"),
    ("hs256-public-key-as-secret", hs256_with_public_key, "algorithm"),
    ("unknown-kid", lambda: attacker_signed({}, kid="attacker-kid"), "unknown key"),
    ("no-kid", lambda: forge({"alg": "ES256", "typ": "JWT"}, {}, lambda _: b"x"), "key id"),
    ("attacker-key-jwk-header", lambda: attacker_signed({"jwk": "attacker"}), "signature"),
    ("attacker-key-jku-header", lambda: attacker_signed({"jku": "https://evil.example/jwks.json"}), "signature"),
    ("attacker-key-x5u-header", lambda: attacker_signed({"x5u": "https://evil.example/cert.pem"}), "signature"),
    (
        "rs256-header-on-ec-key",
        lambda: jwt.encode(
            issued_claims(make_service()), RSA_PRIVATE, algorithm="RS256", headers={"kid": EC_SIGNER.kid}
        ),
        "algorithm",
    ),
    ("missing-exp", lambda: resign(drop("exp")), "lacks `exp`"),
    ("missing-nbf", lambda: resign(drop("nbf")), "lacks `nbf`"),
    ("missing-iat", lambda: resign(drop("iat")), "lacks `iat`"),
    ("missing-aud", lambda: resign(drop("aud")), "lacks `aud`"),
    ("missing-iss", lambda: resign(drop("iss")), "lacks `iss`"),
    ("missing-sub", lambda: resign(drop("sub")), "lacks `sub`"),
    ("nbf-in-future", lambda: resign(put(nbf=int(NOW) + 31)), "not valid yet"),
    ("iat-in-future", lambda: resign(put(iat=int(NOW) + 31, nbf=int(NOW))), "in the future"),
    ("wrong-aud", lambda: resign(put(aud="other.example")), "another service"),
    ("aud-list", lambda: resign(put(aud=[SERVICE, "other.example"])), "another service"),
    ("wrong-iss", lambda: resign(put(iss="https://evil.example")), "another issuer"),
    ("lifetime-over-cap", lambda: resign(put(exp=int(NOW) + 3601)), "lifetime"),
    ("exp-not-a-number", lambda: resign(put(exp=True)), "not a time"),
    ("exp-infinite", lambda: resign(put(exp=float("inf"))), "time"),
    ("no-regproxy-claim", lambda: resign(drop(CLAIM)), "not a regproxy access token"),
    ("claim-says-refresh", lambda: resign(put(**{CLAIM: {"use": "refresh"}})), "not a regproxy access token"),
    ("malformed-access", lambda: resign(put(access=[{"type": "repository"}])), "access"),
    ("malformed-principal", lambda: resign(put(**{CLAIM: {"use": "access", "kind": "robot"}})), "principal"),
    ("refresh-token-as-access", lambda: make_service().issue_refresh_token(ALICE).token, "not a regproxy access token"),
    (
        "sts-token-as-access",
        lambda: resign(put(**{CLAIM: {"use": "sts", "policy": []}}), TokenUse.STS),
        "not a regproxy access token",
    ),
    ("not-a-jwt", lambda: "definitely.not.ajwt", "well-formed"),
]


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [(case[1], case[2]) for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_verification_refuses(make_token: Callable[[], str], reason: str) -> None:
    with pytest.raises(InvalidToken, match=re.escape(reason)):
        make_service().verify(make_token())


def test_headers_pointing_elsewhere_are_ignored_not_followed() -> None:
    # Our own key signed it: jku/x5u/jwk change nothing, the kid alone picks the key.
    attacker_jwk = jwt.algorithms.ECAlgorithm.to_jwk(ATTACKER_PRIVATE.public_key(), as_dict=True)
    token = ours_with_headers(
        {"jku": "https://evil.example/jwks", "x5u": "https://evil.example/x", "jwk": attacker_jwk}
    )
    assert make_service().verify(token).id == ALICE.id


@pytest.mark.parametrize(
    ("offset", "valid"),
    [(300 + 29, True), (300 + 31, False), (-29, True), (-31, False)],
    ids=["expired-within-leeway", "expired-beyond-leeway", "early-within-leeway", "early-beyond-leeway"],
)
def test_clock_skew_is_bounded_by_the_leeway(offset: float, valid: bool) -> None:
    service = make_service(leeway=30)
    token = service.issue(ALICE, ACCESS).token
    if valid:
        assert service.verify(token, NOW + offset).id == ALICE.id
    else:
        with pytest.raises(InvalidToken, match=r"expired|not valid yet|future"):
            service.verify(token, NOW + offset)


def test_a_token_for_another_service_is_refused() -> None:
    other = make_service(service="other-registry.example")
    token = other.issue(ALICE, ACCESS).token
    with pytest.raises(InvalidToken, match="another service"):
        make_service().verify(token)


def test_an_access_token_is_not_a_refresh_token() -> None:
    service = make_service()
    with pytest.raises(InvalidToken, match="refresh"):
        service.verify_refresh_token(service.issue(ALICE, ACCESS).token)


def test_a_refresh_token_expires_too() -> None:
    service = make_service(refresh_lifetime=3600)
    token = service.issue_refresh_token(ALICE).token
    with pytest.raises(InvalidToken, match="expired"):
        service.verify_refresh_token(token, NOW + 3600 + 31)


# --- properties -------------------------------------------------------------------------------

REPOSITORIES = ["a", "a/b", "team/app", "team/app/x", "other"]
GLOBS = ["**", "team/*", "team/**", "a", "a/*", "other", "nothing"]
WORDS = ["pull", "push", "delete", "*", "bogus"]

access_entries = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["repository", "registry", "repository(plugin)", "namespace"]),
        "name": st.sampled_from([*REPOSITORIES, "catalog"]),
        "actions": st.lists(st.sampled_from(WORDS), max_size=4),
    }
)
grants = st.builds(
    ScopeGrant,
    repository=st.sampled_from(GLOBS),
    actions=st.frozensets(st.sampled_from(sorted(ALL_ACTIONS))),
)
credential_scopes = st.none() | st.builds(
    CredentialScope, name=st.just("granted"), grants=st.lists(grants, max_size=4).map(tuple)
)


@settings(max_examples=150, deadline=None)
@given(access=st.lists(access_entries, max_size=5), granted=credential_scopes)
def test_a_verified_token_permits_exactly_what_both_access_and_credential_permit(
    access: list[dict[str, Any]], granted: CredentialScope | None
) -> None:
    service = make_service()
    principal = make_principal(PrincipalKind.SERVICE_ACCOUNT, "ci", scope=granted)
    verified = service.verify(service.issue(principal, access).token)
    in_token = access_to_scope(access)
    for action in Action:
        for repository in REPOSITORIES:
            both = in_token.permits(action, repository) and (granted is None or granted.permits(action, repository))
            assert verified.scope_permits(action, repository) == both


# --- revocation -------------------------------------------------------------------------------


class Revocations:
    def __init__(self) -> None:
        self.ids: frozenset[str] = frozenset()

    def __call__(self) -> frozenset[str]:
        return self.ids


@pytest.mark.parametrize(
    ("credential_id", "revoked"),
    [("cred-1", "cred-1"), ("sts-abc", "abc"), ("sts-abc", "sts-abc")],
    ids=["access-credential", "sts-by-jti", "sts-by-username"],
)
async def test_tokens_of_a_revoked_credential_are_refused_as_soon_as_the_set_reloads(
    credential_id: str, revoked: str
) -> None:
    """Access and refresh tokens exchanged for a credential die with its revocation, even when the
    access token's verification is remembered; tokens of other credentials live on."""
    revocations = Revocations()
    service = make_service(revoked=revocations)
    authenticator = TokenAuthenticator(service)
    principal = make_principal(PrincipalKind.SERVICE_ACCOUNT, "ci", credential_id=credential_id)
    access = Credentials(Scheme.BEARER, "", service.issue(principal, ACCESS).token)
    refresh = service.issue_refresh_token(principal).token
    bob = make_principal(PrincipalKind.USER, "bob", credential_id="cred-2")
    other = Credentials(Scheme.BEARER, "", service.issue(bob, ACCESS).token)
    assert isinstance(await authenticator.authenticate(access), Valid)  # now remembered

    revocations.ids = frozenset({revoked})
    result = await authenticator.authenticate(access)
    assert isinstance(result, Invalid)
    assert "revoked" in result.reason
    with pytest.raises(InvalidToken, match="revoked"):
        service.verify_refresh_token(refresh)
    assert isinstance(await authenticator.authenticate(other), Valid)
