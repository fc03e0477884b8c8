"""Basic authentication: hashed secrets, access credentials, the verified-credential cache."""

from __future__ import annotations

import asyncio

import bcrypt
import pytest

import regproxy.identity.basic as basic_module
from regproxy.errors import IdentityFileError, SourceLocation
from regproxy.identity.basic import BasicAuthenticator
from regproxy.identity.chain import (
    Credentials,
    Invalid,
    MalformedCredentials,
    NotMine,
    Scheme,
    Valid,
    parse_authorization,
)
from regproxy.identity.identities import Identities, parse_htpasswd, parse_identities
from regproxy.identity.passwords import hash_password, verify_password
from regproxy.oci.actions import Action

FAST = 10  # scrypt cost for tests


def identities(extra: str = "", htpasswd: dict[str, str] | None = None) -> Identities:
    text = f"""
users:
  - name: alice
    password: "{hash_password("pw-a", log_n=FAST)}"
    groups: [devs]
service_accounts:
  - name: ci
access_credentials:
  - id: cred-pull
    secret: "{hash_password("s3", log_n=FAST)}"
    principal: service-account:ci
    scope: containerRegistry:pull
  - id: cred-old
    secret: "{hash_password("s3", log_n=FAST)}"
    principal: service-account:ci
    scope: containerRegistry
    expires: 2000-01-01T00:00:00Z
{extra}
"""
    return parse_identities(text, SourceLocation("identities.yaml"), htpasswd)


def basic(user: str, secret: str) -> Credentials:
    return Credentials(Scheme.BASIC, user, secret)


async def test_user_with_right_password_is_valid_with_groups() -> None:
    auth = BasicAuthenticator(lambda: identities())
    result = await auth.authenticate(basic("alice", "pw-a"))
    assert isinstance(result, Valid)
    assert result.principal.id == "user:alice" and result.principal.groups == {"devs"}


@pytest.mark.parametrize(("user", "secret"), [("alice", "wrong"), ("nobody", "pw-a"), ("ci", "")])
async def test_wrong_or_unknown_is_invalid(user: str, secret: str) -> None:
    result = await BasicAuthenticator(lambda: identities()).authenticate(basic(user, secret))
    assert isinstance(result, Invalid)


async def test_bearer_is_not_mine() -> None:
    assert isinstance(
        await BasicAuthenticator(lambda: identities()).authenticate(Credentials(Scheme.BEARER, "", "t")), NotMine
    )


async def test_access_credential_carries_its_scope() -> None:
    result = await BasicAuthenticator(lambda: identities()).authenticate(basic("cred-pull", "s3"))
    assert isinstance(result, Valid)
    p = result.principal
    assert p.id == "service-account:ci" and p.credential_id == "cred-pull"
    assert p.scope_permits(Action.PULL, "a/b") and not p.scope_permits(Action.PUSH, "a/b")


async def test_expired_credential_is_invalid() -> None:
    result = await BasicAuthenticator(lambda: identities()).authenticate(basic("cred-old", "s3"))
    assert isinstance(result, Invalid) and "expired" in result.reason


async def test_revocation_by_editing_the_file_bites_even_when_cached() -> None:
    current = [identities()]
    auth = BasicAuthenticator(lambda: current[0])
    assert isinstance(await auth.authenticate(basic("cred-pull", "s3")), Valid)
    current[0] = identities("revoked: [cred-pull]")
    result = await auth.authenticate(basic("cred-pull", "s3"))
    assert isinstance(result, Invalid) and "revoked" in result.reason


async def test_cache_holds_no_secret_in_the_clear() -> None:
    auth = BasicAuthenticator(lambda: identities())
    await auth.authenticate(basic("alice", "pw-a"))
    for key in auth._cache:
        assert b"pw-a" not in key


def test_htpasswd_bcrypt_entries_are_accepted_as_they_are() -> None:
    hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode().replace("$2b$", "$2y$")
    entries = parse_htpasswd(f"# comment\nbob:{hashed}\n", SourceLocation("htpasswd"))
    assert verify_password(entries["bob"], "pw") and not verify_password(entries["bob"], "nope")
    ids = identities(htpasswd=entries)
    assert ids.logins["bob"].password_hash == hashed


def test_htpasswd_non_bcrypt_is_refused_with_line() -> None:
    with pytest.raises(IdentityFileError, match="htpasswd:2"):
        parse_htpasswd(
            "a:$2y$04$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZa\nb:{SHA}xyz\n", SourceLocation("htpasswd")
        )


def test_plaintext_password_in_identities_is_refused() -> None:
    with pytest.raises(IdentityFileError, match="bcrypt or scrypt"):
        parse_identities("users:\n  - name: x\n    password: hunter2\n", SourceLocation("i.yaml"))


@pytest.mark.parametrize("header", ["Basic !!!", "Basic " + "YWxpY2U=", "Digest x", "Bearer a b"])
def test_malformed_authorization_is_refused(header: str) -> None:
    with pytest.raises(MalformedCredentials):
        parse_authorization(header)


async def test_concurrent_misses_share_one_verification(monkeypatch: pytest.MonkeyPatch) -> None:
    """When a cached entry expires under load, the requests that miss together wait for one
    hash instead of each running their own (32 MiB of scrypt each)."""
    calls = 0
    real = verify_password

    def counting(stored: str, password: str) -> bool:
        nonlocal calls
        calls += 1
        return real(stored, password)

    monkeypatch.setattr(basic_module, "verify_password", counting)
    auth = BasicAuthenticator(lambda: identities())
    results = await asyncio.gather(*(auth.authenticate(basic("alice", "pw-a")) for _ in range(16)))
    assert all(isinstance(r, Valid) for r in results)
    assert calls == 1
