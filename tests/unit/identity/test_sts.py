"""Short-lived credentials: signed, stateless, revocable, and only ever narrower."""

from __future__ import annotations

from typing import Any

import pytest

from regproxy.identity.chain import Credentials, Invalid, NotMine, Scheme, Valid
from regproxy.identity.keys import KeySet, SigningKey
from regproxy.identity.principal import (
    ANONYMOUS,
    CredentialScope,
    Principal,
    PrincipalKind,
    ScopeGrant,
    make_principal,
)
from regproxy.identity.sts import (
    SESSION_SCOPE_NAME,
    StsAuthenticator,
    StsCredential,
    issue_credential,
    session_actions,
)
from regproxy.identity.token_auth import TokenAuthenticator
from regproxy.identity.tokens import TokenService
from regproxy.oci.actions import DELETE_ACTIONS, WRITE_ACTIONS, Action
from tests.support.clock import NOW, FakeClock
from tests.support.keys import ec_key, signing_key

ISSUER = "https://regproxy.example/token"
SERVICE = "registry.example"


SIGNER = signing_key(ec_key("sts"))
ATTACKER = signing_key(ec_key("attacker"))


class Directory:
    """Stands in for the identities file: principals by id, and a revocation set that reloads."""

    def __init__(self) -> None:
        self.principals: dict[str, Principal] = {
            "user:alice": make_principal(PrincipalKind.USER, "alice", groups=["devs"]),
            "service-account:ci": make_principal(
                PrincipalKind.SERVICE_ACCOUNT,
                "ci",
                scope=CredentialScope("pull", (ScopeGrant("**", frozenset({Action.PULL})),)),
            ),
        }
        self.revoked_ids: frozenset[str] = frozenset()

    def resolve(self, principal_id: str) -> Principal | None:
        return self.principals.get(principal_id)

    def revoked(self) -> frozenset[str]:
        return self.revoked_ids


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def directory() -> Directory:
    return Directory()


def authenticator(clock: FakeClock, directory: Directory, **kw: Any) -> StsAuthenticator:
    return StsAuthenticator(
        keys=kw.pop("keys", KeySet(SIGNER)),
        issuer=ISSUER,
        audience=SERVICE,
        resolve=directory.resolve,
        revoked=directory.revoked,
        clock=clock,
        **kw,
    )


def issue(
    principal_id: str = "user:alice",
    ttl: int = 900,
    actions: tuple[str | Action, ...] = ("pull", "push"),
    repositories: tuple[str, ...] = ("team/*",),
    key: SigningKey = SIGNER,
    now: float = NOW,
    **kw: Any,
) -> StsCredential:
    kw.setdefault("issuer", ISSUER)
    kw.setdefault("audience", SERVICE)
    return issue_credential(principal_id, ttl, actions, repositories, key, now, **kw)


def basic(credential: StsCredential) -> Credentials:
    return Credentials(Scheme.BASIC, credential.username, credential.password)


async def test_a_credential_authenticates_as_its_principal_with_the_session_scope(
    clock: FakeClock, directory: Directory
) -> None:
    credential = issue()
    assert credential.username == f"sts-{credential.jti}"
    assert ":" not in credential.username  # RFC 7617: a Basic user-id has no colon
    result = await authenticator(clock, directory).authenticate(basic(credential))
    assert isinstance(result, Valid)
    principal = result.principal
    assert principal.id == "user:alice"
    assert principal.groups == {"devs"}
    assert principal.credential_id == credential.username
    assert principal.expires_at == NOW + 900
    assert principal.scope is not None
    assert principal.scope.name == SESSION_SCOPE_NAME
    assert principal.scope_permits(Action.PULL, "team/app")
    assert principal.scope_permits(Action.TAG_OVERWRITE, "team/app")
    assert not principal.scope_permits(Action.DELETE_TAG, "team/app")
    assert not principal.scope_permits(Action.PULL, "team/app/nested")
    assert not principal.scope_permits(Action.PULL, "other/app")


async def test_the_session_policy_only_narrows_an_existing_scope(clock: FakeClock, directory: Directory) -> None:
    credential = issue("service-account:ci", actions=("*",), repositories=("**",))
    result = await authenticator(clock, directory).authenticate(basic(credential))
    assert isinstance(result, Valid)
    assert result.principal.scope_permits(Action.PULL, "any/repo")
    assert not result.principal.scope_permits(Action.PUSH, "any/repo")  # the ci scope says pull


async def test_groups_come_from_the_identities_as_they_are_now(clock: FakeClock, directory: Directory) -> None:
    credential = issue()
    directory.principals["user:alice"] = make_principal(PrincipalKind.USER, "alice", groups=["ops"])
    result = await authenticator(clock, directory).authenticate(basic(credential))
    assert isinstance(result, Valid)
    assert result.principal.groups == {"ops"}


async def test_a_credential_past_its_expiry_is_refused(clock: FakeClock, directory: Directory) -> None:
    credential = issue(ttl=600)
    sts = authenticator(clock, directory, leeway=30)
    clock.now = NOW + 600 + 29
    assert isinstance(await sts.authenticate(basic(credential)), Valid)
    clock.now = NOW + 600 + 31
    result = await sts.authenticate(basic(credential))
    assert isinstance(result, Invalid)
    assert "expired" in result.reason
    assert result.scheme is Scheme.BASIC


