"""The upstream client seam: regproxy's own credentials towards the registry, no redirects, no
decompression, unreachable is UpstreamUnavailable. The registry here is an in-process fake of
one seam; the real registry is exercised by tests/integration."""

from __future__ import annotations

import asyncio
import base64
import gzip
import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from regproxy.config import UpstreamConfig
from regproxy.errors import UpstreamUnavailable
from regproxy.proxy.upstream import (
    DEFAULT_EXPIRES_IN,
    MAX_CACHED_TOKENS,
    TOKEN_MARGIN,
    UpstreamClient,
    challenge_scope,
    parse_challenge,
)

BASIC = "Basic " + base64.b64encode(b"svc:pw").decode()


class FakeRegistry:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str | None]] = []
        self.token_requests: list[dict[str, str]] = []
        self.token_scopes: list[list[str]] = []  # every `scope` parameter of each token request
        self.expires_in: object = 300
        self.refused_tokens: set[str] = set()  # tokens the registry no longer accepts
        self.token_gate: asyncio.Event | None = None  # set: token answers wait for it
        self.app = web.Application()
        self.app.router.add_get("/v2/", self.base)
        self.app.router.add_get("/token", self.token)
        self.app.router.add_route("*", "/v2/{tail:.+}", self.any)

    async def base(self, request: web.Request) -> web.Response:
        realm = f"http://{request.host}/token"
        return web.Response(status=401, headers={"WWW-Authenticate": f'Bearer realm="{realm}",service="reg"'})

    async def token(self, request: web.Request) -> web.Response:
        self.token_requests.append({**request.query, "auth": request.headers.get("Authorization", "")})
        self.token_scopes.append(request.query.getall("scope", []))
        if self.token_gate is not None:
            await self.token_gate.wait()
        if request.headers.get("Authorization") != BASIC:
            return web.json_response({"errors": [{"code": "UNAUTHORIZED", "message": "account disabled"}]}, status=401)
        answer: dict[str, object] = {"token": f"tok-{len(self.token_requests)}"}
        if self.expires_in is not None:
            answer["expires_in"] = self.expires_in
        return web.json_response(answer)

    def tokens_for(self, scope: str) -> list[str]:
        return [f"Bearer tok-{n + 1}" for n, scopes in enumerate(self.token_scopes) if scopes == [scope]]

    async def any(self, request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization")
        self.seen.append((request.method, request.path_qs, auth))
        if request.method in ("PUT", "PATCH"):
            await request.read()
        if auth is not None and auth.removeprefix("Bearer ") in self.refused_tokens:
            challenge = f'Bearer realm="http://{request.host}/token",service="reg",error="invalid_token"'
            return web.Response(status=401, headers={"WWW-Authenticate": challenge})
        if request.path.startswith("/v2/harbor/") and auth not in self.tokens_for("repository:harbor:*"):
            challenge = (
                f'Bearer realm="http://{request.host}/token",service="reg",'
                'scope="repository:harbor:*",error="insufficient_scope"'
            )
            return web.Response(status=401, headers={"WWW-Authenticate": challenge})
        if request.path.endswith("/redirect"):
            raise web.HTTPTemporaryRedirect("https://objects.example.com/blob")
        if request.path.endswith("/gzip"):
            return web.Response(body=gzip.compress(b"x" * 100), headers={"Content-Encoding": "gzip"})
        return web.Response(text="ok")


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeRegistry, str]]:
    registry = FakeRegistry()
    server = TestServer(registry.app, host="127.0.0.1")
    await server.start_server()
    yield registry, f"http://127.0.0.1:{server.port}"
    await server.close()


