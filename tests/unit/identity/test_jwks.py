"""The JWKS cache against a real aiohttp issuer on 127.0.0.1: discovery, TTL, bounded refetch."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from regproxy.identity.jwk import IssuerUnavailable, UnknownKeyId
from regproxy.identity.jwks import JwksCache
from tests.support.clock import FakeClock
from tests.support.jwks_issuer import FakeJwksIssuer, serve
from tests.support.keys import ec_key, jwk, rsa_key

RSA_KEY = rsa_key("issuer")
EC_KEY = ec_key("issuer")
NEW_KEY = ec_key("rotated")


class FakeIssuer(FakeJwksIssuer):
    def __init__(self) -> None:
        super().__init__([jwk(RSA_KEY, "rsa-1"), jwk(EC_KEY, "ec-1")])


@pytest.fixture
async def issuer(aiohttp_server: Any) -> FakeJwksIssuer:
    return await serve(aiohttp_server, FakeIssuer())


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def cache_for(session: aiohttp.ClientSession, clock: FakeClock, **kw: Any) -> JwksCache:
    kw.setdefault("ttl", 600)
    kw.setdefault("min_refetch_interval", 30)
    return JwksCache(session, clock=clock, **kw)


async def test_keys_are_discovered_fetched_and_cached(
    issuer: FakeIssuer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    cache = cache_for(session, clock)
    rsa_key = await cache.get_key(issuer.url, "rsa-1")
    assert rsa_key.algorithms == {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
    ec_key = await cache.get_key(issuer.url, "ec-1")
    assert ec_key.algorithms == {"ES256"}
    clock.now += 599
    await cache.get_key(issuer.url, "rsa-1")
    assert (issuer.discovery_hits, issuer.jwks_hits) == (1, 1)


async def test_keys_are_refetched_after_the_ttl(
    issuer: FakeIssuer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    cache = cache_for(session, clock)
    await cache.get_key(issuer.url, "rsa-1")
    clock.now += 600
    await cache.get_key(issuer.url, "rsa-1")
    assert issuer.jwks_hits == 2


async def test_an_unknown_kid_refetches_at_a_bounded_rate(
    issuer: FakeIssuer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    cache = cache_for(session, clock, min_refetch_interval=30)
    await cache.get_key(issuer.url, "rsa-1")
    clock.now += 31
    with pytest.raises(UnknownKeyId):
        await cache.get_key(issuer.url, "made-up-1")
    assert issuer.jwks_hits == 2
    for n in range(20):  # a flood of invented kids costs the issuer nothing more
        clock.now += 1
        with pytest.raises(UnknownKeyId):
            await cache.get_key(issuer.url, f"made-up-{n}")
    assert issuer.jwks_hits == 2
    # The issuer rotates; once the interval has passed, the new kid is found.
    issuer.keys.append(jwk(NEW_KEY, "ec-2"))
    clock.now += 30
    assert (await cache.get_key(issuer.url, "ec-2")).kid == "ec-2"
    assert issuer.jwks_hits == 3


async def test_the_first_unknown_kid_after_a_fetch_waits_for_the_interval(
    issuer: FakeIssuer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    cache = cache_for(session, clock, min_refetch_interval=30)
    await cache.get_key(issuer.url, "rsa-1")
    issuer.keys.append(jwk(NEW_KEY, "ec-2"))
    with pytest.raises(UnknownKeyId):
        await cache.get_key(issuer.url, "ec-2")
    clock.now += 30
    assert (await cache.get_key(issuer.url, "ec-2")).kid == "ec-2"


async def test_concurrent_misses_share_one_fetch(
    issuer: FakeIssuer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    cache = cache_for(session, clock)
    keys = await asyncio.gather(*(cache.get_key(issuer.url, "ec-1") for _ in range(10)))
    assert {k.kid for k in keys} == {"ec-1"}
    assert issuer.jwks_hits == 1


async def test_an_issuer_that_is_down_is_unavailable(
    issuer: FakeIssuer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    issuer.status = 503
    cache = cache_for(session, clock)
    with pytest.raises(IssuerUnavailable):
        await cache.get_key(issuer.url, "rsa-1")
    clock.now += 1  # within the interval: not even retried, still unavailable
    with pytest.raises(IssuerUnavailable):
        await cache.get_key(issuer.url, "rsa-1")
    assert issuer.discovery_hits == 1
    issuer.status = 200
    clock.now += 30
    assert (await cache.get_key(issuer.url, "rsa-1")).kid == "rsa-1"


async def test_cached_keys_serve_while_the_issuer_is_down(
    issuer: FakeIssuer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    cache = cache_for(session, clock, ttl=600, max_stale=3600)
    await cache.get_key(issuer.url, "rsa-1")
    issuer.status = 500
    clock.now += 601
    assert (await cache.get_key(issuer.url, "rsa-1")).kid == "rsa-1"  # stale, still served
    with pytest.raises(IssuerUnavailable):
        await cache.get_key(issuer.url, "never-seen")
    clock.now += 3600
    with pytest.raises(IssuerUnavailable):  # too stale to trust any more
        await cache.get_key(issuer.url, "rsa-1")


async def test_an_unreachable_issuer_is_unavailable(session: aiohttp.ClientSession, clock: FakeClock) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port any more: connection refused.
    with pytest.raises(IssuerUnavailable):
        await cache_for(session, clock).get_key(f"http://127.0.0.1:{port}", "rsa-1")


async def test_a_slow_issuer_times_out(issuer: FakeIssuer, session: aiohttp.ClientSession, clock: FakeClock) -> None:
    issuer.release = asyncio.Event()
    cache = cache_for(session, clock, timeout=aiohttp.ClientTimeout(total=0.2))
    try:
        with pytest.raises(IssuerUnavailable):
            await cache.get_key(issuer.url, "rsa-1")
    finally:
        issuer.release.set()


async def test_a_discovery_document_for_another_issuer_is_refused(
    issuer: FakeIssuer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    issuer.claimed_issuer = "https://someone-else.example"
    with pytest.raises(IssuerUnavailable):
        await cache_for(session, clock).get_key(issuer.url, "rsa-1")
    assert issuer.jwks_hits == 0


async def test_a_configured_jwks_uri_skips_discovery(
    issuer: FakeIssuer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    cache = cache_for(session, clock)
    key = await cache.get_key(issuer.url, "ec-1", jwks_uri=f"{issuer.url}/jwks")
    assert key.kid == "ec-1"
    assert (issuer.discovery_hits, issuer.jwks_hits) == (0, 1)


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"keys": "nope"}', b"[]", b'{"keys": [' + b'{"kty":"oct"},' * 40000 + b"{}]}"],
    ids=["not-json", "keys-not-a-list", "not-an-object", "too-large"],
)
async def test_a_broken_jwks_is_unavailable(
    issuer: FakeIssuer, session: aiohttp.ClientSession, clock: FakeClock, body: bytes
) -> None:
    issuer.raw_jwks = body
    with pytest.raises(IssuerUnavailable):
        await cache_for(session, clock).get_key(issuer.url, "rsa-1")


async def test_refresh_warms_the_cache(issuer: FakeIssuer, session: aiohttp.ClientSession, clock: FakeClock) -> None:
    cache = cache_for(session, clock)
    await cache.refresh(issuer.url)
    await cache.get_key(issuer.url, "ec-1")
    assert issuer.jwks_hits == 1
    issuer.status = 500
    with pytest.raises(IssuerUnavailable):
        await cache.refresh(issuer.url)


def test_a_cache_needs_sane_settings(session: aiohttp.ClientSession) -> None:
    with pytest.raises(ValueError, match="ttl"):
        JwksCache(session, ttl=0)
    with pytest.raises(ValueError, match="timeout"):
        JwksCache(session, timeout=aiohttp.ClientTimeout())
