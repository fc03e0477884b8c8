"""OIDC workload identity against a real aiohttp issuer on 127.0.0.1: verify, map, refuse."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from types import MappingProxyType
from typing import Any

import aiohttp
import jwt
import pytest

from regproxy.identity.chain import Credentials, Invalid, NotMine, Scheme, Unavailable, Valid
from regproxy.identity.jose import InvalidToken
from regproxy.identity.jwks import JwksCache
from regproxy.identity.oidc import OidcAuthenticator, OidcIssuerConfig, map_principal
from regproxy.identity.principal import PrincipalKind
from tests.support.clock import NOW as CLOCK_NOW
from tests.support.clock import FakeClock
from tests.support.jwks_issuer import FakeJwksIssuer, serve
from tests.support.keys import ec_key, jwk, rsa_key

NOW = int(CLOCK_NOW)
AUDIENCE = "https://registry.example"
RSA_KEY = rsa_key("issuer")
EC_KEY = ec_key("issuer")
ATTACKER_KEY = rsa_key("attacker")


class FakeIssuer(FakeJwksIssuer):
    """The issuer's JWKS, and ID tokens as GitHub Actions writes them."""

    def __init__(self) -> None:
        super().__init__([jwk(RSA_KEY, "rsa-1", alg="RS256"), jwk(EC_KEY, "ec-1")])

    def token(
        self,
        *,
        key: Any = RSA_KEY,
        alg: str = "RS256",
        kid: str = "rsa-1",
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """A GitHub Actions-like ID token."""
        payload: dict[str, Any] = {
            "iss": self.url,
            "aud": AUDIENCE,
            "sub": "repo:acme/app:ref:refs/heads/main",
            "repository": "acme/app",
            "repository_owner": "acme",
            "ref": "refs/heads/main",
            "environment": "prod",
            "teams": ["builders", "releasers"],
            "iat": NOW,
            "nbf": NOW,
            "exp": NOW + 300,
            "jti": "jti-1",
        }
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid, **(headers or {})})


@pytest.fixture
async def issuer(aiohttp_server: Any) -> FakeIssuer:
    return await serve(aiohttp_server, FakeIssuer())  # type: ignore[return-value]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def config_for(issuer: FakeIssuer, **kw: Any) -> OidcIssuerConfig:
    defaults: dict[str, Any] = {
        "issuer": issuer.url,
        "audience": AUDIENCE,
        "name_template": "gh:{repository}",
        "group_claims": ("teams",),
        "group_prefix": "gh-team:",
        "static_groups": frozenset({"ci"}),
        "required_claims": MappingProxyType({"repository_owner": ("acme",)}),
    }
    defaults.update(kw)
    return OidcIssuerConfig(**defaults)


def authenticator_for(
    issuer: FakeIssuer, session: aiohttp.ClientSession, clock: FakeClock, **kw: Any
) -> OidcAuthenticator:
    cache = JwksCache(session, clock=clock, min_refetch_interval=30)
    return OidcAuthenticator([config_for(issuer, **kw)], cache, clock=clock)


def bearer(token: str) -> Credentials:
    return Credentials(Scheme.BEARER, "", token)