async def test_a_revoked_credential_is_refused_as_soon_as_the_set_reloads(
    clock: FakeClock, directory: Directory
) -> None:
    credential = issue()
    sts = authenticator(clock, directory)
    assert isinstance(await sts.authenticate(basic(credential)), Valid)
    directory.revoked_ids = frozenset({credential.jti})
    result = await sts.authenticate(basic(credential))
    assert isinstance(result, Invalid)
    assert "revoked" in result.reason
    other = issue()
    assert isinstance(await sts.authenticate(basic(other)), Valid)


async def test_a_credential_revoked_under_its_username_is_refused(clock: FakeClock, directory: Directory) -> None:
    """Audit lines name a short-lived credential `sts-<jti>`: revoking it under that name works too."""
    credential = issue()
    sts = authenticator(clock, directory)
    directory.revoked_ids = frozenset({credential.username})
    result = await sts.authenticate(basic(credential))
    assert isinstance(result, Invalid)
    assert "revoked" in result.reason


async def test_a_credential_for_a_principal_that_is_gone_is_refused(clock: FakeClock, directory: Directory) -> None:
    credential = issue("user:mallory")
    result = await authenticator(clock, directory).authenticate(basic(credential))
    assert isinstance(result, Invalid)
    assert "no longer exists" in result.reason
    directory.principals["anonymous"] = ANONYMOUS
    result = await authenticator(clock, directory).authenticate(basic(issue("anonymous")))
    assert isinstance(result, Invalid)


def flip_signature(token: str) -> str:
    head, body, sig = token.split(".")
    middle = len(sig) // 2
    return f"{head}.{body}.{sig[:middle]}{'A' if sig[middle] != 'A' else 'B'}{sig[middle + 1 :]}"


def swap(credential: StsCredential, **kw: str) -> StsCredential:
    return credential._replace(**kw)


REFUSED: list[tuple[str, Any, str]] = [
    ("other-credentials-username", lambda: swap(issue(), username=issue().username), "username"),
    ("tampered-password", lambda: swap(issue(), password=flip_signature(issue().password)), "signature"),
    ("attacker-key", lambda: issue(key=ATTACKER), "unknown key"),
    ("other-service", lambda: issue(audience="other.example"), "another service"),
    ("other-issuer", lambda: issue(issuer="https://evil.example"), "another issuer"),
    ("ttl-over-verifier-cap", lambda: issue(ttl=7200, max_ttl=86400), "lifetime"),
    ("not-a-jwt", lambda: StsCredential("sts-abc", "hunter2"), "well-formed"),
]


@pytest.mark.parametrize(("make", "reason"), [(c[1], c[2]) for c in REFUSED], ids=[c[0] for c in REFUSED])
async def test_verification_refuses(clock: FakeClock, directory: Directory, make: Any, reason: str) -> None:
    result = await authenticator(clock, directory, max_ttl=3600).authenticate(basic(make()))
    assert isinstance(result, Invalid)
    assert reason in result.reason


async def test_an_access_token_is_not_a_short_lived_credential(clock: FakeClock, directory: Directory) -> None:
    service = TokenService(issuer=ISSUER, service=SERVICE, keys=KeySet(SIGNER), clock=clock)
    token = service.issue(directory.principals["user:alice"], []).token
    result = await authenticator(clock, directory).authenticate(Credentials(Scheme.BASIC, "sts-x", token))
    assert isinstance(result, Invalid)
    assert "sts" in result.reason


async def test_a_short_lived_credential_is_not_a_bearer_token(clock: FakeClock) -> None:
    service = TokenService(issuer=ISSUER, service=SERVICE, keys=KeySet(SIGNER), clock=clock)
    result = await TokenAuthenticator(service).authenticate(Credentials(Scheme.BEARER, "", issue().password))
    assert isinstance(result, Invalid)
    assert "access" in result.reason


async def test_other_credentials_are_not_mine(clock: FakeClock, directory: Directory) -> None:
    sts = authenticator(clock, directory)
    credential = issue()
    for credentials in (
        Credentials(Scheme.BASIC, "alice", credential.password),
        Credentials(Scheme.BEARER, "", credential.password),
        Credentials(Scheme.NONE),
    ):
        assert isinstance(await sts.authenticate(credentials), NotMine)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"ttl": 0}, "ttl"),
        ({"ttl": 13 * 3600}, "ttl"),
        ({"actions": ()}, "actions"),
        ({"repositories": ()}, "repositories"),
        ({"repositories": ("",)}, "repositories"),
        ({"principal_id": ""}, "principal"),
        ({"actions": ("fly",)}, "unknown action"),
    ],
    ids=["zero-ttl", "ttl-over-cap", "no-actions", "no-repositories", "empty-glob", "no-principal", "unknown-action"],
)
def test_issuing_refuses_a_credential_that_cannot_be_used(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        issue(**kw)


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (("pull",), {Action.PULL, Action.LIST}),
        ((Action.PULL,), {Action.PULL}),
        (("push",), WRITE_ACTIONS),
        (("delete",), DELETE_ACTIONS),
        (("tag-*",), {Action.TAG_CREATE, Action.TAG_OVERWRITE}),
        (("list", Action.DELETE_BLOB), {Action.LIST, Action.DELETE_BLOB}),
    ],
    ids=["docker-pull", "exact-pull", "docker-push", "docker-delete", "pattern", "mixed"],
)
def test_session_actions_read_docker_words_and_regproxy_actions(
    words: tuple[str | Action, ...], expected: frozenset[Action]
) -> None:
    assert session_actions(words) == expected
