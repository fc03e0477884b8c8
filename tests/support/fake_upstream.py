"""A registry stand-in for in-process component tests of the edge: an aiohttp app on loopback
(the seam regproxy's upstream client talks to) that answers a few v2 routes and records what
reached it."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

MANIFEST = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}'
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


class FakeUpstream:
    def __init__(self) -> None:
        self.url = ""
        self.seen: list[tuple[str, str]] = []  # (method, path) of every request that arrived

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v2/", self.base)
        app.router.add_route("*", "/v2/{name:.+}/manifests/{reference}", self.manifest)
        app.router.add_get("/v2/_catalog", self.catalog)
        return app

    async def base(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((request.method, request.path))
        return web.json_response({}, headers={"Docker-Distribution-API-Version": "registry/2.0"})

    async def manifest(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((request.method, request.path))
        if request.match_info["reference"] == "missing":
            return web.json_response({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "unknown"}]}, status=404)
        return web.Response(body=MANIFEST, content_type=MANIFEST_TYPE)

    async def catalog(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((request.method, request.path))
        return web.json_response({"repositories": ["other/x", "team/app"]})


async def serve(aiohttp_server: Any, upstream: FakeUpstream) -> FakeUpstream:
    server: TestServer = await aiohttp_server(upstream.app())
    upstream.url = f"http://127.0.0.1:{server.port}"
    return upstream