async def test_a_valid_token_maps_to_its_principal_groups_and_claims(
    issuer: FakeIssuer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    result = await authenticator_for(issuer, session, clock).authenticate(bearer(issuer.token()))
    assert isinstance(result, Valid)
    principal = result.principal
    assert principal.id == "service-account:gh:acme/app"
    assert principal.kind is PrincipalKind.SERVICE_ACCOUNT
    assert principal.groups == {"ci", "gh-team:builders", "gh-team:releasers"}
    assert principal.claims["ref"] == "refs/heads/main"
    assert principal.claims["environment"] == "prod"
    assert principal.expires_at == NOW + 300
    assert principal.credential_id == "jti-1"
    assert principal.scope is None


async def test_an_ec_token_verifies_with_the_ec_key(
    issuer: FakeIssuer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    token = issuer.token(key=EC_KEY, alg="ES256", kid="ec-1")
    result = await authenticator_for(issuer, session, clock).authenticate(bearer(token))
    assert isinstance(result, Valid)


async def test_docker_login_sends_the_jwt_as_the_password_of_the_reserved_user(
    issuer: FakeIssuer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    authenticator = authenticator_for(issuer, session, clock)
    token = issuer.token()
    result = await authenticator.authenticate(Credentials(Scheme.BASIC, "oidc", token))
    assert isinstance(result, Valid)
    other_user = await authenticator.authenticate(Credentials(Scheme.BASIC, "alice", token))
    assert isinstance(other_user, NotMine)
    bad = issuer.token(aud="https://elsewhere.example")
    refused = await authenticator.authenticate(Credentials(Scheme.BASIC, "oidc", bad))
    assert isinstance(refused, Invalid)
    assert refused.scheme is Scheme.BASIC


async def test_a_token_with_the_wrong_audience_is_refused(
    issuer: FakeIssuer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    token = issuer.token(aud="https://another-registry.example")
    result = await authenticator_for(issuer, session, clock).authenticate(bearer(token))
    assert isinstance(result, Invalid)
    assert result.scheme is Scheme.BEARER
    assert "audience" in result.reason


async def test_an_audience_list_must_contain_ours(
    issuer: FakeIssuer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    authenticator = authenticator_for(issuer, session, clock, allow_multiple_audiences=True)
    ok = await authenticator.authenticate(bearer(issuer.token(aud=["x", AUDIENCE])))
    assert isinstance(ok, Valid)
    no = await authenticator.authenticate(bearer(issuer.token(aud=["x", "y"])))
    assert isinstance(no, Invalid)


async def test_a_token_for_several_audiences_needs_an_azp_naming_a_configured_client(
    issuer: FakeIssuer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """OIDC Core 3.1.3.7: a token minted for several audiences was minted for someone; unless
    `azp` names a client this issuer's config accepts, it is not accepted here."""
    authenticator = authenticator_for(issuer, session, clock, authorized_parties=frozenset({"ci-client"}))
    several = ["https://other-service.example", AUDIENCE]
    missing = await authenticator.authenticate(bearer(issuer.token(aud=several)))
    assert isinstance(missing, Invalid)
    assert "authorized party" in missing.reason
    other = await authenticator.authenticate(bearer(issuer.token(aud=several, azp="someone-else")))
    assert isinstance(other, Invalid)
    ok = await authenticator.authenticate(bearer(issuer.token(aud=several, azp="ci-client")))
    assert isinstance(ok, Valid)
    plain = authenticator_for(issuer, session, clock)  # no clients configured, no explicit allowance
    assert isinstance(await plain.authenticate(bearer(issuer.token(aud=several, azp="ci-client"))), Invalid)
    assert isinstance(await plain.authenticate(bearer(issuer.token(aud=AUDIENCE))), Valid)


async def test_tokens_of_other_issuers_are_not_ours(
    issuer: FakeIssuer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    authenticator = authenticator_for(issuer, session, clock)
    for credentials in (
        bearer(issuer.token(iss="https://token.actions.githubusercontent.com")),
        bearer("not-a-jwt"),
        Credentials(Scheme.NONE),
    ):
        assert isinstance(await authenticator.authenticate(credentials), NotMine)
    assert issuer.jwks_hits == 0


async def test_an_issuer_that_is_down_makes_the_answer_unavailable(
    issuer: FakeIssuer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    issuer.up = False
    result = await authenticator_for(issuer, session, clock).authenticate(bearer(issuer.token()))
    assert isinstance(result, Unavailable)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_with_jwk_as_secret(issuer: FakeIssuer) -> str:
    header = {"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}
    claims = {
        "iss": issuer.url,
        "aud": AUDIENCE,
        "sub": "x",
        "repository": "acme/app",
        "repository_owner": "acme",
        "iat": NOW,
        "exp": NOW + 300,
    }
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    secret = jwt.algorithms.RSAAlgorithm.to_jwk(RSA_KEY.public_key()).encode()
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


REFUSED: list[tuple[str, Any, str]] = [
    ("expired", lambda i: i.token(exp=NOW - 31, iat=NOW - 300, nbf=NOW - 300), "expired"),
    ("not-yet-valid", lambda i: i.token(nbf=NOW + 60), "not valid yet"),
    ("issued-in-future", lambda i: i.token(iat=NOW + 60, exp=NOW + 360), "future"),
    ("lifetime-over-cap", lambda i: i.token(exp=NOW + 25 * 3600), "lifetime"),
    ("missing-exp", lambda i: i.token(exp=None), "`exp`"),
    ("missing-iat", lambda i: i.token(iat=None), "`iat`"),
    ("missing-sub", lambda i: i.token(sub=None), "`sub`"),
    ("required-claim-mismatch", lambda i: i.token(repository_owner="evil"), "repository_owner"),
    ("required-claim-missing", lambda i: i.token(repository_owner=None), "repository_owner"),
    ("name-claim-missing", lambda i: i.token(repository=None), "repository"),
    ("unknown-kid", lambda i: i.token(kid="rotated-away"), "unknown key"),
    ("attacker-key-our-kid", lambda i: i.token(key=ATTACKER_KEY), "signature"),
    (
        "attacker-key-jwk-header",
        lambda i: i.token(
            key=ATTACKER_KEY,
            headers={
                "jwk": jwt.algorithms.RSAAlgorithm.to_jwk(ATTACKER_KEY.public_key(), as_dict=True),
                "jku": "https://evil.example/jwks",
            },
        ),
        "signature",
    ),
    ("rs256-kid-with-es256", lambda i: i.token(key=EC_KEY, alg="ES256", kid="rsa-1"), "key's"),
    ("es-key-with-rs256", lambda i: i.token(key=RSA_KEY, alg="RS256", kid="ec-1"), "key's"),
    ("alg-not-allowed", lambda i: i.token(alg="RS512"), "not allowed"),
    ("alg-none", lambda i: jwt.encode({"iss": i.url}, "", algorithm="none", headers={"kid": "rsa-1"}), "not allowed"),
    ("hs256-public-key-as-secret", hs256_with_jwk_as_secret, "not allowed"),
    ("no-kid", lambda i: jwt.encode({"iss": i.url}, RSA_KEY, algorithm="RS256"), "key id"),
]


@pytest.mark.parametrize(("make_token", "reason"), [(c[1], c[2]) for c in REFUSED], ids=[c[0] for c in REFUSED])
async def test_verification_refuses(
    issuer: FakeIssuer,
    session: aiohttp.ClientSession,
    clock: FakeClock,
    make_token: Any,
    reason: str,
) -> None:
    result = await authenticator_for(issuer, session, clock).authenticate(bearer(make_token(issuer)))
    assert isinstance(result, Invalid)
    assert reason in result.reason


async def test_refused_algorithms_cost_no_jwks_fetch(
    issuer: FakeIssuer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    authenticator = authenticator_for(issuer, session, clock)
    await authenticator.authenticate(bearer(hs256_with_jwk_as_secret(issuer)))
    assert issuer.jwks_hits == 0


async def test_a_remembered_token_still_expires(
    issuer: FakeIssuer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    authenticator = authenticator_for(issuer, session, clock)
    credentials = bearer(issuer.token())
    assert isinstance(await authenticator.authenticate(credentials), Valid)
    issuer.up = False  # the remembered verification needs no key
    assert isinstance(await authenticator.authenticate(credentials), Valid)
    clock.now = NOW + 300 + 31
    result = await authenticator.authenticate(credentials)
    assert isinstance(result, Invalid)
    assert "expired" in result.reason


def test_map_principal_from_one_claim_with_a_prefix() -> None:
    config = OidcIssuerConfig(
        issuer="https://gitlab.example",
        audience="regproxy",
        kind=PrincipalKind.USER,
        name_claim="user_login",
        name_prefix="gitlab:",
        group_claims=("groups", "namespace_path"),
    )
    claims = {"user_login": "dora", "groups": ["a", 7, None, True], "namespace_path": "acme/x", "exp": NOW}
    principal = map_principal(config, claims)
    assert principal.id == "user:gitlab:dora"
    assert principal.groups == {"a", "7", "true", "acme/x"}


@pytest.mark.parametrize(
    "claims",
    [{"exp": NOW}, {"sub": "", "exp": NOW}, {"sub": ["a"], "exp": NOW}, {"sub": "a\nb", "exp": NOW}],
    ids=["missing", "empty", "list", "control-character"],
)
def test_map_principal_refuses_an_unusable_name(claims: dict[str, Any]) -> None:
    config = OidcIssuerConfig(issuer="https://idp.example", audience="regproxy")
    with pytest.raises(InvalidToken, match="name"):
        map_principal(config, claims)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"issuer": "http://idp.example"}, "https"),
        ({"jwks_uri": "http://idp.example/jwks"}, "https"),
        ({"audience": ""}, "audience"),
        ({"algorithms": frozenset({"HS256"})}, "algorithms"),
        ({"algorithms": frozenset({"none"})}, "algorithms"),
        ({"algorithms": frozenset()}, "algorithms"),
        ({"kind": PrincipalKind.ANONYMOUS}, "anonymous"),
        ({"name_template": "static"}, "claim"),
        ({"required_claims": {"ref": ()}}, "pattern"),
    ],
    ids=[
        "http-issuer",
        "http-jwks",
        "no-audience",
        "hs256",
        "none",
        "no-algorithms",
        "anonymous",
        "template-without-claim",
        "empty-pattern",
    ],
)
def test_issuer_configs_refuse_unsafe_settings(kw: dict[str, Any], message: str) -> None:
    settings: dict[str, Any] = {"issuer": "https://idp.example", "audience": "regproxy", **kw}
    with pytest.raises(ValueError, match=message):
        OidcIssuerConfig(**settings)


async def test_an_issuer_cannot_be_configured_twice(session: aiohttp.ClientSession) -> None:
    config = OidcIssuerConfig(issuer="https://idp.example", audience="regproxy")
    with pytest.raises(ValueError, match="twice"):
        OidcAuthenticator([config, config], JwksCache(session))
