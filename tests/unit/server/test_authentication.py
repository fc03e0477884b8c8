"""One authentication for every endpoint: the header parsed once, the chain run, its answers
mapped to a principal, a refusal, a 503 or a 400 (two Authorization headers)."""

from __future__ import annotations

import base64

import pytest
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from regproxy.errors import OciError, UpstreamUnavailable
from regproxy.identity.chain import NOT_MINE, AuthResult, Credentials, Invalid, Scheme, Unavailable, Valid
from regproxy.identity.principal import ANONYMOUS, Principal, PrincipalKind, make_principal
from regproxy.server.authentication import Authentication, Refused

ALICE = make_principal(PrincipalKind.USER, "alice")


class Fixed:
    def __init__(self, result: AuthResult) -> None:
        self.result = result
        self.seen: list[Credentials] = []

    async def authenticate(self, credentials: Credentials) -> AuthResult:
        self.seen.append(credentials)
        return self.result


def with_headers(*values: str) -> object:
    return make_mocked_request("GET", "/v2/", headers=CIMultiDict([("Authorization", v) for v in values]))


BASIC = "Basic " + base64.b64encode(b"alice:pw").decode()


async def test_valid_credentials_give_the_principal_and_none_give_anonymous() -> None:
    auth = Authentication([Fixed(NOT_MINE), Fixed(Valid(ALICE))])
    assert await auth.authenticate(with_headers(BASIC)) == ALICE  # type: ignore[arg-type]
    assert await Authentication([Fixed(NOT_MINE)]).authenticate(with_headers()) == ANONYMOUS  # type: ignore[arg-type]


async def test_two_authorization_headers_are_a_400() -> None:
    chain = Fixed(Valid(ALICE))
    with pytest.raises(OciError) as info:
        await Authentication([chain]).authenticate(with_headers(BASIC, "Bearer x"))  # type: ignore[arg-type]
    assert info.value.status == 400 and chain.seen == []


@pytest.mark.parametrize(
    ("header", "result", "malformed", "scheme"),
    [
        ("Digest x", NOT_MINE, True, Scheme.NONE),
        ("Basic !!!", NOT_MINE, True, Scheme.NONE),
        (BASIC, Invalid("wrong password"), False, Scheme.BASIC),
        ("Bearer t", Invalid("bad token", Scheme.BEARER), False, Scheme.BEARER),
    ],
)
async def test_refusals_name_the_scheme(header: str, result: AuthResult, malformed: bool, scheme: Scheme) -> None:
    with pytest.raises(Refused) as info:
        await Authentication([Fixed(result)]).authenticate(with_headers(header))  # type: ignore[arg-type]
    assert (info.value.malformed, info.value.scheme) == (malformed, scheme)


async def test_an_expired_principal_is_refused_and_an_unavailable_verifier_is_503() -> None:
    expired = make_principal(PrincipalKind.USER, "alice", expires_at=100.0)
    with pytest.raises(Refused, match="expired"):
        await Authentication([Fixed(Valid(expired))], clock=lambda: 200.0).authenticate(with_headers(BASIC))  # type: ignore[arg-type]
    with pytest.raises(UpstreamUnavailable):
        await Authentication([Fixed(Unavailable("down"))]).authenticate(with_headers(BASIC))  # type: ignore[arg-type]


async def test_a_bearer_reader_takes_bearer_credentials_instead_of_the_chain() -> None:
    chain = Fixed(Valid(ALICE))
    seen: list[str] = []

    def refresh(token: str) -> Principal:
        seen.append(token)
        return ALICE

    auth = Authentication([chain])
    assert await auth.authenticate(with_headers("Bearer r1"), bearer=refresh) == ALICE  # type: ignore[arg-type]
    assert seen == ["r1"] and chain.seen == []
