"""The upstream client seam: regproxy's own credentials towards the registry, no redirects, no
decompression, unreachable is UpstreamUnavailable. The registry here is an in-process fake of
one seam; the real registry is exercised by tests/integration."""

from __future__ import annotations

import base64
import gzip
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from regproxy.config import UpstreamConfig
from regproxy.errors import UpstreamUnavailable
from regproxy.proxy.upstream import UpstreamClient, parse_challenge

BASIC = "Basic " + base64.b64encode(b"svc:pw").decode()


class FakeRegistry:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str | None]] = []
        self.token_requests: list[dict[str, str]] = []
        self.app = web.Application()
        self.app.router.add_get("/v2/", self.base)
        self.app.router.add_get("/token", self.token)
        self.app.router.add_route("*", "/v2/{tail:.+}", self.any)

    async def base(self, request: web.Request) -> web.Response:
        realm = f"http://{request.host}/token"
        return web.Response(status=401, headers={"WWW-Authenticate": f'Bearer realm="{realm}",service="reg"'})

    async def token(self, request: web.Request) -> web.Response:
        self.token_requests.append({**request.query, "auth": request.headers.get("Authorization", "")})
        if request.headers.get("Authorization") != BASIC:
            return web.json_response({"errors": []}, status=401)
        return web.json_response({"token": f"tok-{len(self.token_requests)}", "expires_in": 300})

    async def any(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((request.method, request.path_qs, request.headers.get("Authorization")))
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


async def client_for(url: str, **kw: object) -> UpstreamClient:
    client = UpstreamClient(UpstreamConfig(url=url, **kw))  # type: ignore[arg-type]
    await client.start()
    return client


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
