"""The authenticator chain: Authorization headers parsed once, the first authenticator that
claims the credentials answers, and a failing authenticator denies."""

from __future__ import annotations

import base64

import pytest

from regproxy.identity.chain import (
    NO_CREDENTIALS,
    NOT_MINE,
    AuthResult,
    Credentials,
    Invalid,
    MalformedCredentials,
    NotMine,
    Scheme,
    Unavailable,
    Valid,
    parse_authorization,
    run_chain,
)
from regproxy.identity.principal import PrincipalKind, make_principal

ALICE = make_principal(PrincipalKind.USER, "alice")


def basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


class Answers:
    def __init__(self, result: AuthResult | Exception) -> None:
        self.result = result
        self.seen: list[Credentials] = []

    async def authenticate(self, credentials: Credentials) -> AuthResult:
        self.seen.append(credentials)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def test_no_header_is_no_credentials() -> None:
    assert parse_authorization(None) is NO_CREDENTIALS
    assert parse_authorization("") is NO_CREDENTIALS


def test_basic_and_bearer_are_read_and_the_scheme_word_is_case_blind() -> None:
    assert parse_authorization(basic("alice:pa:ss")) == Credentials(Scheme.BASIC, "alice", "pa:ss")
    assert parse_authorization("bearer abc.def") == Credentials(Scheme.BEARER, "", "abc.def")


@pytest.mark.parametrize(
    "header",
    [
        "Basic !!!",
        basic("no-colon"),
        basic(":password-only"),
        "Bearer ",
        "Bearer two tokens",
        "Digest username=alice",
    ],
)
def test_unreadable_credentials_are_refused(header: str) -> None:
    with pytest.raises(MalformedCredentials):
        parse_authorization(header)


def test_credentials_never_print_their_secret() -> None:
    assert "s3cret" not in repr(Credentials(Scheme.BASIC, "alice", "s3cret"))


async def test_the_first_authenticator_that_claims_the_credentials_answers() -> None:
    first, second, third = Answers(NOT_MINE), Answers(Valid(ALICE)), Answers(Invalid("no"))
    credentials = Credentials(Scheme.BASIC, "alice", "pw")
    assert await run_chain([first, second, third], credentials) == Valid(ALICE)
    assert first.seen == [credentials] and third.seen == []


async def test_an_unavailable_answer_is_passed_on() -> None:
    assert await run_chain([Answers(Unavailable("issuer down"))], Credentials(Scheme.BEARER, "", "t")) == Unavailable(
        "issuer down"
    )


async def test_credentials_nobody_claims_are_invalid_but_no_credentials_are_anonymous() -> None:
    assert await run_chain([Answers(NOT_MINE)], Credentials(Scheme.BEARER, "", "t")) == Invalid(
        "credentials not recognised", Scheme.BEARER
    )
    assert isinstance(await run_chain([Answers(NOT_MINE)], NO_CREDENTIALS), NotMine)


async def test_an_authenticator_that_fails_denies_and_stops_the_chain() -> None:
    after = Answers(Valid(ALICE))
    result = await run_chain([Answers(RuntimeError("bug")), after], Credentials(Scheme.BASIC, "alice", "pw"))
    assert result == Invalid("credentials could not be verified", Scheme.BASIC)
    assert after.seen == []