class Clock:
    """An injected monotonic clock: tests move time, nothing sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def client_for(url: str, clock: Clock | None = None, **kw: object) -> UpstreamClient:
    client = UpstreamClient(UpstreamConfig(url=url, **kw), clock=clock or Clock())  # type: ignore[arg-type]
    await client.start()
    return client


async def bearer_client(url: str, clock: Clock | None = None, password: str = "pw") -> UpstreamClient:
    return await client_for(url, clock, auth="bearer", username="svc", password=password)


async def get(client: UpstreamClient, target: str, scope: str, data: bytes | None = None) -> int:
    response = await client.request("PUT" if data is not None else "GET", target, {}, scope=scope, data=data)
    status = response.status
    response.release()
    return status


async def test_bearer_flow_fetches_a_token_per_scope_and_caches_it(fake: tuple[FakeRegistry, str]) -> None:
    registry, url = fake
    client = await client_for(url, auth="bearer", username="svc", password="pw")
    try:
        for _ in range(3):
            resp = await client.request("GET", "/v2/a/manifests/x", {}, scope="repository:a:pull")
            resp.release()
        resp = await client.request("GET", "/v2/b/manifests/x", {}, scope="repository:b:pull")
        resp.release()
    finally:
        await client.close()
    assert [r["scope"] for r in registry.token_requests] == ["repository:a:pull", "repository:b:pull"]
    assert all(r["service"] == "reg" and r["auth"] == BASIC for r in registry.token_requests)
    assert [auth for _, _, auth in registry.seen] == ["Bearer tok-1"] * 3 + ["Bearer tok-2"]


async def test_basic_credentials_on_every_request(fake: tuple[FakeRegistry, str]) -> None:
    registry, url = fake
    client = await client_for(url, auth="basic", username="svc", password="pw")
    try:
        (await client.request("HEAD", "/v2/a/blobs/x", {})).release()
    finally:
        await client.close()
    assert registry.seen == [("HEAD", "/v2/a/blobs/x", BASIC)]


async def test_refused_token_service_is_unavailable(fake: tuple[FakeRegistry, str]) -> None:
    _, url = fake
    client = await client_for(url, auth="bearer", username="svc", password="wrong")
    try:
        with pytest.raises(UpstreamUnavailable):
            await client.request("GET", "/v2/a/manifests/x", {}, scope="repository:a:pull")
    finally:
        await client.close()


async def test_redirects_are_not_followed_and_bodies_not_decompressed(fake: tuple[FakeRegistry, str]) -> None:
    _, url = fake
    client = await client_for(url)
    try:
        resp = await client.request("GET", "/v2/a/blobs/redirect", {})
        assert resp.status == 307 and resp.headers["Location"] == "https://objects.example.com/blob"
        resp.release()
        resp = await client.request("GET", "/v2/a/blobs/gzip", {})
        assert (await resp.read())[:2] == b"\x1f\x8b"  # still gzip: passed through as it came
        resp.release()
    finally:
        await client.close()


async def test_unreachable_upstream_is_unavailable() -> None:
    client = await client_for("http://127.0.0.1:9", connect_timeout=1.0)
    try:
        with pytest.raises(UpstreamUnavailable):
            await client.request("GET", "/v2/", {})
    finally:
        await client.close()


def test_challenge_parsing() -> None:
    scheme, params = parse_challenge(
        'Bearer realm="https://auth.example/token",service="registry.example",scope="a:b:c"'
    )
    assert scheme == "bearer"
    assert params == {"realm": "https://auth.example/token", "service": "registry.example", "scope": "a:b:c"}


async def test_a_mount_scope_is_asked_for_as_one_scope_parameter_per_resource(fake: tuple[FakeRegistry, str]) -> None:
    """The token-auth spec: several resources are several `scope` parameters, not one string."""
    registry, url = fake
    client = await bearer_client(url)
    try:
        await get(client, "/v2/a/blobs/uploads/?mount=sha256:x&from=b", "repository:a:pull,push repository:b:pull")
    finally:
        await client.close()
    assert registry.token_scopes == [["repository:a:pull,push", "repository:b:pull"]]


async def test_a_token_is_refreshed_once_it_is_about_to_expire(fake: tuple[FakeRegistry, str]) -> None:
    registry, url = fake
    registry.expires_in = 60
    clock = Clock()
    client = await bearer_client(url, clock)
    try:
        await get(client, "/v2/a/tags/list", "repository:a:pull")
        clock.now += 60 - TOKEN_MARGIN - 1  # still inside its lifetime, margin kept
        await get(client, "/v2/a/tags/list", "repository:a:pull")
        clock.now += 2  # inside the margin: fetched again
        await get(client, "/v2/a/tags/list", "repository:a:pull")
    finally:
        await client.close()
    assert [auth for _, _, auth in registry.seen] == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]


@pytest.mark.parametrize("expires_in", [None, "soon", True, 0], ids=["absent", "text", "bool", "zero"])
async def test_a_token_without_a_usable_lifetime_gets_the_spec_default(
    fake: tuple[FakeRegistry, str], expires_in: object
) -> None:
    registry, url = fake
    registry.expires_in = expires_in
    clock = Clock()
    client = await bearer_client(url, clock)
    try:
        await get(client, "/v2/a/tags/list", "repository:a:pull")
        clock.now += DEFAULT_EXPIRES_IN - TOKEN_MARGIN - 1
        await get(client, "/v2/a/tags/list", "repository:a:pull")
    finally:
        await client.close()
    assert len(registry.token_requests) == 1


async def test_concurrent_requests_for_one_scope_share_one_token_fetch(fake: tuple[FakeRegistry, str]) -> None:
    registry, url = fake
    registry.token_gate = asyncio.Event()
    client = await bearer_client(url)
    try:
        waiting = [asyncio.ensure_future(get(client, "/v2/a/tags/list", "repository:a:pull")) for _ in range(5)]
        other = asyncio.ensure_future(get(client, "/v2/b/tags/list", "repository:b:pull"))
        for _ in range(50):  # bounded: until both token requests reached the token service
            if len(registry.token_requests) == 2:
                break
            await asyncio.sleep(0)
            await asyncio.sleep(0.001)
        registry.token_gate.set()
        assert await asyncio.gather(*waiting, other) == [200] * 6
    finally:
        await client.close()
    assert sorted(r["scope"] for r in registry.token_requests) == ["repository:a:pull", "repository:b:pull"]


async def test_a_cached_token_the_registry_refuses_is_replaced_and_the_request_retried_once(
    fake: tuple[FakeRegistry, str],
) -> None:
    registry, url = fake
    client = await bearer_client(url)
    try:
        assert await get(client, "/v2/a/manifests/x", "repository:a:pull") == 200
        registry.refused_tokens.add("tok-1")  # e.g. the issuer rotated its key
        assert await get(client, "/v2/a/manifests/x", "repository:a:pull") == 200
        assert await get(client, "/v2/a/manifests/x", "repository:a:pull", data=b"{}") == 200
    finally:
        await client.close()
    assert [auth for _, _, auth in registry.seen] == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2", "Bearer tok-2"]


async def test_a_refused_fresh_token_is_not_retried_and_a_streamed_body_is_never_sent_twice(
    fake: tuple[FakeRegistry, str],
) -> None:
    registry, url = fake
    registry.refused_tokens.update({"tok-1", "tok-2"})
    client = await bearer_client(url)

    async def body() -> AsyncIterator[bytes]:
        yield b"layer bytes"

    try:
        assert await get(client, "/v2/a/manifests/x", "repository:a:pull") == 401  # fresh token: no retry
        response = await client.request("PATCH", "/v2/a/blobs/uploads/u", {}, scope="repository:a:pull", data=body())
        assert response.status == 401  # cached token, but the body cannot be sent again: the caller decides
        response.release()
    finally:
        await client.close()
    assert len(registry.seen) == 2


async def test_a_revoked_service_credential_is_unavailable_with_the_reason_logged(
    fake: tuple[FakeRegistry, str], caplog: pytest.LogCaptureFixture
) -> None:
    registry, url = fake
    client = await bearer_client(url, password="revoked")
    try:
        with caplog.at_level(logging.ERROR, "regproxy.upstream"), pytest.raises(UpstreamUnavailable) as raised:
            await client.request("GET", "/v2/a/manifests/x", {}, scope="repository:a:pull")
    finally:
        await client.close()
    assert str(raised.value) == "the registry's token service refused regproxy's service credential"
    assert "refused regproxy's service credential `svc`: 401: account disabled" in caplog.text
    assert "pw" not in caplog.text and "revoked" not in caplog.text  # no secret in the log
    assert registry.seen == []  # nothing reached the registry without a token


async def test_the_token_cache_is_bounded(fake: tuple[FakeRegistry, str]) -> None:
    _, url = fake
    client = await bearer_client(url)
    try:
        for n in range(MAX_CACHED_TOKENS + 3):
            client._tokens[f"repository:r{n}:pull"] = ("Bearer t", 1e12)  # seeded: no round trips
        await get(client, "/v2/a/tags/list", "repository:a:pull")
        assert len(client._tokens) == MAX_CACHED_TOKENS
        assert "repository:a:pull" in client._tokens and "repository:r0:pull" not in client._tokens
    finally:
        await client.close()


async def test_bearer_auth_in_front_of_a_registry_without_a_challenge_is_unavailable() -> None:
    async def open_registry(_: web.Request) -> web.Response:
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/v2/", open_registry)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    client = await bearer_client(f"http://127.0.0.1:{server.port}")
    try:
        with pytest.raises(UpstreamUnavailable, match="no bearer challenge"):
            await client.request("GET", "/v2/a/tags/list", {}, scope="repository:a:pull")
    finally:
        await client.close()
        await server.close()


async def test_a_registry_that_names_the_scope_it_wants_gets_a_token_for_it_once(
    fake: tuple[FakeRegistry, str],
) -> None:
    """Harbor-style: the 401 challenge names the scope the registry wants; regproxy fetches a
    token for exactly that, retries once, and keeps it for the next request of the same kind."""
    registry, url = fake
    client = await bearer_client(url)
    try:
        assert await get(client, "/v2/harbor/manifests/x", "repository:harbor:delete") == 200
        assert await get(client, "/v2/harbor/manifests/x", "repository:harbor:delete") == 200
    finally:
        await client.close()
    assert registry.token_scopes == [["repository:harbor:delete"], ["repository:harbor:*"]]
    assert [auth for _, _, auth in registry.seen] == ["Bearer tok-1", "Bearer tok-2", "Bearer tok-2"]


def test_the_scope_a_challenge_asks_for() -> None:
    assert challenge_scope('Bearer realm="r",service="s",scope="repository:a:pull,push"') == "repository:a:pull,push"
    assert challenge_scope('Bearer realm="r",service="s"') == ""
    assert challenge_scope('Basic realm="r",scope="x"') == ""
