"""Bodies bounded per route, read with an inactivity timeout (driven through aiohttp's test client)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from regproxy.config import LimitsConfig
from regproxy.errors import BodyStalled, BodyTooLarge, OciError
from regproxy.server import bodies

LIMITS = LimitsConfig(max_manifest_size=4096)
MakeClient = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]


@pytest.mark.parametrize(
    ("method", "path", "limit"),
    [
        ("PUT", "/v2/team-a/app/manifests/latest", 4096),
        ("PUT", "/v2/a/b/c/manifests/sha256:abc", 4096),
        ("GET", "/v2/team-a/app/manifests/latest", None),
        ("PUT", "/v2/team-a/app/blobs/uploads/u", None),
        ("PATCH", "/v2/team-a/app/blobs/uploads/u", None),
    ],
)
def test_only_manifests_are_bounded_on_the_registry_routes(method: str, path: str, limit: int | None) -> None:
    assert bodies.upload_limit(method, path, LIMITS) == limit


async def test_a_stalled_source_is_cut_with_the_right_error() -> None:
    async def stalls() -> AsyncIterator[bytes]:
        yield b"first"
        await asyncio.sleep(10)
        yield b"never"

    got = []
    with pytest.raises(BodyStalled):
        async for chunk in bodies.idle_guarded(stalls(), 0.05):
            got.append(chunk)
    assert got == [b"first"]
    with pytest.raises(TimeoutError) as upstream:
        async for _ in bodies.idle_guarded(stalls(), 0.05, upstream=True):
            pass
    assert not isinstance(upstream.value, OciError)


def app_reading(limit: int) -> web.Application:
    async def form(request: web.Request) -> web.Response:
        try:
            fields = await bodies.read_form(request, limit, 1.0)
        except OciError as error:
            return web.json_response({"status": error.status}, status=error.status)
        except ValueError:
            return web.json_response({"status": 400}, status=400)
        return web.json_response(dict(fields))

    app = web.Application()
    app.router.add_post("/form", form)
    return app


async def test_a_small_form_is_parsed(aiohttp_client: MakeClient) -> None:
    client = await aiohttp_client(app_reading(64))
    response = await client.post("/form", data=b"grant_type=password&username=alice", headers={"Content-Type": "x"})
    assert await response.json() == {"grant_type": "password", "username": "alice"}


async def test_a_declared_length_over_the_limit_is_refused_unread(aiohttp_client: MakeClient) -> None:
    client = await aiohttp_client(app_reading(64))
    response = await client.post("/form", data=b"a" * 65)
    assert response.status == 413


async def test_a_chunked_body_is_refused_once_it_passes_the_limit(aiohttp_client: MakeClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b"a" * 32

    client = await aiohttp_client(app_reading(64))
    response = await client.post("/form", data=chunks())
    assert response.status == 413


async def test_a_form_that_is_not_utf8_is_a_bad_request(aiohttp_client: MakeClient) -> None:
    client = await aiohttp_client(app_reading(64))
    response = await client.post("/form", data=b"password=\xff\xfe")
    assert response.status == 400


def test_the_errors_speak_oci() -> None:
    assert (BodyTooLarge("x").status, str(BodyTooLarge("x").code)) == (413, "SIZE_INVALID")
    assert BodyStalled("x").status == 408
