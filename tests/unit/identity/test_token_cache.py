"""The verified-token cache: by digest, never past its deadline, bounded, and off at size 0."""

from __future__ import annotations

from regproxy.identity.principal import PrincipalKind, make_principal
from regproxy.identity.token_cache import VerifiedTokenCache

ALICE = make_principal(PrincipalKind.USER, "alice")
BOB = make_principal(PrincipalKind.USER, "bob")


def test_a_remembered_principal_is_served_until_its_deadline_only() -> None:
    cache = VerifiedTokenCache()
    cache.put("token-a", ALICE, until=100.0)
    assert cache.get("token-a", 99.9) is ALICE
    assert cache.get("token-a", 100.0) is None
    assert cache.get("token-a", 50.0) is None  # an expired entry is dropped, not kept for later


def test_another_token_is_another_entry() -> None:
    cache = VerifiedTokenCache()
    cache.put("token-a", ALICE, until=100.0)
    assert cache.get("token-b", 1.0) is None


def test_the_least_recently_used_entry_goes_first() -> None:
    cache = VerifiedTokenCache(maxsize=1)
    cache.put("token-a", ALICE, until=100.0)
    cache.put("token-b", BOB, until=100.0)
    assert (cache.get("token-a", 1.0), cache.get("token-b", 1.0)) == (None, BOB)


def test_size_zero_remembers_nothing() -> None:
    cache = VerifiedTokenCache(maxsize=0)
    cache.put("token-a", ALICE, until=100.0)
    assert cache.get("token-a", 1.0) is None
