"""The Bearer authenticator of regproxy's own tokens: ours only, refused as Bearer, and a
remembered verification never outlives the token."""

from __future__ import annotations

from regproxy.identity.chain import Credentials, Invalid, NotMine, Scheme, Valid
from regproxy.identity.token_auth import TokenAuthenticator
from tests.support.clock import NOW, FakeClock
from tests.unit.identity.test_tokens import ACCESS, ALICE, make_service, tamper_signature


async def test_the_authenticator_takes_our_bearer_tokens_only() -> None:
    clock = FakeClock()
    service = make_service(clock=clock)
    authenticator = TokenAuthenticator(service)
    token = service.issue(ALICE, ACCESS).token
    result = await authenticator.authenticate(Credentials(Scheme.BEARER, "", token))
    assert isinstance(result, Valid)
    assert result.principal.id == ALICE.id
    foreign = make_service(issuer="https://idp.example").issue(ALICE, ACCESS).token
    for credentials in (
        Credentials(Scheme.BASIC, "alice", token),
        Credentials(Scheme.BEARER, "", foreign),
        Credentials(Scheme.BEARER, "", "opaque-token"),
        Credentials(Scheme.NONE),
    ):
        assert isinstance(await authenticator.authenticate(credentials), NotMine)


async def test_the_authenticator_refuses_a_bad_token_of_ours_as_bearer() -> None:
    authenticator = TokenAuthenticator(make_service())
    bad = tamper_signature(make_service().issue(ALICE, ACCESS).token)
    result = await authenticator.authenticate(Credentials(Scheme.BEARER, "", bad))
    assert isinstance(result, Invalid)
    assert result.scheme is Scheme.BEARER
    assert "signature" in result.reason


async def test_a_remembered_token_still_expires() -> None:
    clock = FakeClock()
    service = make_service(clock=clock)
    authenticator = TokenAuthenticator(service)
    credentials = Credentials(Scheme.BEARER, "", service.issue(ALICE, ACCESS).token)
    first = await authenticator.authenticate(credentials)
    second = await authenticator.authenticate(credentials)
    assert isinstance(first, Valid)
    assert isinstance(second, Valid)
    assert second.principal is first.principal  # served from the cache
    clock.now = NOW + 300 + 31
    expired = await authenticator.authenticate(credentials)
    assert isinstance(expired, Invalid)
    assert "expired" in expired.reason
